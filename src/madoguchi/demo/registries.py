"""Deterministic fictional registries for the demo tenants.

:func:`write_demo_csvs` writes ``residents.csv``, ``tax.csv`` and ``facilities.csv`` in the formats
of :mod:`madoguchi.registry.csv_formats` (they parse with zero errors). Everything comes from
``random.Random(seed)`` and the ``today`` date, so a seed and a day always give the same files.

What is in them:

* about 150 households (350-450 people): single people young and old, couples, families with
  children aged 0-5 (so childcare admission has applicants), single parents, three-generation
  households, parents with adult children; common family and given names of each generation with
  their katakana readings, and on purpose a few 外字 / variant names (髙橋, 山﨑, 𠮷田, 德永, 濵田,
  and 葛󠄀西 written with an ideographic variation sequence) so printing and search meet them;
* towns with 丁目, block numbers, buildings, move-in dates (most households long-standing, a
  few recent arrivals and moves within the municipality), previous addresses, 本籍 and 筆頭者,
  and valid Individual Numbers for most people;
* inhabitant tax assessments for the fiscal year of ``today`` and the two before, for every resident
  aged 18 or over on January 1 of that year who lived in the municipality then (a newcomer's earlier
  years were assessed by the previous municipality): salary, business and pension income, simple
  but consistent deductions, about 10% tax, and non-taxable rows for people with little income;
* 6-10 childcare facilities of the three kinds with capacities per age class.

**The demo family.** The first household's head has the resident code ending in ``000001``
(:func:`demo_resident_code` gives it without writing anything). He is a salaried parent in his
thirties living with his salaried wife and a child aged 0-2, all long-standing residents, so a demo
resident account linked to that code can try all three procedures: a residency certificate for
the household, tax certificates for three fiscal years, and childcare admission for a 3号 child
with two employed guardians.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypedDict

from madoguchi.jp import age_on, fiscal_year_of, individual_number_check_digit, normalize_input
from madoguchi.registry.csv_formats import (
    FACILITY_COLUMNS,
    HEAD_OF_HOUSEHOLD,
    RESIDENT_COLUMNS,
    SMALL_SCALE_MAX_CAPACITY,
    TAX_COLUMNS,
)

__all__ = ["DemoCsvs", "demo_resident_code", "write_demo_csvs"]


class DemoCsvs(TypedDict):
    """What :func:`write_demo_csvs` wrote, and the resident code of the demo family's head."""

    residents: Path
    tax: Path
    facilities: Path
    demo_resident_code: str


# --- Names -----------------------------------------------------------------------------------

_Name = tuple[str, str]  # (kanji, katakana reading)

# The most common family names, roughly in order of frequency (the first ones are drawn more often).
_FAMILY_NAMES: tuple[_Name, ...] = (
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
_COMMON_FAMILY_NAMES = 20

# Names with characters outside JIS levels 1-2 or with a variant form: each demo registry has them
# all, so certificates, search and fonts are exercised. 葛󠄀 is 葛 + VS17 (U+E0100), an IVS.
VARIANT_FAMILY_NAMES: tuple[_Name, ...] = (
    ("髙橋", "タカハシ"),
    ("山﨑", "ヤマザキ"),
    ("𠮷田", "ヨシダ"),
    ("德永", "トクナガ"),
    ("濵田", "ハマダ"),
    ("葛\U000e0100西", "カサイ"),
)

# Given names by generation: born before 1960, 1960-1999, 2000 onwards.
_MALE_NAMES: tuple[tuple[_Name, ...], ...] = (
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
_FEMALE_NAMES: tuple[tuple[_Name, ...], ...] = (
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
_TOWNS: tuple[tuple[str, str], ...] = (
    ("中央", "Chuo"), ("本町", "Honcho"), ("栄町", "Sakaemachi"), ("緑町", "Midoricho"), ("旭町", "Asahimachi"),
    ("桜台", "Sakuradai"), ("若葉", "Wakaba"), ("東町", "Higashimachi"), ("西町", "Nishimachi"),
    ("南町", "Minamimachi"), ("北町", "Kitamachi"), ("駅前", "Ekimae"), ("新町", "Shinmachi"),
    ("青葉台", "Aobadai"), ("富士見", "Fujimi"), ("泉町", "Izumicho"), ("日の出町", "Hinodecho"),
    ("松が丘", "Matsugaoka"), ("宮前", "Miyamae"), ("川端", "Kawabata"),
)  # fmt: skip
_TOWNS_PER_TENANT = 9
_CHOME = "一二三四五"
_BUILDINGS = (
    "メゾン・ド・ソレイユ", "コーポ桜", "グリーンハイツ", "パークサイド栄", "レジデンス中央", "サンハイツ",
    "ハイツ若葉", "ヴィラ泉", "シャトー旭", "グランドメゾン本町", "ライオンズマンション駅前", "市営第二住宅",
)  # fmt: skip
# Other municipalities people moved in from.
_ELSEWHERE = (
    "東京都世田谷区", "神奈川県川崎市中原区", "埼玉県さいたま市浦和区", "千葉県船橋市", "大阪府豊中市",
    "愛知県豊田市", "福岡県北九州市小倉北区", "北海道旭川市", "宮城県仙台市泉区", "兵庫県西宮市",
    "京都府宇治市", "静岡県浜松市中央区", "広島県福山市", "新潟県長岡市", "熊本県熊本市東区",
)  # fmt: skip
# 本籍 elsewhere in Japan; the rest of the population has its 本籍 in the municipality itself.
_DOMICILES_ELSEWHERE = (
    "北海道札幌市中央区北一条西二丁目1番地", "宮城県仙台市青葉区国分町三丁目7番地", "東京都千代田区千代田1番",
    "神奈川県横浜市中区日本大通1番地", "静岡県静岡市葵区追手町9番地", "愛知県名古屋市中区三の丸三丁目1番地",
    "京都府京都市上京区下立売通新町西入薮ノ内町85番地", "大阪府大阪市北区中之島一丁目3番地",
    "広島県広島市中区国泰寺町一丁目6番地", "福岡県福岡市中央区天神一丁目8番地", "鹿児島県鹿児島市山下町11番地",
    "長野県長野市大字南長野字幅下692番地2", "石川県金沢市広坂一丁目1番地", "高知県高知市本町五丁目1番地",
)  # fmt: skip

# --- Facilities ------------------------------------------------------------------------------

_FACILITY_NAMES: tuple[_Name, ...] = (
    ("さくら", "Sakura"), ("ひまわり", "Himawari"), ("たんぽぽ", "Tanpopo"), ("すみれ", "Sumire"),
    ("あおぞら", "Aozora"), ("どんぐり", "Donguri"), ("ひよこ", "Hiyoko"), ("こすもす", "Cosmos"),
    ("つくし", "Tsukushi"), ("わかば", "Wakaba"), ("なかよし", "Nakayoshi"), ("にじいろ", "Nijiiro"),
)  # fmt: skip
_FACILITY_CODE_PREFIX = {"nursery": "NS", "certified_center": "CC", "small_scale": "SS"}

# --- Tax -------------------------------------------------------------------------------------

BASIC_DEDUCTION = 430_000  # 基礎控除 (inhabitant tax)
DEPENDENT_DEDUCTION = 330_000  # 扶養控除 / 配偶者控除 (inhabitant tax), for dependents aged 16 or over
DEPENDENT_INCOME_LIMIT = 480_000  # a dependent's total income may not exceed this
MUNICIPAL_RATE_PERCENT = 6
PREFECTURAL_RATE_PERCENT = 4
MUNICIPAL_PER_CAPITA = 3_000  # 均等割
PREFECTURAL_PER_CAPITA = 1_000
ADULT_AGE = 18
TAX_YEARS = 3


@dataclass
class _Person:
    family_name: _Name
    given_name: _Name
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


@dataclass
class _Household:
    code: str
    members: list[_Person]
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


def _years_before(d: date, years: int) -> date:
    """The same day ``years`` earlier (later if negative); 29 February falls back to the 28th."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def _digits_of(text: str) -> str:
    return normalize_input(text).replace("-", "")


def demo_resident_code(tenant_slug: str) -> str:
    """Return the resident code of the demo family's head in the demo registry of ``tenant_slug``."""
    return _resident_code_prefix(tenant_slug) + "000001"


def _resident_code_prefix(tenant_slug: str) -> str:
    # Five digits derived from the slug (not the seed), so each tenant's codes differ and the demo
    # code stays the same whatever the seed. sha256 rather than hash(): hash() is salted per process.
    digest = hashlib.sha256(tenant_slug.encode()).digest()
    return f"{10_000 + int.from_bytes(digest[:4], 'big') % 90_000:05d}"


class _Generator:
    def __init__(
        self,
        *,
        tenant_slug: str,
        prefecture_ja: str,
        municipality_ja: str,
        postal_prefix: str,
        seed: int,
        today: date,
    ) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.prefecture = prefecture_ja
        self.municipality = municipality_ja
        self.current_fy = fiscal_year_of(today)
        self.code_prefix = _resident_code_prefix(tenant_slug)
        self.next_resident = 1
        self.individual_numbers: set[str] = set()
        # Towns of this municipality, each with its own postal code (as Japan Post assigns them).
        prefix = _digits_of(postal_prefix)
        if not prefix.isdigit() or not 1 <= len(prefix) <= 5:
            raise ValueError(f"postal_prefix must be 1-5 digits, e.g. '123': {postal_prefix!r}")
        width = 7 - len(prefix)
        towns = self.rng.sample(_TOWNS, _TOWNS_PER_TENANT)
        suffixes = sorted(self.rng.sample(range(1, 10**width), _TOWNS_PER_TENANT))
        self.towns: list[tuple[str, str, str, int]] = []  # (name, romanization, postal code, 丁目 count)
        for (name, roman), suffix in zip(towns, suffixes, strict=True):
            digits = f"{prefix}{suffix:0{width}d}"
            self.towns.append((name, roman, f"{digits[:3]}-{digits[3:]}", self.rng.choice((0, 2, 3, 4, 5))))

    # -- small draws ----------------------------------------------------------------------------

    def family_name(self) -> _Name:
        weights = [3 if i < _COMMON_FAMILY_NAMES else 1 for i in range(len(_FAMILY_NAMES))]
        return self.rng.choices(_FAMILY_NAMES, weights)[0]

    def given_name(self, sex: str, birth: date, taken: set[str]) -> _Name:
        generation = 0 if birth.year < 1960 else 1 if birth.year < 2000 else 2
        pool = (_MALE_NAMES if sex == "male" else _FEMALE_NAMES)[generation]
        choices = [name for name in pool if name[0] not in taken]
        name = self.rng.choice(choices)
        taken.add(name[0])
        return name

    def birth_for_age(self, age: int) -> date:
        latest = _years_before(self.today, age)
        earliest = _years_before(self.today, age + 1) + timedelta(days=1)
        return earliest + timedelta(days=self.rng.randint(0, (latest - earliest).days))

    def town_address(self) -> tuple[str, str, str]:
        """Return (town with 丁目, its postal code, block) for a random place in the municipality."""
        name, _, postal_code, chome = self.rng.choice(self.towns)
        town = f"{name}{_CHOME[self.rng.randrange(chome)]}丁目" if chome else name
        return town, postal_code, self.block()

    def block(self) -> str:
        return f"{self.rng.randint(1, 30)}番{self.rng.randint(1, 25)}号"

    def building(self) -> str:
        return f"{self.rng.choice(_BUILDINGS)} {self.rng.randint(1, 8)}{self.rng.randint(1, 12):02d}号室"

    def elsewhere_address(self) -> str:
        town = self.rng.choice(_TOWNS)[0]
        return f"{self.rng.choice(_ELSEWHERE)}{town}{_CHOME[self.rng.randrange(4)]}丁目{self.block()}"

    def domicile(self) -> str:
        if self.rng.random() < 0.4:
            return self.rng.choice(_DOMICILES_ELSEWHERE)
        town, _, _ = self.town_address()
        return f"{self.prefecture}{self.municipality}{town}{self.rng.randint(1, 40)}番地"

    def individual_number(self, *, always: bool = False) -> str | None:
        if not always and self.rng.random() < 0.07:  # not everyone's number is on file
            return None
        while True:
            first = f"{self.rng.randrange(10**11):011d}"
            number = first + str(individual_number_check_digit(first))
            if number not in self.individual_numbers:
                self.individual_numbers.add(number)
                return number

    def occupation(self, role: str, age: int) -> tuple[str, int]:
        """Return an occupation and its base annual revenue (or business income) in yen."""
        rng = self.rng
        if age < ADULT_AGE:
            return "none", 0
        if age >= 65 and not (role == "earner" and age < 70 and rng.random() < 0.2):
            return "pension", rng.randrange(800, 2_800) * 1000
        if role == "young":
            return ("part_time", rng.randrange(600, 1_300) * 1000) if rng.random() < 0.4 else ("none", 0)
        draw = rng.random()
        if role == "earner":
            if draw < 0.8:
                return "salaried", min(11_000, 2_800 + (age - 22) * 120 + rng.randrange(-500, 1_500)) * 1000
            if draw < 0.92:
                return "business", rng.randrange(1_500, 6_000) * 1000
            return "none", 0
        # role == "spouse"
        if draw < 0.45:
            return "salaried", rng.randrange(2_600, 5_000) * 1000
        if draw < 0.75:
            return "part_time", rng.randrange(800, 1_600) * 1000
        return "none", 0

    def person(
        self,
        family_name: _Name,
        sex: str,
        birth: date,
        relationship: str,
        role: str,
        koseki: tuple[str | None, str | None],
        taken: set[str],
    ) -> _Person:
        occupation, base = self.occupation(role, age_on(birth, self.today))
        return _Person(
            family_name=family_name,
            given_name=self.given_name(sex, birth, taken),
            sex=sex,
            birth=birth,
            relationship=relationship,
            occupation=occupation,
            domicile=koseki[0],
            domicile_head=koseki[1],
            base_income=base,
        )

    def koseki(self, family_name: _Name, head_sex: str, head_birth: date, taken: set[str]) -> tuple[str, str]:
        """A family register (本籍, 筆頭者) headed by someone not (necessarily) in the household."""
        head = self.given_name(head_sex, head_birth, taken)
        return self.domicile(), f"{family_name[0]}\u3000{head[0]}"

    def children(
        self,
        family_name: _Name,
        mother_age: int,
        koseki: tuple[str | None, str | None],
        taken: set[str],
        *,
        youngest_max: int,
    ) -> list[_Person]:
        count = self.rng.choices((1, 2, 3), (40, 45, 15))[0]
        # Mothers are at least 20 at each birth, which also guarantees at least one child.
        age = self.rng.randint(0, min(youngest_max, mother_age - 20))
        kids: list[_Person] = []
        while len(kids) < count and mother_age - age >= 20:
            sex = self.rng.choice(("male", "female"))
            role = "young" if age >= ADULT_AGE else "child"
            kids.append(self.person(family_name, sex, self.birth_for_age(age), "子", role, koseki, taken))
            age += self.rng.randint(1, 4)
        return kids

    # -- households ------------------------------------------------------------------------------

    def couple(
        self, family_name: _Name, husband_age: int, taken: set[str], *, husband_head: bool = True
    ) -> tuple[_Person, _Person, tuple[str, str]]:
        wife_age = max(20, husband_age + self.rng.randint(-6, 2))
        husband_birth = self.birth_for_age(husband_age)
        husband_name = self.given_name("male", husband_birth, taken)
        koseki = (self.domicile(), f"{family_name[0]}\u3000{husband_name[0]}")
        head, spouse = (HEAD_OF_HOUSEHOLD, "妻") if husband_head else ("夫", HEAD_OF_HOUSEHOLD)
        occupation, base = self.occupation("earner" if husband_head else "spouse", husband_age)
        husband = _Person(family_name, husband_name, "male", husband_birth, head, occupation, *koseki, base_income=base)
        wife_role = "spouse" if husband_head else "earner"
        wife = self.person(family_name, "female", self.birth_for_age(wife_age), spouse, wife_role, koseki, taken)
        return husband, wife, koseki

    def demo_family(self) -> list[_Person]:
        taken: set[str] = set()
        family_name = self.family_name()
        husband, wife, koseki = self.couple(family_name, self.rng.randint(31, 38), taken)
        husband.occupation, husband.base_income = "salaried", self.rng.randrange(5_000, 6_500) * 1000
        wife.occupation, wife.base_income = "salaried", self.rng.randrange(3_200, 4_500) * 1000
        # Born 300-700 days ago: in a 0-2 age class (3号) this fiscal year and the next.
        child_birth = self.today - timedelta(days=self.rng.randint(300, 700))
        child = self.person(family_name, self.rng.choice(("male", "female")), child_birth, "子", "child", koseki, taken)
        return [husband, wife, child]

    def random_household(self, family_name: _Name) -> list[_Person]:
        rng = self.rng
        taken: set[str] = set()
        kind = rng.choices(
            ("single", "couple", "family", "single_parent", "three_generations", "adult_children", "siblings", "other"),
            (24, 20, 27, 6, 11, 8, 2, 2),
        )[0]
        if kind == "single":
            age = rng.randint(20, 39) if rng.random() < 0.55 else rng.randint(65, 92)
            sex = rng.choice(("male", "female"))
            birth = self.birth_for_age(age)
            # A young single person is still in the parents' register; an old one heads (or
            # outlived the head of) their own.
            if age < 40:
                koseki: tuple[str | None, str | None] = self.koseki(
                    family_name, "male", _years_before(birth, 30), set()
                )
            else:
                koseki = (
                    self.koseki(family_name, "male", _years_before(birth, 3), set())
                    if sex == "female"
                    else (None, None)
                )
            person = self.person(family_name, sex, birth, HEAD_OF_HOUSEHOLD, "earner", koseki, taken)
            if person.domicile is None:
                person.domicile = self.domicile()
                person.domicile_head = f"{family_name[0]}\u3000{person.given_name[0]}"
            return [person]
        if kind == "couple":
            husband, wife, _ = self.couple(family_name, rng.randint(25, 85), taken, husband_head=rng.random() < 0.9)
            return [husband, wife] if husband.relationship == HEAD_OF_HOUSEHOLD else [wife, husband]
        if kind == "family":
            husband, wife, koseki = self.couple(family_name, rng.randint(27, 48), taken)
            mother_age = age_on(wife.birth, self.today)
            return [husband, wife, *self.children(family_name, mother_age, koseki, taken, youngest_max=5)]
        if kind == "single_parent":
            sex = "female" if rng.random() < 0.85 else "male"
            age = rng.randint(25, 48)
            birth = self.birth_for_age(age)
            koseki = (self.domicile(), None)
            parent = self.person(family_name, sex, birth, HEAD_OF_HOUSEHOLD, "earner", koseki, taken)
            if parent.occupation not in ("salaried", "business"):
                parent.occupation, parent.base_income = "part_time", rng.randrange(1_200, 2_200) * 1000
            parent.domicile_head = f"{family_name[0]}\u3000{parent.given_name[0]}"
            koseki = (parent.domicile, parent.domicile_head)
            return [parent, *self.children(family_name, age, koseki, taken, youngest_max=8)]
        if kind == "three_generations":
            if rng.random() < 0.5:
                # Head in the middle generation, living with their own or the wife's parents.
                head_age = rng.randint(30, 48)
                husband, wife, koseki = self.couple(family_name, head_age, taken)
                mother_age = age_on(wife.birth, self.today)
                kids = self.children(family_name, mother_age, koseki, taken, youngest_max=5)
                wifes_side = rng.random() < 0.25
                elder_name = self.family_name() if wifes_side else family_name
                elder_age = min(95, head_age + rng.randint(25, 33))
                grandfather, grandmother, _ = self.couple(elder_name, elder_age, taken)
                grandfather.relationship = "妻の父" if wifes_side else "父"
                grandmother.relationship = "妻の母" if wifes_side else "母"
                elders = [grandfather, grandmother] if rng.random() < 0.6 else [rng.choice((grandfather, grandmother))]
                return [husband, wife, *kids[: 6 - 2 - len(elders)], *elders]
            # Head in the eldest generation: son's family with grandchildren (孫).
            head_age = rng.randint(58, 75)
            grandfather, grandmother, _ = self.couple(family_name, head_age, taken)
            son_age = max(28, head_age - rng.randint(26, 32))
            son, daughter_in_law, koseki = self.couple(family_name, son_age, taken)
            son.relationship, daughter_in_law.relationship = "子", "子の妻"
            mother_age = age_on(daughter_in_law.birth, self.today)
            grandchildren = self.children(family_name, mother_age, koseki, taken, youngest_max=5)[:2]
            for grandchild in grandchildren:
                grandchild.relationship = "孫"
            return [grandfather, grandmother, son, daughter_in_law, *grandchildren]
        if kind == "adult_children":
            husband, wife, koseki = self.couple(family_name, rng.randint(50, 68), taken)
            mother_age = age_on(wife.birth, self.today)
            count = rng.choice((1, 2))
            ages = sorted({rng.randint(18, min(35, mother_age - 20)) for _ in range(count)})
            kids = [
                self.person(
                    family_name,
                    rng.choice(("male", "female")),
                    self.birth_for_age(a),
                    "子",
                    "young" if a < 23 else "earner",
                    koseki,
                    taken,
                )
                for a in ages
            ]
            return [husband, wife, *kids]
        if kind == "siblings":
            age = rng.randint(25, 45)
            koseki = self.koseki(family_name, "male", self.birth_for_age(age + 30), set())
            head = self.person(
                family_name,
                rng.choice(("male", "female")),
                self.birth_for_age(age),
                HEAD_OF_HOUSEHOLD,
                "earner",
                koseki,
                taken,
            )
            younger = rng.random() < 0.5
            sibling_age = age - rng.randint(1, 5) if younger else age + rng.randint(1, 5)
            sex = rng.choice(("male", "female"))
            relationship = {
                (True, "male"): "弟",
                (True, "female"): "妹",
                (False, "male"): "兄",
                (False, "female"): "姉",
            }[(younger, sex)]
            sibling = self.person(
                family_name, sex, self.birth_for_age(max(18, sibling_age)), relationship, "earner", koseki, taken
            )
            return [head, sibling]
        # "other": a young adult with a grandparent, or two unrelated people sharing a home.
        age = rng.randint(20, 32)
        koseki = self.koseki(family_name, "male", self.birth_for_age(age + 30), set())
        head = self.person(
            family_name,
            rng.choice(("male", "female")),
            self.birth_for_age(age),
            HEAD_OF_HOUSEHOLD,
            "earner",
            koseki,
            taken,
        )
        if rng.random() < 0.5:
            grand_age = rng.randint(78, 95)
            grandmother_koseki = self.koseki(family_name, "male", self.birth_for_age(grand_age + 3), set())
            return [
                head,
                self.person(
                    family_name, "female", self.birth_for_age(grand_age), "祖母", "elder", grandmother_koseki, taken
                ),
            ]
        lodger_name = self.family_name()
        lodger_age = rng.randint(20, 35)
        lodger_koseki = self.koseki(lodger_name, "male", self.birth_for_age(lodger_age + 30), set())
        lodger = self.person(
            lodger_name,
            rng.choice(("male", "female")),
            self.birth_for_age(lodger_age),
            "同居人",
            "earner",
            lodger_koseki,
            set(),
        )
        return [head, lodger]

    def place(self, index: int, members: list[_Person], *, demo: bool = False) -> _Household:
        """Give a household its address, dates, codes and Individual Numbers.

        The demo family (``demo``) is long-standing, never moved within the municipality and has
        every Individual Number on file, so every procedure and certificate option works for it.
        """
        rng = self.rng
        town, postal_code, block = self.town_address()
        building = self.building() if rng.random() < 0.35 else None
        # The head and spouse moved in as adults (their children and parents may have come along).
        youngest_adult = max(p.birth for p in members if p.relationship in (HEAD_OF_HOUSEHOLD, "妻", "夫"))
        earliest = max(date(1975, 1, 1), _years_before(youngest_adult, -ADULT_AGE))
        # Residents on January 1 of the oldest fiscal year shown have all three assessments here.
        oldest_jan1 = date(self.current_fy - TAX_YEARS + 1, 1, 1)
        latest = self.today - timedelta(days=14)
        recent = not demo and rng.random() < 0.08
        if recent or earliest >= oldest_jan1:
            moved_in = self._date_between(max(earliest, oldest_jan1 + timedelta(days=1)), latest)
        else:
            moved_in = self._date_between(earliest, oldest_jan1 - timedelta(days=1))
        previous_local: str | None = None
        address_set = moved_in
        if not demo and moved_in + timedelta(days=400) < latest and rng.random() < 0.15:
            address_set = self._date_between(moved_in + timedelta(days=365), latest)
            old_town, _, old_block = self.town_address()
            previous_local = f"{self.prefecture}{self.municipality}{old_town}{old_block}"
        household = _Household(
            code=f"H{self.code_prefix}{index:05d}",
            members=members,
            town=town,
            postal_code=postal_code,
            block=block,
            building=building,
            moved_in=moved_in,
            address_set=address_set,
            previous_address=self.elsewhere_address(),
            previous_local_address=previous_local,
        )
        household.address = f"{self.prefecture}{self.municipality}{town}{block}" + (f" {building}" if building else "")
        for person in members:
            person.resident_code = f"{self.code_prefix}{self.next_resident:06d}"
            self.next_resident += 1
            person.individual_number = self.individual_number(always=demo)
            person.became_resident_on = max(moved_in, person.birth)
            person.address_set_on = max(address_set, person.birth)
            born_here = person.birth >= address_set
            if born_here:
                person.previous_address = None
            elif previous_local is not None:
                person.previous_address = previous_local
            else:
                person.previous_address = None if person.birth >= moved_in else household.previous_address
            # 出生届 within 14 days, 転入届/転居届 within 14 days; some old records lack the date.
            event = person.address_set_on
            if event.year < 2000 and rng.random() < 0.3:
                person.notified_on = None
            else:
                person.notified_on = min(self.today, event + timedelta(days=rng.randint(0 if not born_here else 3, 14)))
        return household

    def _date_between(self, start: date, end: date) -> date:
        if end <= start:
            return start
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    # -- tax -------------------------------------------------------------------------------------

    def assess(self, household: _Household) -> None:
        """Fill ``household.tax_rows`` for the last three fiscal years."""
        for fy in range(self.current_fy - TAX_YEARS + 1, self.current_fy + 1):
            jan1 = date(fy, 1, 1)
            income_year_end = date(fy - 1, 12, 31)
            incomes: dict[str, tuple[int, int, int, int, int]] = {}  # code -> incomes and social insurance
            for person in household.members:
                if (
                    person.birth <= jan1
                    and person.became_resident_on <= jan1
                    and age_on(person.birth, jan1) >= ADULT_AGE
                ):
                    incomes[person.resident_code] = self.incomes(person, fy - 1)
            if not incomes:
                continue
            totals = {code: sum(values[:4]) for code, values in incomes.items()}
            claimant = max(totals, key=lambda code: (totals[code], code))
            dependents = [
                p
                for p in household.members
                if p.resident_code != claimant
                and p.relationship != "同居人"
                and p.birth <= income_year_end
                and totals.get(p.resident_code, 0) <= DEPENDENT_INCOME_LIMIT
            ]
            address_on_jan1 = household.address if household.address_set <= jan1 else household.previous_local_address
            for person in household.members:
                if person.resident_code not in incomes:
                    continue
                salary, business, pension, other, social_insurance = incomes[person.resident_code]
                total = salary + business + pension + other
                claimed = dependents if person.resident_code == claimant else []
                # Children under 16 count as dependents but earn no deduction (年少扶養).
                deductible = sum(1 for p in claimed if age_on(p.birth, income_year_end) >= 16)
                deductions = BASIC_DEDUCTION + social_insurance + DEPENDENT_DEDUCTION * deductible
                taxable = max(0, total - deductions) // 1000 * 1000
                # 均等割 non-taxable limit (1級地): 450,000 alone, 350,000 × persons + 310,000 with dependents.
                limit = 450_000 if not claimed else 350_000 * (1 + len(claimed)) + 310_000
                non_taxable = total <= limit
                municipal = (
                    0 if non_taxable else taxable * MUNICIPAL_RATE_PERCENT // 100 // 100 * 100 + MUNICIPAL_PER_CAPITA
                )
                prefectural = (
                    0
                    if non_taxable
                    else taxable * PREFECTURAL_RATE_PERCENT // 100 // 100 * 100 + PREFECTURAL_PER_CAPITA
                )
                household.tax_rows.append(
                    [
                        person.resident_code,
                        str(fy),
                        address_on_jan1 or household.address,
                        *(str(v) for v in (salary, business, pension, other, total, deductions, taxable)),
                        str(municipal),
                        str(prefectural),
                        str(len(claimed)),
                        "true" if non_taxable else "false",
                    ]
                )

    def incomes(self, person: _Person, year: int) -> tuple[int, int, int, int, int]:
        """Return salary, business, pension and other income of ``year``, and social insurance paid."""
        rng = self.rng
        growth = 100 + 2 * (year - (self.today.year - 1))  # wages rose about 2% a year
        base = person.base_income * growth // 100
        salary = business = pension = social_insurance = 0
        if person.occupation in ("salaried", "part_time"):
            revenue = max(0, base + rng.randrange(-50, 51) * 1000)
            salary = _salary_income(revenue)
            social_insurance = revenue * 15 // 100 if person.occupation == "salaried" else 0
        elif person.occupation == "business":
            business = person.base_income * rng.randint(90, 110) // 100 // 1000 * 1000
            social_insurance = business * 12 // 100
        elif person.occupation == "pension":
            revenue = person.base_income
            pension = _pension_income(revenue)
            social_insurance = revenue * 5 // 100
        other = rng.randrange(20, 300) * 1000 if rng.random() < 0.08 else 0
        return salary, business, pension, other, social_insurance

    # -- facilities ------------------------------------------------------------------------------

    def facilities(self) -> list[list[str]]:
        rng = self.rng
        count = rng.randint(6, 10)
        kinds = ["nursery", "certified_center", "small_scale"]
        kinds += rng.choices(("nursery", "certified_center", "small_scale"), (50, 25, 25), k=count - len(kinds))
        names = rng.sample(_FACILITY_NAMES, count)
        rows = []
        for number, (kind, (name_ja, name_en)) in enumerate(zip(kinds, names, strict=True), start=1):
            town_name, roman, postal_code, chome = rng.choice(self.towns)
            town = f"{town_name}{_CHOME[rng.randrange(chome)]}丁目" if chome else town_name
            if kind == "nursery" and number == 1:  # one public nursery (市立/町立保育所) per municipality
                title_ja, title_en = f"{self.municipality}立{town_name}保育所", f"Municipal {roman} Nursery School"
            elif kind == "nursery":
                title_ja, title_en = f"{name_ja}保育園", f"{name_en} Nursery School"
            elif kind == "certified_center":
                title_ja, title_en = f"認定こども園{name_ja}", f"{name_en} Certified Center for ECEC"
            else:
                title_ja, title_en = f"小規模保育事業所{name_ja}ルーム", f"{name_en} Room Small-scale Childcare"
            capacities = _capacities(rng, kind)
            rows.append(
                [
                    f"{_FACILITY_CODE_PREFIX[kind]}-{number:03d}",
                    title_ja,
                    title_en,
                    kind,
                    postal_code,
                    f"{self.prefecture}{self.municipality}{town}{self.block()}",
                    *(str(c) for c in capacities),
                    "true" if rng.random() < 0.8 else "false",
                ]
            )
        return rows


def _capacities(rng: random.Random, kind: str) -> list[int]:
    if kind == "small_scale":
        capacities = [rng.randint(3, 6), rng.randint(4, 7), rng.randint(4, 6), 0, 0, 0]
        assert sum(capacities) <= SMALL_SCALE_MAX_CAPACITY
        return capacities
    if kind == "certified_center":
        older = rng.randint(15, 35)
        return [rng.choice((0, 3, 6)), rng.randint(6, 12), rng.randint(6, 15), older, older, older]
    older = rng.randint(10, 25)
    return [rng.randint(3, 9), rng.randint(6, 15), rng.randint(8, 18), older, older + rng.randint(0, 3), older]


def _salary_income(revenue: int) -> int:
    """給与所得: salary revenue minus the employment income deduction (給与所得控除, 2020 onwards)."""
    if 1_625_000 < revenue < 6_600_000:
        # The statutory table works on revenue rounded down to 4,000 yen in this range.
        revenue = revenue // 4_000 * 4_000
    if revenue <= 1_625_000:
        deduction = 550_000
    elif revenue <= 1_800_000:
        deduction = revenue * 40 // 100 - 100_000
    elif revenue <= 3_600_000:
        deduction = revenue * 30 // 100 + 80_000
    elif revenue <= 6_600_000:
        deduction = revenue * 20 // 100 + 440_000
    elif revenue <= 8_500_000:
        deduction = revenue * 10 // 100 + 1_100_000
    else:
        deduction = 1_950_000
    return max(0, revenue - deduction)


def _pension_income(revenue: int) -> int:
    """雑所得 (公的年金等) of someone aged 65 or over, with the public pension deduction simplified."""
    deduction = 1_100_000 if revenue <= 3_300_000 else revenue * 25 // 100 + 275_000
    return max(0, revenue - deduction)


def _resident_row(household: _Household, person: _Person, prefecture: str, municipality: str) -> list[str]:
    return [
        person.resident_code,
        household.code,
        person.family_name[0],
        person.given_name[0],
        person.family_name[1],
        person.given_name[1],
        person.birth.isoformat(),
        person.sex,
        person.relationship,
        household.postal_code,
        prefecture,
        municipality,
        household.town,
        household.block,
        household.building or "",
        person.became_resident_on.isoformat(),
        person.address_set_on.isoformat(),
        person.notified_on.isoformat() if person.notified_on else "",
        person.previous_address or "",
        person.domicile or "",
        person.domicile_head or "",
        person.individual_number or "",
    ]


def _write(path: Path, columns: Sequence[str], rows: list[list[str]]) -> Path:
    assert all(len(row) == len(columns) for row in rows)
    # Fictional, but shaped like a resident register (Individual Numbers included): readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file left by an older demo keeps its mode through O_TRUNC
    with open(descriptor, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_demo_csvs(
    out_dir: Path,
    *,
    tenant_slug: str,
    prefecture_ja: str,
    municipality_ja: str,
    postal_prefix: str,
    seed: int,
    households: int = 150,
    today: date | None = None,
) -> DemoCsvs:
    """Write a fictional registry (residents.csv, tax.csv, facilities.csv) into ``out_dir``.

    ``postal_prefix`` gives the leading digits of the municipality's postal codes (``"123"`` gives
    ``123-NNNN``). ``today`` (default: the current date) anchors ages, dates and fiscal years;
    the same ``seed`` and ``today`` always produce byte-identical files. The result names the
    three files and the demo family head's resident code (see the module docstring).
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    today = today or date.today()
    generator = _Generator(
        tenant_slug=tenant_slug,
        prefecture_ja=prefecture_ja,
        municipality_ja=municipality_ja,
        postal_prefix=postal_prefix,
        seed=seed,
        today=today,
    )
    rng = generator.rng
    # Households (never the demo family) that get a 外字 / variant family name, one of each.
    slots = rng.sample(range(1, households), min(len(VARIANT_FAMILY_NAMES), households - 1))
    variant_slots = dict(zip(slots, VARIANT_FAMILY_NAMES[: len(slots)], strict=True))
    placed: list[_Household] = [generator.place(1, generator.demo_family(), demo=True)]
    for index in range(1, households):
        family_name = variant_slots.get(index) or generator.family_name()
        placed.append(generator.place(index + 1, generator.random_household(family_name)))

    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    resident_rows: list[list[str]] = []
    tax_rows = []
    for household in placed:
        resident_rows.extend(
            _resident_row(household, person, prefecture_ja, municipality_ja) for person in household.members
        )
        generator.assess(household)
        tax_rows.extend(household.tax_rows)
    facility_rows = generator.facilities()
    return DemoCsvs(
        residents=_write(out_dir / "residents.csv", RESIDENT_COLUMNS, resident_rows),
        tax=_write(out_dir / "tax.csv", TAX_COLUMNS, tax_rows),
        facilities=_write(out_dir / "facilities.csv", FACILITY_COLUMNS, facility_rows),
        demo_resident_code=demo_resident_code(tenant_slug),
    )
