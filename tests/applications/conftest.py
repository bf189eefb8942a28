"""Fixtures for application tests: a registry household in each demo municipality and people to act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_household, make_person, make_tax, resident, staff, tenants


@dataclass
class Town:
    """One tenant with a household (parent + child), a verified resident, an unverified one, and staff."""

    tenant: Tenant
    parent: Person
    child: Person
    resident: Actor
    unverified: Actor
    clerk: Actor
    supervisor: Actor


def _town(db: Database, tenant: Tenant) -> Town:
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        parent = make_person(session, tenant, household)
        child = make_person(
            session,
            tenant,
            household,
            given_name="陽葵",
            given_name_kana="ヒマリ",
            birth_date=date(2024, 8, 3),
            sex="female",
            relation_to_head="子",
        )
        make_tax(session, tenant, parent, fiscal_year=2025)
        return Town(
            tenant=tenant,
            parent=parent,
            child=child,
            resident=resident(session, tenant, parent),
            unverified=resident(session, tenant, verified=False),
            clerk=staff(session, tenant, "clerk"),
            supervisor=staff(session, tenant, "clerk", "supervisor"),
        )


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    """Keyed by slug: midorikawa-village (standard settings), sakuragaoka-city (auto-issue),
    shiomi-town (supervisor approval for residency certificates)."""
    return {tenant.slug: _town(db, tenant) for tenant in tenants(db)}
