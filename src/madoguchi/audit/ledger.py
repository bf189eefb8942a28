"""The resident's data-use ledger (わたしのデータの利用記録): which ``access_events`` a resident sees, and their removal
once the tenant's retention period has passed.

A resident sees the entries about their account (applications they filed, read by staff or an app) and about the
register person linked to it, and nothing else. An entry held back (``visible_from`` in the future) is left out
as if it did not exist: the page says neither that one is held nor how many. Entries older than the tenant's
retention period are not shown, and ``purge_expired`` (run by the database owner: the app role may not delete)
removes them. See docs/data-use-ledger.md.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, or_, select, text
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.audit import operations as audit
from madoguchi.audit.access import ACTOR_TYPES
from madoguchi.audit.models import AccessEvent

#: 番号法's 情報提供等記録 are kept 7 years (マイナポータル shows the past 7 years); the default here.
DEFAULT_RETENTION_YEARS = 7
MIN_RETENTION_YEARS = 1
MAX_RETENTION_YEARS = 30
_SQLITE_NO_DELETE = "access_events_no_delete"


def retention_years(profile: Mapping[str, Any] | None) -> int:
    """The tenant's retention period (tenant file ``data_use_ledger.retention_years``; default 7 years)."""
    section = (profile or {}).get("data_use_ledger") or {}
    years = section.get("retention_years") if isinstance(section, Mapping) else None
    if isinstance(years, int) and not isinstance(years, bool) and MIN_RETENTION_YEARS <= years <= MAX_RETENTION_YEARS:
        return years
    return DEFAULT_RETENTION_YEARS


def kept_since(years: int, now: datetime) -> datetime:
    """The oldest moment still kept: the same calendar day ``years`` back, in Japan (29 February: 28 February)."""
    local = now.astimezone(jp.JAPAN)
    try:
        earlier = local.replace(year=local.year - years)
    except ValueError:  # 29 February in a year that has none
        earlier = local.replace(year=local.year - years, day=28)
    return earlier.astimezone(UTC)


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """``YYYY-MM`` (half-width or full-width digits), else None."""
        text = unicodedata.normalize("NFKC", text or "").strip()
        if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
            return None
        year, month = int(text[:4]), int(text[5:])
        if not (1 <= month <= 12 and 2000 <= year <= 9999):
            return None
        return cls(year, month)

    def bounds(self) -> tuple[datetime, datetime]:
        """The month in Japan, as UTC moments [start, end)."""
        start = datetime(self.year, self.month, 1, tzinfo=jp.JAPAN)
        nxt = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        end = datetime(nxt.year, nxt.month, 1, tzinfo=jp.JAPAN)
        return start.astimezone(UTC), end.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _about(account_id: uuid.UUID, person_id: uuid.UUID | None) -> ColumnElement[bool]:
    mine = [AccessEvent.subject_account_id == account_id]
    if person_id is not None:
        mine.append(AccessEvent.subject_person_id == person_id)
    return or_(*mine)


def entries(
    session: Session,
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    person_id: uuid.UUID | None,
    *,
    now: datetime,
    retention: int,
    who: str | None = None,
    month: Month | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[AccessEvent], int]:
    """The resident's visible entries, newest first (a page of them), and how many there are in all."""
    criteria: list[ColumnElement[bool]] = [
        AccessEvent.tenant_id == tenant_id,
        _about(account_id, person_id),
        AccessEvent.visible_from <= now,
        AccessEvent.at >= kept_since(retention, now),
    ]
    if who in ACTOR_TYPES:
        criteria.append(AccessEvent.actor_type == who)
    if month is not None:
        start, end = month.bounds()
        criteria += [AccessEvent.at >= start, AccessEvent.at < end]
    total = session.execute(select(func.count()).select_from(AccessEvent).where(*criteria)).scalar_one()
    stmt = select(AccessEvent).where(*criteria).order_by(AccessEvent.at.desc(), AccessEvent.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars()), total


def purge_expired(session: Session, tenant_id: uuid.UUID, *, retention: int, now: datetime, actor: str) -> int:
    """Delete the tenant's entries older than its retention period; the deletion itself goes on the audit chain.

    Only the database owner can run it (the app role has no DELETE on access_events)."""
    cutoff = kept_since(retention, now)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite has no roles: a trigger stands in for the grant (migration 0015). Lifted for this one statement,
        # inside the transaction (SQLite's DDL is transactional: a failure puts it back).
        session.execute(text(f"DROP TRIGGER {_SQLITE_NO_DELETE}"))
    result = cast(
        CursorResult[Any],
        session.execute(delete(AccessEvent).where(AccessEvent.tenant_id == tenant_id, AccessEvent.at < cutoff)),
    )
    removed = result.rowcount
    if sqlite:
        session.execute(
            text(
                f"CREATE TRIGGER {_SQLITE_NO_DELETE} BEFORE DELETE ON access_events "
                "BEGIN SELECT RAISE(ABORT, 'access_events is append-only'); END"
            )
        )
    if removed:
        audit.record(
            session,
            tenant_id,
            actor=actor,
            action="access_events.purge",
            object_type="tenant",
            object_id=tenant_id,
            data={"before": cutoff.isoformat(), "retention_years": retention, "removed": removed},
        )
    return int(removed or 0)
