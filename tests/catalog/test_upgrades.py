"""Catalog upgrades: the difference between two published versions, the conformance of a tenant's overrides,
adopting a version, and applications in flight staying on the version they were filed under.

The second version is built the way a catalog author would: a copy of ``services/residency-certificate`` with
a bumped version, a new field, a narrower fee range (200..450 → 250..350, which leaves midorikawa-village's fee
of 400 outside) and a new state with its two transitions. The helpers here are shared with the API, CLI and
tenant admin page tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from madoguchi.applications import operations as applications
from madoguchi.applications.models import Application
from madoguchi.audit.models import AuditRecord
from madoguchi.catalog import definitions, repository, upgrades
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.models import TenantService
from madoguchi.catalog.upgrades import Change
from madoguchi.db import Database
from madoguchi.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, staff, tenants

REPO = Path(__file__).resolve().parents[2]
KEY = "residency-certificate"
OLD_VERSION, NEW_VERSION = "2.2.0", "2.3.0"

DELIVERY_NOTE = {
    "type": "string",
    "maxLength": 200,
    "title": "配送についての備考",
    "x-title": {"ja": "配送についての備考", "en": "Note on delivery"},
    "x-page": "certificate",
}
ON_HOLD = {"name": "on_hold", "title": {"ja": "保留中", "en": "On hold"}}
PUT_ON_HOLD = {
    "name": "put_on_hold",
    "title": {"ja": "保留にする", "en": "Put on hold"},
    "from": ["in_review"],
    "to": "on_hold",
    "roles": ["clerk", "supervisor"],
    "guards": ["comment_present"],
}
RESUME_REVIEW = {
    "name": "resume_review",
    "title": {"ja": "審査を再開する", "en": "Resume review"},
    "from": ["on_hold"],
    "to": "in_review",
    "roles": ["clerk", "supervisor"],
}

#: Exactly what the second version changes, as the diff must list it.
EXPECTED_CHANGES = [
    Change(
        "fields",
        "added",
        'form["/delivery_note"]',
        None,
        {
            "type": "string",
            "maxLength": 200,
            "x-title": {"ja": "配送についての備考", "en": "Note on delivery"},
            "x-page": "certificate",
            "required": False,
        },
    ),
    Change("workflow", "added", "workflow.states.on_hold", None, ON_HOLD),
    Change("workflow", "added", "workflow.transitions.put_on_hold", None, PUT_ON_HOLD),
    Change("workflow", "added", "workflow.transitions.resume_review", None, RESUME_REVIEW),
    Change("fees", "changed", "fee.max", 450, 350),
    Change("fees", "changed", "fee.min", 200, 250),
]

RESIDENCY_REQUEST = {
    "requester": {"relationship": "self"},
    "scope": "self",
    "purpose": "employment",
    "copies": 1,
    "delivery": "electronic",
}


# --- Helpers shared with the API, CLI and page tests -------------------------------------------------------------


def write_second_version(services_dir: Path) -> Path:
    """A copy of the residency certificate with the changes of ``EXPECTED_CHANGES``, as files."""
    folder = services_dir / KEY
    shutil.copytree(REPO / "services" / KEY, folder)
    service_file = folder / "service.yaml"
    service = yaml.safe_load(service_file.read_text(encoding="utf-8"))
    service["version"] = NEW_VERSION
    service["fee"].update(min=250, max=350)
    states = service["workflow"]["states"]
    states.insert([s["name"] for s in states].index("approved"), ON_HOLD)
    service["workflow"]["transitions"] += [PUT_ON_HOLD, RESUME_REVIEW]
    service_file.write_text(yaml.safe_dump(service, allow_unicode=True, sort_keys=False), encoding="utf-8")
    form_file = folder / "form.json"
    form = json.loads(form_file.read_text(encoding="utf-8"))
    form["properties"]["delivery_note"] = DELIVERY_NOTE
    form_file.write_text(json.dumps(form, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder


def publish_second_version(db: Database, tmp_path: Path) -> None:
    """Write the second version under ``tmp_path`` and publish it as ``tenants sync`` would (checked first)."""
    folder = write_second_version(tmp_path / "services")
    assert definitions.check_service(folder) == []
    with db.transaction() as session:
        _row, created = catalog.publish_service(session, definitions.load_service(folder))
    assert created


def running_version(db: Database, tenant: Tenant, key: str = KEY) -> tuple[str, dict[str, Any]]:
    """The version of ``key`` the tenant runs, and its overrides."""
    with db.transaction(tenant.id) as session:
        tenant_service, version = catalog.tenant_service_for(session, tenant.id, key)
        return version.version, dict(tenant_service.overrides)


def audit_records(db: Database, tenant: Tenant, action: str) -> list[AuditRecord]:
    with db.transaction(tenant.id) as session:
        stmt = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        return list(session.execute(stmt).scalars())


# --- Fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def village(db: Database, seeded: None) -> Tenant:
    """midorikawa-village: residency certificate fee 400, outside the second version's 250..350."""
    return tenants(db)[0]


@pytest.fixture
def city(db: Database, seeded: None) -> Tenant:
    """sakuragaoka-city: fee 300, SLA 2 days, auto-issue: all still allowed by the second version."""
    return tenants(db)[1]


@pytest.fixture
def second_version(db: Database, seeded: None, tmp_path: Path) -> None:
    publish_second_version(db, tmp_path)


# --- The difference ----------------------------------------------------------------------------------------------


def test_the_diff_of_the_stored_versions_lists_exactly_the_changes_made(db: Database, second_version: None) -> None:
    with db.transaction() as session:
        old = upgrades.find_version(session, KEY, OLD_VERSION)
        new = upgrades.find_version(session, KEY, NEW_VERSION)
        changes = upgrades.diff_versions(old, new)
        backwards = upgrades.diff_versions(new, old)

    assert changes == EXPECTED_CHANGES
    assert [(c.kind, c.path) for c in backwards] == [
        ("removed", 'form["/delivery_note"]'),
        ("removed", "workflow.states.on_hold"),
        ("removed", "workflow.transitions.put_on_hold"),
        ("removed", "workflow.transitions.resume_review"),
        ("changed", "fee.max"),
        ("changed", "fee.min"),
    ]
    assert [upgrades.describe(c) for c in changes][-2:] == ["changed fee.max: 450 → 350", "changed fee.min: 200 → 250"]


def test_the_diff_covers_types_enums_titles_required_documents_prefill_output_and_overridable_settings() -> None:
    service = definitions.load_service(REPO / "services" / KEY)
    old_definition = {k: v for k, v in service.items() if k != "form"}
    new_definition = json.loads(json.dumps(old_definition))
    new_form = json.loads(json.dumps(service["form"]))
    new_form["properties"]["copies"]["type"] = "number"
    new_form["properties"]["delivery"]["enum"].remove("counter")
    new_form["properties"]["purpose"]["x-title"]["en"] = "What the copy is for"
    new_form["required"].remove("delivery")
    new_definition["required_documents"] = new_definition["required_documents"][:1]
    new_definition["required_documents"][0]["max_count"] = 2
    del new_definition["prefill"]["/applicant/postal_code"]
    new_definition["output_document"]["kind"] = "residency_extract"
    new_definition["tenant_may_override"].remove("instructions")
    new_definition["sla_days"]["max"] = 14
    new_definition["workflow"]["optional_steps"]["supervisor_approval"]["replaces"] = ["approve"]

    changes = {
        (c.area, c.kind, c.path): (c.old, c.new)
        for c in upgrades.diff_definitions(old_definition, service["form"], new_definition, new_form)
    }

    assert changes[("fields", "changed", 'form["/copies"].type')] == ("integer", "number")
    old_enum, new_enum = changes[("fields", "changed", 'form["/delivery"].enum')]
    assert "counter" in old_enum and "counter" not in new_enum
    assert changes[("fields", "changed", 'form["/purpose"].x-title')][1]["en"] == "What the copy is for"
    assert changes[("fields", "changed", 'form["/delivery"].required')] == (True, False)
    assert changes[("documents", "removed", "required_documents.legitimate_reason_evidence")][1] is None
    assert changes[("documents", "changed", "required_documents.power_of_attorney.max_count")] == (1, 2)
    assert changes[("prefill", "removed", 'prefill["/applicant/postal_code"]')] == ("person.postal_code", None)
    assert changes[("output", "changed", "output_document.kind")] == ("residency_certificate", "residency_extract")
    assert changes[("overrides", "removed", "tenant_may_override")] == ("instructions", None)
    assert changes[("fees", "changed", "sla_days.max")] == (10, 14)
    assert changes[("workflow", "changed", "workflow.optional_steps.supervisor_approval.replaces")] == (
        ["approve", "withdraw"],
        ["approve"],
    )
    assert changes[("documents", "removed", "required_documents.legal_representation_evidence")][1] is None
    assert len(changes) == 12


def test_an_unknown_version_or_procedure_is_not_found_naming_what_is_published(
    db: Database, second_version: None
) -> None:
    with db.transaction() as session, pytest.raises(NotFound, match=r"published: 2\.2\.0, 2\.3\.0"):
        upgrades.find_version(session, KEY, "9.9.9")
    with db.transaction() as session, pytest.raises(NotFound, match="No procedure 'no-such-thing'"):
        upgrades.find_version(session, "no-such-thing", "2.0.0")


# --- Publishing keeps every tenant where it is ---------------------------------------------------------------


def test_publishing_a_new_version_keeps_every_tenant_on_its_current_version(db: Database, second_version: None) -> None:
    for tenant in tenants(db):
        assert running_version(db, tenant)[0] == OLD_VERSION
    with db.transaction() as session:
        assert catalog.latest_version(session, KEY).version == NEW_VERSION


def test_tenants_sync_keeps_a_procedure_on_its_version_and_gives_a_newly_enabled_one_the_latest(
    db: Database, second_version: None
) -> None:
    """The rule ``tenants sync`` follows for each procedure of a tenant file (``catalog.version_for_sync``)."""
    with db.transaction() as session:
        old = upgrades.find_version(session, KEY, OLD_VERSION)
        new = upgrades.find_version(session, KEY, NEW_VERSION)
        assert catalog.version_for_sync(session, KEY, None, old) is old  # unpinned: stays until adopted
        assert catalog.version_for_sync(session, KEY, None, None) is new  # switched on now: the latest
        assert catalog.version_for_sync(session, KEY, NEW_VERSION, old) is new  # a pin in the file wins
        assert catalog.version_for_sync(session, KEY, "9.9.9", old) is None  # an unpublished pin


# --- Conformance and adoption --------------------------------------------------------------------------------


def test_the_report_shows_a_tenant_whose_override_no_longer_conforms(
    db: Database, village: Tenant, second_version: None
) -> None:
    with db.transaction(village.id) as session:
        report = upgrades.upgrade_report(session, village.id, KEY)
        assert (report.current.version, report.latest.version, report.available) == (OLD_VERSION, NEW_VERSION, True)
        assert report.changes == EXPECTED_CHANGES
        assert not report.conforms
        assert [p.as_dict() for p in report.problems] == [
            {"setting": "fee", "field": "overrides.fee", "message": "400 is outside the allowed range 250..350"}
        ]


def test_a_tenant_whose_override_no_longer_conforms_cannot_adopt_without_fixing_it(
    db: Database, village: Tenant, second_version: None
) -> None:
    with db.transaction(village.id) as session, pytest.raises(upgrades.OverridesNoLongerConform) as refused:
        upgrades.adopt_version(session, village.id, KEY, actor="test")
    assert refused.value.status == 409
    assert refused.value.errors == {"fee": ["400 is outside the allowed range 250..350"]}

    _version, overrides = running_version(db, village)
    corrected_but_still_wrong = {**overrides, "fee": 500}
    with db.transaction(village.id) as session, pytest.raises(ValidationFailed) as invalid:
        upgrades.adopt_version(session, village.id, KEY, actor="test", overrides=corrected_but_still_wrong)
    assert invalid.value.errors == {"fee": ["500 is outside the allowed range 250..350"]}

    assert running_version(db, village) == (OLD_VERSION, overrides)
    assert audit_records(db, village, "tenant_service.version_adopted") == []

    with db.transaction(village.id) as session:
        upgrades.adopt_version(session, village.id, KEY, actor="account:admin", overrides={**overrides, "fee": 350})
    assert running_version(db, village) == (NEW_VERSION, {**overrides, "fee": 350})
    [record] = audit_records(db, village, "tenant_service.version_adopted")
    assert record.actor == "account:admin"
    assert record.data == {
        "service_key": KEY,
        "from_version": OLD_VERSION,
        "to_version": NEW_VERSION,
        "overrides_before": {"fee": 400},
        "overrides_after": {"fee": 350},
    }


def test_a_tenant_whose_overrides_conform_adopts_in_one_step(
    db: Database, city: Tenant, village: Tenant, second_version: None
) -> None:
    before = running_version(db, city)
    with db.transaction(city.id) as session:
        upgrades.adopt_version(session, city.id, KEY, actor="test")
        report = upgrades.upgrade_report(session, city.id, KEY)
        assert (report.available, report.changes, report.problems) == (False, [], [])
    assert running_version(db, city) == (NEW_VERSION, before[1])
    [record] = audit_records(db, city, "tenant_service.version_adopted")
    assert record.data["overrides_before"] == record.data["overrides_after"] == {}
    assert running_version(db, village)[0] == OLD_VERSION  # the other tenant is untouched


def test_adopting_the_version_in_use_an_older_one_or_an_unknown_one_is_refused(
    db: Database, city: Tenant, second_version: None
) -> None:
    with db.transaction(city.id) as session, pytest.raises(Conflict, match="already runs"):
        upgrades.adopt_version(session, city.id, KEY, actor="test", version=OLD_VERSION)
    with db.transaction(city.id) as session, pytest.raises(NotFound):
        upgrades.adopt_version(session, city.id, KEY, actor="test", version="9.0.0")
    with db.transaction(city.id) as session:
        upgrades.adopt_version(session, city.id, KEY, actor="test", version=NEW_VERSION)
    with db.transaction(city.id) as session, pytest.raises(Conflict, match="older"):
        upgrades.adopt_version(session, city.id, KEY, actor="test", version=OLD_VERSION)
    with db.transaction(city.id) as session, pytest.raises(NotFound):
        upgrades.upgrade_report(session, city.id, "no-such-procedure")


def test_adoption_applies_only_to_the_version_read_so_a_concurrent_adoption_loses(
    db: Database, city: Tenant, second_version: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins adopt at once: the second one's switch finds the version already changed and is refused."""
    with db.transaction(city.id) as session:
        row = session.execute(select(TenantService).where(TenantService.service_key == KEY)).scalar_one()
        new_version = upgrades.find_version(session, KEY, NEW_VERSION)
        read_first = catalog.tenant_service_for(session, city.id, KEY)

        def read_before_the_other_admin_adopted(*_args: Any) -> Any:
            row.service_version_id = new_version.id  # the other admin's switch lands between our read and write
            session.flush()
            return read_first

        monkeypatch.setattr(catalog, "tenant_service_for", read_before_the_other_admin_adopted)
        with pytest.raises(Conflict, match="at the same time"):
            upgrades.adopt_version(session, city.id, KEY, actor="test")


# --- Applications in flight ----------------------------------------------------------------------------------


def test_an_application_filed_before_the_upgrade_keeps_its_version_and_a_new_draft_gets_the_new_one(
    db: Database, village: Tenant, second_version: None
) -> None:
    with db.transaction(village.id) as session:
        person = make_person(session, village, make_household(session, village))
        resident = Actor.of(make_account(session, village, person=person))
        clerk = staff(session, village, "clerk")
        filed = applications.create_draft(session, village, resident, KEY, RESIDENCY_REQUEST)
        applications.submit(session, village, resident, filed.id)
        filed_id = filed.id

    _version, overrides = running_version(db, village)
    with db.transaction(village.id) as session:
        upgrades.adopt_version(session, village.id, KEY, actor="test", overrides={**overrides, "fee": 350})

    with db.transaction(village.id) as session:
        filed = session.execute(select(Application).where(Application.id == filed_id)).scalar_one()
        old_version = repository.find_version(session, KEY, OLD_VERSION)
        assert filed.service_version_id == old_version.id
        snapshot = filed.settings_snapshot
        assert (snapshot["version"], snapshot["fee"]) == (OLD_VERSION, 400)
        assert "delivery_note" not in snapshot["form"]["properties"]
        assert "on_hold" not in {state["name"] for state in snapshot["workflow"]["states"]}
        # It goes on under the workflow it was filed under: the new transition does not exist for it.
        applications.transition(session, village, clerk, filed_id, "start_review")
        with pytest.raises(InvalidTransition):
            applications.transition(session, village, clerk, filed_id, "put_on_hold", comment="waiting")

    with db.transaction(village.id) as session:
        person = make_person(session, village, make_household(session, village))
        resident = Actor.of(make_account(session, village, person=person))
        draft = applications.create_draft(
            session, village, resident, KEY, {**RESIDENCY_REQUEST, "delivery_note": "平日の午前に受け取りたい"}
        )
        assert draft.settings_snapshot["version"] == NEW_VERSION
        assert draft.settings_snapshot["fee"] == 350
        assert "on_hold" in {state["name"] for state in draft.settings_snapshot["workflow"]["states"]}
        assert draft.data["delivery_note"] == "平日の午前に受け取りたい"
