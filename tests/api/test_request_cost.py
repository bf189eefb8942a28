"""What the hot API paths cost in SQL on PostgreSQL, counted, so a regression fails (issue 15, decision 0025).

A resident's create + submit (each with an Idempotency-Key, as a portal or vendor sends it) and a clerk's queue page
of the API are counted on a warm app: every statement the app's engine sends (``before_cursor_execute``), every
transaction it begins (``begin``), and every ``set_config``. The bounds are what decision 0025 reached; each is a
ceiling, so a change that adds a statement or a transaction to these paths fails here and has to say why.

Real commits (``commits``): the requests' own transactions are counted, not SAVEPOINTs inside a test's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event

from madoguchi.context import database
from tests.documents.certificate_fixtures import World, world
from tests.world import RESIDENCY

__all__ = ["world"]
pytestmark = [pytest.mark.commits, pytest.mark.postgres_only]


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    #: Pool pre-pings (the dialect's ``do_ping``): none on the web's pool (decision 0025).
    pings: int = 0

    @property
    def set_configs(self) -> int:
        return sum("set_config" in statement for statement in self.statements)

    def __str__(self) -> str:
        listing = "\n".join(f"  {statement.split(chr(10))[0][:140]}" for statement in self.statements)
        return f"{len(self.statements)} statements in {self.transactions} transactions, {self.pings} pings:\n{listing}"


@contextmanager
def counted(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cost]:
    with app.app_context():
        engine = database().engine
    cost = Cost()
    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        cost.pings += 1
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        cost.statements.append(statement)

    def on_begin(_conn: Any) -> None:
        cost.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    try:
        yield cost
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)


def _create_and_submit(town: Any, n: int) -> None:
    created = town.resident.post(
        town.api("/applications/"),
        json={"procedure": "residency-certificate", "data": RESIDENCY},
        headers={"Idempotency-Key": f"cost-{n}-create"},
    )
    assert created.status_code == 201, created.json
    submitted = town.resident.post(
        town.api(f"/applications/{created.json['id']}/submit"), headers={"Idempotency-Key": f"cost-{n}-submit"}
    )
    assert submitted.status_code == 200, submitted.json


def test_a_resident_create_and_submit_costs_two_transactions_and_few_statements(
    app: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = world.b
    _create_and_submit(town, 0)  # warm: caches filled, as on a busy worker
    with counted(app, monkeypatch) as cost:
        _create_and_submit(town, 1)
    print(f"\ncreate + submit: {cost}")
    # Before decision 0025: 46 statements in 6 transactions (the key claimed in transactions of its own), 12 of
    # them set_config, and a pre-ping per checkout.
    assert cost.transactions == 2, cost  # one per request
    assert cost.set_configs == 2, cost  # one per transaction
    assert cost.pings == 0, cost
    # 31 since decision 0034: the due date reads the municipality's closed days from the day of submission on (one
    # query on the primary key of tenant_closed_days).
    # 33 since the fee quote (issue 18): submit reads the application's current quote and writes the new one.
    # 34 since the application's representation carries its fee summary (decision 0047): one statement on the
    # submit's answer (the quote in force with what was paid); none on a draft's.
    assert len(cost.statements) <= 35, cost  # 35: the prefill's data-use entry (issue 20)


def test_a_clerk_queue_page_of_the_api_costs_one_transaction_and_few_statements(
    app: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = world.b
    _create_and_submit(town, 0)
    url = town.api("/applications/?limit=50")
    assert town.clerk.get(url).status_code == 200  # warm
    with counted(app, monkeypatch) as cost:
        page = town.clerk.get(url)
    assert page.status_code == 200 and page.json
    print(f"\nqueue page: {cost}")
    # Before decision 0025: 8 statements (4 of them set_config: tenant read unbound, then bound, then rebound
    # twice around the account's read) and a pre-ping.
    assert cost.transactions == 1, cost
    assert cost.set_configs == 1, cost
    assert cost.pings == 0, cost
    # set_config, the session with its account, the page, and one batched INSERT of the page's data-use entries
    assert len(cost.statements) <= 4, cost
