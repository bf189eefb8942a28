"""Races on one application, and applications keeping the catalog version they were filed under."""

from __future__ import annotations

import threading
from copy import deepcopy

import pytest

from madoguchi.applications import operations as ops
from madoguchi.applications import repository
from madoguchi.catalog import definitions, upgrades
from madoguchi.catalog import operations as catalog
from madoguchi.db import Database
from madoguchi.errors import Conflict, DomainError, Forbidden, ValidationFailed
from madoguchi.platform import provisioning as tenancy
from tests.applications.test_workflow import STANDARD, _act, _draft, _get
from tests.world import RESIDENCY


@pytest.mark.postgres_only
@pytest.mark.commits  # threads, each with its own connection
def test_two_truly_concurrent_transitions_exactly_one_wins(db: Database, towns) -> None:
    town = towns[STANDARD]
    application_id = _draft(db, town)
    _act(db, town, "submit", town.resident, application_id)
    _act(db, town, "transition", town.clerk, application_id, "start_review")

    both_loaded = threading.Barrier(2, timeout=10)
    outcomes: dict[str, object] = {}

    def decide(name: str, comment: str | None) -> None:
        session = db.new_session(town.tenant.id)
        try:
            application = repository.get(session, town.tenant.id, application_id)
            assert application.state == "in_review"
            both_loaded.wait()  # both read the same version before either writes
            ops.transition(session, town.tenant, town.clerk, application_id, name, comment=comment)
            session.commit()
            outcomes[name] = "committed"
        except DomainError as error:
            session.rollback()
            outcomes[name] = error
        finally:
            session.close()

    threads = [
        threading.Thread(target=decide, args=("approve", None)),
        threading.Thread(target=decide, args=("reject", "書類不備")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [name for name, outcome in outcomes.items() if outcome == "committed"]
    losers = [outcome for outcome in outcomes.values() if outcome != "committed"]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1 and isinstance(losers[0], Conflict), outcomes
    application = _get(db, town, application_id)
    assert application.state == {"approve": "approved", "reject": "rejected"}[winners[0]]
    with db.transaction(town.tenant.id) as session:
        decisions = [e.action for e in repository.history(session, town.tenant.id, application_id)]
    assert decisions.count("approve") + decisions.count("reject") == 1


def test_in_flight_application_keeps_its_version_when_a_new_one_is_published(db, towns, settings) -> None:
    town = towns[STANDARD]
    before = _draft(db, town)

    services = definitions.load_services(settings.services_dir)
    newer = deepcopy(services["residency-certificate"])
    newer["version"] = "2.3.0"
    newer["fee"]["default"] = 350
    newer["form"]["properties"]["copies"]["maximum"] = 5
    tenant_specs = definitions.load_tenants(settings.tenants_dir)
    with db.transaction() as session:
        catalog.publish_service(session, newer)
        # Syncing the tenant file keeps the tenant on its version; its admin adopts the new one.
        tenancy.sync_tenant(session, tenant_specs[STANDARD])
    with db.transaction(town.tenant.id) as session:
        upgrades.adopt_version(session, town.tenant.id, "residency-certificate", actor="test", version="2.3.0")

    after = _draft(db, town)
    old, new = _get(db, town, before), _get(db, town, after)
    assert old.service_version_id != new.service_version_id
    assert old.settings_snapshot["version"] == "2.2.0" and new.settings_snapshot["version"] == "2.3.0"
    # The old application still follows its own rules: 8 copies were allowed under 2.2.0 ...
    _act(db, town, "update_draft", town.resident, before, {**RESIDENCY, "copies": 8})
    # ... and are not under 2.3.0.
    with pytest.raises(ValidationFailed):
        _act(db, town, "update_draft", town.resident, after, {**RESIDENCY, "copies": 8})


def test_republishing_a_version_with_different_content_is_refused(db, seeded, settings) -> None:
    changed = deepcopy(definitions.load_services(settings.services_dir)["tax-certificate"])
    changed["fee"]["default"] = 999
    with pytest.raises(Conflict, match="new version number"), db.transaction() as session:
        catalog.publish_service(session, changed)


def test_assignment_needs_staff_of_the_same_tenant(db, towns) -> None:
    town, other = towns[STANDARD], towns["shiomi-town"]
    application_id = _draft(db, town)
    _act(db, town, "submit", town.resident, application_id)
    _act(db, town, "assign", town.supervisor, application_id, town.clerk.account_id)
    assert _get(db, town, application_id).assignee_account_id == town.clerk.account_id
    with pytest.raises(ValidationFailed):
        _act(db, town, "assign", town.supervisor, application_id, other.clerk.account_id)
    with pytest.raises(Forbidden):
        _act(db, town, "assign", town.resident, application_id, town.clerk.account_id)
