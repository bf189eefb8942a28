"""Plain factory functions for tests: seed the catalog and tenants, add registry rows and accounts."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.catalog import definitions
from madoguchi.catalog import operations as catalog
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents.models import Attachment
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance
from madoguchi.platform import provisioning as tenancy
from madoguchi.registry.models import Facility, Household, Person, TaxAssessment
from madoguchi.tenancy.models import Tenant

_codes = itertools.count(1)


def seed_catalog_and_tenants(db: Database, settings: Settings) -> None:
    """The shipped catalog published and the shipped tenants synced, without the tenant files' ``payments``
    sections: a test is about fees only where it says so (tests/payments switch them on with the helpers there,
    and the browser tests run the demo as shipped). Elsewhere a demo municipality collects its fees at the
    counter, as a tenant without the section does, so a certificate is issued at submit where auto-issue is on."""
    with db.transaction() as session:
        for service in definitions.load_services(settings.services_dir).values():
            catalog.publish_service(session, service)
        tenancy.sync_tenants(session, definitions.load_tenants(settings.tenants_dir))
        for tenant in session.execute(select(Tenant)).scalars():
            if (tenant.profile or {}).get("payments"):
                tenant.profile = {key: value for key, value in tenant.profile.items() if key != "payments"}


def tenants(db: Database) -> list[Tenant]:
    """The seeded tenants, ordered by slug (tests use the first two as 'A' and 'B')."""
    with db.transaction() as session:
        return list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())


def make_household(session: Session, tenant: Tenant, **overrides: Any) -> Household:
    n = next(_codes)
    values = {
        "household_code": f"H{n:06d}",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "municipality": tenant.name_ja,
        "town": "中央一丁目",
        "block": f"{n}番1号",
        "building": None,
    }
    household = Household(tenant_id=tenant.id, **{**values, **overrides})
    session.add(household)
    session.flush()
    return household


def make_person(session: Session, tenant: Tenant, household: Household | None = None, **overrides: Any) -> Person:
    household = household or make_household(session, tenant)
    n = next(_codes)
    values = {
        "resident_code": f"{n:011d}",
        "family_name": "髙橋",
        "given_name": "一郎",
        "family_name_kana": "タカハシ",
        "given_name_kana": "イチロウ",
        "birth_date": date(1985, 4, 2),
        "sex": "male",
        "relation_to_head": "世帯主",
        "became_resident_on": date(2015, 4, 1),
        "address_set_on": date(2015, 4, 1),
        "domicile": "東京都千代田区千代田1番",
        "domicile_head": "髙橋　一郎",
    }
    person = Person(tenant_id=tenant.id, household_id=household.id, **{**values, **overrides})
    session.add(person)
    session.flush()
    session.refresh(household)
    return person


def make_facility(
    session: Session, tenant: Tenant, code: str, name: str, *, kind: str = "nursery", **overrides: Any
) -> Facility:
    """A childcare facility of ``tenant`` with places in every age class unless ``capacity_by_age`` says otherwise
    (a small-scale nursery: ages 0-2 only)."""
    ages = range(3) if kind == "small_scale" else range(6)
    values: dict[str, Any] = {
        "name_en": name,
        "postal_code": "100-0001",
        "address": "緑川村本町1番地",
        "capacity_by_age": {str(age): 6 for age in ages},
        "accepts_short_hours": True,
    }
    facility = Facility(tenant_id=tenant.id, facility_code=code, name_ja=name, kind=kind, **{**values, **overrides})
    session.add(facility)
    session.flush()
    return facility


def next_april(today: date | None = None) -> str:
    """The next April intake month after ``today`` (Japan's today), as a form's ``desired_start_month`` takes it."""
    day = today or jp.today()
    return f"{day.year if day.month < 4 else day.year + 1}-04"


def born_in_class(age_class: int, start_month: str, *, month: int = 8, day: int = 3) -> date:
    """A birth date whose childcare age class (the age on 1 April) is ``age_class`` in the fiscal year of
    ``start_month``."""
    year = int(start_month[:4]) if int(start_month[5:]) >= 4 else int(start_month[:4]) - 1
    return date(year - age_class - 1, month, day) if (month, day) > (4, 1) else date(year - age_class, month, day)


def make_tax(session: Session, tenant: Tenant, person: Person, fiscal_year: int, **overrides: Any) -> TaxAssessment:
    values = {
        "address_on_jan1": person.address,
        "salary_income": 4_360_000,
        "business_income": 0,
        "pension_income": 0,
        "other_income": 0,
        "total_income": 4_360_000,
        "deductions": 1_300_000,
        "taxable_income": 3_060_000,
        "municipal_tax": 183_600,
        "prefectural_tax": 122_400,
        "dependents": 1,
        "non_taxable": False,
    }
    assessment = TaxAssessment(
        tenant_id=tenant.id, person_id=person.id, fiscal_year=fiscal_year, **{**values, **overrides}
    )
    session.add(assessment)
    session.flush()
    return assessment


def make_account(
    session: Session,
    tenant: Tenant,
    *,
    kind: str = AccountKind.RESIDENT,
    roles: list[str] | None = None,
    person: Person | None = None,
    verified: bool | None = None,
    email: str | None = None,
) -> Account:
    verified = (person is not None) if verified is None else verified
    account = Account(
        tenant_id=tenant.id,
        email=email or f"user-{uuid.uuid4().hex[:8]}@example.jp",
        display_name="Test user",
        kind=kind,
        roles=roles or [],
        identity_assurance=IdentityAssurance.VERIFIED if verified else IdentityAssurance.EMAIL,
        person_id=person.id if person else None,
    )
    session.add(account)
    session.flush()
    return account


def make_attachment(session: Session, tenant: Tenant, application_id: uuid.UUID, document_key: str) -> Attachment:
    """An attachment row (its file not stored): enough for the ``required_documents_present`` guard."""
    attachment = Attachment(
        tenant_id=tenant.id,
        application_id=application_id,
        document_key=document_key,
        original_name=f"{document_key}.pdf",
        content_type="application/pdf",
        size_bytes=1000,
        sha256="0" * 64,
        storage_key=f"tenants/{tenant.id}/{document_key}",
    )
    session.add(attachment)
    session.flush()
    return attachment


def staff(session: Session, tenant: Tenant, *roles: str) -> Actor:
    return Actor.of(make_account(session, tenant, kind=AccountKind.STAFF, roles=list(roles or ("clerk",))))


def resident(session: Session, tenant: Tenant, person: Person | None = None, *, verified: bool | None = None) -> Actor:
    return Actor.of(make_account(session, tenant, person=person, verified=verified))


def many_tenants(session: Session, count: int, *, statuses: tuple[str, ...] = ("live",)) -> list[Tenant]:
    """``count`` bare municipalities (no procedures, no accounts) in one bulk INSERT, their statuses cycling
    through ``statuses``: enough rows to page through. Codes ``7xxxxx`` and slugs ``bulk-…`` clash with no
    shipped municipality."""
    rows = [
        {
            "id": uuid.uuid4(),
            "slug": f"bulk-{n:05d}",
            "name_ja": f"一括{n}町",
            "name_en": f"Bulk Town {n}",
            "local_government_code": f"7{n:05d}",
            "prefecture_code": "13",
            "status": statuses[n % len(statuses)],
            "default_locale": "ja",
            "profile": {},
        }
        for n in range(count)
    ]
    session.execute(insert(Tenant), rows)
    return list(session.execute(select(Tenant).where(Tenant.slug.like("bulk-%"))).scalars())
