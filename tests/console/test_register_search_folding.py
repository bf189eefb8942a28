"""The counter's register search as clerks search (decision 0035): 異体字 and variation sequences found from the
common form, readings in any width or script, dates of birth in 和暦; never anyone of another municipality."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi.registry.models import Person
from tests.console.conftest import Office
from tests.factories import make_person
from tests.tenant_admin.conftest import field_error

REGISTERED = [
    ("𠮷田", "ヨシダ"),
    ("髙橋", "タカハシ"),
    ("山﨑", "ヤマザキ"),
    ("齋藤", "サイトウ"),
    ("濵田", "ハマダ"),
    ("葛\U000e0100西", "カサイ"),
    ("渡邊\U000e0102", "ワタナベ"),
]


@pytest.fixture
def registered(office: Office) -> dict[str, Person]:
    with office.db.transaction(office.tenant.id) as session:
        return {
            family: make_person(
                session, office.tenant, family_name=family, given_name="一", family_name_kana=kana,
                given_name_kana="ハジメ", birth_date=date(1985, 4, 2 + number),
            )
            for number, (family, kana) in enumerate(REGISTERED)
        }  # fmt: skip


def _found(office: Office, query: str, slug: str | None = None) -> str:
    client = office.foreign_clerk if slug else office.clerk
    response = client.get(office.url(f"/counter/?search=1&{query}", slug=slug))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


#: What the counter types -> the family name as registered (the variation sequences written out).
TYPED = [
    ("吉田", "𠮷田"),
    ("高橋", "髙橋"),
    ("山崎", "山﨑"),
    ("斎藤", "齋藤"),
    ("浜田", "濵田"),
    ("葛西", "葛\U000e0100西"),
    ("渡辺", "渡邊\U000e0102"),
    ("渡邉", "渡邊\U000e0102"),
    ("齊藤 一", "齋藤"),
]


@pytest.mark.parametrize(("typed", "registered_as"), TYPED)
def test_the_common_form_finds_the_registered_variant_and_shows_it_exactly(
    office: Office, registered: dict[str, Person], typed: str, registered_as: str
) -> None:
    html = _found(office, f"name={typed}")
    assert f"/counter/people/{registered[registered_as].id}" in html
    assert f"{registered_as}　一" in html  # the list shows the name as registered, variation selector and all
    assert sum(f"/counter/people/{p.id}" in html for p in registered.values()) == 1


@pytest.mark.parametrize("typed", ["ﾊﾏﾀﾞ", "はまだ", "ハマダ", "ﾊﾏﾀﾞ ﾊｼﾞﾒ", "はまだ　はじめ"])
def test_a_reading_in_any_width_or_script_finds_the_person(
    office: Office, registered: dict[str, Person], typed: str
) -> None:
    assert f"/counter/people/{registered['濵田'].id}" in _found(office, f"name_kana={typed}")


def test_a_date_of_birth_in_wareki_finds_the_person(office: Office, registered: dict[str, Person]) -> None:
    for typed in ("S60.4.2", "昭和60年4月2日", "1985/4/2", "1985-04-02"):
        assert f"/counter/people/{registered['𠮷田'].id}" in _found(office, f"birth_date={typed}"), typed


def test_a_wareki_date_the_era_never_had_is_refused_beside_the_field(office: Office) -> None:
    response = office.clerk.get(office.url("/counter/?search=1&birth_date=平成31年5月1日&lang=ja"))
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), "birth_date")
    assert message == "平成は平成元年1月8日から平成31年4月30日までです。元号と年を確かめてください。"


def test_a_clerk_of_another_municipality_finds_none_of_these_people(
    office: Office, registered: dict[str, Person]
) -> None:
    for query in ("name=吉田", "name=𠮷田", "name_kana=よしだ", "birth_date=S60.4.2"):
        html = _found(office, query, slug=office.other.slug)
        assert not any(str(person.id) in html for person in registered.values()), query
