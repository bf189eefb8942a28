"""The tenant lifecycle beyond the admin API: the first tenant admin accepting the invitation (password, then the
authenticator app), and the purge of a deleted tenant after its retention period, which keeps the audit chain."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from madoguchi.applications import operations as applications
from madoguchi.audit import operations as audit
from madoguchi.db import Database, utcnow
from madoguchi.errors import Conflict
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, StaffRole
from madoguchi.platform import lifecycle
from madoguchi.tenancy.models import Tenant, TenantInvitation
from tests.conftest import AUDIT_KEY, DATA_KEY, Backend
from tests.factories import make_account, make_household, make_person
from tests.identity import conftest as identity_fixtures
from tests.identity.conftest import HTTPS, Clock, Towns, api, audit_actions, page, post_form
from tests.world import RESIDENCY

# The identity tests' fixtures: the two seeded towns, a TOTP clock, and cheap password hashing (autouse).
towns = identity_fixtures.towns
clock = identity_fixtures.clock


def _invite(db: Database, tenant: Tenant, email: str = "chief@example.jp", **kwargs: Any) -> str:
    with db.transaction() as session:
        issued = lifecycle.invite_tenant_admin(
            session,
            tenant.id,
            email=email,
            display_name="Chief",
            public_url="https://madoguchi.example.jp",
            data_key=DATA_KEY,
            lifetime=kwargs.pop("lifetime", timedelta(hours=72)),
            actor="test",
        )
    return issued.url.rsplit("/", 1)[1]


# --- Accepting an invitation -------------------------------------------------------------------------


def test_the_invited_admin_sets_a_password_then_an_authenticator_and_reaches_the_admin_pages(
    app: Any, db: Database, towns: Towns, clock: Clock
) -> None:
    token = _invite(db, towns.a)
    browser = app.test_client()
    url = page(towns.a, f"/invitation/{token}?lang=en")
    shown = browser.get(url)
    assert shown.status_code == 200 and "chief@example.jp" in shown.get_data(as_text=True)

    weak = post_form(browser, url, {"password": "short"})
    assert weak.status_code == 422 and 'id="password-error"' in weak.get_data(as_text=True)
    accepted = post_form(browser, url, {"password": "a long and sturdy passphrase"})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].startswith(f"/{towns.a.slug}/account/two-factor")
    # Until the authenticator is set up the session reaches nothing else.
    assert browser.get(api(towns.a, "/staff")).status_code == 401

    setup_url = page(towns.a, "/account/two-factor?lang=en")
    started = post_form(browser, setup_url, {"step": "start"})
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', started.get_data(as_text=True)).group(1)
    done = post_form(browser, setup_url, {"step": "confirm", "code": clock.code(secret)})
    assert done.status_code == 303
    assert browser.get(f"{HTTPS}/{towns.a.slug}/console/admin/").status_code == 200

    with db.transaction(towns.a.id) as session:
        account = session.execute(select(Account).where(Account.email == "chief@example.jp")).scalar_one()
        invitation = session.execute(select(TenantInvitation)).scalar_one()
    assert account.roles == [StaffRole.TENANT_ADMIN] and account.email_verified_at is not None
    assert account.totp_enabled and invitation.accepted_at and invitation.account_id == account.id
    actions = [r.action for r in audit_actions(db, towns.a)]
    assert actions.index("tenant.admin_invited") < actions.index("tenant.invitation_accepted")

    # Single use: the link is dead now, for anyone.
    again = app.test_client().get(url)
    assert again.status_code == 400 and "すでに使われています" in again.get_data(as_text=True)


def test_an_expired_or_replaced_invitation_cannot_be_used_and_creates_nothing(
    app: Any, db: Database, towns: Towns
) -> None:
    expired = _invite(db, towns.a, "late@example.jp", lifetime=timedelta(seconds=-1))
    replaced = _invite(db, towns.a, "twice@example.jp")
    current = _invite(db, towns.a, "twice@example.jp")
    for token in (expired, replaced, "not-a-token"):
        browser = app.test_client()
        assert browser.get(page(towns.a, f"/invitation/{token}")).status_code == 400
        response = browser.post(
            page(towns.a, f"/invitation/{token}"), data={"password": "a long and sturdy passphrase"}
        )
        assert response.status_code in (400, 403)  # refused before or at the CSRF check
    # The current link belongs to its tenant only.
    assert app.test_client().get(page(towns.b, f"/invitation/{current}")).status_code == 400
    with db.transaction(towns.a.id) as session:
        assert session.execute(select(Account).where(Account.email.in_(["late@example.jp"]))).first() is None


def test_two_acceptances_of_one_link_make_one_account(app: Any, db: Database, towns: Towns) -> None:
    token = _invite(db, towns.b)
    with db.transaction(towns.b.id) as session:
        lifecycle.accept_invitation(session, towns.b.id, token, password="a long and sturdy passphrase")
    with pytest.raises(Exception, match="invalid, has expired or was already used"), db.transaction(towns.b.id) as s:
        lifecycle.accept_invitation(s, towns.b.id, token, password="a long and sturdy passphrase")
    with db.transaction(towns.b.id) as session:
        assert len(session.execute(select(Account).where(Account.email == "chief@example.jp")).all()) == 1


# --- Purge -------------------------------------------------------------------------------------------


def _rows_per_table(db: Database, tenant: Tenant) -> dict[str, int]:
    counts = {}
    with db.transaction(tenant.id) as session:
        for table in lifecycle.tenant_tables():
            counts[table.name] = session.execute(
                select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant.id)
            ).scalar_one()
    return {name: n for name, n in counts.items() if n}


def _fill(db: Database, tenant: Tenant) -> None:
    """Personal data of every kind: a person, accounts, an application with its history, an invitation."""
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        owner = make_account(session, tenant, person=person)
        make_account(session, tenant, kind="staff", roles=[StaffRole.CLERK])
        draft = applications.create_draft(session, tenant, Actor.of(owner), "residency-certificate", RESIDENCY)
        applications.submit(session, tenant, Actor.of(owner), draft.id)
    _invite(db, tenant)


@pytest.mark.commits  # the purge runs as the owner role, on a connection of its own
def test_a_deleted_tenant_is_purged_after_its_retention_but_its_audit_chain_stays_verifiable(
    db: Database, backend: Backend, towns: Towns
) -> None:
    tenant, other = towns.b, towns.a
    _fill(db, tenant)
    _fill(db, other)
    others_before = _rows_per_table(db, other)
    assert {"persons", "accounts", "applications", "tenant_invitations"} <= set(_rows_per_table(db, tenant))
    # The purge deletes rows, which the app role may not: it runs as the owner, like migrations.
    owner = Database(backend.owner_url, pool_size=1, audit_key=AUDIT_KEY)
    try:
        with owner.transaction() as session, pytest.raises(Conflict, match="delete it first"):
            lifecycle.purge_tenant(session, tenant.id, retention_days=30, actor="test")
        with db.transaction() as session:
            lifecycle.delete_tenant(session, tenant.id, actor="test")
        with owner.transaction() as session:
            with pytest.raises(Conflict, match="kept until"):
                lifecycle.purge_tenant(session, tenant.id, retention_days=30, actor="test")
            assert lifecycle.tenants_due_for_purge(session, retention_days=30) == []
        later = utcnow() + timedelta(days=31)
        with owner.transaction() as session:
            due = lifecycle.tenants_due_for_purge(session, retention_days=30, now=later)
            assert [t.slug for t in due] == [tenant.slug]
            report = lifecycle.purge_tenant(session, tenant.id, retention_days=30, actor="test", now=later)
        assert report.removed["persons"] == 1 and report.removed["applications"] == 1
    finally:
        owner.dispose()

    assert _rows_per_table(db, tenant) == {}
    assert _rows_per_table(db, other) == others_before
    with db.transaction(tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        chain = audit.verify(session, tenant.id)
    actions = [r.action for r in audit_actions(db, tenant)]
    assert row.status == "deleted" and row.purged_at is not None
    assert chain.intact and chain.records_checked == len(actions)
    assert actions[-2:] == ["tenant.delete", "tenant.purge"]
    assert "tenant.admin_invited" in actions  # the records from before the purge are all still there


@pytest.mark.commits  # the purge runs as the owner role, on a connection of its own
def test_the_purge_names_the_tenants_files_and_they_are_deleted_after_it_commits(
    db: Database, backend: Backend, towns: Towns, tmp_path: Any
) -> None:
    from madoguchi.documents.backend import new_key
    from madoguchi.documents.models import Attachment
    from madoguchi.documents.storage import LocalStorage

    tenant = towns.b
    storage = LocalStorage(tmp_path)
    key = new_key(tenant.id, "attachments")
    storage.put(key, b"%PDF-1.7 power of attorney", tenant_id=tenant.id, content_type="application/pdf")
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        owner = make_account(session, tenant, person=person)
        draft = applications.create_draft(session, tenant, Actor.of(owner), "residency-certificate", RESIDENCY)
        session.add(
            Attachment(
                application_id=draft.id,
                document_key="power_of_attorney",
                original_name="委任状.pdf",
                content_type="application/pdf",
                size_bytes=26,
                sha256="0" * 64,
                storage_key=key,
            )
        )
    with db.transaction() as session:
        lifecycle.delete_tenant(session, tenant.id, actor="test")
    owner_db = Database(backend.owner_url, pool_size=1, audit_key=AUDIT_KEY)
    try:
        with owner_db.transaction() as session:
            report = lifecycle.purge_tenant(
                session, tenant.id, retention_days=30, actor="test", now=utcnow() + timedelta(days=31)
            )
    finally:
        owner_db.dispose()
    assert report.storage_keys == [key]
    assert storage.exists(key, tenant_id=tenant.id)  # nothing is deleted before the purge has committed
    assert lifecycle.delete_purged_files(storage, tenant.id, report) == 1
    assert not storage.exists(key, tenant_id=tenant.id)
