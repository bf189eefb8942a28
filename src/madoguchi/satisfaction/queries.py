"""Satisfaction counted per procedure for a month in Japan: what the KPIs and the staff page show.

A month is a calendar month in Japan (JST), by the day the answer was given (``answered_at``). Only answers with a
score count; the share satisfied is the share of 4 (満足) and 5 (とても満足) among them. Answers with text only
are read by staff but are not in the numbers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.satisfaction.operations import SATISFIED_SCORES

_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class ProcedureSatisfaction:
    """One procedure's answers in one month."""

    service_key: str
    #: answers with a score (the KPI's ``satisfaction_responses``)
    scored: int
    #: of those, scores 4 and 5
    satisfied: int

    @property
    def share_satisfied(self) -> float | None:
        """``satisfied / scored``, or ``None`` with no scored answer (the KPIs also suppress it under 10)."""
        return self.satisfied / self.scored if self.scored else None


@dataclass
class Distribution:
    """How one procedure's answers of one journey spread over the scale in a month, for the staff page."""

    service_key: str
    journey: str
    #: score (1..5) -> answers
    scores: dict[int, int] = field(default_factory=dict)
    #: answers with text and no score
    text_only: int = 0

    @property
    def scored(self) -> int:
        return sum(self.scores.values())

    @property
    def satisfied(self) -> int:
        return sum(n for score, n in self.scores.items() if score in SATISFIED_SCORES)

    @property
    def share_satisfied(self) -> float | None:
        return self.satisfied / self.scored if self.scored else None


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as the UTC instants [start, end) of that month in Japan; ``ValueError`` if it is not a month."""
    if not _PERIOD.fullmatch(period):
        raise ValueError(f"not a month: {period!r}")
    first = date.fromisoformat(f"{period}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime.combine(first, time(0), tzinfo=jp.JAPAN).astimezone(UTC)
    end = datetime.combine(following, time(0), tzinfo=jp.JAPAN).astimezone(UTC)
    return start, end


def period_of(moment: datetime) -> str:
    """The ``YYYY-MM`` month in Japan of an aware moment."""
    return jp.date_in_japan(moment).strftime("%Y-%m")


def month_counts(
    session: Session, tenant_id: uuid.UUID, period: str, *, channel: str | None = None
) -> dict[str, ProcedureSatisfaction]:
    """Per procedure (``service_key``), the answers with a score given in the month ``period`` (``YYYY-MM``, JST)
    and how many of them were 4 or 5; with ``channel`` (online, api, counter), only answers about applications
    that came by it. Procedures with no scored answer that month are absent."""
    start, end = month_bounds(period)
    satisfied = func.sum(case((SatisfactionResponse.score.in_(sorted(SATISFIED_SCORES)), 1), else_=0))
    stmt = (
        select(SatisfactionResponse.service_key, func.count(), satisfied)
        .where(
            SatisfactionResponse.tenant_id == tenant_id,
            SatisfactionResponse.answered_at >= start,
            SatisfactionResponse.answered_at < end,
            SatisfactionResponse.score.is_not(None),
        )
        .group_by(SatisfactionResponse.service_key)
        .order_by(SatisfactionResponse.service_key)
    )
    if channel is not None:
        stmt = stmt.where(SatisfactionResponse.channel == channel)
    return {
        key: ProcedureSatisfaction(key, int(scored), int(happy or 0))
        for key, scored, happy in session.execute(stmt).all()
    }


def distributions(
    session: Session, tenant_id: uuid.UUID, period: str, *, service_key: str | None = None
) -> list[Distribution]:
    """Per procedure and journey, the answers of the month by score (and those with text only)."""
    start, end = month_bounds(period)
    stmt = (
        select(SatisfactionResponse.service_key, SatisfactionResponse.journey, SatisfactionResponse.score, func.count())
        .where(
            SatisfactionResponse.tenant_id == tenant_id,
            SatisfactionResponse.answered_at >= start,
            SatisfactionResponse.answered_at < end,
        )
        .group_by(SatisfactionResponse.service_key, SatisfactionResponse.journey, SatisfactionResponse.score)
    )
    if service_key is not None:
        stmt = stmt.where(SatisfactionResponse.service_key == service_key)
    found: dict[tuple[str, str], Distribution] = {}
    for key, journey, score, count in session.execute(stmt).all():
        row = found.setdefault((key, journey), Distribution(key, journey))
        if score is None:
            row.text_only += int(count)
        else:
            row.scores[int(score)] = int(count)
    order = {"submitted": 0, "issued": 1}
    return sorted(found.values(), key=lambda d: (d.service_key, order.get(d.journey, 9), d.journey))
