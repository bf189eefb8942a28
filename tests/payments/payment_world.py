"""The payment tests' world: the tenant file's ``payments`` section set on a town of tests/world.py.

Until the tenant files carry ``payments`` (the quotes part of issue 18), a test sets it in the tenant's profile
itself: ``with_payments(db, town)`` writes it in the test's transaction (rolled back at its end).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from madoguchi.applications import operations as ops
from madoguchi.applications import repository
from madoguchi.db import Database
from madoguchi.tenancy.models import Tenant
from tests.world import RESIDENCY, Town

#: The demo's settings (docs/decisions/0044): sakuragaoka-city pays before issue through the fake provider.
PREPAY = {"provider": "fake", "online": "prepay", "expires_after_hours": 72}
AFTER_FEE_FIXED = {
    "provider": "fake",
    "online": "after_fee_fixed",
    "expires_after_hours": 72,
    "surcharge": {"amount": 50, "label": {"ja": "システム利用料", "en": "System fee"}},
}


def with_payments(db: Database, town: Town, config: dict[str, Any] | None = None) -> Town:
    """``town`` with ``payments`` in its tenant's profile (the row and the test's copy of it)."""
    with db.transaction() as session:
        tenant = session.get(Tenant, town.tenant.id)
        assert tenant is not None
        tenant.profile = {**(tenant.profile or {}), "payments": dict(config or PREPAY)}
        town.tenant.profile = dict(tenant.profile)
    return town


def submitted(db: Database, town: Town) -> uuid.UUID:
    """A residency certificate the town's resident filed and submitted (quoted at submit)."""
    with db.transaction(town.tenant.id) as session:
        application = ops.create_draft(session, town.tenant, town.resident, "residency-certificate", RESIDENCY)
        ops.submit(session, town.tenant, town.resident, application.id)
        return application.id


def state_of(db: Database, town: Town, application_id: uuid.UUID) -> str:
    with db.transaction(town.tenant.id) as session:
        return repository.get(session, town.tenant.id, application_id).state


def csrf(html: str) -> str:
    """The CSRF token of the page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
