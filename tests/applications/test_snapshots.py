"""Settings snapshots: one row per distinct content, hashed in written order, shared frozen from a process cache
(decision 0027)."""

from __future__ import annotations

import json
from copy import deepcopy

import pytest
from sqlalchemy import event, func, select

from madoguchi.applications import operations as ops
from madoguchi.applications import repository, snapshots
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.db import Database
from tests.applications.conftest import Town
from tests.world import RESIDENCY

FORM = {"properties": {"purpose": {"type": "string"}, "copies": {"type": "integer"}}}


def test_the_hash_keeps_key_order_and_ignores_spacing() -> None:
    written = {"form": FORM, "fee": 300}
    reordered = {"fee": 300, "form": {"properties": dict(reversed(list(FORM["properties"].items())))}}
    spaced = json.loads(json.dumps(written, indent=4))
    assert snapshots.snapshot_hash(written) == snapshots.snapshot_hash(spaced)
    # Another question order is another form (decision 0020), so another snapshot.
    assert snapshots.snapshot_hash(written) != snapshots.snapshot_hash(reordered)


def test_a_cached_snapshot_refuses_changes_and_deepcopy_gives_a_changeable_copy() -> None:
    frozen = snapshots.freeze({"fee": 300, "form": FORM, "required_documents": [{"key": "id"}]})
    with pytest.raises(TypeError):
        frozen["fee"] = 0
    with pytest.raises(TypeError):
        frozen["form"]["properties"].pop("purpose")
    with pytest.raises(TypeError):
        frozen["required_documents"].append({"key": "more"})
    with pytest.raises(TypeError):
        frozen["required_documents"][0].update(key="other")
    copy = deepcopy(frozen)
    copy["form"]["properties"]["purpose"]["type"] = "integer"
    copy["required_documents"].append({"key": "more"})
    assert frozen["form"] == FORM and len(frozen["required_documents"]) == 1
    assert json.loads(json.dumps(frozen)) == {"fee": 300, "form": FORM, "required_documents": [{"key": "id"}]}
    assert list(frozen["form"]["properties"]) == ["purpose", "copies"]


def _draft(db: Database, town: Town, key: str = "residency-certificate") -> Application:
    with db.transaction(town.tenant.id) as session:
        return ops.create_draft(session, town.tenant, town.resident, key, RESIDENCY if key.startswith("res") else {})


def test_applications_filed_under_the_same_settings_share_one_row_and_one_workflow(
    db: Database, towns: dict[str, Town]
) -> None:
    town = towns["midorikawa-village"]
    first, second = _draft(db, town), _draft(db, town)
    assert first.settings_snapshot_hash == second.settings_snapshot_hash
    with db.transaction(town.tenant.id) as session:
        rows = session.execute(select(func.count()).select_from(SettingsSnapshot)).scalar_one()
        assert rows == 1
        stored = session.execute(select(SettingsSnapshot.content)).scalar_one()
    assert stored == first.settings_snapshot
    assert snapshots.snapshot_hash(stored) == first.settings_snapshot_hash
    assert first.workflow is second.workflow  # built once for the process, not per application


def test_a_list_reads_the_snapshots_it_lacks_in_one_query_before_any_is_used(
    db: Database, towns: dict[str, Town]
) -> None:
    town = towns["midorikawa-village"]
    filed = [_draft(db, town), _draft(db, town), _draft(db, town, "tax-certificate")]
    assert len({a.settings_snapshot_hash for a in filed}) == 2
    snapshots.cache.clear()
    with db.transaction(town.tenant.id) as session:
        statements: list[str] = []
        session.connection()  # the transaction begins (and sets its tenant) before counting

        def counting(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        engine = session.get_bind().engine
        event.listen(engine, "before_cursor_execute", counting)
        try:
            rows = repository.own_applications(session, town.tenant.id, town.resident.account_id, limit=10)
            read_with_the_list = [s for s in statements if "FROM settings_snapshots" in s]
            assert {a.id for a in rows} >= {a.id for a in filed}
            assert {a.workflow.initial for a in rows} == {"draft"}
        finally:
            event.remove(engine, "before_cursor_execute", counting)
    assert len(read_with_the_list) == 1, statements
    assert [s for s in statements if "FROM settings_snapshots" in s] == read_with_the_list  # none per row
