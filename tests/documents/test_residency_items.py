"""住民票の写し items as the law has them: each choice present when chosen and absent when not, households of ten
whole or in part, 除票, foreign residents, 旧氏, and a 第三者 given 基礎証明事項 only whatever was ticked.

The content is built from the register as at issue (``documents.content``), the lines are what the PDF prints
(``pdf._residency_lines``), and one certificate per case is rendered and read back with pdftotext.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from madoguchi.applications.models import Application
from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.documents import content, pdf
from madoguchi.errors import Conflict
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.documents.certificate_fixtures import pdftotext
from tests.factories import make_household, make_person, tenants
from tests.world import RESIDENCY

NUMBER = "123456789018"  # a valid 個人番号 (its check digit is right)
KATSURA = "葛\U000e0100"  # 葛󠄀: 葛 with a variation selector, the registered glyph
#: Labels of items that are printed only when chosen, by the form's ``include`` key.
CHOSEN_LABELS = {
    "relationship": ("世帯主", "続柄"),
    "domicile": ("本籍", "筆頭者"),
    "previous_address": ("前住所",),
    "resident_record_code": ("住民票コード",),
}
#: What a third party may never see (住民基本台帳法12条の3: 基礎証明事項 only).
NEVER_FOR_THIRD_PARTIES = ("本籍", "筆頭者", "続柄", "世帯主", "住民票コード", "個人番号", "前住所", "届出日")


def _tenant(db: Database) -> Tenant:
    return tenants(db)[0]


def _person(session, tenant: Tenant, household, data_key: str, **overrides: Any) -> Person:
    values: dict[str, Any] = {
        "notified_on": date(2015, 4, 10),
        "previous_address": "大阪府大阪市北区梅田一丁目1番1号",
    }
    person = make_person(session, tenant, household, **{**values, **overrides})
    person.individual_number_encrypted = Sealer(data_key).seal(tenant.id, NUMBER)
    session.flush()
    return person


def _living_alone(db: Database, tenant: Tenant, data_key: str, **overrides: Any) -> Person:
    with db.transaction(tenant.id) as session:
        return _person(session, tenant, make_household(session, tenant), data_key, **overrides)


def _household_of(db: Database, tenant: Tenant, size: int, data_key: str) -> list[Person]:
    """A head and ``size - 1`` children (two of them twins with 外字 and IVS names)."""
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        people = [_person(session, tenant, household, data_key, family_name=f"{KATSURA}西")]
        for n in range(1, size):
            people.append(
                _person(
                    session,
                    tenant,
                    household,
                    data_key,
                    family_name=f"{KATSURA}西",
                    given_name=("𠮷男", "髙子", "渡邊\U000e0102")[n % 3] + str(n),
                    birth_date=date(2000 + n, 1, 1),
                    relation_to_head="子",
                    became_resident_on=date(2000 + n, 1, 1),
                    address_set_on=date(2015, 4, 1),
                    previous_address=None,
                )
            )
        return people


def _build(
    db: Database, tenant: Tenant, person: Person, forced_delivery: str | None = None, **data: Any
) -> dict[str, Any]:
    with db.transaction(tenant.id) as session:
        application = Application(
            applicant_person_id=person.id,
            subject_person_id=person.id,
            forced_delivery=forced_delivery,
            data={**RESIDENCY, **data},
        )
        return content.residency_certificate(session, application)


def _labels(built: dict[str, Any]) -> list[str]:
    return [label for label, _ in pdf._residency_lines(built)]


@pytest.fixture
def family(db: Database, seeded: None, settings) -> list[Person]:
    tenant = _tenant(db)
    return _household_of(db, tenant, 3, settings.data_key)


@pytest.mark.parametrize("choice", sorted(CHOSEN_LABELS))
def test_each_item_is_printed_when_chosen_and_left_off_when_not(db: Database, family: list[Person], choice) -> None:
    tenant = _tenant(db)
    head = family[0]
    chosen = _build(db, tenant, head, include={choice: True})
    plain = _build(db, tenant, head, include={})
    for label in CHOSEN_LABELS[choice]:
        assert label in _labels(chosen)
        assert label not in _labels(plain)
    assert _labels(chosen)[0] == "住所" and "住民となった年月日" in _labels(plain)


def test_head_of_household_is_printed_only_with_relationship(db: Database, family: list[Person]) -> None:
    tenant = _tenant(db)
    child = family[1]
    plain = _build(db, tenant, child, include={"domicile": True})
    assert "head_of_household" not in plain and "世帯主" not in _labels(plain)
    chosen = _build(db, tenant, child, include={"relationship": True})
    assert chosen["head_of_household"] == family[0].full_name
    assert ("続柄", "子") in pdf._residency_lines(chosen)


def test_notification_date_is_always_printed_where_the_register_has_it(
    db: Database, family: list[Person], settings
) -> None:
    tenant = _tenant(db)
    built = _build(db, tenant, family[0], include={})
    assert ("届出日", "平成27年4月10日") in pdf._residency_lines(built)
    unknown = _living_alone(db, tenant, settings.data_key, notified_on=None)
    assert "届出日" not in _labels(_build(db, tenant, unknown))


def test_the_individual_number_is_a_flag_in_content_and_printed_only_at_rendering(
    db: Database, family: list[Person], settings, tmp_path: Path
) -> None:
    tenant = _tenant(db)
    built = _build(db, tenant, family[0], include={"individual_number": True}, purpose_detail="年金の手続")
    assert built["persons"][0]["individual_number_included"] is True
    assert NUMBER not in repr(built)
    assert "個人番号" not in _labels(built)  # the stored content alone prints no number
    with db.transaction(tenant.id) as session:
        rendered = content.for_rendering(session, tenant.id, "residency_certificate", built, settings.data_key)
    assert ("個人番号", "1234 5678 9018") in pdf._residency_lines(rendered)
    assert NUMBER not in repr(built)  # rendering did not write into the stored content
    text = pdftotext(_render(rendered), tmp_path)
    assert "1234 5678 9018" in text
    assert "個人番号" not in _labels(_build(db, tenant, family[0], include={}))


@pytest.mark.parametrize("relationship", ["agent", "third_party"])
def test_the_individual_number_is_never_handed_to_an_agent_or_a_third_party(
    db: Database, family: list[Person], relationship: str
) -> None:
    tenant = _tenant(db)
    built = _build(
        db,
        tenant,
        family[0],
        include={"individual_number": True},
        requester={"relationship": relationship, "third_party_reason": "債権回収"},
    )
    assert "individual_number_included" not in built["persons"][0]


def test_an_agents_copy_with_the_individual_number_is_made_only_when_it_goes_by_post_to_the_person(
    db: Database, family: list[Person]
) -> None:
    tenant = _tenant(db)
    built = _build(
        db,
        tenant,
        family[0],
        forced_delivery="mail",
        include={"individual_number": True},
        requester={"relationship": "agent"},
    )
    assert built["persons"][0]["individual_number_included"] is True


def test_a_requested_individual_number_the_register_lacks_goes_to_a_clerk(db: Database, family: list[Person]) -> None:
    tenant = _tenant(db)
    with db.transaction(tenant.id) as session:
        session.get(Person, family[0].id).individual_number_encrypted = None
    with pytest.raises(Conflict, match="no Individual Number"):
        _build(db, tenant, family[0], include={"individual_number": True})


def test_a_third_party_gets_basic_items_only_even_with_every_box_ticked(
    db: Database, family: list[Person], tmp_path: Path, settings
) -> None:
    tenant = _tenant(db)
    everything = dict.fromkeys((*CHOSEN_LABELS, "individual_number", "foreign_resident_items"), True)
    built = _build(
        db,
        tenant,
        family[0],
        include=everything,
        requester={"relationship": "third_party", "third_party_reason": "債権回収のため"},
    )
    person = built["persons"][0]
    assert set(person) == {
        "resident_code",
        "name",
        "name_kana",
        "birth_date",
        "birth_date_wareki",
        "sex",
        "address_set_on",
    }
    assert "head_of_household" not in built and built["basic_items_only"] is True
    labels = _labels(built)
    assert not set(labels) & set(NEVER_FOR_THIRD_PARTIES)
    assert {"住所", "氏名", "生年月日", "性別", "住所を定めた年月日"} <= set(labels)
    with db.transaction(tenant.id) as session:
        rendered = content.for_rendering(session, tenant.id, "residency_certificate", built, settings.data_key)
    text = pdftotext(_render(rendered), tmp_path)
    for never in (*NEVER_FOR_THIRD_PARTIES, family[0].resident_code, family[0].domicile, "1234 5678 9018"):
        assert never not in text
    assert "一郎" in text and "基礎証明事項" in text  # (the IVS of 葛󠄀 is the PDF layout part's to print)


def test_a_household_of_ten_whole_and_in_part(db: Database, seeded: None, settings) -> None:
    tenant = _tenant(db)
    people = _household_of(db, tenant, 10, settings.data_key)
    whole = _build(db, tenant, people[0], scope="whole_household")
    assert [p["name"] for p in whole["persons"]] == [p.full_name for p in people]
    assert _labels(whole).count("氏名") == 10
    picked = [people[9], people[2], people[5]]
    part = _build(db, tenant, people[0], scope="selected", selected_members=[p.resident_code for p in picked])
    # In the register's order, exactly those picked; names with 外字 and IVS as registered.
    assert [p["resident_code"] for p in part["persons"]] == sorted(p.resident_code for p in picked)
    assert {p["name"] for p in part["persons"]} == {p.full_name for p in picked}
    assert all(p["name"].startswith("葛\U000e0100西") for p in part["persons"])
    assert any("渡邊\U000e0102" in p["name"] for p in whole["persons"])


def test_a_person_of_another_household_cannot_be_selected(db: Database, family: list[Person], settings) -> None:
    tenant = _tenant(db)
    stranger = _living_alone(db, tenant, settings.data_key)
    with pytest.raises(Conflict, match="belongs to the applicant's household"):
        _build(db, tenant, family[0], scope="selected", selected_members=[stranger.resident_code])


def test_a_removed_record_is_copied_as_a_joshou_and_never_on_a_current_copy(
    db: Database, family: list[Person], tmp_path: Path
) -> None:
    tenant = _tenant(db)
    with db.transaction(tenant.id) as session:
        father = make_person(
            session,
            tenant,
            session.get(Person, family[0].id).household,
            given_name="清",
            relation_to_head="父",
            birth_date=date(1950, 2, 3),
            removed_on=date(2024, 3, 31),
            removal_reason="転出",
            moved_out_to="大阪府大阪市北区梅田一丁目1番1号",
            address_at_removal="東京都緑川村南二丁目3番4号",  # moved out from where the household lived before
        )
    current = _build(db, tenant, family[0], scope="whole_household")
    assert father.full_name not in [p["name"] for p in current["persons"]] and len(current["persons"]) == 3
    with pytest.raises(Conflict, match="除票"):
        _build(db, tenant, family[0], scope="selected", selected_members=[father.resident_code])
    removed = _build(db, tenant, family[0], record="removed", scope="selected", selected_members=[father.resident_code])
    assert removed["record"] == "removed" and [p["name"] for p in removed["persons"]] == [father.full_name]
    assert removed["address"] == "東京都緑川村南二丁目3番4号"  # where he lived when removed
    assert removed["persons"][0]["removal"] == {
        "removed_on": "2024-03-31",
        "reason": "転出",
        "moved_out_to": "大阪府大阪市北区梅田一丁目1番1号",
    }
    assert pdf.title_of("residency_certificate", removed) == "除票の写し"
    text = pdftotext(_render(removed), tmp_path)
    for expected in ("除票の写し", "消除日", "令和6年3月31日", "転出", "転出先", "南二丁目3番4号"):
        assert expected in text
    # A 除票 of someone still registered does not exist.
    with pytest.raises(Conflict, match="removed from the register"):
        _build(db, tenant, family[0], record="removed")


def test_a_foreign_resident_has_the_items_of_article_30_45_and_no_domicile(
    db: Database, seeded: None, settings, tmp_path: Path
) -> None:
    tenant = _tenant(db)
    worker = _living_alone(
        db,
        tenant,
        settings.data_key,
        family_name="NGUYEN",
        given_name="VAN AN",
        family_name_kana="グエン",
        given_name_kana="ヴァン　アン",
        domicile=None,
        domicile_head=None,
        foreign_resident_category="中長期在留者",
        nationality="ベトナム",
        residence_status="技術・人文知識・国際業務",
        period_of_stay="5年",
        period_of_stay_ends_on=date(2029, 3, 31),
        residence_card_number="AB12345678CD",
        alias="阮　文安",
        alias_kana="グエン　ヴァンアン",
    )
    plain = _build(db, tenant, worker, include={"domicile": True})
    lines = dict(pdf._residency_lines(plain))
    assert lines["国籍・地域"] == "ベトナム" and lines["通称"] == "阮　文安"  # always, with the name
    assert "外国人住民となった年月日" in lines and "住民となった年月日" not in lines
    assert "本籍" not in lines and "在留資格" not in lines  # no 本籍; the 30条の45 items only when chosen
    chosen = _build(db, tenant, worker, include={"foreign_resident_items": True})
    lines = dict(pdf._residency_lines(chosen))
    assert lines["第30条の45に規定する区分"] == "中長期在留者"
    assert lines["在留資格"] == "技術・人文知識・国際業務" and lines["在留期間等"] == "5年"
    assert lines["在留期間等の満了の日"] == "令和11年3月31日" and lines["在留カード等の番号"] == "AB12345678CD"
    text = pdftotext(_render(chosen), tmp_path)
    assert "AB12345678CD" in text and "ベトナム" in text and "NGUYEN VAN AN" in text
    # A third party learns the name, 通称 and 国籍・地域, never the card.
    third = _build(
        db, tenant, worker, include={"foreign_resident_items": True}, requester={"relationship": "third_party"}
    )
    assert set(dict(pdf._residency_lines(third))) >= {"国籍・地域", "通称"}
    assert "在留カード等の番号" not in dict(pdf._residency_lines(third))


def test_a_former_surname_is_printed_with_the_name_once_registered(
    db: Database, seeded: None, settings, tmp_path: Path
) -> None:
    tenant = _tenant(db)
    married = _living_alone(
        db,
        tenant,
        settings.data_key,
        family_name="佐藤",
        given_name="花子",
        former_surname=f"{KATSURA}城",
        former_surname_kana="カツラギ",
    )
    single = _living_alone(db, tenant, settings.data_key)
    lines = dict(pdf._residency_lines(_build(db, tenant, married)))
    assert lines["旧氏"] == "葛\U000e0100城" and lines["旧氏フリガナ"] == "カツラギ"
    # Part of the name: a third party's copy has it too (旧氏 cannot be left off a copy once registered).
    third = _build(db, tenant, married, requester={"relationship": "third_party"})
    assert dict(pdf._residency_lines(third))["旧氏"] == "葛\U000e0100城"
    assert "旧氏" not in dict(pdf._residency_lines(_build(db, tenant, single)))
    assert "カツラギ" in pdftotext(_render(_build(db, tenant, married)), tmp_path)


def _render(built: dict[str, Any]) -> bytes:
    page = pdf.CertificatePage(
        kind="residency_certificate",
        serial="398021-20261126-0A1B2C3D",
        issued_on=date(2026, 11, 26),
        content=built,
        issuer=pdf.Issuer("汐見町", "汐見町長", "住民課"),
        verification_code="7K3M-Q2XD-HP4N",
        verification_url="https://madoguchi.example.jp/verify/7K3MQ2XDHP4N",
    )
    return pdf.render(page, pdf.find_font())
