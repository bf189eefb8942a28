"""Seeding known facts for the open-data tests: applications with the moments that matter (started, submitted,
decided, 補正, withdrawn), their fees and refunds, satisfaction answers and published childcare rounds, written as rows
directly."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.repository import store_snapshot
from madoguchi.catalog import operations as catalog
from madoguchi.childcare.round_models import APPROVED, PUBLISHED, AllocationRound, RoundClassStat, RoundResult
from madoguchi.db import Database
from madoguchi.payments.models import REFUND_SUCCEEDED, PaymentIntent, Refund
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants

_refs = itertools.count(1)
JST = jp.JAPAN
PERIOD = "2025-11"
KEYS = ("residency-certificate", "tax-certificate")


@dataclass
class Fact:
    key: str
    channel: str
    created: datetime
    submitted: datetime | None = None
    decided: datetime | None = None
    due_on: date | None = None
    corrected: datetime | None = None
    withdrawn: datetime | None = None
    fee: tuple[int, datetime] | None = None
    refund: tuple[int, datetime] | None = None


@dataclass
class Answer:
    key: str
    score: int | None
    at: datetime


@dataclass
class Towns:
    a: Tenant
    b: Tenant
    c: Tenant


@pytest.fixture
def towns(db: Database, seeded: None) -> Towns:
    """a: midorikawa-village (PDL 1.0), b: sakuragaoka-city (CC BY 4.0), c: shiomi-town."""
    found = tenants(db)
    return Towns(found[0], found[1], found[2])


def seed(session: Session, tenant: Tenant, facts: list[Fact], answers: list[Answer] | None = None) -> None:
    """Write ``facts`` and ``answers`` as rows of ``tenant`` (the session bound to it)."""
    snapshot = store_snapshot(session, tenant.id, {})
    versions = {key: catalog.latest_version(session, key).id for key in KEYS}
    for fact in facts:
        state = "draft"
        if fact.submitted:
            state = "submitted"
        if fact.withdrawn:
            state = "withdrawn"
        if fact.decided:
            state = "issued"
        application = Application(
            tenant_id=tenant.id,
            reference=f"OD-{next(_refs):08d}",
            service_key=fact.key,
            service_version_id=versions[fact.key],
            state=state,
            channel=fact.channel,
            created_at=fact.created,
            submitted_at=fact.submitted,
            decided_at=fact.decided,
            due_on=fact.due_on,
            settings_snapshot_hash=snapshot,
        )
        session.add(application)
        session.flush()
        seq = itertools.count(1)
        for at, to_state in ((fact.corrected, "more_info_requested"), (fact.withdrawn, "withdrawn")):
            if at is not None:
                session.add(
                    ApplicationEvent(
                        tenant_id=tenant.id,
                        application_id=application.id,
                        seq=next(seq),
                        action="request_more_info" if to_state != "withdrawn" else "withdraw",
                        from_state="in_review",
                        to_state=to_state,
                        actor_role="clerk",
                        at=at,
                    )
                )
        if fact.fee is not None:
            amount, at = fact.fee
            intent = PaymentIntent(
                tenant_id=tenant.id,
                application_id=application.id,
                amount_jpy=amount,
                purpose="fee",
                mode="cash",
                provider="counter",
                status="succeeded",
                idempotency_key=f"od-{application.reference}",
                succeeded_at=at,
            )
            session.add(intent)
            session.flush()
            if fact.refund is not None:
                back, when = fact.refund
                session.add(
                    Refund(
                        tenant_id=tenant.id,
                        intent_id=intent.id,
                        amount_jpy=back,
                        reason="not_issuable",
                        status=REFUND_SUCCEEDED,
                        succeeded_at=when,
                    )
                )
    for answer in answers or []:
        session.add(
            SatisfactionResponse(
                tenant_id=tenant.id,
                service_key=answer.key,
                journey="submitted",
                channel="online",
                score=answer.score,
                answered_at=answer.at,
                journey_key=uuid.uuid4().hex,
            )
        )
    session.flush()


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=JST)


def boundary_facts() -> list[Fact]:
    """The JST month boundaries: 23:59:59 on the last day belongs to it, 00:00 on the first to the next (and
    a UTC clock would put 08:59 JST on the 1st in the previous month)."""
    key = "residency-certificate"
    return [
        Fact(key, "online", jst(2025, 10, 31, 23, 59, 59), jst(2025, 10, 31, 23, 59, 59)),  # October
        Fact(key, "online", jst(2025, 11, 1, 0, 0, 0), jst(2025, 11, 1, 0, 0, 0)),  # November
        Fact(key, "counter", jst(2025, 11, 1, 8, 59), jst(2025, 11, 1, 8, 59)),  # November (UTC: Oct 31)
        Fact(key, "api", jst(2025, 11, 30, 23, 59, 59), jst(2025, 11, 30, 23, 59, 59)),  # November
        Fact(key, "online", jst(2025, 12, 1, 0, 0, 0), jst(2025, 12, 1, 0, 0, 0)),  # December
    ]


def random_facts(seed_value: int, count: int) -> tuple[list[Fact], list[Answer]]:
    """Facts spread over October to December 2025, with decisions, 補正, withdrawals, fees and refunds."""
    rnd = random.Random(seed_value)
    start = jst(2025, 10, 1)
    facts = []
    for _ in range(count):
        key = rnd.choice(KEYS)
        channel = rnd.choices(("online", "api", "counter"), weights=(5, 2, 3))[0]
        created = start + timedelta(minutes=rnd.randrange(0, 90 * 24 * 60))
        fact = Fact(key, channel, created)
        if rnd.random() < 0.8:
            fact.submitted = created + timedelta(minutes=rnd.randrange(0, 3 * 24 * 60))
            if rnd.random() < 0.25:
                fact.corrected = fact.submitted + timedelta(hours=rnd.randrange(1, 20 * 24))
            roll = rnd.random()
            if roll < 0.6:
                fact.decided = fact.submitted + timedelta(hours=rnd.randrange(0, 20 * 24))
                fact.due_on = jp.date_in_japan(fact.submitted) + timedelta(days=rnd.randrange(3, 14))
            elif roll < 0.7:
                fact.withdrawn = fact.submitted + timedelta(hours=rnd.randrange(1, 10 * 24))
            if rnd.random() < 0.5:
                paid = fact.submitted + timedelta(minutes=rnd.randrange(0, 600))
                fact.fee = (300, paid)
                if rnd.random() < 0.2:
                    fact.refund = (300, paid + timedelta(days=rnd.randrange(0, 20)))
        facts.append(fact)
    answers = [
        Answer(rnd.choice(KEYS), rnd.choice((1, 2, 3, 4, 5, None)), start + timedelta(minutes=rnd.randrange(129600)))
        for _ in range(count // 2)
    ]
    return facts, answers


#: (facility, age class): seats, listed by, placed, of them at their first choice, waiting, lowest placed score
CLASSES = {
    ("F001", 0): (12, 25, 12, 10, 13, 40),
    ("F001", 1): (6, 9, 5, 5, 4, 35),
    ("F002", 0): (15, 30, 15, 12, 15, 38),
    ("F002", 1): (3, 12, 2, 0, 10, 50),
}
WAITLISTED, INELIGIBLE = 20, 1


def seed_round(
    session: Session,
    tenant: Tenant,
    published_at: datetime | None,
    classes: dict[tuple[str, int], tuple[int, ...]] = CLASSES,
    *,
    label: str = "令和8年4月一次 𠮷野髙﨑",
) -> uuid.UUID:
    """A round as ``childcare.rounds`` leaves it: its class numbers and one result per child (written directly)."""
    round_ = AllocationRound(
        tenant_id=tenant.id,
        label_ja=label,
        label_en="April 2026, first round",
        intake_month="2026-04",
        kind="first",
        fiscal_year=2026,
        status=PUBLISHED if published_at else APPROVED,
        created_by="clerk",
        published_at=published_at,
    )
    session.add(round_)
    session.flush()
    n = 0
    for (facility, age), (seats, listed, placed, first, waiting, lowest) in classes.items():
        session.add(
            RoundClassStat(
                tenant_id=tenant.id,
                round_id=round_.id,
                facility_code=facility,
                age_class=age,
                seats=seats,
                listed_by=listed,
                placed=placed,
                lowest_placed_score=lowest,
                waiting_count=waiting,
            )
        )
        for i in range(placed):
            n += 1
            session.add(
                RoundResult(
                    tenant_id=tenant.id,
                    round_id=round_.id,
                    entry_key=f"R-{n:05d}#1",
                    outcome="placed",
                    facility_code=facility,
                    age_class=age,
                    pref_rank=1 if i < first else 2,
                )
            )
    for outcome, count in (("waitlisted", WAITLISTED), ("ineligible", INELIGIBLE)):
        for _ in range(count):
            n += 1
            session.add(RoundResult(tenant_id=tenant.id, round_id=round_.id, entry_key=f"R-{n:05d}#1", outcome=outcome))
    session.flush()
    return round_.id


def opt_in_lowest_score(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        found = session.get(Tenant, tenant.id)
        assert found is not None
        profile = dict(found.profile or {})
        profile["open_data"] = {**(profile.get("open_data") or {}), "publish_lowest_placed_score": True}
        found.profile = profile
