"""A municipality's own closed days (臨時閉庁日): listed, added and removed by its tenant admin, loaded from its tenant
file, and read as the :class:`~madoguchi.workdays.Calendar` its due dates are counted in. Decision 0034.

Each place manages its own days: the tenant file's ``closed_days`` (``madoguchi tenants sync``) and the tenant admin's
pages and API. A sync makes the file's days exactly those listed and never touches a day the admin entered; the
admin removes only the days they entered. A change applies to due dates set from then on (a submission, a 補正
answered): a due date already given to a resident is not moved.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp, workdays
from madoguchi.audit import operations as audit
from madoguchi.errors import NotFound, ValidationFailed
from madoguchi.tenancy.models import ClosedDaySource, TenantClosedDay

__all__ = ["REASON_MAX", "add", "calendar_for", "listed", "parse_day", "remove", "sync_from_file"]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Characters of a reason (as the column holds).
REASON_MAX = 100


def listed(session: Session, tenant_id: uuid.UUID, *, since: date | None = None) -> list[TenantClosedDay]:
    """The municipality's closed days in date order (from ``since`` on, when given)."""
    stmt = select(TenantClosedDay).where(TenantClosedDay.tenant_id == tenant_id)
    if since is not None:
        stmt = stmt.where(TenantClosedDay.day >= since)
    return list(session.execute(stmt.order_by(TenantClosedDay.day)).scalars())


def calendar_for(session: Session, tenant_id: uuid.UUID, *, since: date | None = None) -> workdays.Calendar:
    """The municipality's working-day calendar; ``since``: only its days from then on are needed (a count that
    starts that day never looks back)."""
    stmt = select(TenantClosedDay.day, TenantClosedDay.reason).where(TenantClosedDay.tenant_id == tenant_id)
    if since is not None:
        stmt = stmt.where(TenantClosedDay.day >= since)
    return workdays.Calendar.of((day, reason) for day, reason in session.execute(stmt))


def parse_day(value: Any) -> date:
    """A date from ``YYYY-MM-DD`` text (or a date): ``ValueError`` with a message for anything else."""
    if isinstance(value, date):
        return value
    message = f"'{value}' is not a date (write it as YYYY-MM-DD, e.g. 2027-05-06)"
    text = jp.normalize_input(str(value or "")).strip()  # full-width digits typed in Japanese input mode
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(message)
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2027-02-30
        raise ValueError(message) from None


def _checked_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) > REASON_MAX:
        raise ValidationFailed(
            "The reason is too long.",
            errors={"reason": [f"must be at most {REASON_MAX} characters"]},
            rule="reason_too_long",
        )
    return text


def add(
    session: Session, tenant_id: uuid.UUID, day: Any, reason: str | None, *, actor: str, today: date | None = None
) -> TenantClosedDay:
    """Add a closed day the tenant admin entered. Refused (``ValidationFailed`` naming the field and its ``rule``,
    nothing stored): not a date (``not_a_date``), a past day (``past``), a day already listed (``duplicate``) or
    closed by law anyway (``closed_anyway``), a reason over 100 characters (``reason_too_long``)."""
    try:
        parsed = parse_day(day)
    except ValueError as bad:
        raise ValidationFailed("The closed day is not a date.", errors={"day": [str(bad)]}, rule="not_a_date") from None
    text = _checked_reason(reason)
    if parsed < (today or jp.today()):
        raise ValidationFailed(
            "The closed day is in the past.", errors={"day": ["must be today or later"]}, rule="past"
        )
    existing = session.execute(
        select(TenantClosedDay).where(TenantClosedDay.tenant_id == tenant_id, TenantClosedDay.day == parsed)
    ).scalar_one_or_none()
    if existing is not None:
        raise ValidationFailed(
            "That day is already a closed day.",
            errors={"day": [f"{parsed.isoformat()} is already listed"]},
            rule="duplicate",
        )
    closed_by_law = workdays.closed_reason(parsed)
    if closed_by_law is not None:
        raise ValidationFailed(
            "The offices are closed that day anyway.",
            errors={"day": [f"{parsed.isoformat()} is already closed ({closed_by_law})"]},
            rule="closed_anyway",
            closed_reason=closed_by_law,
        )
    row = TenantClosedDay(
        tenant_id=tenant_id, day=parsed, reason=text, source=ClosedDaySource.ADMIN.value, created_by=actor
    )
    session.add(row)
    session.flush()
    _audit(session, tenant_id, actor, "tenant.closed_day_added", {"day": parsed.isoformat(), "reason": text})
    return row


def remove(session: Session, tenant_id: uuid.UUID, day: Any, *, actor: str) -> None:
    """Remove a closed day the tenant admin entered (``NotFound`` for another day; a day from the tenant file is
    removed from the file)."""
    try:
        parsed = parse_day(day)
    except ValueError:
        raise NotFound("No such closed day.") from None
    row = session.execute(
        select(TenantClosedDay).where(TenantClosedDay.tenant_id == tenant_id, TenantClosedDay.day == parsed)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("No such closed day.")
    if row.source != ClosedDaySource.ADMIN.value:
        raise ValidationFailed(
            "This closed day comes from the municipality's tenant file: remove it there.",
            errors={"day": ["is set in the tenant file"]},
            rule="from_file",
        )
    session.delete(row)
    session.flush()
    _audit(session, tenant_id, actor, "tenant.closed_day_removed", {"day": parsed.isoformat()})


def sync_from_file(session: Session, tenant_id: uuid.UUID, entries: Iterable[dict[str, Any]], *, actor: str) -> bool:
    """Make the tenant file's closed days exactly ``entries`` (``{day, reason}``, checked by ``catalog check``);
    a day the admin entered stays theirs. Returns whether anything changed."""
    wanted = {parse_day(entry["day"]): _checked_reason(entry.get("reason")) for entry in entries}
    rows = {row.day: row for row in listed(session, tenant_id)}
    changed = False
    for day, row in rows.items():
        if row.source == ClosedDaySource.FILE.value and day not in wanted:
            session.delete(row)
            changed = True
        elif row.source == ClosedDaySource.FILE.value and row.reason != wanted[day]:
            row.reason = wanted[day]
            changed = True
    for day, reason in wanted.items():
        if day not in rows:
            session.add(
                TenantClosedDay(
                    tenant_id=tenant_id, day=day, reason=reason, source=ClosedDaySource.FILE.value, created_by=actor
                )
            )
            changed = True
    if changed:
        session.flush()
    return changed


def _audit(session: Session, tenant_id: uuid.UUID, actor: str, action: str, data: dict[str, Any]) -> None:
    audit.record(session, tenant_id, actor=actor, action=action, object_type="tenant", object_id=tenant_id, data=data)
