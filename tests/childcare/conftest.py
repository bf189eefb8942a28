"""A household of ten in the register (four adults and six children, twins among them, names with 外字 and an
ideographic variation sequence) and childcare facilities of the three kinds, in two municipalities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import (
    born_in_class,
    make_account,
    make_facility,
    make_household,
    make_person,
    next_april,
    tenants,
)

#: 葛 with the ideographic variation selector U+E0100 (葛󠄀): a registered name that NFKC would change.
KUZU_IVS = "葛\U000e0100"


@dataclass
class Family:
    tenant: Tenant
    other: Tenant
    intake: str
    head: Person
    #: By given name: 陽葵 (1-year-old class), the twins 蓮 and 葵 (2), 𠮷太 (4), 葛󠄀葉 (5), 髙志 (school age).
    children: dict[str, Person]
    resident_account: Account
    clerk_account: Account
    #: A resident of the other municipality (a household of one).
    foreign_account: Account

    @property
    def resident(self) -> Actor:
        return Actor.of(self.resident_account)

    @property
    def foreign_resident(self) -> Actor:
        return Actor.of(self.foreign_account)


def _adult(given: str, kana: str, born: date, sex: str, relation: str) -> dict[str, Any]:
    return {"given_name": given, "given_name_kana": kana, "birth_date": born, "sex": sex, "relation_to_head": relation}


@pytest.fixture
def family(db: Database, seeded: None) -> Family:
    tenant, other = tenants(db)[0], tenants(db)[1]
    intake = next_april()
    children_drawn = (
        ("陽葵", "ヒマリ", born_in_class(1, intake, month=5, day=10), "female"),
        ("蓮", "レン", born_in_class(2, intake, month=11, day=30), "male"),
        ("葵", "アオイ", born_in_class(2, intake, month=11, day=30), "female"),  # 蓮's twin
        ("𠮷太", "キチタ", born_in_class(4, intake, month=4, day=2), "male"),
        (f"{KUZU_IVS}葉", "クズハ", born_in_class(5, intake, month=4, day=1), "female"),
        ("髙志", "タカシ", born_in_class(7, intake), "male"),
    )
    with db.transaction(other.id) as session:
        make_facility(session, other, "OT-01", "よその保育園")
        foreign_account = make_account(session, other, person=make_person(session, other))
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        names = {"family_name": "山﨑", "family_name_kana": "ヤマサキ"}
        head = make_person(
            session, tenant, household, **names, **_adult("一郎", "イチロウ", date(1988, 6, 1), "male", "世帯主")
        )
        for given, kana, born, sex, relation in (
            ("𠮷子", "ヨシコ", date(1990, 2, 14), "female", "妻"),
            ("髙雄", "タカオ", date(1958, 9, 9), "male", "父"),
            (f"{KUZU_IVS}子", "クズコ", date(1960, 1, 20), "female", "母"),
        ):
            make_person(session, tenant, household, **names, **_adult(given, kana, born, sex, relation))
        children = {
            given: make_person(session, tenant, household, **names, **_adult(given, kana, born, sex, "子"))
            for given, kana, born, sex in children_drawn
        }
        assert len(household.members) == 10
        make_facility(session, tenant, "NS-01", "みどり保育園")
        make_facility(session, tenant, "CC-01", "かわべこども園", kind="certified_center")
        make_facility(session, tenant, "SS-01", "ひよこ小規模保育園", kind="small_scale")
        # Places from age 3 only (a 保育所 whose building has no infant room).
        make_facility(session, tenant, "NS-02", "さくら保育園", capacity_by_age={"3": 10, "4": 10, "5": 10})
        make_facility(session, tenant, "NS-03", "ながい保育園", accepts_short_hours=False)
        family = Family(
            tenant=tenant,
            other=other,
            intake=intake,
            head=head,
            children=children,
            resident_account=make_account(session, tenant, person=head),
            clerk_account=make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"]),
            foreign_account=foreign_account,
        )
    return family


def child_answers(person: Person, category: str, facilities: list[str], **more: Any) -> dict[str, Any]:
    """A child picked from the household: only the code, the rest is the register's."""
    answers: dict[str, Any] = {
        "resident_code": person.resident_code,
        "desired_category": category,
        "desired_facilities": facilities,
    }
    if category != "1":
        answers["care_time"] = "standard"
    return {**answers, **more}


def guardian(
    name: str = "山﨑　一郎", reason: str = "employed", hours: int | None = 160, **more: Any
) -> dict[str, Any]:
    answers: dict[str, Any] = {"name": name, "relationship": "father", "need_reason": reason, **more}
    if hours is not None:
        answers["monthly_hours"] = hours
    return answers
