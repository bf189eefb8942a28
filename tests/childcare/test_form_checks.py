"""The childcare application (form 2.0.0) through the operations: a household of ten picks three of its children
(twins among them) and the register fills each one in; every cross-check refuses with its message at the field it is
about, and nothing is saved; another municipality's facilities are not facilities here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.applications import hooks
from madoguchi.applications import operations as ops
from madoguchi.applications.models import Application
from madoguchi.childcare import form_checks
from madoguchi.db import Database
from madoguchi.errors import ValidationFailed
from madoguchi.web.i18n import PACKAGE_ROOT, untranslated
from tests.childcare.conftest import KUZU_IVS, Family, child_answers, guardian
from tests.factories import born_in_class

KEY = "childcare-admission"


def application(family: Family, children: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "desired_start_month": family.intake,
        "children": children,
        "guardians": [guardian(), guardian("山﨑　𠮷子", relationship="mother", workplace="山﨑商店")],
        "tax_lookup_consent": True,
    }
    if len(children) > 1:
        data["sibling_mode"] = "all_or_none"
    return {**data, **more}


def _count(db: Database, family: Family) -> int:
    with db.transaction(family.tenant.id) as session:
        return session.execute(select(func.count()).select_from(Application)).scalar_one()


def _create(db: Database, family: Family, data: dict[str, Any]) -> Application:
    with db.transaction(family.tenant.id) as session:
        return ops.create_draft(session, family.tenant, family.resident, KEY, data)


def _refused(db: Database, family: Family, data: dict[str, Any]) -> dict[str, list[str]]:
    """The errors creating a draft of ``data`` is refused with (in English: no request); nothing is saved."""
    before = _count(db, family)
    with pytest.raises(ValidationFailed) as refused:
        _create(db, family, data)
    assert _count(db, family) == before
    return {pointer: [str(m) for m in messages] for pointer, messages in (refused.value.errors or {}).items()}


def test_a_household_of_ten_picks_three_children_twins_included_and_the_register_fills_each_in(
    db: Database, family: Family
) -> None:
    kids = family.children
    data = application(
        family,
        [
            child_answers(kids["蓮"], "3", ["SS-01", "NS-01"]),
            child_answers(kids["葵"], "3", ["SS-01", "NS-01"]),
            child_answers(kids["𠮷太"], "2", ["NS-02", "CC-01", "NS-01"], current_facility="NS-01"),
        ],
        sibling_mode="same_facility_required",
    )
    draft = _create(db, family, data)

    twins = born_in_class(2, family.intake, month=11, day=30).isoformat()
    filled = [(c["name"], c["name_kana"], c["birth_date"], c["sex"]) for c in draft.data["children"]]
    assert filled == [
        ("山﨑　蓮", "ヤマサキ　レン", twins, "male"),
        ("山﨑　葵", "ヤマサキ　アオイ", twins, "female"),
        ("山﨑　𠮷太", "ヤマサキ　キチタ", kids["𠮷太"].birth_date.isoformat(), "male"),
    ]
    # Ranks kept in order, the answers not from the register kept as given.
    assert draft.data["children"][2]["desired_facilities"] == ["NS-02", "CC-01", "NS-01"]
    assert draft.data["children"][2]["current_facility"] == "NS-01"
    with db.transaction(family.tenant.id) as session:
        with_documents = session.get(Application, draft.id)
        assert with_documents is not None and with_documents.data["sibling_mode"] == "same_facility_required"


def test_a_name_with_an_ideographic_variation_sequence_is_filled_in_exactly_and_a_half_width_reading_normalised(
    db: Database, family: Family
) -> None:
    picked = child_answers(family.children[f"{KUZU_IVS}葉"], "2", ["NS-01"])
    unregistered = {
        "name": "山﨑　髙美",  # not in the register yet (moving in): typed, and stored exactly as typed
        "name_kana": "ﾔﾏｻｷ ﾀｶﾐ",
        "birth_date": f"令和{family.children['陽葵'].birth_date.year - 2018}年5月10日",
        "sex": "female",
        "desired_category": "3",
        "care_time": "short",
        "desired_facilities": ["NS-01"],
    }
    draft = _create(db, family, application(family, [picked, unregistered]))

    first, second = draft.data["children"]
    assert first["name"] == f"山﨑　{KUZU_IVS}葉" and "\U000e0100" in first["name"]
    assert second["name"] == "山﨑　髙美" and second["name_kana"] == "ヤマサキ タカミ"
    assert second["birth_date"] == family.children["陽葵"].birth_date.isoformat()


@pytest.mark.parametrize(
    ("who", "category", "facilities", "pointer", "words"),
    [
        ("𠮷太", "3", ["NS-01"], "/children/0/desired_category", "category 3 is for children under 3"),
        ("陽葵", "2", ["NS-01"], "/children/0/desired_category", "categories 1 and 2 are from age 3"),
        ("𠮷太", "2", ["SS-01"], "/children/0/desired_facilities", "small-scale nursery: it takes children aged 0"),
        ("陽葵", "3", ["NS-02"], "/children/0/desired_facilities", "has no places for the 1-year-old class"),
        ("𠮷太", "1", ["NS-01"], "/children/0/desired_facilities", "does not offer education (category 1)"),
        ("𠮷太", "2", ["NO-SUCH"], "/children/0/desired_facilities", "NO-SUCH is not a facility of this"),
        ("𠮷太", "2", ["OT-01"], "/children/0/desired_facilities", "OT-01 is not a facility of this municipality"),
        ("髙志", "2", ["NS-01"], "/children/0/birth_date", "this child is of school age (the 7-year-old class)"),
        ("陽葵", "3s", ["NS-01", "NS-03"], "/children/0/desired_facilities", "ながい保育園 does not take children for"),
    ],
)
def test_age_class_category_and_facility_cross_checks_refuse_beside_the_field(
    db: Database, family: Family, who: str, category: str, facilities: list[str], pointer: str, words: str
) -> None:
    short = category.endswith("s")  # 保育短時間
    child = child_answers(family.children[who], category.removesuffix("s"), facilities)
    if short:
        child["care_time"] = "short"
    errors = _refused(db, family, application(family, [child]))
    assert list(errors) == [pointer]
    assert words in errors[pointer][0]


def test_the_class_counts_on_1_april_of_the_start_months_fiscal_year(db: Database, family: Family) -> None:
    """葛󠄀葉, born on 1 April, already counts as a year older on 1 April: the 5-year-old class, still in care."""
    child = child_answers(family.children[f"{KUZU_IVS}葉"], "3", ["NS-01"])
    errors = _refused(db, family, application(family, [child]))
    assert "the 5-year-old class" in errors["/children/0/desired_category"][0]


def test_standard_hours_need_120_hours_from_every_guardian(db: Database, family: Family) -> None:
    child = child_answers(family.children["陽葵"], "3", ["NS-01"])
    part_time = guardian("山﨑　𠮷子", hours=100, relationship="mother")
    errors = _refused(db, family, application(family, [child], guardians=[guardian(), part_time]))
    assert list(errors) == ["/children/0/care_time"]
    assert "山﨑　𠮷子 (100 hours a month)" in errors["/children/0/care_time"][0]
    seeking = guardian("山﨑　𠮷子", reason="job_seeking", hours=None)
    errors = _refused(db, family, application(family, [child], guardians=[guardian(), seeking]))
    assert "looking for work" in errors["/children/0/care_time"][0]
    # Short hours are right for them, and 120 hours a month is enough for standard.
    _create(db, family, application(family, [{**child, "care_time": "short"}], guardians=[guardian(), part_time]))
    enough = guardian("山﨑　𠮷子", hours=120, relationship="mother")
    _create(db, family, application(family, [child], guardians=[guardian(), enough]))


def test_work_below_the_municipalitys_minimum_hours_is_refused_beside_the_hours(db: Database, family: Family) -> None:
    child = child_answers(family.children["陽葵"], "3", ["NS-01"], care_time="short")
    errors = _refused(db, family, application(family, [child], guardians=[guardian(hours=40)]))
    assert list(errors) == ["/guardians/0/monthly_hours"]
    assert "from 64 hours a month" in errors["/guardians/0/monthly_hours"][0]


def test_the_start_month_must_be_after_the_current_one_and_the_child_born_before_it(
    db: Database, family: Family
) -> None:
    child = child_answers(family.children["陽葵"], "3", ["NS-01"])
    errors = _refused(db, family, application(family, [child], desired_start_month="2020-04"))
    assert list(errors) == ["/desired_start_month"]
    assert "after the current one" in errors["/desired_start_month"][0]
    unborn = {**{k: v for k, v in child.items() if k != "resident_code"}, "name": "山﨑　次郎", "name_kana": "ジロウ"}
    unborn |= {"sex": "male", "birth_date": f"{family.intake}-15"}
    errors = _refused(db, family, application(family, [unborn]))
    assert list(errors) == ["/children/0/birth_date"]
    assert f"before the start month ({family.intake})" in errors["/children/0/birth_date"][0]


def test_a_child_listed_twice_is_refused_whether_picked_or_typed(db: Database, family: Family) -> None:
    child = child_answers(family.children["陽葵"], "3", ["NS-01"])
    errors = _refused(db, family, application(family, [child, child]))
    assert list(errors) == ["/children/1/name"]
    assert "already listed as 山﨑　陽葵" in errors["/children/1/name"][0]
    typed = {
        **{k: v for k, v in child.items() if k != "resident_code"},
        "name": "山崎陽葵",  # 﨑 folded to 崎, the space left out: the same child
        "name_kana": "ヤマサキ ヒマリ",
        "birth_date": family.children["陽葵"].birth_date.isoformat(),
        "sex": "female",
    }
    errors = _refused(db, family, application(family, [child, typed]))
    assert list(errors) == ["/children/1/name"]


def test_unknown_current_and_sibling_facilities_are_refused(db: Database, family: Family) -> None:
    child = child_answers(family.children["陽葵"], "3", ["NS-01"], current_facility="OT-01")
    household = {"siblings_enrolled": [{"name": "山﨑　髙志", "facility_code": "GONE"}]}
    errors = _refused(db, family, application(family, [child], household=household))
    assert sorted(errors) == ["/children/0/current_facility", "/household/siblings_enrolled/0/facility_code"]


def test_a_pick_outside_the_household_is_refused_and_reads_nothing(db: Database, family: Family) -> None:
    with db.transaction(family.other.id) as session:
        draft = ops.create_draft(session, family.other, family.foreign_resident, KEY, {})
    stranger = child_answers(family.children["陽葵"], "3", ["OT-01"])  # a child of the other municipality's register
    with db.transaction(family.other.id) as session, pytest.raises(ValidationFailed) as refused:
        ops.update_draft(session, family.other, family.foreign_resident, draft.id, {"children": [stranger]})
    assert list(refused.value.errors or {}) == ["/children/0/resident_code"]
    with db.transaction(family.other.id) as session:
        kept = session.get(Application, draft.id)
        assert kept is not None and "children" not in kept.data


def test_a_draft_is_checked_only_on_what_it_answers(db: Database, family: Family) -> None:
    draft = _create(db, family, {"children": [{"name": "山﨑　陽葵", "desired_category": "1"}]})
    with db.transaction(family.tenant.id) as session:
        updated = ops.update_draft(
            session, family.tenant, family.resident, draft.id, {"desired_start_month": family.intake}
        )
        assert updated.data["desired_start_month"] == family.intake and "children" not in updated.data


def test_every_childcare_message_has_a_japanese_translation() -> None:
    assert untranslated(PACKAGE_ROOT / "childcare") == {}


def test_the_check_is_registered_for_the_childcare_decision() -> None:
    assert hooks._data_checks["childcare_decision"] is form_checks.childcare_form_errors


def test_a_filed_application_is_not_refused_later_because_its_start_month_has_come(
    db: Database, family: Family
) -> None:
    """Answering a clerk's request in May for an April start: the calendar check was for filing only."""
    child = child_answers(family.children["陽葵"], "3", ["NS-01"])
    draft = _create(db, family, application(family, [child]))
    past = {**draft.data, "desired_start_month": f"{jp.today():%Y-%m}"}  # this month: already begun
    with db.transaction(family.tenant.id) as session:
        filed = session.get(Application, draft.id)
        assert filed is not None
        assert list(form_checks.childcare_form_errors(session, filed, past)) == ["/desired_start_month"]
        filed.submitted_at = datetime.now(UTC)
        assert form_checks.childcare_form_errors(session, filed, past) == {}
        session.rollback()
