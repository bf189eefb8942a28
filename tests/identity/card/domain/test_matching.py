"""The card's 基本4情報 against the register: exact code points first, the counter's folding only as a candidate for
a clerk, 除票 never, and a card of another municipality recognised as such (decision 0048)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from madoguchi.db import Database
from madoguchi.demo.registries import write_demo_csvs
from madoguchi.identity.card.matching import match_person, normalize_address
from madoguchi.identity.card.models import CardMatch
from madoguchi.registry.csv_formats import parse_registry_csv
from madoguchi.registry.models import format_address
from tests.identity.card.domain.conftest import card_of, register_person
from tests.identity.conftest import Towns

IVS_KUZU = "葛\U000e0100"  # 葛󠄀: 葛 with the ideographic variation selector of the 住基 name
TSUCHI_YOSHI = "\U00020bb7"  # 𠮷 (つちよし), outside the BMP


def _match(db: Database, tenant, card):
    with db.transaction(tenant.id) as session:
        return match_person(session, tenant, card)


# --- Exact ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "given"),
    [(f"{IVS_KUZU}西", "花子"), (f"{TSUCHI_YOSHI}田", "太郎"), ("髙橋", "一郎"), ("山﨑", "美咲")],
)
def test_a_name_with_外字_or_ivs_matches_exactly_when_the_card_has_the_same_code_points(
    db: Database, towns: Towns, family: str, given: str
) -> None:
    person = register_person(db, towns.a, family=family, given=given)
    outcome = _match(db, towns.a, card_of(towns.a, f"{family}　{given}"))
    assert outcome.match == CardMatch.EXACT
    assert outcome.person is not None and outcome.person.id == person.id
    assert outcome.review_reason is None and outcome.candidates == 1


@pytest.mark.parametrize("name", ["髙橋 一郎", "髙橋　一郎", "髙橋一郎", " 髙橋\u3000 一郎 ", "髙橋\t一郎"])
def test_spaces_of_any_width_in_the_card_name_do_not_matter(db: Database, towns: Towns, name: str) -> None:
    register_person(db, towns.a)
    assert _match(db, towns.a, card_of(towns.a, name)).match == CardMatch.EXACT


def test_the_card_may_leave_sex_out_but_a_different_sex_does_not_match(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    assert _match(db, towns.a, card_of(towns.a, sex="")).match == CardMatch.EXACT
    assert _match(db, towns.a, card_of(towns.a, sex="female")).match == CardMatch.NONE


def test_another_birth_date_does_not_match(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    assert _match(db, towns.a, card_of(towns.a, birth=date(1985, 4, 3))).match == CardMatch.NONE


def test_an_address_written_the_register_way_matches(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a, street="中央二丁目12番3号 メゾン・ド・ソレイユ 305号室")
    assert _match(db, towns.a, card).match == CardMatch.EXACT
    full_width = card_of(towns.a, street="中央２丁目１２－３　メゾン・ド・ソレイユ　３０５号室")
    assert _match(db, towns.a, full_width).match == CardMatch.EXACT


# --- Candidates for a clerk ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "on_card"),
    [
        (("髙橋", "一郎"), "高橋　一郎"),  # 髙 in the register, 高 on the card
        (("山﨑", "美咲"), "山崎　美咲"),  # 﨑 (U+FA11) in the register, 崎 on the card
        ((f"{IVS_KUZU}西", "花子"), "葛西　花子"),  # the card cannot hold the variation selector
        ((f"{TSUCHI_YOSHI}田", "太郎"), "吉田　太郎"),  # 𠮷 in the register, 吉 on the card
    ],
)
def test_a_variant_character_makes_a_candidate_a_clerk_must_confirm(
    db: Database, towns: Towns, registered: tuple[str, str], on_card: str
) -> None:
    person = register_person(db, towns.a, family=registered[0], given=registered[1])
    outcome = _match(db, towns.a, card_of(towns.a, on_card))
    assert outcome.match == CardMatch.NEEDS_REVIEW
    assert outcome.review_reason == "variant_name"
    assert outcome.person is not None and outcome.person.id == person.id


def test_the_same_name_at_another_address_in_the_town_is_a_candidate(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    outcome = _match(db, towns.a, card_of(towns.a, street="本町1丁目5番8号"))
    assert outcome.match == CardMatch.NEEDS_REVIEW and outcome.review_reason == "address_differs"
    assert outcome.person is not None and outcome.person.id == person.id


def test_an_exact_match_wins_over_a_variant_of_the_same_name(db: Database, towns: Towns) -> None:
    exact = register_person(db, towns.a, family="髙橋")
    register_person(db, towns.a, family="高橋", town="本町一丁目")
    outcome = _match(db, towns.a, card_of(towns.a, "髙橋 一郎"))
    assert outcome.match == CardMatch.EXACT and outcome.person is not None and outcome.person.id == exact.id


# --- None, several, elsewhere ----------------------------------------------------------------------------


def test_a_removed_person_never_matches(db: Database, towns: Towns) -> None:
    register_person(db, towns.a, removed_on=date(2025, 3, 31), removal_reason="転出")
    outcome = _match(db, towns.a, card_of(towns.a))
    assert outcome.match == CardMatch.NONE and outcome.person is None


def test_a_removed_record_beside_a_current_one_leaves_the_current_one(db: Database, towns: Towns) -> None:
    current = register_person(db, towns.a)
    register_person(db, towns.a, removed_on=date(2020, 1, 31), removal_reason="死亡")
    outcome = _match(db, towns.a, card_of(towns.a))
    assert outcome.match == CardMatch.EXACT and outcome.person is not None and outcome.person.id == current.id


def test_two_register_persons_matching_are_several(db: Database, towns: Towns) -> None:
    register_person(db, towns.a, town="本町一丁目")
    register_person(db, towns.a, town="栄町三丁目")
    outcome = _match(db, towns.a, card_of(towns.a))
    assert outcome.match == CardMatch.SEVERAL and outcome.person is None and outcome.candidates == 2


def test_two_exact_matches_at_one_address_are_several(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    register_person(db, towns.a)
    outcome = _match(db, towns.a, card_of(towns.a))
    assert outcome.match == CardMatch.SEVERAL and outcome.candidates == 2


def test_a_card_holder_not_in_the_register_is_none(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    outcome = _match(db, towns.a, card_of(towns.a, "佐藤　花子", sex="female"))
    assert outcome.match == CardMatch.NONE and outcome.person is None and outcome.candidates == 0


@pytest.mark.parametrize(
    ("address", "prefecture", "municipality", "named"),
    [
        ("東京都世田谷区桜台一丁目1番1号", "東京都", "世田谷区", "東京都世田谷区"),
        ("東京都世田谷区桜台一丁目1番1号", "", "", "東京都世田谷区"),
        ("神奈川県横浜市中区日本大通1番地", "", "", "神奈川県横浜市中区"),
    ],
)
def test_a_card_of_another_municipality_is_named_and_matched_with_nobody(
    db: Database, towns: Towns, address: str, prefecture: str, municipality: str, named: str
) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a, address=address, prefecture=prefecture, municipality=municipality)
    outcome = _match(db, towns.a, card)
    assert outcome.match == CardMatch.OTHER_MUNICIPALITY and outcome.person is None
    assert outcome.municipality == named


def test_a_card_of_the_same_prefecture_but_another_municipality_is_elsewhere(db: Database, towns: Towns) -> None:
    prefecture = towns.b.profile["prefecture"]["ja"]  # 長野県
    card = card_of(towns.b, address=f"{prefecture}長野市大字南長野字幅下692番地2", prefecture="", municipality="")
    outcome = _match(db, towns.b, card)
    assert outcome.match == CardMatch.OTHER_MUNICIPALITY and outcome.municipality == "長野県長野市"


def test_the_municipality_is_found_from_the_address_when_the_provider_gives_it_alone(
    db: Database, towns: Towns
) -> None:
    register_person(db, towns.a)
    prefecture = towns.a.profile["prefecture"]["ja"]
    # A 郡 before the town's name is still this town (the address itself is then a candidate: 郡 is not unified).
    with_county = card_of(towns.a, address=f"{prefecture}緑川郡{towns.a.name_ja}中央2-12-3", prefecture="")
    assert _match(db, towns.a, with_county).match == CardMatch.NEEDS_REVIEW
    assert _match(db, towns.a, card_of(towns.a, prefecture="", municipality="")).match == CardMatch.EXACT


def test_a_person_of_another_tenant_is_never_found(db: Database, towns: Towns) -> None:
    # The same person in B's register; A's card matches nobody in A.
    register_person(db, towns.b)
    assert _match(db, towns.a, card_of(towns.a)).match == CardMatch.NONE
    assert _match(db, towns.b, card_of(towns.b)).match == CardMatch.EXACT


# --- Addresses written one way -------------------------------------------------------------------------


SHIOMI = "高知県汐見町中央2-12-3メゾン・ド・ソレイユ305号室"


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        # as the demo register writes them (prefecture, municipality, town with 丁目, 番・号, a building)
        ("高知県汐見町中央二丁目12番3号 メゾン・ド・ソレイユ 305号室", SHIOMI),
        ("高知県汐見町中央２丁目１２－３　メゾン・ド・ソレイユ３０５号室", SHIOMI),
        ("高知県汐見町中央2丁目12ー3 メゾン・ド・ソレイユ 305号室", SHIOMI),
        ("長野県桜丘市栄町三丁目7番21号", "長野県桜丘市栄町3-7-21"),
        ("長野県桜丘市栄町3‐7‐21", "長野県桜丘市栄町3-7-21"),
        ("長野県桜丘市栄町3−7―21", "長野県桜丘市栄町3-7-21"),
        ("長野県長野市大字南長野字幅下692番地2", "長野県長野市大字南長野字幅下692-2"),
        ("長野県長野市大字南長野字幅下692番地の2", "長野県長野市大字南長野字幅下692-2"),
        ("北海道緑川村本町1番地", "北海道緑川村本町1"),
        ("中央二十三丁目1番", "中央23-1"),
        # a building's ー is a letter, a town named 〜番町 keeps its name
        ("本町1番2号 パークサイド栄 1203号室", "本町1-2パークサイド栄1203号室"),
        ("東京都千代田区四番町十二番地の3", "東京都千代田区四番町12-3"),
    ],
)
def test_addresses_are_written_one_way(written: str, normalized: str) -> None:
    assert normalize_address(written) == normalized


def test_different_places_stay_different() -> None:
    assert normalize_address("中央2丁目12番3号") != normalize_address("中央2丁目1番23号")
    assert normalize_address("中央2丁目12番3号 101号室") != normalize_address("中央2丁目12番3号 102号室")


_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
_KANJI = dict(zip("一二三四五", "12345", strict=True))


def _as_a_card_writes_it(town: str, block: str, building: str | None) -> str:
    """The register's 中央二丁目 / 30番14号 the way a card's address may give it: 中央２丁目３０－１４, U+3000."""
    if town.endswith("丁目"):
        town = town[:-3] + _KANJI[town[-3]] + "丁目"
    street = f"{town}{block.replace('番', '-').removesuffix('号')}".translate(_FULL_WIDTH)
    return street + (f"\u3000{building}" if building else "")


def test_every_address_of_a_demo_register_matches_its_card_writing_and_no_other(tmp_path: Path) -> None:
    today = date(2026, 11, 26)
    files = write_demo_csvs(
        tmp_path, tenant_slug="shiomi-town", prefecture_ja="高知県", municipality_ja="汐見町", postal_prefix="789",
        seed=1, today=today,
    )  # fmt: skip
    with files["residents"].open(encoding="utf-8", newline="") as stream:
        rows = parse_registry_csv("residents", stream, today=today).rows
    registered = {
        format_address(r["prefecture"], r["municipality"], r["town"], r["block"], r["building"]): r for r in rows
    }
    assert len(registered) > 100
    normalized = {normalize_address(address) for address in registered}
    assert len(normalized) == len(registered)  # writing addresses one way merges no two places
    for address, row in registered.items():
        street = _as_a_card_writes_it(row["town"], row["block"], row["building"])
        card = f"{row['prefecture']}{row['municipality']}{street}"
        assert normalize_address(card) == normalize_address(address), (address, card)
