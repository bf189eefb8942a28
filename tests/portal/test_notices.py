"""The notices inbox: every notice opens by its link however old, only the resident's own, and "mark all as read"
marks only theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity.models import Account
from madoguchi.notify.models import Notice
from madoguchi.tenancy.models import Tenant
from tests.identity.conftest import add_account
from tests.portal.conftest import Towns, submit, url


def _notices(db: Database, tenant: Tenant, account: Account, count: int) -> list[uuid.UUID]:
    """``count`` unread notices for the account, oldest first, a minute apart."""
    start = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    with db.transaction(tenant.id) as session:
        rows = [
            Notice(
                tenant_id=tenant.id,
                account_id=account.id,
                kind="application.approved",
                reference=f"RC-{n:04d}-TEST",
                created_at=start + timedelta(minutes=n),
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _read_at(db: Database, tenant: Tenant, notice_id: uuid.UUID) -> datetime | None:
    with db.transaction(tenant.id) as session:
        return session.execute(select(Notice.read_at).where(Notice.id == notice_id)).scalar_one()


def test_a_notice_older_than_the_newest_200_still_opens_by_its_link(towns: Towns, db: Database) -> None:
    a = towns.a
    ids = _notices(db, a.tenant, a.resident, 201)
    oldest = ids[0]
    inbox = a.client.get(url(a.tenant, "/notices/")).get_data(as_text=True)
    assert f"/notices/{ids[-1]}" in inbox and f"/notices/{oldest}" not in inbox  # the list shows the newest 200

    opened = a.client.get(url(a.tenant, f"/notices/{oldest}"))
    assert opened.status_code == 200
    assert "RC-0000-TEST" in opened.get_data(as_text=True)
    assert _read_at(db, a.tenant, oldest) is not None


def test_another_residents_notice_is_not_there_and_stays_unread(towns: Towns, db: Database) -> None:
    a = towns.a
    neighbour = add_account(db, a.tenant)
    (theirs,) = _notices(db, a.tenant, neighbour, 1)
    assert a.client.get(url(a.tenant, f"/notices/{theirs}")).status_code == 404
    assert a.client.get(url(a.tenant, f"/notices/{uuid.uuid4()}")).status_code == 404
    # Another municipality's resident, on their own municipality's URL.
    assert towns.b.client.get(url(towns.b.tenant, f"/notices/{theirs}")).status_code == 404
    assert _read_at(db, a.tenant, theirs) is None


def test_mark_all_as_read_marks_the_residents_notices_only(towns: Towns, db: Database) -> None:
    a = towns.a
    mine = _notices(db, a.tenant, a.resident, 3)
    neighbour = add_account(db, a.tenant)
    (theirs,) = _notices(db, a.tenant, neighbour, 1)
    inbox = url(a.tenant, "/notices/")
    done = submit(a.client, inbox, {}, action=url(a.tenant, "/notices/read-all"))
    assert done.status_code == 303
    assert all(_read_at(db, a.tenant, notice_id) is not None for notice_id in mine)
    assert _read_at(db, a.tenant, theirs) is None
    assert 'class="count"' not in a.client.get(inbox).get_data(as_text=True)
