"""Demo registries: valid for the parser, deterministic, realistic enough to exercise every procedure."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from madoguchi.demo.registries import VARIANT_FAMILY_NAMES, DemoCsvs, demo_resident_code, write_demo_csvs
from madoguchi.documents import pdf
from madoguchi.jp import age_on, childcare_age_class, fiscal_year_of
from madoguchi.registry.csv_formats import COLUMNS, ParseResult, parse_registry_csv

TODAY = date(2026, 11, 26)
TENANT = {"tenant_slug": "minato-cho", "prefecture_ja": "静岡県", "municipality_ja": "湊町", "postal_prefix": "421"}


def write(out_dir: Path, seed: int, **overrides: Any) -> DemoCsvs:
    return write_demo_csvs(out_dir, **{**TENANT, "seed": seed, "today": TODAY, **overrides})


def parse(path: Path, kind: str, today: date | None = TODAY) -> ParseResult:
    with path.open(encoding="utf-8", newline="") as stream:
        return parse_registry_csv(kind, stream, today=today)


@pytest.fixture(scope="module", params=[1, 2026])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ParseResult]:
    files = write(tmp_path_factory.mktemp(f"seed{request.param}"), request.param)
    return {kind: parse(files[kind], kind) for kind in COLUMNS}


def test_demo_files_parse_with_zero_errors(demo: dict[str, ParseResult]) -> None:
    for kind, result in demo.items():
        assert [str(e) for e in result.errors] == [], kind


def test_demo_files_have_the_canonical_headers(tmp_path: Path) -> None:
    files = write(tmp_path, 5)
    for kind, columns in COLUMNS.items():
        assert files[kind].read_text(encoding="utf-8").splitlines()[0] == ",".join(columns)


def test_demo_registry_has_hundreds_of_residents_in_150_households(demo: dict[str, ParseResult]) -> None:
    residents = demo["residents"].rows
    assert 350 <= len(residents) <= 450
    sizes = Counter(Counter(r["household_code"] for r in residents).values())
    assert sum(sizes.values()) == 150
    assert min(sizes) == 1
    assert max(sizes) <= 6
    assert sizes[1] >= 20  # people living alone
    assert sum(n for size, n in sizes.items() if size >= 5) >= 3  # three-generation households


def test_demo_registry_has_young_children_for_childcare(demo: dict[str, ParseResult]) -> None:
    under_six = [r for r in demo["residents"].rows if age_on(r["birth_date"], TODAY) <= 5]
    assert len(under_six) >= 30
    relationships = Counter(r["relationship"] for r in demo["residents"].rows)
    assert relationships["世帯主"] == 150
    assert {"妻", "子", "孫"} <= set(relationships)


def test_demo_registry_uses_many_names_and_every_variant_name(demo: dict[str, ParseResult]) -> None:
    residents = demo["residents"].rows
    assert len({r["family_name"] for r in residents}) >= 50
    assert len({r["given_name"] for r in residents}) >= 100
    names = {(r["family_name"], r["family_name_kana"]) for r in residents}
    # Stored exactly: 髙, 﨑, 𠮷, 德, 濵 and the ideographic variation sequence of 葛󠄀西 survive parsing.
    assert set(VARIANT_FAMILY_NAMES) <= names
    assert any("\U000e0100" in r["family_name"] for r in residents)


def test_every_demo_name_and_address_can_be_printed_on_a_certificate(demo: dict[str, ParseResult]) -> None:
    """No demo resident is refused a certificate for a character the certificate fonts lack: 葛󠄀西's U+E0100
    (not in IPAmj) comes from the fallback font."""
    chain = pdf.font_chain(pdf.find_font())
    texts = {r[column] for r in demo["residents"].rows for column in ("family_name", "given_name", "town", "block")}
    assert any("\U000e0100" in text for text in texts)
    assert {text: chain.missing(text) for text in texts if chain.missing(text)} == {}


def test_individual_numbers_are_valid_and_unique(demo: dict[str, ParseResult]) -> None:
    numbers = [r["individual_number"] for r in demo["residents"].rows if r["individual_number"]]
    assert len(numbers) == len(set(numbers))
    assert len(numbers) >= 0.8 * len(demo["residents"].rows)


def test_the_first_household_is_a_working_family_with_twins_and_a_child_aged_0_to_2(
    demo: dict[str, ParseResult], tmp_path: Path
) -> None:
    code = demo_resident_code(TENANT["tenant_slug"])
    assert code.endswith("000001")
    assert write(tmp_path, 99)["demo_resident_code"] == code

    residents = demo["residents"].rows
    head = next(r for r in residents if r["resident_code"] == code)
    assert head["relationship"] == "世帯主"
    family = [r for r in residents if r["household_code"] == head["household_code"]]
    spouses = [r for r in family if r["relationship"] in ("妻", "夫")]
    children = [r for r in family if r["relationship"] == "子"]
    assert len(spouses) == 1
    assert len(children) == 3
    assert all(r["individual_number"] for r in family)
    youngest = max(children, key=lambda r: r["birth_date"])
    twins = [r for r in children if r is not youngest]
    assert age_on(youngest["birth_date"], TODAY) <= 2
    for year in (fiscal_year_of(TODAY), fiscal_year_of(TODAY) + 1):
        assert childcare_age_class(youngest["birth_date"], year) <= 2  # 3号
        # Twins (born on one day, a boy and a girl) in a 2号 age class: they apply together for one facility.
        assert all(3 <= childcare_age_class(twin["birth_date"], year) <= 5 for twin in twins)
    assert twins[0]["birth_date"] == twins[1]["birth_date"]
    assert {twin["sex"] for twin in twins} == {"male", "female"}

    current = fiscal_year_of(TODAY)
    for guardian in (head, spouses[0]):
        assessments = {t["fiscal_year"]: t for t in demo["tax"].rows if t["resident_code"] == guardian["resident_code"]}
        assert sorted(assessments) == [current - 2, current - 1, current]
        assert all(t["salary_income"] > 0 and not t["non_taxable"] for t in assessments.values())


def test_every_adult_resident_on_january_1_has_one_assessment_per_fiscal_year(demo: dict[str, ParseResult]) -> None:
    current = fiscal_year_of(TODAY)
    expected = {
        (r["resident_code"], fy)
        for r in demo["residents"].rows
        for fy in range(current - 2, current + 1)
        if r["became_resident_on"] <= date(fy, 1, 1)
        and age_on(r["birth_date"], date(fy, 1, 1)) >= 18
        # A removed record (除票) is no resident on January 1 after its removal.
        and (r["removed_on"] is None or r["removed_on"] > date(fy, 1, 1))
    }
    rows = demo["tax"].rows
    assert {(t["resident_code"], t["fiscal_year"]) for t in rows} == expected
    # Most adults have lived here for years; a few newcomers were assessed elsewhere before.
    assert len(expected) >= 2.5 * len({code for code, _ in expected})


def test_tax_amounts_are_plausible(demo: dict[str, ParseResult]) -> None:
    rows = demo["tax"].rows
    non_taxable = [t for t in rows if t["non_taxable"]]
    taxed = [t for t in rows if not t["non_taxable"]]
    assert non_taxable
    assert len(taxed) > len(non_taxable)
    assert any(t["pension_income"] for t in rows)
    assert any(t["business_income"] for t in rows)
    for t in taxed:
        total_tax = t["municipal_tax"] + t["prefectural_tax"]
        # About 10% of taxable income, plus the per-capita levy.
        assert total_tax == pytest.approx(t["taxable_income"] * 0.10 + 4_000, abs=300)


def test_facilities_cover_the_three_kinds(demo: dict[str, ParseResult]) -> None:
    facilities = demo["facilities"].rows
    assert 6 <= len(facilities) <= 10
    assert {f["kind"] for f in facilities} == {"nursery", "certified_center", "small_scale"}
    assert all(f["postal_code"].startswith("421-") for f in facilities)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first, again, other = write(tmp_path / "a", 7), write(tmp_path / "b", 7), write(tmp_path / "c", 8)
    for kind in COLUMNS:
        assert first[kind].read_bytes() == again[kind].read_bytes()
    assert first["residents"].read_bytes() != other["residents"].read_bytes()


def test_tenants_get_different_resident_codes(tmp_path: Path) -> None:
    other = write(tmp_path, 1, tenant_slug="yamabe-mura")
    assert other["demo_resident_code"] != demo_resident_code(TENANT["tenant_slug"])
    assert other["demo_resident_code"] == demo_resident_code("yamabe-mura")


def test_demo_data_for_the_real_today_parses_with_zero_errors(tmp_path: Path) -> None:
    files = write(tmp_path, 3, today=None, households=40)
    for kind in COLUMNS:
        assert parse(files[kind], kind, today=None).errors == []


@pytest.mark.parametrize("postal_prefix", ["", "12345678", "abc"])
def test_a_malformed_postal_prefix_is_refused(tmp_path: Path, postal_prefix: str) -> None:
    with pytest.raises(ValueError, match="postal_prefix"):
        write(tmp_path, 1, postal_prefix=postal_prefix)
