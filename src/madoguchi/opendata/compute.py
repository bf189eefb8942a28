"""A municipality's KPIs for one month (JST), from its applications, events, payments and satisfaction answers.

``internal_procedure_rows`` gives the exact figures, one dict per procedure plus a ``_total`` row (the numerators
behind every rate and the days-to-decision histogram stay in them, so the country's figures can be summed from
them). ``publish_procedure_rows`` turns exact rows into the published ones (opendata.columns, suppressed by
opendata.suppression). The definitions (docs/open-data.md):

* a month is the JST calendar month: ``[YYYY-MM-01 00:00 JST, next month 00:00 JST)``;
* **started_online**: applications the resident started online (``channel = online``) created in the month;
  **completion_rate**: of those, the share submitted before the month ended;
* **submitted_***: applications whose ``submitted_at`` falls in the month, by channel;
* **decided**: applications whose ``decided_at`` (approval or rejection) falls in the month;
  **decided_within_sla**: of those, decided on or before their ``due_on`` (decision 0034: working days, the clock
  stopped during 補正); **days to decision**: whole JST calendar days from submission to decision, as a histogram;
  the median is the middle value (mean of the two middle ones), the 90th percentile the nearest rank;
* **correction_requested_rate**: of the month's submissions, the share asked for 補正 (moved to
  ``more_info_requested``) before the month ended;
* **withdrawn**: applications moved to ``withdrawn`` in the month;
* **satisfaction**: answers given in the month that carry a score; the score is the share scoring 4 or 5;
* **fees_collected_jpy**: fees that succeeded in the month less fee refunds that succeeded in it.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.workflow import MORE_INFO_REQUESTED
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.errors import ValidationFailed
from madoguchi.opendata import suppression
from madoguchi.opendata.columns import (
    DEFINITION_VERSION,
    PROCEDURE_KPI_COLUMNS,
    SUPPRESSION_THRESHOLD,
    TOTAL_KEY,
)
from madoguchi.payments import states
from madoguchi.payments.models import REFUND_SUCCEEDED, PaymentIntent, Refund
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant

WITHDRAWN = "withdrawn"
_PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")

#: The counts that small-count suppression applies to, in column order.
COUNTS = tuple(c.name for c in PROCEDURE_KPI_COLUMNS if c.suppressible_count)
#: Exact figures kept in the internal rows besides the counts (numerators of the rates).
NUMERATORS = ("started_online_submitted", "correction_requested", "satisfied", "fees_collected_jpy")


class MonthNotClosed(ValidationFailed):
    slug, title = "month-not-closed", "The month is not over yet"


def parse_period(period: str) -> tuple[int, int]:
    match = _PERIOD.match(period or "")
    if match is None:
        raise ValidationFailed(f"{period!r} is not a month written YYYY-MM.", errors={"month": ["must be YYYY-MM"]})
    return int(match.group(1)), int(match.group(2))


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """The moments the JST month starts and ends (the end excluded)."""
    year, month = parse_period(period)
    start = datetime(year, month, 1, tzinfo=jp.JAPAN)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=jp.JAPAN)
    return start, end


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def last_closed_month(now: datetime | None = None) -> str:
    """The month before the current one in Japan."""
    today = (now or jp.now()).astimezone(jp.JAPAN).date()
    return period_of(today.replace(day=1) - timedelta(days=1))


def check_closed(period: str, now: datetime | None = None) -> None:
    """Refuse a month that has not ended in Japan (its figures would still change)."""
    _, end = month_bounds(period)
    if (now or jp.now()) < end:
        raise MonthNotClosed(
            f"{period} is not closed yet: a month can be published once it has ended in Japan "
            f"(from {end.date().isoformat()} 00:00 JST).",
            errors={"month": ["not closed yet"]},
        )


# --------------------------------------------------------------------------------------------- exact figures


def _empty_row(key: str) -> dict[str, Any]:
    return {
        "procedure_key": key,
        "procedure_version": None,
        **dict.fromkeys(COUNTS, 0),
        **dict.fromkeys(NUMERATORS, 0),
        "days_to_decision": {},
    }


def internal_procedure_rows(session: Session, tenant_id: uuid.UUID, period: str) -> list[dict[str, Any]]:
    """The exact figures of every procedure the municipality offers or had activity in, by key, then ``_total``."""
    start, end = month_bounds(period)
    rows: dict[str, dict[str, Any]] = {}

    def of(key: str) -> dict[str, Any]:
        return rows.setdefault(key, _empty_row(key))

    versions = session.execute(
        select(TenantService.service_key, ServiceVersion.version)
        .join(ServiceVersion, ServiceVersion.id == TenantService.service_version_id)
        .where(TenantService.tenant_id == tenant_id, TenantService.enabled.is_(True))
    )
    for key, version in versions:
        of(key)["procedure_version"] = version

    in_month = (start, end)
    started = session.execute(
        select(Application.service_key, Application.submitted_at).where(
            Application.tenant_id == tenant_id,
            Application.channel == "online",
            Application.created_at >= in_month[0],
            Application.created_at < in_month[1],
        )
    )
    for key, submitted_at in started:
        row = of(key)
        row["started_online"] += 1
        if submitted_at is not None and submitted_at < end:
            row["started_online_submitted"] += 1

    submitted = session.execute(
        select(Application.service_key, Application.channel, func.count())
        .where(Application.tenant_id == tenant_id, Application.submitted_at >= start, Application.submitted_at < end)
        .group_by(Application.service_key, Application.channel)
    )
    for key, channel, count in submitted:
        column = f"submitted_{channel}"
        if column in COUNTS:
            of(key)[column] += count

    decided = session.execute(
        select(Application.service_key, Application.submitted_at, Application.decided_at, Application.due_on).where(
            Application.tenant_id == tenant_id, Application.decided_at >= start, Application.decided_at < end
        )
    )
    for key, submitted_at, decided_at, due_on in decided:
        row = of(key)
        row["decided"] += 1
        assert decided_at is not None  # the query asked for a range of it
        decided_on = jp.date_in_japan(decided_at)
        if due_on is not None and decided_on <= due_on:
            row["decided_within_sla"] += 1
        if submitted_at is not None:
            days = str(max((decided_on - jp.date_in_japan(submitted_at)).days, 0))
            row["days_to_decision"][days] = row["days_to_decision"].get(days, 0) + 1

    asked = (
        select(ApplicationEvent.application_id)
        .where(
            ApplicationEvent.tenant_id == tenant_id,
            ApplicationEvent.to_state == MORE_INFO_REQUESTED,
            ApplicationEvent.at < end,
        )
        .distinct()
        .scalar_subquery()
    )
    corrections = session.execute(
        select(Application.service_key, func.count())
        .where(
            Application.tenant_id == tenant_id,
            Application.submitted_at >= start,
            Application.submitted_at < end,
            Application.id.in_(asked),
        )
        .group_by(Application.service_key)
    )
    for key, count in corrections:
        of(key)["correction_requested"] += count

    withdrawn = session.execute(
        select(Application.service_key, func.count(func.distinct(Application.id)))
        .join(
            ApplicationEvent,
            (ApplicationEvent.tenant_id == Application.tenant_id) & (ApplicationEvent.application_id == Application.id),
        )
        .where(
            Application.tenant_id == tenant_id,
            ApplicationEvent.to_state == WITHDRAWN,
            ApplicationEvent.at >= start,
            ApplicationEvent.at < end,
        )
        .group_by(Application.service_key)
    )
    for key, count in withdrawn:
        of(key)["withdrawn"] += count

    answers = session.execute(
        select(SatisfactionResponse.service_key, SatisfactionResponse.score).where(
            SatisfactionResponse.tenant_id == tenant_id,
            SatisfactionResponse.answered_at >= start,
            SatisfactionResponse.answered_at < end,
            SatisfactionResponse.score.is_not(None),
        )
    )
    for key, score in answers:
        row = of(key)
        row["satisfaction_responses"] += 1
        if score is not None and score >= 4:
            row["satisfied"] += 1

    _fees(session, tenant_id, start, end, of)
    for row in rows.values():
        row["submitted_total"] = row["submitted_online"] + row["submitted_api"] + row["submitted_counter"]
    ordered = [rows[key] for key in sorted(rows)]
    return [*ordered, total_row(ordered)]


def _fees(session: Session, tenant_id: uuid.UUID, start: datetime, end: datetime, of: Any) -> None:
    of_application = (Application.tenant_id == PaymentIntent.tenant_id) & (
        Application.id == PaymentIntent.application_id
    )
    collected = session.execute(
        select(Application.service_key, func.sum(PaymentIntent.amount_jpy))
        .join(PaymentIntent, of_application)
        .where(
            Application.tenant_id == tenant_id,
            PaymentIntent.purpose == "fee",
            PaymentIntent.status == states.SUCCEEDED,
            PaymentIntent.succeeded_at >= start,
            PaymentIntent.succeeded_at < end,
        )
        .group_by(Application.service_key)
    )
    for key, amount in collected:
        of(key)["fees_collected_jpy"] += int(amount or 0)
    refunded = session.execute(
        select(Application.service_key, func.sum(Refund.amount_jpy))
        .join(PaymentIntent, (PaymentIntent.tenant_id == Refund.tenant_id) & (PaymentIntent.id == Refund.intent_id))
        .join(Application, of_application)
        .where(
            Refund.tenant_id == tenant_id,
            PaymentIntent.purpose == "fee",
            Refund.status == REFUND_SUCCEEDED,
            Refund.succeeded_at >= start,
            Refund.succeeded_at < end,
        )
        .group_by(Application.service_key)
    )
    for key, amount in refunded:
        of(key)["fees_collected_jpy"] -= int(amount or 0)


def total_row(rows: list[dict[str, Any]], key: str = TOTAL_KEY) -> dict[str, Any]:
    """The sum of exact rows (counts, numerators and histograms)."""
    total = _empty_row(key)
    histogram: Counter[str] = Counter()
    for row in rows:
        for name in (*COUNTS, *NUMERATORS):
            total[name] += row[name]
        histogram.update(row["days_to_decision"])
    total["days_to_decision"] = {day: histogram[day] for day in sorted(histogram, key=int)}
    return total


def catalog_adoption_rows(session: Session, tenant_id: uuid.UUID, period: str) -> list[dict[str, Any]]:
    """Every procedure the municipality has switched on or off: offered online, since when, fee and SLA as it
    runs them at publication. ``online_since`` is the JST day of the first application filed online or through an
    app before the month ended (the platform keeps no date of switching a procedure on)."""
    _, end = month_bounds(period)
    firsts = dict(
        session.execute(
            select(Application.service_key, func.min(Application.submitted_at))
            .where(
                Application.tenant_id == tenant_id,
                Application.channel.in_(("online", "api")),
                Application.submitted_at < end,
            )
            .group_by(Application.service_key)
        ).all()
    )
    services = session.execute(
        select(TenantService, ServiceVersion)
        .join(ServiceVersion, ServiceVersion.id == TenantService.service_version_id)
        .where(TenantService.tenant_id == tenant_id)
        .order_by(TenantService.service_key)
    )
    rows = []
    for tenant_service, version in services:
        settings = catalog.shared_effective_settings(tenant_service, version)
        first = firsts.get(tenant_service.service_key)
        rows.append(
            {
                "procedure_key": tenant_service.service_key,
                "procedure_version": version.version,
                "offered_online": bool(tenant_service.enabled),
                "online_since": jp.date_in_japan(first).isoformat() if first and tenant_service.enabled else None,
                "fee_jpy": settings.get("fee"),
                "sla_days": settings.get("sla_days"),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------- publication


def open_data_settings(tenant: Tenant) -> dict[str, Any]:
    """The tenant file's ``open_data`` section (copied to the profile), with its defaults."""
    section = dict((tenant.profile or {}).get("open_data") or {})
    section.setdefault("publish", True)
    section.setdefault("license", "PDL-1.0")
    section.setdefault("attribution", None)
    return section


def identity_columns(tenant: Tenant, period: str) -> dict[str, Any]:
    prefecture = (tenant.profile or {}).get("prefecture") or {}
    return {
        "period": period,
        "lg_code": tenant.local_government_code,
        "municipality": tenant.name_ja,
        "prefecture": prefecture.get("ja"),
    }


def median_and_p90(histogram: dict[str, int]) -> tuple[float | None, float | None]:
    """From a histogram of whole days: the median (mean of the two middle values for an even count) and the 90th
    percentile by nearest rank (the smallest value with at least 90% of the decisions at or below it)."""
    values = sorted((int(day), count) for day, count in histogram.items() if count)
    n = sum(count for _, count in values)
    if n == 0:
        return None, None

    def nth(rank: int) -> int:  # 1-based
        seen = 0
        for day, count in values:
            seen += count
            if seen >= rank:
                return day
        raise AssertionError("rank beyond the histogram")

    median = (nth((n + 1) // 2) + nth(n // 2 + 1)) / 2
    p90 = float(nth(math.ceil(0.9 * n)))
    return float(median), p90


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def derived_values(row: dict[str, Any], population: int | None, cost: float | int | None) -> dict[str, Any]:
    """Every published value of an exact row, before suppression."""
    median, p90 = median_and_p90(row["days_to_decision"])
    total = row["submitted_total"]
    return {
        **{name: row[name] for name in COUNTS},
        "completion_rate": _ratio(row["started_online_submitted"], row["started_online"]),
        "digital_take_up": _ratio(row["submitted_online"] + row["submitted_api"], total),
        "median_days_to_decision": median,
        "p90_days_to_decision": p90,
        "correction_requested_rate": _ratio(row["correction_requested"], total),
        "satisfaction_score": _ratio(row["satisfied"], row["satisfaction_responses"]),
        "fees_collected_jpy": row["fees_collected_jpy"],
        "cost_per_transaction_jpy": cost,
        "per_1000_residents": round(total / population * 1000, 2) if population else None,
    }


#: Published values that reveal ``submitted_total`` when it is hidden (fees ÷ fee is a count too).
_FOLLOWS_TOTAL = ("per_1000_residents", "fees_collected_jpy")
_CHANNELS = ("submitted_online", "submitted_api", "submitted_counter")
#: Published columns whose threshold is their denominator's (opendata.columns).
_DENOMINATED = {c.name: c.denominator for c in PROCEDURE_KPI_COLUMNS if c.denominator}


def _hidden_values(values: dict[str, Any], hidden_counts: set[str]) -> set[str]:
    """The non-count columns to leave empty, given the hidden counts of the row."""
    hidden = set()
    for name, denominator in _DENOMINATED.items():
        if values[name] is not None and (denominator in hidden_counts or values[denominator] < SUPPRESSION_THRESHOLD):
            hidden.add(name)
    if "submitted_total" in hidden_counts:
        hidden.update(name for name in _FOLLOWS_TOTAL if values[name] is not None)
    if hidden_counts & set(_CHANNELS) and values["digital_take_up"] is not None:
        hidden.add("digital_take_up")  # (online + api) ÷ total would give the hidden channels' sum
    return hidden


def row_equations(row_id: Any) -> list[dict[tuple[Any, str], int]]:
    """The equation one published row lets anyone write: the total of the channels. (``digital_take_up`` would add
    ``online + api = take-up × total``, but it is published only when every channel is, so it adds nothing.)"""
    return [
        {
            (row_id, "submitted_total"): 1,
            (row_id, "submitted_online"): -1,
            (row_id, "submitted_api"): -1,
            (row_id, "submitted_counter"): -1,
        }
    ]


def table_equations(rows: dict[Any, dict[str, Any]], total_id: Any) -> list[dict[tuple[Any, str], int]]:
    """Every row's equations, and each count of the total row as the sum of the other rows'."""
    equations: list[dict[tuple[Any, str], int]] = []
    for row_id in rows:
        equations += row_equations(row_id)
    for name in COUNTS:
        equation = {(total_id, name): 1}
        equation.update({(row_id, name): -1 for row_id in rows if row_id != total_id})
        equations.append(equation)
    return equations


def suppress_table(
    rows: dict[Any, dict[str, Any]],
    total_id: Any,
    *,
    linked: tuple[dict[tuple[Any, str], int], set[tuple[Any, str]], list[dict[tuple[Any, str], int]]] | None = None,
) -> dict[Any, set[str]]:
    """The columns to leave empty in each row of a table (``rows``: row id → values before suppression).

    ``linked`` brings equations with cells outside this table that are published already (the municipalities'
    tables under the country's): their exact values, which of them are hidden, and the equations. Only cells of
    this table are hidden to protect them."""
    values = {(row_id, name): row[name] for row_id, row in rows.items() for name in COUNTS}
    primary = {cell for cell, count in values.items() if suppression.is_small(count)}
    may_suppress = set(values)
    outside_values, outside_hidden, outside_equations = linked or ({}, set(), [])

    def equations_for(hidden: set[Any]) -> list[dict[Any, int]]:
        return table_equations(rows, total_id) + outside_equations

    all_values = {**outside_values, **values}
    hidden = suppression.secondary(all_values, primary | outside_hidden, equations_for, may_suppress)
    hidden -= outside_hidden
    result: dict[Any, set[str]] = {}
    for row_id, row in rows.items():
        counts = {name for (rid, name) in hidden if rid == row_id}
        result[row_id] = counts | _hidden_values(row, counts)
    return result


def published_row(
    identity: dict[str, Any],
    exact: dict[str, Any],
    values: dict[str, Any],
    hidden: set[str],
    *,
    national_procedure_id: str | None,
    population: int | None,
    generated_at: str,
) -> dict[str, Any]:
    """One published row in column order: hidden cells None and listed (in column order) in ``suppressed``."""
    row: dict[str, Any] = {
        **identity,
        "procedure_key": exact["procedure_key"],
        "procedure_version": exact["procedure_version"],
        "national_procedure_id": national_procedure_id,
        "population": population,
    }
    for name, value in values.items():
        row[name] = None if name in hidden else value
    row["suppressed"] = [c.name for c in PROCEDURE_KPI_COLUMNS if c.name in hidden]
    row["definition_version"] = DEFINITION_VERSION
    row["generated_at"] = generated_at
    return {c.name: row[c.name] for c in PROCEDURE_KPI_COLUMNS}


def cost_for(settings: dict[str, Any], key: str) -> float | int | None:
    cost = settings.get("cost_per_transaction_jpy")
    if isinstance(cost, dict):
        return cost.get(key)
    return cost if key != TOTAL_KEY else None


def publish_procedure_rows(
    tenant: Tenant, period: str, internal: list[dict[str, Any]], generated_at: str
) -> list[dict[str, Any]]:
    """A municipality's published ``procedure-kpis`` rows from its exact ones."""
    settings = open_data_settings(tenant)
    population = settings.get("population")
    mapping = settings.get("national_procedure_ids") or {}
    values = {
        row["procedure_key"]: derived_values(row, population, cost_for(settings, row["procedure_key"]))
        for row in internal
    }
    hidden = suppress_table(values, TOTAL_KEY)
    identity = identity_columns(tenant, period)
    return [
        published_row(
            identity,
            row,
            values[row["procedure_key"]],
            hidden[row["procedure_key"]],
            national_procedure_id=mapping.get(row["procedure_key"]),
            population=population,
            generated_at=generated_at,
        )
        for row in internal
    ]


def publish_catalog_rows(
    tenant: Tenant, period: str, internal: list[dict[str, Any]], generated_at: str
) -> list[dict[str, Any]]:
    identity = identity_columns(tenant, period)
    return [
        {**identity, **row, "definition_version": DEFINITION_VERSION, "generated_at": generated_at} for row in internal
    ]
