"""``repository.get_for``: the one rule for which application a caller may see, used by the API, the portal, the
console and the document pages alike. Anything a caller may not see is ``NotFound`` (404), never 403."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from madoguchi.applications import operations, repository
from madoguchi.db import Database
from madoguchi.errors import NotFound
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account
from madoguchi.identity.principal import APPLICATIONS_READ, Principal, session_scopes
from madoguchi.tenancy.models import Tenant
from tests.api.test_applications_api import RESIDENCY
from tests.applications.conftest import Town

VENDOR = uuid.UUID("00000000-0000-4000-8000-00000000abcd")


def _principal(
    session: Session,
    tenant: Tenant,
    actor: Actor | None = None,
    *,
    client_id: uuid.UUID | None = None,
    scopes: Iterable[str] | None = None,
) -> Principal:
    account = session.get(Account, actor.account_id) if actor is not None else None
    granted = frozenset(scopes) if scopes is not None else session_scopes(account) if account else frozenset()
    return Principal(
        method="token" if client_id or scopes is not None else "session",
        tenant_id=tenant.id,
        account=account,
        client_id=client_id,
        scopes=granted,
    )


def _draft(db: Database, town: Town, *, client_id: uuid.UUID | None = None) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        tenant = session.merge(town.tenant)
        channel = "api" if client_id else "online"
        application = operations.create_draft(
            session, tenant, town.resident, "residency-certificate", RESIDENCY, channel=channel, client_id=client_id
        )
        return application.id


def _submit(db: Database, town: Town, application_id: uuid.UUID) -> None:
    with db.transaction(town.tenant.id) as session:
        operations.submit(session, session.merge(town.tenant), town.resident, application_id)


def _sees(db: Database, town: Town, application_id: uuid.UUID, **caller: Any) -> bool:
    with db.transaction(town.tenant.id) as session:
        principal = _principal(session, town.tenant, **caller)
        try:
            return repository.get_for(session, principal, application_id).id == application_id
        except NotFound:
            return False


def test_a_resident_sees_their_own_application_and_no_one_elses(db: Database, towns: dict[str, Town]) -> None:
    town = towns["midorikawa-village"]
    application_id = _draft(db, town)
    assert _sees(db, town, application_id, actor=town.resident)
    assert not _sees(db, town, application_id, actor=town.unverified)
    assert not _sees(db, town, uuid.uuid4(), actor=town.resident)


def test_staff_see_the_queue_but_not_a_residents_unsent_draft(db: Database, towns: dict[str, Town]) -> None:
    town = towns["midorikawa-village"]
    application_id = _draft(db, town)
    assert not _sees(db, town, application_id, actor=town.clerk)
    _submit(db, town, application_id)
    assert _sees(db, town, application_id, actor=town.clerk)
    # A staff member's token without applications:process is no window on the queue.
    assert not _sees(db, town, application_id, actor=town.clerk, scopes={APPLICATIONS_READ})


def test_a_vendor_app_sees_what_it_filed_with_its_client_credentials_and_for_the_resident(
    db: Database, towns: dict[str, Town]
) -> None:
    town = towns["midorikawa-village"]
    filed = _draft(db, town, client_id=VENDOR)
    assert _sees(db, town, filed, client_id=VENDOR, scopes={APPLICATIONS_READ})
    assert not _sees(db, town, filed, client_id=uuid.uuid4(), scopes={APPLICATIONS_READ})
    # Acting for the resident with their consent (a token carrying their account): the resident's applications.
    online = _draft(db, town)
    assert _sees(db, town, online, actor=town.resident, client_id=uuid.uuid4(), scopes={APPLICATIONS_READ})
    assert not _sees(db, town, online, client_id=VENDOR, scopes={APPLICATIONS_READ})


def test_another_municipalitys_staff_get_not_found(db: Database, towns: dict[str, Town]) -> None:
    town, other = towns["midorikawa-village"], towns["shiomi-town"]
    application_id = _draft(db, town)
    _submit(db, town, application_id)
    with db.transaction(other.tenant.id) as session:
        principal = _principal(session, other.tenant, other.supervisor)
        with pytest.raises(NotFound):
            repository.get_for(session, principal, application_id)
