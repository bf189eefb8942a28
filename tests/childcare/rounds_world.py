"""Applications for allocation rounds, built directly in the database: the 2.0.0 form's shape (several children,
guardians with hours, ranked facilities, sibling mode) and the clerk's certification as the brief shapes it.

The form's own validation is not involved (it lands in parallel); the round reads only these answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.identity.actors import Actor
from madoguchi.registry.models import Facility, Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, make_tax

#: Three facilities: two nurseries and a small-scale one (0–2 only).
FACILITIES = (
    ("HK-01", "ひかり保育園", "Hikari Nursery", {"0": 1, "1": 2, "2": 2, "3": 2, "4": 2, "5": 2}),
    ("HK-02", "𠮷野こども園", "Yoshino Centre", {"0": 1, "1": 1, "2": 1, "3": 3, "4": 3, "5": 3}),
    ("HK-03", "髙﨑小規模保育室", "Takasaki Small Nursery", {"0": 2, "1": 1, "2": 1}),
)
INTAKE = "2027-04"
FISCAL_YEAR = 2027


def add_facilities(session: Session, tenant: Tenant) -> None:
    for code, ja, en, capacity in FACILITIES:
        session.add(
            Facility(
                tenant_id=tenant.id,
                facility_code=code,
                name_ja=ja,
                name_en=en,
                kind="nursery",
                postal_code="100-0001",
                address="本町1番地",
                capacity_by_age=capacity,
                accepts_short_hours=True,
            )
        )
    session.flush()


@dataclass
class Kid:
    name: str
    birth_date: str
    preferences: list[str]
    category: str = "3"
    current_facility: str | None = None


@dataclass
class Household:
    kids: list[Kid]
    hours: tuple[int, ...] = (160, 160)
    single_parent: bool = False
    sibling_mode: str = "independent"
    start_month: str = INTAKE
    consent: bool = False
    siblings_enrolled: list[dict[str, str]] = field(default_factory=list)
    state: str = "certified"


def form_data(household: Household) -> dict[str, Any]:
    """Answers of form 2.0.0."""
    guardians = [
        {
            "name": f"保護者{i + 1}",
            "relationship": "mother" if i == 0 else "father",
            "need_reason": "employed",
            "monthly_hours": hours,
        }
        for i, hours in enumerate(household.hours)
    ]
    return {
        "applicant": {"name": "渡邊󠄂　葉子", "name_kana": "ワタナベ　ヨウコ", "birth_date": "1990-05-01"},
        "children": [
            {
                "name": kid.name,
                "name_kana": "コドモ",
                "birth_date": kid.birth_date,
                "sex": "female",
                "desired_category": kid.category,
                "care_time": "standard",
                "desired_facilities": kid.preferences,
                **({"current_facility": kid.current_facility} if kid.current_facility else {}),
                "health": {"allergies": "", "medical_care": False, "disability": False, "notes": ""},
            }
            for kid in household.kids
        ],
        "guardians": guardians,
        "household": {
            "single_parent": household.single_parent,
            "cohabiting_relatives": [],
            "siblings_enrolled": household.siblings_enrolled,
            "returning_from_leave": False,
            "unlicensed_care_in_use": False,
            "welfare_recipient": False,
            "disability_in_household": False,
        },
        "sibling_mode": household.sibling_mode,
        "desired_start_month": household.start_month,
        "accept_leave_extension": False,
        "tax_lookup_consent": household.consent,
    }


def certification(household: Household) -> dict[str, Any]:
    return {
        "certified_on": "2026-12-01",
        "children": [
            {
                "index": i,
                "category": kid.category,
                "care_time": None if kid.category == "1" else "standard",
                "valid_from": "2027-04-01",
                "valid_to": "2030-03-31",
            }
            for i, kid in enumerate(household.kids)
        ],
    }


def file_application(
    session: Session,
    tenant: Tenant,
    household: Household,
    *,
    income_levy: int | None = None,
    reference: str | None = None,
) -> Application:
    """A resident's childcare application, certified by a clerk, as the database holds it (``reference`` fixes
    the otherwise random reference, which names the round's entries)."""
    home = make_household(session, tenant)
    parent = make_person(session, tenant, home, family_name="渡邊󠄂", given_name="葉子")
    if income_levy is not None:
        make_tax(session, tenant, parent, fiscal_year=FISCAL_YEAR - 1, municipal_income_levy=income_levy)
    account = make_account(session, tenant, person=parent)
    draft = operations.create_draft(session, tenant, Actor.of(account), "childcare-admission", {})
    draft.data = form_data(household)
    draft.state = household.state
    if reference is not None:
        draft.reference = reference
    draft.decision = {"certification": certification(household)}
    session.flush()
    return draft


def person_of(session: Session, application: Application) -> Person:
    found = session.get(Person, application.applicant_person_id)
    assert found is not None
    return found


def ids(applications: list[Application]) -> list[uuid.UUID]:
    return [a.id for a in applications]


def born(year: int, month: int = 6, day: int = 1) -> str:
    return date(year, month, day).isoformat()
