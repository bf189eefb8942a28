"""The identity tables as migrated match the models; secrets at rest cannot be moved between accounts."""

from __future__ import annotations

import pyotp
import pytest

from madoguchi import models  # noqa: F401 - every model in the metadata
from madoguchi.db import Database
from tests.identity.conftest import Clock, Towns, load_account, login, staff_account
from tests.support.schema import schema_differences, tables_of

IDENTITY_TABLES = {"accounts", "web_sessions", "platform_admins", "email_verifications", "identity_verifications"}


# SQLite's reflection cannot read the queue's expression indexes on applications (decision 0024); this test
# compares the identity tables only.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_identity_migration_matches_the_models(backend, settings) -> None:
    assert [d for d in schema_differences(backend.owner_url) if tables_of(d) & IDENTITY_TABLES] == []


def test_a_totp_secret_copied_to_another_account_does_not_open(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    mine = staff_account(db, towns.a, "clerk", totp_secret=secret)
    victim = staff_account(db, towns.a, "clerk", totp_secret=pyotp.random_base32())
    # Someone with write access to the table copies their own sealed secret into the victim's row...
    with db.transaction(towns.a.id) as session:
        session.get(type(victim), victim.id).totp_secret_encrypted = load_account(db, mine).totp_secret_encrypted
    # ...and a code from their own app still does not sign in as the victim.
    assert login(app.test_client(), towns.a, victim.email, totp_code=clock.code(secret)).status_code == 401
    assert login(app.test_client(), towns.a, mine.email, totp_code=clock.code(secret)).status_code == 201
