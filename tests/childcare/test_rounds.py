"""Allocation rounds through the database: create, seats, freeze, compute, approve (four eyes), publish.

Every test runs on SQLite and on PostgreSQL (as the app role, under row-level security).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.audit import access
from madoguchi.audit.models import AccessEvent, AuditRecord
from madoguchi.childcare import allocation, rounds, rule_sets
from madoguchi.childcare.engine_types import ClassKey
from madoguchi.childcare.round_models import RoundEntry
from madoguchi.db import Database
from madoguchi.errors import Conflict, Forbidden, NotFound, SeparationOfDuties, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.outbox import OutboxMessage
from madoguchi.tenancy.models import Tenant
from tests.childcare.rounds_world import INTAKE, Household, Kid, add_facilities, born, file_application
from tests.factories import staff, tenants


@dataclass
class Office:
    tenant: Tenant
    other: Tenant
    clerk: Actor
    supervisor: Actor
    second_supervisor: Actor


def _office(db: Database, tenant: Tenant, other: Tenant) -> Office:
    with db.transaction(tenant.id) as session:
        add_facilities(session, tenant)
        found = Office(
            tenant,
            other,
            staff(session, tenant, "clerk"),
            staff(session, tenant, "clerk", "supervisor"),
            staff(session, tenant, "supervisor"),
        )
    return found


@pytest.fixture
def office(db: Database, seeded: None) -> Office:
    """midorikawa-village: the standard workflow (the clerk allocates)."""
    return _office(db, tenants(db)[0], tenants(db)[2])


def _round(db: Database, office: Office, **overrides) -> uuid.UUID:
    with db.transaction(office.tenant.id) as session:
        created = rounds.create_round(
            session,
            office.tenant,
            office.clerk,
            **{
                "label_ja": "令和9年4月一次利用調整",
                "label_en": "April 2027, first round",
                "intake_month": INTAKE,
                "kind": "first",
                **overrides,
            },
        )
        return created.id


def _file(
    db: Database, office: Office, *households: Household, income_levy: int | None = None, fixed: bool = False
) -> list[uuid.UUID]:
    with db.transaction(office.tenant.id) as session:
        return [
            file_application(
                session, office.tenant, h, income_levy=income_levy, reference=f"CC-GOLD-{i:04d}" if fixed else None
            ).id
            for i, h in enumerate(households)
        ]


def _run(db: Database, office: Office, verb: str, round_id: uuid.UUID, actor: Actor | None = None, **options):
    with db.transaction(office.tenant.id) as session:
        return getattr(rounds, verb)(session, office.tenant, actor or office.clerk, round_id, **options)


def _app(db: Database, office: Office, application_id: uuid.UUID) -> Application:
    with db.transaction(office.tenant.id) as session:
        found = session.get(Application, application_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_new_round_offers_the_facilities_capacities_per_age_class(db: Database, office: Office) -> None:
    round_id = _round(db, office)
    with db.transaction(office.tenant.id) as session:
        round_ = rounds.get_round(session, office.tenant.id, round_id)
        seats = {(c.facility_code, c.age_class): c.seats for c in rounds.classes_of(session, round_)}
        assert round_.status == "draft" and round_.fiscal_year == 2027
    assert seats[("HK-01", 1)] == 2 and seats[("HK-03", 0)] == 2
    assert ("HK-03", 3) not in seats  # a small-scale nursery has no class for 3-year-olds
    assert len(seats) == 6 + 6 + 3


def test_seats_are_edited_while_draft_and_bad_ones_change_nothing(db: Database, office: Office) -> None:
    round_id = _round(db, office)
    with db.transaction(office.tenant.id) as session:
        rounds.set_seats(session, office.tenant, office.clerk, round_id, {("HK-01", 1): "１", ("HK-02", 0): 0})
    with pytest.raises(ValidationFailed) as refused, db.transaction(office.tenant.id) as session:
        rounds.set_seats(session, office.tenant, office.clerk, round_id, {("HK-01", 2): 5, ("HK-01", 3): "many"})
    assert "seats.HK-01.3" in refused.value.errors
    with pytest.raises(ValidationFailed) as unknown, db.transaction(office.tenant.id) as session:
        rounds.set_seats(session, office.tenant, office.clerk, round_id, {("XX-99", 1): 1})
    assert "seats.XX-99.1" in unknown.value.errors
    with db.transaction(office.tenant.id) as session:
        round_ = rounds.get_round(session, office.tenant.id, round_id)
        seats = {(c.facility_code, c.age_class): c.seats for c in rounds.classes_of(session, round_)}
    assert seats[("HK-01", 1)] == 1 and seats[("HK-02", 0)] == 0
    assert seats[("HK-01", 2)] == 2  # the refused change left it as it was


def test_a_round_needs_a_month_a_kind_and_names(db: Database, office: Office) -> None:
    with pytest.raises(ValidationFailed) as refused, db.transaction(office.tenant.id) as session:
        rounds.create_round(
            session, office.tenant, office.clerk, label_ja=" ", label_en="x", intake_month="2027/4", kind="weekly"
        )
    assert set(refused.value.errors) == {"label_ja", "intake_month", "kind"}
    with db.transaction(office.tenant.id) as session:
        assert rounds.list_rounds(session, office.tenant.id) == []


def test_residents_and_other_municipalities_cannot_run_a_round(db: Database, office: Office) -> None:
    round_id = _round(db, office)
    with db.transaction(office.other.id) as session:
        stranger = staff(session, office.other, "clerk", "supervisor")
    with pytest.raises(NotFound), db.transaction(office.other.id) as session:
        rounds.freeze(session, office.other, stranger, round_id)
    with db.transaction(office.tenant.id) as session:
        admin = staff(session, office.tenant, "tenant_admin")
    with pytest.raises(Forbidden), db.transaction(office.tenant.id) as session:
        rounds.freeze(session, office.tenant, admin, round_id)


def _twins_and_others(db: Database, office: Office, *, fixed: bool = False) -> dict[str, uuid.UUID]:
    """Six households wanting the 1-year-old classes (HK-01: 2 seats, HK-02: 1, HK-03: 1)."""
    one = born(2025, 10, 1)  # 1歳児 in fiscal 2027
    households = {
        "twins": Household(
            kids=[Kid("𠮷田　陽", one, ["HK-01", "HK-02"]), Kid("𠮷田　葵", one, ["HK-01", "HK-02"])],
            sibling_mode="same_facility_required",
        ),
        "single": Household(kids=[Kid("髙橋　結", one, ["HK-01", "HK-03"])], hours=(160,), single_parent=True),
        "part_time": Household(kids=[Kid("葛󠄀西　蓮", one, ["HK-01", "HK-02", "HK-03"])], hours=(64, 64)),
        "late": Household(kids=[Kid("山田　湊", one, ["HK-01"])], start_month="2027-05"),
        "too_few_hours": Household(kids=[Kid("佐藤　凛", one, ["HK-03"])], hours=(40, 160)),
        "not_certified": Household(kids=[Kid("鈴木　翼", one, ["HK-01"])], state="in_review"),
    }
    filed = _file(db, office, *households.values(), fixed=fixed)
    return dict(zip(households, filed, strict=True))


def test_a_round_runs_from_freeze_to_publication(db: Database, office: Office) -> None:
    filed = _twins_and_others(db, office)
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id)
    assert frozen.status == "frozen" and frozen.lottery_seed and frozen.input_sha256 and frozen.rule_set_sha256
    with db.transaction(office.tenant.id) as session:
        entries = {e.key.split("#")[1] + e.child_name: e for e in rounds.entries_of(session, frozen)}
        groups = rounds.groups_of(session, frozen)
    # Certified applications starting in April only: four households, five children (the twins as a group).
    assert len(entries) == 5
    assert sorted(e.lottery for e in entries.values()) == [1, 2, 3, 4, 5]
    assert [g.mode for g in groups] == ["same_facility_required"] and len(groups[0].members) == 2
    assert {e.age_class for e in entries.values()} == {1}

    computed = _run(db, office, "compute", round_id)
    assert computed.status == "computed" and computed.result_sha256
    assert computed.stats["entries"] == 5 and computed.stats["violations"] == []

    with pytest.raises(Forbidden):
        _run(db, office, "approve", round_id, office.clerk)  # a clerk does not approve
    with pytest.raises(Conflict):
        _run(db, office, "publish", round_id)  # not approved yet
    approved = _run(db, office, "approve", round_id, office.supervisor)
    assert approved.status == "approved"
    published = _run(db, office, "publish", round_id)
    assert published.status == "published"

    states = {name: _app(db, office, app_id).state for name, app_id in filed.items()}
    assert states["late"] == "certified" and states["not_certified"] == "in_review"
    for name in ("twins", "single", "part_time", "too_few_hours"):
        application = _app(db, office, filed[name])
        allocation_ = application.decision["allocation"]
        assert application.decision["certification"]  # kept beside it
        assert allocation_["round_id"] == str(round_id) and allocation_["intake_month"] == INTAKE
        assert allocation_["round_label"] == {"ja": "令和9年4月一次利用調整", "en": "April 2027, first round"}
        placed = any(c["outcome"] == "placed" for c in allocation_["children"])
        assert application.state == ("approved" if placed else "waitlisted")
        for child in allocation_["children"]:
            assert set(child) == {
                "index",
                "outcome",
                "facility_code",
                "facility_name",
                "age_class",
                "pref_rank",
                "start_month",
                "points",
                "explanation",
            }
            assert child["start_month"] == INTAKE
            if child["outcome"] == "placed":
                assert child["facility_name"]["ja"] and child["age_class"] == 1 and child["pref_rank"] >= 1
            for item in child["explanation"]:
                assert set(item["facility_name"]) == {"ja", "en"}
    twins = _app(db, office, filed["twins"]).decision["allocation"]["children"]
    assert len({c["facility_code"] for c in twins}) == 1  # same facility, or neither placed
    assert _app(db, office, filed["too_few_hours"]).decision["allocation"]["children"][0]["outcome"] in (
        "ineligible",
        "waitlisted",
    )
    with db.transaction(office.tenant.id) as session:
        events = session.execute(
            select(ApplicationEvent.action, ApplicationEvent.actor_role).where(
                ApplicationEvent.application_id.in_([filed["twins"], filed["single"], filed["part_time"]])
            )
        ).all()
        assert {actor for action, actor in events if action in ("allocate", "waitlist")} == {"system"}
        notices = session.execute(select(OutboxMessage.topic)).scalars().all()
        assert "notify.applicant" in notices
        audited = session.execute(
            select(AuditRecord.action).where(AuditRecord.object_id == str(round_id)).order_by(AuditRecord.seq)
        ).scalars()
        assert list(audited) == [
            "allocation_round.created",
            "allocation_round.frozen",
            "allocation_round.computed",
            "allocation_round.approved",
            "allocation_round.published",
        ]


def test_a_round_can_be_recomputed_until_approved_and_each_run_is_audited(db: Database, office: Office) -> None:
    _twins_and_others(db, office)
    round_id = _round(db, office)
    _run(db, office, "freeze", round_id)
    first = _run(db, office, "compute", round_id).result_sha256
    again = _run(db, office, "compute", round_id, office.supervisor)
    assert again.result_sha256 == first
    with db.transaction(office.tenant.id) as session:
        results = rounds.results_of(session, again)
        assert len(results) == 5  # replaced, not added
    # The supervisor computed last: the other supervisor approves.
    with pytest.raises(SeparationOfDuties):
        _run(db, office, "approve", round_id, office.supervisor)
    _run(db, office, "approve", round_id, office.second_supervisor)
    with pytest.raises(Conflict):
        _run(db, office, "compute", round_id)
    with db.transaction(office.tenant.id) as session:
        runs = session.execute(
            select(AuditRecord.actor).where(
                AuditRecord.object_id == str(round_id), AuditRecord.action == "allocation_round.computed"
            )
        ).scalars()
        assert list(runs) == [office.clerk.label, office.supervisor.label]
        # Each run is one system entry per child in the families' data-use ledgers (docs/data-use-ledger.md).
        uses = (
            session.execute(
                select(AccessEvent).where(
                    AccessEvent.operation == rounds.ALLOCATION_JOB, AccessEvent.object_id == str(round_id)
                )
            )
            .scalars()
            .all()
        )
        assert len(uses) == 2 * 5
        assert {(u.actor_type, u.action) for u in uses} == {(access.SYSTEM, access.BATCH_USE)}
        assert all(u.application_id is not None and u.subject_account_id is not None for u in uses)
        assert len({u.purpose for u in uses}) == 5  # one per child (entry key), twice


def test_seats_cannot_change_once_frozen(db: Database, office: Office) -> None:
    round_id = _round(db, office)
    _run(db, office, "freeze", round_id)
    with pytest.raises(Conflict), db.transaction(office.tenant.id) as session:
        rounds.set_seats(session, office.tenant, office.clerk, round_id, {("HK-01", 1): 9})


def test_a_frozen_snapshot_that_was_changed_is_refused(db: Database, office: Office) -> None:
    _twins_and_others(db, office)
    round_id = _round(db, office)
    _run(db, office, "freeze", round_id)

    def tamper() -> None:
        with db.transaction(office.tenant.id) as session:
            entry = (
                session.execute(
                    select(RoundEntry).where(RoundEntry.round_id == round_id, RoundEntry.eligible.is_(True))
                )
                .scalars()
                .first()
            )
            assert entry is not None
            entry.preferences = ["HK-03"]

    if db.engine.dialect.name == "postgresql":
        # The app role may only add entries: the database itself refuses a change.
        with pytest.raises(ProgrammingError, match="permission denied"):
            tamper()
        return
    tamper()  # SQLite has no roles: the hash of the snapshot finds it
    with pytest.raises(Conflict, match="no longer matches"):
        _run(db, office, "compute", round_id)


def test_the_income_levy_is_read_only_with_the_households_consent(db: Database, office: Office) -> None:
    one = born(2025, 10, 1)
    consented, refused = _file(
        db,
        office,
        Household(kids=[Kid("甲", one, ["HK-01"])], consent=True),
        Household(kids=[Kid("乙", one, ["HK-01"])], consent=False),
        income_levy=123_400,
    )
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id)
    with db.transaction(office.tenant.id) as session:
        levies = {e.application_id: e.income_levy for e in rounds.entries_of(session, frozen)}
    assert levies == {consented: 123_400, refused: None}


def test_the_lottery_is_drawn_again_from_the_recorded_seed(db: Database, office: Office) -> None:
    one = born(2025, 10, 1)
    _file(db, office, *(Household(kids=[Kid(f"子{i}", one, ["HK-01"])]) for i in range(6)))
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id)
    with db.transaction(office.tenant.id) as session:
        drawn = {e.key: e.lottery for e in rounds.entries_of(session, frozen)}
    assert rounds._lottery(frozen.lottery_seed, list(drawn)) == drawn


def test_the_snapshot_read_back_is_the_same_on_every_database(db: Database, office: Office) -> None:
    """SQLite and PostgreSQL return rows and JSON differently (JSONB sorts keys); the input the engine is given,
    and so its hash and the result's, must not depend on that."""
    filed = _twins_and_others(db, office)
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id)
    with db.transaction(office.tenant.id) as session:
        given = rounds.round_input(session, frozen)
        references = {a.id: a.reference for a in session.execute(select(Application)).scalars()}
    assert [e.id for e in given.entries] == sorted(e.id for e in given.entries)
    assert given.seats == tuple(sorted(given.seats))
    assert (ClassKey("HK-01", 1), 2) in given.seats
    assert all(isinstance(v, int) for e in given.entries for v in (e.priority.tier, e.priority.score, *e.priority.tail))
    assert allocation.input_sha256(given) == frozen.input_sha256
    twins = [e for e in given.entries if e.id.startswith(references[filed["twins"]])]
    assert [e.group for e in twins] == [references[filed["twins"]]] * 2
    assert json.dumps(given.tail_names) == json.dumps(list(frozen.tail_names))


def test_with_supervisor_approval_the_approved_round_allocates_as_the_system(db: Database, seeded: None) -> None:
    """sakuragaoka-city has 上長決裁 on childcare: a single allocation goes through propose/approve, but the round
    was approved as a whole, so its publication allocates directly."""
    office = _office(db, tenants(db)[1], tenants(db)[0])
    filed = _twins_and_others(db, office)
    round_id = _round(db, office)
    for verb, actor in (("freeze", None), ("compute", None), ("approve", office.supervisor), ("publish", None)):
        _run(db, office, verb, round_id, actor)
    states = {name: _app(db, office, filed[name]).state for name in ("twins", "single", "part_time")}
    assert set(states.values()) <= {"approved", "waitlisted"} and "approved" in states.values()


def test_a_later_round_takes_the_waitlisted_and_tells_them_again(db: Database, office: Office) -> None:
    one = born(2025, 10, 1)
    (waiting,) = _file(db, office, Household(kids=[Kid("待機", one, ["HK-02"])], state="waitlisted"))
    first = _round(db, office)
    assert _run(db, office, "freeze", first).stats == {}
    with db.transaction(office.tenant.id) as session:
        assert rounds.entries_of(session, rounds.get_round(session, office.tenant.id, first)) == []
    second = _round(db, office, intake_month="2027-05", kind="second", label_ja="5月二次", label_en="May")
    with db.transaction(office.tenant.id) as session:
        rounds.set_seats(session, office.tenant, office.clerk, second, {("HK-02", 1): 0})
    for verb, actor in (("freeze", None), ("compute", None), ("approve", office.supervisor), ("publish", None)):
        _run(db, office, verb, second, actor)
    application = _app(db, office, waiting)
    assert application.state == "waitlisted"
    child = application.decision["allocation"]["children"][0]
    assert child["outcome"] == "waitlisted" and child["start_month"] == "2027-05"


#: The hashes of the golden round below: the same on SQLite and PostgreSQL (each backend runs this test).
GOLDEN_INPUT = "f3ea99b21883d273099005040156ee284febeca57bcde95c7f5730be4c7cec57"
GOLDEN_RESULT = "1ec48a647bc54430c96ce7c680bae226128d8d1a3e318de931f780cc207410f0"


def test_the_same_frozen_input_gives_the_same_result_on_every_database(db: Database, office: Office) -> None:
    _twins_and_others(db, office, fixed=True)
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id, seed="golden-round")
    computed = _run(db, office, "compute", round_id)
    assert (frozen.input_sha256, computed.result_sha256) == (GOLDEN_INPUT, GOLDEN_RESULT)


def _publish_rules(db: Database, office: Office, change) -> None:
    with db.transaction(office.tenant.id) as session:
        draft = rule_sets.create_draft(session, office.tenant.id, 2027, source="default", actor=office.supervisor)
        body = copy.deepcopy(draft.body)
        change(body)
        rule_sets.save_draft(session, office.tenant.id, draft.id, body, actor=office.supervisor)
        rule_sets.publish(session, office.tenant.id, draft.id, actor=office.supervisor)


def test_a_rule_set_published_after_the_freeze_does_not_change_the_round(db: Database, office: Office) -> None:
    _publish_rules(db, office, lambda body: None)
    _twins_and_others(db, office)
    round_id = _round(db, office)
    frozen = _run(db, office, "freeze", round_id)
    assert frozen.rule_set_version == 1 and frozen.rule_set_id is not None
    first = _run(db, office, "compute", round_id)
    with db.transaction(office.tenant.id) as session:
        scores = {e.key: e.points["score"] for e in rounds.entries_of(session, first)}

    def full_time_counts_double(body: dict) -> None:
        body["base_points"][0]["points"] = 20  # EMP160

    _publish_rules(db, office, full_time_counts_double)
    again = _run(db, office, "compute", round_id)
    assert (again.input_sha256, again.result_sha256) == (frozen.input_sha256, first.result_sha256)
    assert again.rule_set_version == 1
    with db.transaction(office.tenant.id) as session:
        assert {e.key: e.points["score"] for e in rounds.entries_of(session, again)} == scores
        assert rounds.pinned_rules(session, office.tenant.id, 2027).version == 2
    # A round frozen now is scored under the new version.
    later = _round(db, office, intake_month="2027-05", kind="second", label_ja="二次", label_en="second")
    refrozen = _run(db, office, "freeze", later)
    assert refrozen.rule_set_version == 2 and refrozen.rule_set_sha256 != frozen.rule_set_sha256
    with db.transaction(office.tenant.id) as session:
        rescored = {e.key: e.points["score"] for e in rounds.entries_of(session, refrozen)}
    assert any(rescored[key] > score for key, score in scores.items() if key in rescored)


def test_the_age_class_is_the_age_on_april_first_of_the_intake_year(db: Database, office: Office) -> None:
    """Born 1 April 2026: a year old at the end of 31 March 2027 (1歳児); born 2 April: still 0歳児."""
    first, second = _file(
        db,
        office,
        Household(kids=[Kid("四月一日生", "2026-04-01", ["HK-01"])]),
        Household(kids=[Kid("四月二日生", "2026-04-02", ["HK-01"])]),
    )
    frozen = _run(db, office, "freeze", _round(db, office))
    with db.transaction(office.tenant.id) as session:
        classes = {e.application_id: e.age_class for e in rounds.entries_of(session, frozen)}
    assert classes == {first: 1, second: 0}


def test_an_application_withdrawn_after_the_freeze_is_left_alone_at_publication(db: Database, office: Office) -> None:
    one = born(2025, 10, 1)
    kept, withdrawn = _file(
        db, office, Household(kids=[Kid("甲", one, ["HK-01"])]), Household(kids=[Kid("乙", one, ["HK-01"])])
    )
    round_id = _round(db, office)
    for verb, actor in (("freeze", None), ("compute", None), ("approve", office.supervisor)):
        _run(db, office, verb, round_id, actor)
    with db.transaction(office.tenant.id) as session:
        application = session.get(Application, withdrawn)
        assert application is not None
        application.state = "withdrawn"
        reference = application.reference
    published = _run(db, office, "publish", round_id)
    assert published.stats["not_published"] == [reference]
    assert _app(db, office, withdrawn).state == "withdrawn"
    assert "allocation" not in _app(db, office, withdrawn).decision
    assert _app(db, office, kept).state == "approved"
