"""Sign-in throttling: growing delays per account and per address, never a lock (decision 0010).

Every failed password or second-factor code is a ``sign_in_failures`` row (in the database, so every worker
sees the same counts), kept ``FAILURE_MEMORY``; a successful sign-in forgets the account's rows. Before a
password or code is even checked, three rules may ask the caller to wait (``SignInThrottled``: 429 with
Retry-After). An attempt refused this way is not counted, so waiting always ends.

1. Account and address: the first ``FREE_FAILURES`` failures from one address cost nothing (typos); after
   that, each attempt from that address waits ``FIRST_DELAY``, doubling per further failure, at most
   ``LONGEST_DELAY`` after the last failure.
2. Account, all addresses: after ``ACCOUNT_FREE_FAILURES`` failures (a run spread over many addresses),
   attempts from addresses the account has never signed in from wait the same growing delay. The owner at
   an address they signed in from before (``KNOWN_ADDRESS_DAYS``) is not slowed by strangers at all.
3. Address: once failures for ``ADDRESS_SPRAY_SUBJECTS`` different accounts are outstanding from one address
   within ``ADDRESS_WINDOW`` (a password spray), that address may sign in only to accounts that signed in
   from it before, until the window slides. An office behind one proxy stays open: a colleague's typo stops
   counting as soon as they get in, and the office's own accounts are known there.

The subject of a failure is a hash of the tenant (or "platform") and the address typed, whether or not an
account has it: unknown addresses are throttled exactly like real ones, so a 429 reveals nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from madoguchi.db import utcnow
from madoguchi.errors import DomainError
from madoguchi.identity.models import SignInFailure, WebSession

FREE_FAILURES = 5
ACCOUNT_FREE_FAILURES = 20
FIRST_DELAY = timedelta(seconds=30)
LONGEST_DELAY = timedelta(minutes=15)
ADDRESS_SPRAY_SUBJECTS = 30
ADDRESS_WINDOW = timedelta(hours=1)
KNOWN_ADDRESS_DAYS = 90
FAILURE_MEMORY = timedelta(hours=24)

_NO_ADDRESS = "-"


class SignInThrottled(DomainError):
    """Too many failures: try again after ``retry_after`` seconds (the password was not even checked)."""

    status, slug, title = 429, "sign-in-throttled", "Too many failed sign-ins"

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = max(1, int(retry_after.total_seconds() + 0.999))
        super().__init__(
            "After several failed attempts, sign-in is slowed down for a while. "
            f"Try again in {self.retry_after} seconds."
        )
        self.headers = {"Retry-After": str(self.retry_after)}


def subject_of(scope: uuid.UUID | str, email: str) -> str:
    """The throttling key of ``email`` in a tenant (its id) or "platform": no clear text in the table."""
    return hashlib.sha256(f"{scope}\n{email}".encode()).hexdigest()


def growing_delay(failures: int, free: int) -> timedelta:
    """Nothing for the first ``free`` failures, then FIRST_DELAY doubling per failure, at most LONGEST_DELAY."""
    if failures < free:
        return timedelta(0)
    return min(FIRST_DELAY * (2 ** min(failures - free, 20)), LONGEST_DELAY)


def _address(address: str | None) -> str:
    return (address or _NO_ADDRESS)[:45]


def is_known_address(
    session: Session,
    address: str | None,
    *,
    account_id: uuid.UUID | None = None,
    platform_admin_id: uuid.UUID | None = None,
    second_factor_passed: bool = False,
) -> bool:
    """Whether the account (or platform admin) began a session from ``address`` lately.

    ``second_factor_passed``: only sessions that passed the second factor count. The code step asks this,
    since whoever reached it from an address knew the password there and began a pending session.
    """
    if address is None or (account_id is None and platform_admin_id is None):
        return False
    owner = WebSession.account_id == account_id if account_id else WebSession.platform_admin_id == platform_admin_id
    stmt = select(WebSession.id).where(
        owner,
        WebSession.ip_address == address,
        WebSession.created_at > utcnow() - timedelta(days=KNOWN_ADDRESS_DAYS),
    )
    if second_factor_passed:
        stmt = stmt.where(WebSession.second_factor_at.is_not(None))
    return session.execute(stmt.limit(1)).first() is not None


def _failures(session: Session, since: datetime, *conditions: ColumnElement[bool]) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(SignInFailure.created_at)).where(SignInFailure.created_at > since, *conditions)
    ).one()
    return int(count), last


def _spray_wait(session: Session, address: str, now: datetime) -> timedelta:
    """How long until fewer than ADDRESS_SPRAY_SUBJECTS accounts have failures outstanding from ``address``."""
    latest = list(
        session.execute(
            select(func.max(SignInFailure.created_at))
            .where(SignInFailure.address == address, SignInFailure.created_at > now - ADDRESS_WINDOW)
            .group_by(SignInFailure.subject)
        ).scalars()
    )
    if len(latest) < ADDRESS_SPRAY_SUBJECTS:
        return timedelta(0)
    latest.sort()
    # The subject whose expiry brings the count below the threshold.
    return _as_utc(latest[len(latest) - ADDRESS_SPRAY_SUBJECTS]) + ADDRESS_WINDOW - now


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored in UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def wait_required(session: Session, subject: str, address: str | None, *, known_address: bool) -> timedelta:
    """How long this attempt must wait (zero: go ahead)."""
    now = utcnow()
    since = now - FAILURE_MEMORY
    where = _address(address)
    waits = [timedelta(0)]
    count, last = _failures(session, since, SignInFailure.subject == subject, SignInFailure.address == where)
    if last is not None:
        waits.append(_as_utc(last) + growing_delay(count, FREE_FAILURES) - now)
    if not known_address:
        count, last = _failures(session, since, SignInFailure.subject == subject)
        if last is not None:
            waits.append(_as_utc(last) + growing_delay(count, ACCOUNT_FREE_FAILURES) - now)
        waits.append(_spray_wait(session, where, now))
    return max(waits)


def check(session: Session, subject: str, address: str | None, *, known_address: bool) -> None:
    """Raise ``SignInThrottled`` if this attempt must wait."""
    wait = wait_required(session, subject, address, known_address=known_address)
    if wait > timedelta(0):
        raise SignInThrottled(wait)


def record_failure(session: Session, subject: str, address: str | None) -> int:
    """Count a failure (in its own transaction: the request's is rolled back); returns the subject's count."""
    now = utcnow()
    session.add(SignInFailure(subject=subject, address=_address(address), created_at=now))
    # Old rows are forgotten as new ones come: the table holds at most a day of failures.
    session.execute(
        delete(SignInFailure)
        .where(SignInFailure.created_at < now - FAILURE_MEMORY)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    count, _ = _failures(session, now - FAILURE_MEMORY, SignInFailure.subject == subject)
    return count


def forget(session: Session, subject: str) -> None:
    """The owner signed in: their failures (typos, or someone else's guesses) stop counting."""
    session.execute(
        delete(SignInFailure).where(SignInFailure.subject == subject).execution_options(synchronize_session=False)
    )
