"""Reconciliation for the 会計管理者: a provider's settlement report matched against our ledger, and the 収入日計.

**Settlement import.** The staff of the 会計管理者 (or a supervisor) upload one provider's settlement report of
one JST day: a CSV (UTF-8 or Shift_JIS) with a header ``provider_ref,kind,amount_jpy,settled_on`` (``kind``:
``charge`` or ``refund``; a refund's ``provider_ref`` is the payment it refunds, as the providers' reports list
it). Every row must be readable, or nothing is stored and the errors name their lines. The rows are compared,
by ``(provider_ref, kind)``, with what our ledger says that provider collected and refunded that day (intents that
succeeded, refunds that succeeded, their JST day): each key becomes one ``SettlementLine``, ``matched`` (both,
same amount), ``missing`` (ours only: the provider does not know a payment we count), ``extra`` (theirs only) or
``mismatch`` (both, amounts differ). Matched and mismatched intents get a ``reconciled``/``mismatch`` event.

**収入日計.** Per JST day: the tenant's 歳入科目 (tenant file ``payments.revenue_item``, 手数料 by default), how many
fee payments succeeded, what they collected, what was refunded that day, and the amount, collected − refunded.
Every mode counts (online, counter, 定額小為替): it is what the municipality received. Decision 0046.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import Forbidden, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import StaffRole
from madoguchi.payments import states
from madoguchi.payments.intents import log_event
from madoguchi.payments.models import (
    EXTRA,
    MATCHED,
    MISMATCH,
    MISSING,
    REFUND_SUCCEEDED,
    PaymentIntent,
    Refund,
    SettlementImport,
    SettlementLine,
)
from madoguchi.payments.providers.base import SettlementRow
from madoguchi.payments.quotes import payments_of
from madoguchi.registry.csv_formats import UnreadableEncoding, decode_registry_csv
from madoguchi.tenancy.models import Tenant

#: Who imports settlements and reads the 収入日計: the 会計管理者's staff, or a supervisor.
ACCOUNTING_ROLES = frozenset({StaffRole.ACCOUNTANT.value, StaffRole.SUPERVISOR.value})
COLUMNS = ("provider_ref", "kind", "amount_jpy", "settled_on")
KINDS = ("charge", "refund")
MAX_REPORT_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
#: The longest span of one 収入日計 download (a quarter: the 出納整理 of a month fits easily).
MAX_REVENUE_DAYS = 92
DEFAULT_REVENUE_ITEM = {"ja": "手数料", "en": "Fees"}
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
_REFERENCE = re.compile(r"^[\x21-\x7e]{1,200}$")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments a JST day starts and ends (the end excluded): 00:00 JST is 15:00 UTC the day before."""
    start = datetime.combine(day, time(0), tzinfo=jp.JAPAN)
    return start, start + timedelta(days=1)


def check_accounting(actor: Actor) -> None:
    """Only the 会計管理者's staff and supervisors reconcile."""
    if not actor.is_staff or not (ACCOUNTING_ROLES & actor.staff_roles):
        raise Forbidden("Only the accounting staff or a supervisor may reconcile payments.")


# ----------------------------------------------------------------------------------------------- reading


def parse_settlement(raw: bytes, *, day: date) -> list[tuple[int, SettlementRow]]:
    """The rows of a settlement report with their line numbers; every unreadable row is named by its line in one
    ``ValidationFailed`` (errors under ``file``), and a row of another day is refused: a report is of one day."""
    if len(raw) > MAX_REPORT_BYTES:
        raise ValidationFailed("The report is too large.", errors={"file": [f"at most {MAX_REPORT_BYTES} bytes"]})
    try:
        text, _ = decode_registry_csv(raw)
    except UnreadableEncoding as unreadable:
        raise ValidationFailed("The report cannot be read.", errors={"file": [str(unreadable)]}) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    names = [unicodedata.normalize("NFKC", cell).strip().lower() for cell in header or []]
    if [n for n in names if n] != list(COLUMNS):
        raise ValidationFailed(
            "The report's header is not the settlement format.",
            errors={"file": [f"line 1: the header must be {','.join(COLUMNS)}"]},
        )
    rows: list[tuple[int, SettlementRow]] = []
    problems: list[str] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_ROWS:
            problems.append(f"line {line}: at most {MAX_ROWS} rows in one report")
            break
        row, errors = _row(cells, day)
        problems += [f"line {line}: {error}" for error in errors]
        if row is not None:
            rows.append((line, row))
    if problems:
        raise ValidationFailed("The report has lines that cannot be read; nothing was imported.",
                               errors={"file": problems})  # fmt: skip
    return rows


def _row(cells: Sequence[str], day: date) -> tuple[SettlementRow | None, list[str]]:
    if len(cells) != len(COLUMNS):
        return None, [f"expected {len(COLUMNS)} columns, found {len(cells)}"]
    ref, kind, amount_text, settled_text = (unicodedata.normalize("NFKC", cell).strip() for cell in cells)
    errors: list[str] = []
    if not _REFERENCE.match(ref):
        errors.append("provider_ref: must be the provider's reference of the payment")
    kind = kind.lower()
    if kind not in KINDS:
        errors.append(f"kind: must be one of: {', '.join(KINDS)}")
    amount = None
    if re.fullmatch(r"-?\d{1,9}", amount_text.replace(",", "")):
        # Reports list refunds as negative amounts or positive ones under kind=refund; the kind says which.
        amount = abs(int(amount_text.replace(",", "")))
    if amount is None or amount == 0:
        errors.append("amount_jpy: must be a whole number of yen, not 0")
    settled_on = None
    try:
        settled_on = date.fromisoformat(settled_text)
    except ValueError:
        errors.append("settled_on: must be a date YYYY-MM-DD")
    if settled_on is not None and settled_on != day:
        errors.append(f"settled_on: {settled_on.isoformat()} is not the day of this report ({day.isoformat()})")
    if errors:
        return None, errors
    assert amount is not None and settled_on is not None
    return SettlementRow(provider_ref=ref, kind=kind, amount_jpy=amount, settled_on=settled_on), []


# ---------------------------------------------------------------------------------------------- matching


@dataclass
class _Expected:
    amount_jpy: int
    intent_id: uuid.UUID


def expected_for_day(session: Session, tenant: Tenant, provider: str, day: date) -> dict[tuple[str, str], _Expected]:
    """What our ledger says ``provider`` collected and refunded on the JST ``day``, by (provider_ref, kind)."""
    start, end = day_bounds(day)
    expected: dict[tuple[str, str], _Expected] = {}
    charges = session.execute(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant.id,
            PaymentIntent.provider == provider,
            PaymentIntent.status == states.SUCCEEDED,
            PaymentIntent.succeeded_at >= start,
            PaymentIntent.succeeded_at < end,
        )
    ).scalars()
    for intent in charges:
        if intent.provider_ref:
            _add(expected, (intent.provider_ref, "charge"), intent.amount_jpy, intent.id)
    refunds = session.execute(
        select(Refund, PaymentIntent)
        .join(PaymentIntent, (PaymentIntent.tenant_id == Refund.tenant_id) & (PaymentIntent.id == Refund.intent_id))
        .where(
            Refund.tenant_id == tenant.id,
            PaymentIntent.provider == provider,
            Refund.status == REFUND_SUCCEEDED,
            Refund.succeeded_at >= start,
            Refund.succeeded_at < end,
        )
    ).all()
    for refund, intent in refunds:
        if intent.provider_ref:
            _add(expected, (intent.provider_ref, "refund"), refund.amount_jpy, intent.id)
    return expected


def _add(expected: dict[tuple[str, str], _Expected], key: tuple[str, str], amount: int, intent_id: uuid.UUID) -> None:
    if key in expected:
        expected[key].amount_jpy += amount
    else:
        expected[key] = _Expected(amount, intent_id)


def _known_providers(session: Session, tenant: Tenant) -> set[str]:
    names = set(
        session.execute(select(PaymentIntent.provider).where(PaymentIntent.tenant_id == tenant.id).distinct()).scalars()
    )
    configured = (payments_of(tenant) or {}).get("provider")
    if configured:
        names.add(str(configured))
    return names


def import_settlement(
    session: Session, tenant: Tenant, *, provider: str, day: date, raw: bytes, actor: Actor
) -> SettlementImport:
    """Import ``provider``'s settlement report of the JST ``day`` and match it; nothing is stored when any row is
    unreadable (``ValidationFailed`` naming the lines)."""
    check_accounting(actor)
    provider = (provider or "").strip().lower()
    if not _PROVIDER_NAME.match(provider) or provider not in _known_providers(session, tenant):
        raise ValidationFailed(
            "Unknown payment provider.", errors={"provider": ["not a provider of this municipality"]}
        )
    rows = parse_settlement(raw, day=day)
    return _import_rows(session, tenant, provider=provider, day=day, rows=rows, actor=actor,
                        file_sha256=hashlib.sha256(raw).hexdigest())  # fmt: skip


def _import_rows(
    session: Session,
    tenant: Tenant,
    *,
    provider: str,
    day: date,
    rows: Iterable[tuple[int, SettlementRow]],
    actor: Actor,
    file_sha256: str,
) -> SettlementImport:
    reported: dict[tuple[str, str], tuple[int, int]] = {}  # key → (first line, amount)
    for number, row in rows:
        key = (row.provider_ref, row.kind)
        first, amount = reported.get(key, (number, 0))
        reported[key] = (first, amount + row.amount_jpy)
    expected = expected_for_day(session, tenant, provider, day)
    settlement = SettlementImport(
        tenant_id=tenant.id,
        provider=provider,
        day=day,
        file_sha256=file_sha256,
        imported_by_account_id=actor.account_id,
        imported_at=utcnow(),
    )
    session.add(settlement)
    session.flush()
    lines: list[SettlementLine] = []
    for key in sorted(reported.keys() | expected.keys(), key=lambda k: (reported.get(k, (10**9, 0))[0], k)):
        ours, theirs = expected.get(key), reported.get(key)
        intent_id = ours.intent_id if ours is not None else _intent_by_ref(session, tenant, provider, key[0])
        if ours is None:
            result = EXTRA
        elif theirs is None:
            result = MISSING
        else:
            result = MATCHED if ours.amount_jpy == theirs[1] else MISMATCH
        lines.append(
            SettlementLine(
                tenant_id=tenant.id,
                import_id=settlement.id,
                line_number=theirs[0] if theirs is not None else None,
                provider_ref=key[0],
                kind=key[1],
                reported_jpy=theirs[1] if theirs is not None else None,
                expected_jpy=ours.amount_jpy if ours is not None else None,
                intent_id=intent_id,
                result=result,
            )
        )
    session.add_all(lines)
    settlement.matched = sum(1 for line in lines if line.result == MATCHED)
    settlement.mismatched = len(lines) - settlement.matched
    session.flush()
    for entry in lines:
        if entry.intent_id is not None and entry.result != EXTRA:
            intent = session.get(PaymentIntent, entry.intent_id)
            note = f"settlement {day.isoformat()} {entry.kind}: {entry.result} (ours {entry.expected_jpy}, " \
                   f"reported {entry.reported_jpy})"  # fmt: skip
            log_event(session, intent, tenant_id=tenant.id, provider=provider, note=note,
                      kind="reconciled" if entry.result == MATCHED else "mismatch")  # fmt: skip
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action="payment.settlement_imported",
        object_type="settlement_import",
        object_id=settlement.id,
        data={
            "provider": provider,
            "day": day.isoformat(),
            "file_sha256": file_sha256,
            "matched": settlement.matched,
            "mismatched": settlement.mismatched,
        },
    )
    return settlement


def _intent_by_ref(session: Session, tenant: Tenant, provider: str, ref: str) -> uuid.UUID | None:
    # An extra line may still be one of ours from another day: name the intent so the clerk finds it.
    return session.execute(
        select(PaymentIntent.id).where(
            PaymentIntent.tenant_id == tenant.id, PaymentIntent.provider == provider, PaymentIntent.provider_ref == ref
        )
    ).scalar_one_or_none()


def imports_of(session: Session, tenant: Tenant, *, limit: int = 30) -> list[SettlementImport]:
    """The latest settlement imports, newest first."""
    return list(
        session.execute(
            select(SettlementImport)
            .where(SettlementImport.tenant_id == tenant.id)
            .order_by(SettlementImport.imported_at.desc())
            .limit(limit)
        ).scalars()
    )


def get_import(session: Session, tenant: Tenant, import_id: uuid.UUID) -> SettlementImport:
    found = session.execute(
        select(SettlementImport).where(SettlementImport.tenant_id == tenant.id, SettlementImport.id == import_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such settlement import.")
    return found


def lines_of(session: Session, settlement: SettlementImport, *, problems_only: bool = False) -> list[SettlementLine]:
    """The import's lines, in report order (ours-only lines last); ``problems_only``: the mismatch list."""
    query = select(SettlementLine).where(
        SettlementLine.tenant_id == settlement.tenant_id, SettlementLine.import_id == settlement.id
    )
    if problems_only:
        query = query.where(SettlementLine.result != MATCHED)
    found = list(session.execute(query).scalars())
    return sorted(found, key=lambda line: (line.line_number is None, line.line_number or 0, line.provider_ref or ""))


# --------------------------------------------------------------------------------------------- 収入日計


@dataclass(frozen=True)
class RevenueDay:
    day: date
    count: int
    collected_jpy: int
    refunded_jpy: int

    @property
    def amount_jpy(self) -> int:
        return self.collected_jpy - self.refunded_jpy


def revenue_item(tenant: Tenant) -> dict[str, str]:
    """The 歳入科目 the fees are booked under (tenant file ``payments.revenue_item``)."""
    item = (payments_of(tenant) or {}).get("revenue_item")
    return dict(item) if isinstance(item, dict) and item.get("ja") else dict(DEFAULT_REVENUE_ITEM)


def check_revenue_span(day_from: date, day_to: date) -> None:
    if day_to < day_from:
        raise ValidationFailed("The period ends before it starts.", errors={"day_to": ["must not be before the start"]})
    if (day_to - day_from).days >= MAX_REVENUE_DAYS:
        raise ValidationFailed("The period is too long.", errors={"day_to": [f"at most {MAX_REVENUE_DAYS} days"]})


def daily_revenue(session: Session, tenant: Tenant, day_from: date, day_to: date) -> list[RevenueDay]:
    """One row per JST day from ``day_from`` to ``day_to`` (both included), days without payments too."""
    check_revenue_span(day_from, day_to)
    start, _ = day_bounds(day_from)
    _, end = day_bounds(day_to)
    counts: dict[date, int] = {}
    collected: dict[date, int] = {}
    refunded: dict[date, int] = {}
    paid = session.execute(
        select(PaymentIntent.succeeded_at, PaymentIntent.amount_jpy).where(
            PaymentIntent.tenant_id == tenant.id,
            PaymentIntent.purpose == "fee",
            PaymentIntent.status == states.SUCCEEDED,
            PaymentIntent.succeeded_at >= start,
            PaymentIntent.succeeded_at < end,
        )
    ).all()
    for moment, amount in paid:
        assert moment is not None  # the query asked for a range of it
        day = jp.date_in_japan(moment)
        counts[day] = counts.get(day, 0) + 1
        collected[day] = collected.get(day, 0) + amount
    back = session.execute(
        select(Refund.succeeded_at, Refund.amount_jpy)
        .join(PaymentIntent, (PaymentIntent.tenant_id == Refund.tenant_id) & (PaymentIntent.id == Refund.intent_id))
        .where(
            Refund.tenant_id == tenant.id,
            PaymentIntent.purpose == "fee",
            Refund.status == REFUND_SUCCEEDED,
            Refund.succeeded_at >= start,
            Refund.succeeded_at < end,
        )
    ).all()
    for moment, amount in back:
        assert moment is not None
        day = jp.date_in_japan(moment)
        refunded[day] = refunded.get(day, 0) + amount
    days = [day_from + timedelta(days=n) for n in range((day_to - day_from).days + 1)]
    return [RevenueDay(d, counts.get(d, 0), collected.get(d, 0), refunded.get(d, 0)) for d in days]


REVENUE_HEADERS = {
    "ja": ("日付", "歳入科目", "件数", "収入額", "還付額", "金額"),
    "en": ("Date", "Revenue item", "Count", "Collected", "Refunded", "Amount"),
}


def daily_revenue_csv(rows: Sequence[RevenueDay], item: dict[str, str], *, locale: str = "ja") -> bytes:
    """The 収入日計 as CSV: UTF-8 with a BOM (Excel on Japanese Windows opens it as such), CRLF line ends."""
    locale = locale if locale in REVENUE_HEADERS else "ja"
    label = item.get(locale) or item["ja"]
    stream = io.StringIO(newline="")
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(REVENUE_HEADERS[locale])
    for row in rows:
        writer.writerow((row.day.isoformat(), label, row.count, row.collected_jpy, row.refunded_jpy, row.amount_jpy))
    return stream.getvalue().encode("utf-8-sig")


def totals(rows: Sequence[RevenueDay]) -> RevenueDay:
    """The sum of ``rows`` (dated the first day)."""
    return RevenueDay(
        rows[0].day if rows else jp.today(),
        sum(r.count for r in rows),
        sum(r.collected_jpy for r in rows),
        sum(r.refunded_jpy for r in rows),
    )


def collected_and_refunded(session: Session, tenant_id: uuid.UUID, since: datetime) -> tuple[int, int]:
    """Fees collected (succeeded) and refunded since ``since``: for the KPIs."""
    collected = session.execute(
        select(func.coalesce(func.sum(PaymentIntent.amount_jpy), 0)).where(
            PaymentIntent.tenant_id == tenant_id,
            PaymentIntent.purpose == "fee",
            PaymentIntent.status == states.SUCCEEDED,
            PaymentIntent.succeeded_at >= since,
        )
    ).scalar_one()
    refunded = session.execute(
        select(func.coalesce(func.sum(Refund.amount_jpy), 0)).where(
            Refund.tenant_id == tenant_id, Refund.status == REFUND_SUCCEEDED, Refund.succeeded_at >= since
        )
    ).scalar_one()
    return int(collected), int(refunded)
