"""Two clerks recording the same fee at the same moment, on PostgreSQL with real connections: the application row is
locked while recording, so the fee is taken once (decision 0047)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select

from madoguchi.applications.models import Application
from madoguchi.errors import Conflict, DomainError
from madoguchi.identity.actors import Actor
from madoguchi.payments import counter
from madoguchi.payments.models import PaymentIntent
from madoguchi.tenancy.models import Tenant
from tests.payments.conftest import Desk

pytestmark = [pytest.mark.postgres_only, pytest.mark.commits]  # threads, each with its own connection


def _race(desk: Desk, application_id: uuid.UUID, keys: list[str]) -> list[object]:
    both_loaded = threading.Barrier(len(keys), timeout=10)
    outcomes: list[object] = []
    actors = [Actor.of(desk.clerk_account), Actor.of(desk.supervisor_account)]

    def record(key: str, actor: Actor) -> None:
        session = desk.db.new_session(desk.tenant.id)
        try:
            tenant = session.get(Tenant, desk.tenant.id)
            application = session.get(Application, application_id)
            both_loaded.wait()  # both have read the application and its amount due before either records
            intent, created = counter.record_counter_payment(
                session, tenant, application, actor=actor, mode="cash", idempotency_key=key
            )
            session.commit()
            outcomes.append(("created" if created else "replayed", intent.id))
        except DomainError as error:
            session.rollback()
            outcomes.append(error)
        finally:
            session.close()

    threads = [threading.Thread(target=record, args=(key, actor)) for key, actor in zip(keys, actors, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def _intents(desk: Desk, application_id: uuid.UUID) -> int:
    with desk.db.transaction(desk.tenant.id) as session:
        return session.execute(
            select(func.count()).select_from(PaymentIntent).where(PaymentIntent.application_id == application_id)
        ).scalar_one()


def test_two_clerks_taking_the_same_fee_at_once_record_it_once(desk: Desk) -> None:
    application_id = desk.submitted()
    outcomes = _race(desk, application_id, ["desk-1", "desk-2"])
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "tuple"], outcomes
    assert any(isinstance(o, Conflict) and "Nothing is due" in str(o) for o in outcomes)
    assert _intents(desk, application_id) == 1 and desk.due(application_id) == 0


def test_a_double_click_arriving_twice_at_once_records_once(desk: Desk) -> None:
    application_id = desk.submitted()
    outcomes = _race(desk, application_id, ["same", "same"])
    assert sorted(o[0] for o in outcomes if isinstance(o, tuple)) == ["created", "replayed"], outcomes
    assert len({o[1] for o in outcomes if isinstance(o, tuple)}) == 1
    assert _intents(desk, application_id) == 1
