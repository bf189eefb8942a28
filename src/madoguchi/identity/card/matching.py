"""The card's 基本4情報 against the tenant's resident register (decision 0048).

Exact first: the card's name (spaces removed) equal code point for code point to the register's family + given
name, the same birth date and sex, among persons not removed (除票 excluded), and the address equal once written
the same way (NFKC, 丁目・番地・号 and dashes unified, spaces removed). Then, only if nothing matched exactly, the
variant folding the counter's search uses (``jp.name_search_key``: 髙→高, 﨑→崎, IVS dropped): a single person found
that way is a candidate a clerk must confirm, never a link by itself. The card's prefecture and municipality decide
whether it belongs to this municipality at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from madoguchi import jp
from madoguchi.identity.card.models import CardMatch
from madoguchi.identity.card.protocol import CardIdentity
from madoguchi.registry.models import SEARCH_KEY_LENGTH, Person
from madoguchi.tenancy.models import Tenant

#: Why a candidate needs a clerk (``CardMatchReview.reason``).
VARIANT_NAME = "variant_name"
ADDRESS_DIFFERS = "address_differs"


@dataclass(frozen=True)
class MatchOutcome:
    match: CardMatch
    #: The one person matched (exact or candidate); None for none, several or another municipality.
    person: Person | None = None
    #: Why a candidate needs a clerk: ``variant_name`` or ``address_differs``.
    review_reason: str | None = None
    #: How many register persons matched (several: 2 or more).
    candidates: int = 0
    #: For ``other_municipality``: the prefecture and municipality the card names (``東京都世田谷区``).
    municipality: str | None = None


def match_person(session: Session, tenant: Tenant, card: CardIdentity) -> MatchOutcome:
    """Compare the card with the tenant's register (only its persons: every query is by the tenant's id)."""
    if not belongs_to(tenant, card):
        return MatchOutcome(CardMatch.OTHER_MUNICIPALITY, municipality=municipality_of(card))
    key = jp.name_search_key(card.name)[:SEARCH_KEY_LENGTH]
    if not key:
        return MatchOutcome(CardMatch.NONE)
    # The folded key finds every candidate, the exact ones among them (equal names have equal keys): one indexed
    # query, then the exact comparisons in Python, code point by code point.
    stmt = (
        select(Person)
        .where(
            Person.tenant_id == tenant.id,
            Person.name_search_key == key,
            Person.birth_date == card.birth_date,
            Person.removed_on.is_(None),
        )
        .options(selectinload(Person.household))
        .order_by(Person.resident_code)
    )
    if card.sex:
        stmt = stmt.where(Person.sex == card.sex)
    folded = list(session.execute(stmt).scalars())
    name = without_spaces(card.name)
    same_name = [p for p in folded if without_spaces(p.family_name + p.given_name) == name]
    address = normalize_address(card.address)
    exact = [p for p in same_name if normalize_address(p.household.address) == address]
    if len(exact) == 1:
        return MatchOutcome(CardMatch.EXACT, person=exact[0], candidates=1)
    if len(exact) > 1:
        return MatchOutcome(CardMatch.SEVERAL, candidates=len(exact))
    if not folded:
        return MatchOutcome(CardMatch.NONE)
    if len(folded) > 1:
        return MatchOutcome(CardMatch.SEVERAL, candidates=len(folded))
    person = folded[0]
    reason = ADDRESS_DIFFERS if same_name else VARIANT_NAME
    return MatchOutcome(CardMatch.NEEDS_REVIEW, person=person, review_reason=reason, candidates=1)


def without_spaces(text: str) -> str:
    """``text`` with every whitespace character removed (ASCII and U+3000 alike), nothing else changed."""
    return "".join(text.split())


# --- Addresses -----------------------------------------------------------------------------------------

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
# A kanji number where a number is written with digits too: before 丁目, 番地, 番, 号 (二丁目 = 2丁目); not in a town
# named 〜番町 (四番町 is a name, not a number).
_KANJI_NUMBER = re.compile("([〇零一二三四五六七八九十百千]+)(?=丁目|番地|番(?!町)|号)")
# Hyphens, dashes and minus signs of every width (NFKC leaves these as they are; － and ｰ it does map).
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−﹣⁃", "-"))
# ー (the long-vowel mark) reads as a dash only between digits: in a building name (パークサイド) it is a letter.
_LONG_VOWEL_BETWEEN_DIGITS = re.compile("(?<=[0-9])ー(?=[0-9])")
# 2丁目12番地3, 2丁目12番3号, 12番地の3, 12の3: the separators between numbers, written as one dash.
_SEPARATOR = re.compile("([0-9])(?:丁目|番地の|番地|番の|番|号の|号|の)(?=[0-9])")
# The same words after the last number (12番地, 3号), but not 号室 (a room: 305号室 stays) nor 番町 (a town).
_TRAILING_UNIT = re.compile("([0-9])(?:丁目|番地|番(?!町)|号(?!室))")
_DASH_RUN = re.compile("-{2,}")


def _kanji_to_digits(match: re.Match[str]) -> str:
    text = match.group(1)
    if all(ch in _KANJI_DIGITS for ch in text):  # 一二 as digits, the way 〇 numbers are written
        return "".join(str(_KANJI_DIGITS[ch]) for ch in text)
    total, digit = 0, 0
    for ch in text:
        if ch in _KANJI_DIGITS:
            digit = _KANJI_DIGITS[ch]
        else:  # 十, 百, 千: 二十三 = 2·10 + 3, 十 alone = 10
            total += (digit or 1) * _KANJI_UNITS[ch]
            digit = 0
    return str(total + digit)


def normalize_address(text: str) -> str:
    """An address written one way, to compare two writings of the same place (never shown or stored).

    NFKC (full-width digits and letters become ASCII), every space removed, dashes of every kind (‐ － — ― − and
    ー between digits) one ``-``, kanji numbers before 丁目・番地・番・号 in digits (二丁目 → 2丁目, 十二番 → 12番),
    and 丁目・番地・番・号・の between numbers one ``-``, after the last number nothing: 中央二丁目12番3号,
    中央2丁目12-3 and 中央２－１２－３ are all ``中央2-12-3``. A room (305号室) stays as written.

    Deliberately not done: 大字・字 dropped, 郡 added or removed, ケ/ヶ/が unified, kanji numbers elsewhere (三の丸).
    The card's address is written from the same register, so these differences are rare; an address that differs
    only in them is a candidate a clerk confirms (``address_differs``), not a refusal.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(text.split()).translate(_DASHES)
    text = _LONG_VOWEL_BETWEEN_DIGITS.sub("-", text)
    text = _KANJI_NUMBER.sub(_kanji_to_digits, text)
    text = _SEPARATOR.sub(r"\1-", text)
    text = _TRAILING_UNIT.sub(r"\1", text)
    return _DASH_RUN.sub("-", text).strip("-")


# --- Which municipality the card names -------------------------------------------------------------------

_PREFECTURE_NAMES = tuple(sorted((p["ja"] for p in jp.PREFECTURES.values()), key=len, reverse=True))
# After the prefecture: an optional 郡, then a city with its ward (政令指定都市), or a city, ward, town or village.
_MUNICIPALITY = re.compile("^((?:[^郡市区町村]{1,6}郡)?(?:[^市]{1,6}市[^区]{1,5}区|.{1,6}?[市区町村]))")


def _tenant_prefecture(tenant: Tenant) -> str:
    prefecture = (tenant.profile or {}).get("prefecture") or {}
    return str(prefecture.get("ja") or jp.PREFECTURES.get(tenant.prefecture_code, {}).get("ja") or "")


def _clean(text: str | None) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def _is_this_municipality(written: str, name: str) -> bool:
    """``written`` (what follows the prefecture) starts with the municipality ``name``: 汐見町, 幡多郡汐見町 (with its
    郡), 横浜市中区 (a ward of the city)."""
    if written.startswith(name):
        return True
    county = re.match("^[^郡市区町村]{1,6}郡", written)
    return county is not None and written[county.end() :].startswith(name)


def belongs_to(tenant: Tenant, card: CardIdentity) -> bool:
    """Whether the card's address is in this tenant's municipality: by the prefecture and municipality the provider
    gives, else by the start of the address (a 住民票 of a 政令指定都市 may leave out the prefecture)."""
    prefecture, name = _clean(_tenant_prefecture(tenant)), _clean(tenant.name_ja)
    if card.prefecture and card.municipality:
        return _clean(card.prefecture) == prefecture and _is_this_municipality(_clean(card.municipality), name)
    address = _clean(card.address)
    if address.startswith(prefecture):
        address = address[len(prefecture) :]
    elif address.startswith(_PREFECTURE_NAMES):
        return False
    return _is_this_municipality(address, name)


def municipality_of(card: CardIdentity) -> str:
    """The prefecture and municipality the card names (``東京都世田谷区``), to tell the resident where to go."""
    if card.municipality:
        return f"{_clean(card.prefecture)}{_clean(card.municipality)}"
    address = _clean(card.address)
    prefecture = next((p for p in _PREFECTURE_NAMES if address.startswith(p)), "")
    rest = address[len(prefecture) :]
    found = _MUNICIPALITY.match(rest)
    return prefecture + (found.group(1) if found else rest)
