"""The people of the demo registries: the names and places they are drawn from, the records a generated person and
household carry, and the resident codes of a demo municipality."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date

from madoguchi.jp import normalize_input

# --- Names -----------------------------------------------------------------------------------

Name = tuple[str, str]  # (kanji, katakana reading)

# The most common family names, roughly in order of frequency (the first ones are drawn more often).
FAMILY_NAMES: tuple[Name, ...] = (
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"),
    ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"),
    ("原田", "ハラダ"), ("中川", "ナカガワ"), ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"),
    ("田村", "タムラ"), ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"),
    ("上田", "ウエダ"), ("原", "ハラ"), ("内田", "ウチダ"), ("柴田", "シバタ"), ("酒井", "サカイ"),
    ("宮崎", "ミヤザキ"), ("横山", "ヨコヤマ"), ("高木", "タカギ"), ("安藤", "アンドウ"), ("宮本", "ミヤモト"),
    ("大野", "オオノ"), ("小島", "コジマ"), ("工藤", "クドウ"), ("谷口", "タニグチ"), ("今井", "イマイ"),
    ("高田", "タカダ"), ("丸山", "マルヤマ"), ("増田", "マスダ"), ("杉山", "スギヤマ"), ("村田", "ムラタ"),
    ("大塚", "オオツカ"), ("小山", "コヤマ"), ("平野", "ヒラノ"), ("新井", "アライ"), ("千葉", "チバ"),
    ("松井", "マツイ"), ("菅原", "スガワラ"), ("野口", "ノグチ"), ("久保", "クボ"), ("渡邉", "ワタナベ"),
    ("齋藤", "サイトウ"),
)  # fmt: skip
COMMON_FAMILY_NAMES = 20

# Names with characters outside JIS levels 1-2 or with a variant form: each demo registry has them
# all, so certificates, search and fonts are exercised. 葛󠄀 is 葛 + VS17 (U+E0100), an IVS.
VARIANT_FAMILY_NAMES: tuple[Name, ...] = (
    ("髙橋", "タカハシ"),
    ("山﨑", "ヤマザキ"),
    ("𠮷田", "ヨシダ"),
    ("德永", "トクナガ"),
    ("濵田", "ハマダ"),
    ("葛\U000e0100西", "カサイ"),
)

# Given names by generation: born before 1960, 1960-1999, 2000 onwards.
MALE_NAMES: tuple[tuple[Name, ...], ...] = (
    (
        ("清", "キヨシ"), ("茂", "シゲル"), ("勇", "イサム"), ("實", "ミノル"), ("博", "ヒロシ"), ("進", "ススム"),
        ("弘", "ヒロシ"), ("武", "タケシ"), ("稔", "ミノル"), ("勝", "マサル"), ("修", "オサム"), ("隆", "タカシ"),
        ("和夫", "カズオ"), ("一郎", "イチロウ"), ("正夫", "マサオ"), ("秀夫", "ヒデオ"), ("幸雄", "ユキオ"),
        ("昭", "アキラ"), ("敏夫", "トシオ"), ("義男", "ヨシオ"), ("健二", "ケンジ"), ("孝", "タカシ"),
        ("豊", "ユタカ"), ("光男", "ミツオ"),
    ),
    (
        ("誠", "マコト"), ("大輔", "ダイスケ"), ("拓也", "タクヤ"), ("健太", "ケンタ"), ("翔太", "ショウタ"),
        ("直樹", "ナオキ"), ("哲也", "テツヤ"), ("剛", "ツヨシ"), ("達也", "タツヤ"), ("和也", "カズヤ"),
        ("聡", "サトシ"), ("浩二", "コウジ"), ("健一", "ケンイチ"), ("隆之", "タカユキ"), ("雅人", "マサト"),
        ("亮", "リョウ"), ("学", "マナブ"), ("英樹", "ヒデキ"), ("智之", "トモユキ"), ("大樹", "ダイキ"),
        ("慎也", "シンヤ"), ("康弘", "ヤスヒロ"), ("裕介", "ユウスケ"), ("洋平", "ヨウヘイ"),
    ),
    (
        ("蓮", "レン"), ("陽翔", "ハルト"), ("湊", "ミナト"), ("蒼", "アオイ"), ("悠真", "ユウマ"), ("大翔", "ヒロト"),
        ("樹", "イツキ"), ("颯真", "ソウマ"), ("悠人", "ユウト"), ("朝陽", "アサヒ"), ("碧", "アオイ"),
        ("律", "リツ"), ("陽太", "ヨウタ"), ("結翔", "ユイト"), ("蒼空", "ソラ"), ("陸", "リク"),
        ("奏太", "ソウタ"), ("新", "アラタ"), ("暖", "ダン"), ("凪", "ナギ"), ("悠斗", "ユウト"),
        ("海斗", "カイト"), ("颯", "ハヤテ"), ("旭", "アサヒ"),
    ),
)  # fmt: skip
FEMALE_NAMES: tuple[tuple[Name, ...], ...] = (
    (
        ("和子", "カズコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"),
        ("京子", "キョウコ"), ("久子", "ヒサコ"), ("美代子", "ミヨコ"), ("弘子", "ヒロコ"), ("悦子", "エツコ"),
        ("典子", "ノリコ"), ("順子", "ジュンコ"), ("文子", "フミコ"), ("静江", "シズエ"), ("キヨ", "キヨ"),
        ("ハル", "ハル"), ("トミ", "トミ"), ("清子", "キヨコ"), ("千代子", "チヨコ"), ("照子", "テルコ"),
        ("登美子", "トミコ"), ("光子", "ミツコ"), ("智恵子", "チエコ"), ("芳子", "ヨシコ"),
    ),
    (
        ("由美子", "ユミコ"), ("裕子", "ユウコ"), ("真由美", "マユミ"), ("陽子", "ヨウコ"), ("恵美", "エミ"),
        ("智子", "トモコ"), ("愛", "アイ"), ("彩", "アヤ"), ("麻衣", "マイ"), ("舞", "マイ"), ("美穂", "ミホ"),
        ("香織", "カオリ"), ("由佳", "ユカ"), ("優子", "ユウコ"), ("真理子", "マリコ"), ("明日香", "アスカ"),
        ("直美", "ナオミ"), ("久美子", "クミコ"), ("奈々", "ナナ"), ("沙織", "サオリ"), ("綾香", "アヤカ"),
        ("千尋", "チヒロ"), ("美咲", "ミサキ"), ("彩香", "アヤカ"),
    ),
    (
        ("陽葵", "ヒマリ"), ("凛", "リン"), ("結菜", "ユイナ"), ("芽依", "メイ"), ("紬", "ツムギ"), ("葵", "アオイ"),
        ("澪", "ミオ"), ("莉子", "リコ"), ("結愛", "ユア"), ("杏", "アン"), ("さくら", "サクラ"), ("咲良", "サクラ"),
        ("花", "ハナ"), ("美桜", "ミオ"), ("心春", "コハル"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("芽生", "メイ"),
        ("詩", "ウタ"), ("翠", "スイ"), ("琴音", "コトネ"), ("楓", "カエデ"), ("凪咲", "ナギサ"), ("美月", "ミヅキ"),
    ),
)  # fmt: skip

# --- Places ----------------------------------------------------------------------------------

# Town names (kanji, romanization for facility names in English).
TOWNS: tuple[tuple[str, str], ...] = (
    ("中央", "Chuo"), ("本町", "Honcho"), ("栄町", "Sakaemachi"), ("緑町", "Midoricho"), ("旭町", "Asahimachi"),
    ("桜台", "Sakuradai"), ("若葉", "Wakaba"), ("東町", "Higashimachi"), ("西町", "Nishimachi"),
    ("南町", "Minamimachi"), ("北町", "Kitamachi"), ("駅前", "Ekimae"), ("新町", "Shinmachi"),
    ("青葉台", "Aobadai"), ("富士見", "Fujimi"), ("泉町", "Izumicho"), ("日の出町", "Hinodecho"),
    ("松が丘", "Matsugaoka"), ("宮前", "Miyamae"), ("川端", "Kawabata"),
)  # fmt: skip
TOWNS_PER_TENANT = 9
CHOME = "一二三四五"
BUILDINGS = (
    "メゾン・ド・ソレイユ", "コーポ桜", "グリーンハイツ", "パークサイド栄", "レジデンス中央", "サンハイツ",
    "ハイツ若葉", "ヴィラ泉", "シャトー旭", "グランドメゾン本町", "ライオンズマンション駅前", "市営第二住宅",
)  # fmt: skip
# Other municipalities people moved in from.
ELSEWHERE = (
    "東京都世田谷区", "神奈川県川崎市中原区", "埼玉県さいたま市浦和区", "千葉県船橋市", "大阪府豊中市",
    "愛知県豊田市", "福岡県北九州市小倉北区", "北海道旭川市", "宮城県仙台市泉区", "兵庫県西宮市",
    "京都府宇治市", "静岡県浜松市中央区", "広島県福山市", "新潟県長岡市", "熊本県熊本市東区",
)  # fmt: skip
# 本籍 elsewhere in Japan; the rest of the population has its 本籍 in the municipality itself.
DOMICILES_ELSEWHERE = (
    "北海道札幌市中央区北一条西二丁目1番地", "宮城県仙台市青葉区国分町三丁目7番地", "東京都千代田区千代田1番",
    "神奈川県横浜市中区日本大通1番地", "静岡県静岡市葵区追手町9番地", "愛知県名古屋市中区三の丸三丁目1番地",
    "京都府京都市上京区下立売通新町西入薮ノ内町85番地", "大阪府大阪市北区中之島一丁目3番地",
    "広島県広島市中区国泰寺町一丁目6番地", "福岡県福岡市中央区天神一丁目8番地", "鹿児島県鹿児島市山下町11番地",
    "長野県長野市大字南長野字幅下692番地2", "石川県金沢市広坂一丁目1番地", "高知県高知市本町五丁目1番地",
)  # fmt: skip


@dataclass
class DemoPerson:
    family_name: Name
    given_name: Name
    sex: str
    birth: date
    relationship: str
    occupation: str  # salaried, part_time, business, pension or none
    domicile: str | None
    domicile_head: str | None
    base_income: int = 0  # revenue (salary, pension) or income (business) of last year
    resident_code: str = ""
    individual_number: str | None = None
    became_resident_on: date = date.min
    address_set_on: date = date.min
    notified_on: date | None = None
    previous_address: str | None = None
    former_surname: Name | None = None  # 旧氏
    removed_on: date | None = None  # 除票: removed from the register on this day ...
    removal_reason: str | None = None  # ... because of 転出, 死亡 or 職権消除
    moved_out_to: str | None = None  # 転出先
    foreign: ForeignItems | None = None  # 外国人住民


@dataclass
class ForeignItems:
    """What a foreign resident's record states instead of 本籍 (住民基本台帳法30条の45)."""

    category: str
    nationality: str
    residence_status: str | None = None
    period_of_stay: str | None = None
    period_of_stay_ends_on: date | None = None
    residence_card_number: str | None = None
    alias: Name | None = None  # 通称


@dataclass
class DemoHousehold:
    code: str
    members: list[DemoPerson]
    town: str
    postal_code: str
    block: str
    building: str | None
    moved_in: date
    address_set: date
    previous_address: str  # elsewhere, before moving into the municipality
    previous_local_address: str | None  # set when the household moved within the municipality
    address: str = ""
    tax_rows: list[list[str]] = field(default_factory=list)
    #: Former members whose records were removed (除票): written to the register, assessed no more.
    removed: list[DemoPerson] = field(default_factory=list)


def years_before(d: date, years: int) -> date:
    """The same day ``years`` earlier (later if negative); 29 February falls back to the 28th."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def digits_of(text: str) -> str:
    return normalize_input(text).replace("-", "")


def demo_resident_code(tenant_slug: str) -> str:
    """Return the resident code of the demo family's head in the demo registry of ``tenant_slug``."""
    return resident_code_prefix(tenant_slug) + "000001"


def resident_code_prefix(tenant_slug: str) -> str:
    # Five digits derived from the slug (not the seed), so each tenant's codes differ and the demo
    # code stays the same whatever the seed. sha256 rather than hash(): hash() is salted per process.
    digest = hashlib.sha256(tenant_slug.encode()).digest()
    return f"{10_000 + int.from_bytes(digest[:4], 'big') % 90_000:05d}"


def block(rng: random.Random) -> str:
    """A block number (番, 号) drawn from ``rng``."""
    return f"{rng.randint(1, 30)}番{rng.randint(1, 25)}号"
