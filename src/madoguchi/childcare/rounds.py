"""Allocation rounds (利用調整回): create, freeze, compute, approve (four eyes), publish; and the open numbers.

A round is run by the municipality's clerks and approved by a supervisor who did not compute it:

- ``create_round``: an intake month and its seats per facility × age class (from ``Facility.capacity_by_age``
  unless given), editable with ``set_seats`` while the round is a draft.
- ``freeze``: every application of the childcare procedure that is ``certified`` (and, from the second round on,
  ``waitlisted``) and wants to start by the intake month becomes one :class:`RoundEntry` per child certified 2号
  or 3号, scored under the rule set of the fiscal year as it is now (pinned by id and body hash), with a lottery
  number drawn from a recorded seed and the household's sibling group. The snapshot is hashed (``input_sha256``).
- ``compute``: the engine (``childcare.allocation``) on the snapshot read back from the database; results, their
  explanations and the numbers per class replace the previous run's. Re-runnable until approved; every run is
  audited. The same snapshot gives the same ``result_sha256`` on every database.
- ``approve``: a supervisor other than whoever computed it (上長決裁).
- ``publish``: for every application, ``decision["allocation"]`` and the workflow's ``allocate`` (a child placed)
  or ``waitlist`` (none), taken by the system actor, all in the caller's transaction: all or nothing.

Nothing here commits: the request does. Decision 0040.
"""

from __future__ import annotations

import csv
import io
import random
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import operations as applications
from madoguchi.applications.models import Application
from madoguchi.audit import access
from madoguchi.audit import operations as audit
from madoguchi.childcare import allocation, points, rule_sets, rules
from madoguchi.childcare.engine_types import ClassKey, Entry, Priority, RoundInput, RoundOutcome
from madoguchi.childcare.engine_types import SiblingGroup as EngineGroup
from madoguchi.childcare.round_models import (
    APPROVED,
    COMPUTED,
    DRAFT,
    FROZEN,
    KINDS,
    PUBLISHED,
    AllocationRound,
    RoundClass,
    RoundClassStat,
    RoundEntry,
    RoundResult,
    SiblingGroup,
)
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, Forbidden, NotFound, SeparationOfDuties, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import StaffRole
from madoguchi.registry.models import Facility, Person, TaxAssessment
from madoguchi.tenancy.models import Tenant

SERVICE_KEY = "childcare-admission"
#: Who runs rounds: the municipality's clerks and supervisors; only a supervisor approves.
WORKER_ROLES = frozenset({StaffRole.CLERK.value, StaffRole.SUPERVISOR.value})
APPROVER_ROLE = StaffRole.SUPERVISOR.value
#: Certification categories that go through 利用調整 (1号 is a kindergarten place, contracted with the facility).
ALLOCATED_CATEGORIES = ("2", "3")
AGE_CLASSES = range(6)
MAX_SEATS = 999
SIBLING_MODES = ("same_facility_required", "all_or_none", "partial_ok", "independent")
INTAKE_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: The columns of the open numbers, in the CSV's order.
STATS_COLUMNS = (
    "facility_code",
    "facility_name_ja",
    "facility_name_en",
    "age_class",
    "seats",
    "listed_by",
    "placed",
    "lowest_placed_score",
    "lowest_placed_tiebreak",
    "waiting_count",
)
OBJECT_TYPE = "allocation_round"


# --------------------------------------------------------------------------------------------- reads


def list_rounds(session: Session, tenant_id: uuid.UUID) -> list[AllocationRound]:
    stmt = select(AllocationRound).where(AllocationRound.tenant_id == tenant_id)
    return list(session.execute(stmt.order_by(AllocationRound.created_at.desc())).scalars())


def get_round(session: Session, tenant_id: uuid.UUID, round_id: uuid.UUID) -> AllocationRound:
    found = session.execute(
        select(AllocationRound).where(AllocationRound.tenant_id == tenant_id, AllocationRound.id == round_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such allocation round.")
    return found


def classes_of(session: Session, round_: AllocationRound) -> list[RoundClass]:
    stmt = select(RoundClass).where(RoundClass.tenant_id == round_.tenant_id, RoundClass.round_id == round_.id)
    return list(session.execute(stmt.order_by(RoundClass.facility_code, RoundClass.age_class)).scalars())


def entries_of(session: Session, round_: AllocationRound) -> list[RoundEntry]:
    stmt = select(RoundEntry).where(RoundEntry.tenant_id == round_.tenant_id, RoundEntry.round_id == round_.id)
    return list(session.execute(stmt.order_by(RoundEntry.key)).scalars())


def groups_of(session: Session, round_: AllocationRound) -> list[SiblingGroup]:
    stmt = select(SiblingGroup).where(SiblingGroup.tenant_id == round_.tenant_id, SiblingGroup.round_id == round_.id)
    return list(session.execute(stmt.order_by(SiblingGroup.key)).scalars())


def results_of(session: Session, round_: AllocationRound) -> list[RoundResult]:
    stmt = select(RoundResult).where(RoundResult.tenant_id == round_.tenant_id, RoundResult.round_id == round_.id)
    return list(session.execute(stmt.order_by(RoundResult.entry_key)).scalars())


def class_stats_of(session: Session, round_: AllocationRound) -> list[RoundClassStat]:
    stmt = select(RoundClassStat).where(
        RoundClassStat.tenant_id == round_.tenant_id, RoundClassStat.round_id == round_.id
    )
    return list(session.execute(stmt.order_by(RoundClassStat.facility_code, RoundClassStat.age_class)).scalars())


def facility_names(session: Session, tenant_id: uuid.UUID) -> dict[str, dict[str, str]]:
    """Facility code -> {"ja", "en"} of the municipality's facilities."""
    rows = session.execute(
        select(Facility.facility_code, Facility.name_ja, Facility.name_en).where(Facility.tenant_id == tenant_id)
    )
    return {code: {"ja": ja, "en": en} for code, ja, en in rows}


# --------------------------------------------------------------------------------------------- checks


def _require_worker(actor: Actor) -> None:
    if not (actor.is_staff and actor.staff_roles & WORKER_ROLES):
        raise Forbidden("Only the municipality's clerks and supervisors run allocation rounds.")


def _require_status(round_: AllocationRound, *allowed: str) -> None:
    if round_.status not in allowed:
        raise Conflict(
            f"The round is {round_.status}: this needs it {' or '.join(allowed)}.",
            rule="round_status",
            round_status=round_.status,
        )


def _audit(session: Session, round_: AllocationRound, actor: Actor, action: str, **data: Any) -> None:
    audit.record(
        session,
        round_.tenant_id,
        actor=actor.label,
        action=f"allocation_round.{action}",
        object_type=OBJECT_TYPE,
        object_id=round_.id,
        data={"intake_month": round_.intake_month, "kind": round_.kind, **data},
    )


def fiscal_year_of_month(intake_month: str) -> int:
    year, month = (int(part) for part in intake_month.split("-"))
    return jp.fiscal_year_of(date(year, month, 1))


# --------------------------------------------------------------------------------------------- create, seats


def _seat_count(value: Any, where: str, errors: dict[str, list[str]]) -> int | None:
    try:
        number = int(jp.normalize_input(str(value)))
    except ValueError:
        errors.setdefault(where, []).append(f"Enter a whole number of seats from 0 to {MAX_SEATS}.")
        return None
    if not 0 <= number <= MAX_SEATS:
        errors.setdefault(where, []).append(f"Enter a whole number of seats from 0 to {MAX_SEATS}.")
        return None
    return number


def _checked_seats(
    seats: Mapping[tuple[str, int], Any], known_codes: Iterable[str], errors: dict[str, list[str]]
) -> dict[tuple[str, int], int]:
    codes = set(known_codes)
    checked: dict[tuple[str, int], int] = {}
    for (code, age), value in seats.items():
        where = f"seats.{code}.{age}"
        if code not in codes:
            errors.setdefault(where, []).append("No facility of the municipality has this code.")
            continue
        if age not in AGE_CLASSES:
            errors.setdefault(where, []).append("The age class is 0 to 5.")
            continue
        number = _seat_count(value, where, errors)
        if number is not None:
            checked[(code, age)] = number
    return checked


def default_seats(session: Session, tenant_id: uuid.UUID) -> dict[tuple[str, int], int]:
    """Seats per facility × age class from the register's capacities (定員): the clerk lowers them to 募集人数."""
    found: dict[tuple[str, int], int] = {}
    for facility in session.execute(select(Facility).where(Facility.tenant_id == tenant_id)).scalars():
        for age, places in (facility.capacity_by_age or {}).items():
            if str(age).isdigit() and int(age) in AGE_CLASSES and int(places or 0) > 0:
                found[(facility.facility_code, int(age))] = int(places)
    return found


def create_round(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    *,
    label_ja: str,
    label_en: str,
    intake_month: str,
    kind: str,
    seats: Mapping[tuple[str, int], Any] | None = None,
    reuse_transfer_seats: bool = True,
) -> AllocationRound:
    """A draft round for ``intake_month`` (YYYY-MM), with ``seats`` or the facilities' capacities."""
    _require_worker(actor)
    errors: dict[str, list[str]] = {}
    label_ja, label_en = label_ja.strip(), label_en.strip()
    if not label_ja or len(label_ja) > 100:
        errors["label_ja"] = ["Enter a name of at most 100 characters, e.g. 令和9年4月一次利用調整."]
    if not label_en or len(label_en) > 100:
        errors["label_en"] = ["Enter a name of at most 100 characters, e.g. April 2027, first round."]
    month = jp.normalize_input(intake_month or "")
    if not INTAKE_MONTH.match(month):
        errors["intake_month"] = ["Enter the intake month as YYYY-MM, for example 2027-04."]
    if kind not in KINDS:
        errors["kind"] = [f"Choose one of: {', '.join(KINDS)}."]
    names = facility_names(session, tenant.id)
    checked = _checked_seats(seats, names, errors) if seats is not None else default_seats(session, tenant.id)
    if errors:
        raise ValidationFailed("The round was not created.", errors=errors)
    round_ = AllocationRound(
        tenant_id=tenant.id,
        label_ja=label_ja,
        label_en=label_en,
        intake_month=month,
        kind=kind,
        fiscal_year=fiscal_year_of_month(month),
        reuse_transfer_seats=reuse_transfer_seats,
        created_by=actor.label,
    )
    session.add(round_)
    session.flush()
    session.add_all(
        RoundClass(tenant_id=tenant.id, round_id=round_.id, facility_code=code, age_class=age, seats=number)
        for (code, age), number in sorted(checked.items())
    )
    session.flush()
    _audit(session, round_, actor, "created", classes=len(checked), seats=sum(checked.values()))
    return round_


def set_seats(
    session: Session, tenant: Tenant, actor: Actor, round_id: uuid.UUID, seats: Mapping[tuple[str, int], Any]
) -> AllocationRound:
    """Change (or add) seats of classes while the round is a draft; all or nothing."""
    _require_worker(actor)
    round_ = get_round(session, tenant.id, round_id)
    _require_status(round_, DRAFT)
    errors: dict[str, list[str]] = {}
    checked = _checked_seats(seats, facility_names(session, tenant.id), errors)
    if errors:
        raise ValidationFailed("The seats were not changed.", errors=errors)
    existing = {(c.facility_code, c.age_class): c for c in classes_of(session, round_)}
    changed = {}
    for (code, age), number in sorted(checked.items()):
        row = existing.get((code, age))
        if row is None:
            session.add(
                RoundClass(tenant_id=tenant.id, round_id=round_.id, facility_code=code, age_class=age, seats=number)
            )
        elif row.seats == number:
            continue
        else:
            row.seats = number
        changed[f"{code}/{age}"] = number
    session.flush()
    if changed:
        _audit(session, round_, actor, "seats_changed", seats=changed)
    return round_


# --------------------------------------------------------------------------------------------- freeze


@dataclass(frozen=True)
class _Child:
    index: int
    name: str
    birth: date
    category: str
    care_time: str | None
    age_class: int
    preferences: tuple[str, ...]
    current_facility: str | None


def _certified_children(application: _Filed, fiscal_year: int, intake_start: date) -> list[_Child]:
    """The children of ``application`` that go into the round: certified 2号/3号, valid on the intake month's
    first day, with a desired facility (the certification is the clerk's, the rest the parent's answers)."""
    certification = (application.decision or {}).get("certification") or {}
    answered = (application.data or {}).get("children") or []
    found = []
    for item in certification.get("children") or []:
        index = item.get("index")
        if not isinstance(index, int) or not 0 <= index < len(answered):
            continue
        if item.get("category") not in ALLOCATED_CATEGORIES:
            continue
        valid_from, valid_to = item.get("valid_from"), item.get("valid_to")
        if (valid_from and valid_from > intake_start.isoformat()) or (valid_to and valid_to < intake_start.isoformat()):
            continue
        child = answered[index]
        try:
            birth = date.fromisoformat(child.get("birth_date") or "")
            age_class = jp.childcare_age_class(birth, fiscal_year)
        except ValueError:
            continue  # not born by the end of the fiscal year: no class to enter
        preferences = tuple(dict.fromkeys(str(code) for code in child.get("desired_facilities") or []))
        current = child.get("current_facility") or None
        if not preferences:
            continue
        found.append(
            _Child(
                index=index,
                name=str(child.get("name") or ""),
                birth=birth,
                category=item["category"],
                care_time=item.get("care_time"),
                age_class=age_class,
                preferences=preferences,
                current_facility=str(current) if current else None,
            )
        )
    return found


def _fits(application: _Filed, round_: AllocationRound) -> bool:
    wanted = str((application.data or {}).get("desired_start_month") or "")
    if round_.kind == "first":
        return wanted == round_.intake_month
    # Later rounds take everyone still waiting who wanted to start by then (二次, 途中入所).
    return bool(wanted) and wanted <= round_.intake_month


@dataclass(frozen=True)
class _Filed:
    """What a freeze reads of an application (plain rows: a first round reads tens of thousands)."""

    id: uuid.UUID
    reference: str
    data: dict[str, Any]
    decision: dict[str, Any]
    applicant_person_id: uuid.UUID | None


def _candidates(session: Session, round_: AllocationRound) -> list[_Filed]:
    states = ("certified",) if round_.kind == "first" else ("certified", "waitlisted")
    stmt = select(
        Application.id, Application.reference, Application.data, Application.decision, Application.applicant_person_id
    ).where(
        Application.tenant_id == round_.tenant_id,
        Application.service_key == SERVICE_KEY,
        Application.state.in_(states),
    )
    found = [_Filed(*row) for row in session.execute(stmt)]
    return sorted((a for a in found if _fits(a, round_)), key=lambda a: a.reference)


def tax_fiscal_year(intake_month: str) -> int:
    """The 年度 of the inhabitant tax used for a start in ``intake_month``: April–August use the year before's
    assessment (the new one is not out until June), September–March the current one (武蔵村山市's rule)."""
    month = int(intake_month.split("-")[1])
    fiscal_year = fiscal_year_of_month(intake_month)
    return fiscal_year - 1 if 4 <= month <= 8 else fiscal_year


def _income_levies(session: Session, tenant_id: uuid.UUID, applications_: Sequence[_Filed], year: int) -> dict:
    """Application id -> the household's 市町村民税所得割 (summed over its members), for the applications whose
    household consented to the look-up and has an assessment; read in a few queries, whatever their number."""
    consenting = {
        a.applicant_person_id: a.id
        for a in applications_
        if (a.data or {}).get("tax_lookup_consent") is True and a.applicant_person_id is not None
    }
    if not consenting:
        return {}
    households = dict(
        session.execute(
            select(Person.id, Person.household_id).where(Person.tenant_id == tenant_id, Person.id.in_(consenting))
        ).all()
    )
    levies: dict[uuid.UUID, int] = {}
    stmt = (
        select(Person.household_id, TaxAssessment.municipal_income_levy)
        .join(TaxAssessment, TaxAssessment.person_id == Person.id)
        .where(
            Person.tenant_id == tenant_id,
            TaxAssessment.tenant_id == tenant_id,
            TaxAssessment.fiscal_year == year,
            Person.household_id.in_(set(households.values())),
        )
    )
    for household_id, levy in session.execute(stmt):
        levies[household_id] = levies.get(household_id, 0) + (levy or 0)
    return {
        application_id: levies[households[person_id]]
        for person_id, application_id in consenting.items()
        if households.get(person_id) in levies
    }


def _insert(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` with one executemany (measured on PostgreSQL: 20,000 results in about 2 s, where multi-row
    VALUES statements took 4-6 times longer to build and send)."""
    if rows:
        session.execute(insert(model), list(rows))


def _lottery(seed: str, keys: Sequence[str]) -> dict[str, int]:
    """A permutation of 1..N over the entry keys (sorted), drawn from ``seed``: anyone can draw it again."""
    numbers = list(range(1, len(keys) + 1))
    random.Random(seed).shuffle(numbers)  # noqa: S311 - a recorded, reproducible draw, not a secret
    return dict(zip(sorted(keys), numbers, strict=True))


def freeze(
    session: Session, tenant: Tenant, actor: Actor, round_id: uuid.UUID, *, seed: str | None = None
) -> AllocationRound:
    """Snapshot the applications into the round under the fiscal year's rule set, with a recorded lottery.

    The lottery's seed is drawn here; ``seed`` replays a given one (the tests and the bench reproduce a round).
    """
    _require_worker(actor)
    round_ = get_round(session, tenant.id, round_id)
    _require_status(round_, DRAFT)
    rule_set = pinned_rules(session, tenant.id, round_.fiscal_year)
    body = rule_set.body
    intake_start = date.fromisoformat(f"{round_.intake_month}-01")
    candidates = _candidates(session, round_)
    levies = _income_levies(session, tenant.id, candidates, tax_fiscal_year(round_.intake_month))
    children = {a.id: _certified_children(a, round_.fiscal_year, intake_start) for a in candidates}
    keys = [f"{a.reference}#{c.index}" for a in candidates for c in children[a.id]]
    seed = seed or secrets.token_hex(16)
    lottery = _lottery(seed, keys)
    entry_rows: list[dict[str, Any]] = []
    group_rows: list[dict[str, Any]] = []
    listed: set[tuple[str, int]] = set()
    for application in candidates:
        data = application.data or {}
        own = children[application.id]
        eligible_keys = []
        for child in own:
            key = f"{application.reference}#{child.index}"
            facts = points.facts_from_form(
                data,
                child.index,
                income_levy=levies.get(application.id),
                resident=application.applicant_person_id is not None,
            )
            scored = points.score(body, facts)
            priority = points.priority(
                body,
                scored,
                transfer=child.current_facility is not None,
                lottery=lottery[key],
                children_count=len(data.get("children") or []),
            )
            if scored.eligible:
                eligible_keys.append((child.birth, child.index, key))
                listed.update((code, child.age_class) for code in child.preferences)
                if child.current_facility:
                    listed.add((child.current_facility, child.age_class))
            entry_rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "round_id": round_.id,
                    "application_id": application.id,
                    "key": key,
                    "child_index": child.index,
                    "child_name": child.name[:200],
                    "category": child.category,
                    "care_time": child.care_time,
                    "age_class": child.age_class,
                    "preferences": list(child.preferences),
                    "current_facility": child.current_facility,
                    "points": scored.as_dict(),
                    "priority": _priority_json(priority),
                    "lottery": lottery[key],
                    "income_levy": levies.get(application.id),
                    "eligible": scored.eligible,
                    "sibling_group_key": None,
                }
            )
        mode = data.get("sibling_mode") if data.get("sibling_mode") in SIBLING_MODES else "independent"
        if len(eligible_keys) >= 2 and mode != "independent":
            members = [key for _birth, _index, key in sorted(eligible_keys)]  # the eldest first
            group_rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "round_id": round_.id,
                    "application_id": application.id,
                    "key": application.reference,
                    "mode": mode,
                    "partial_priority": "younger" if data.get("sibling_partial_priority") == "younger" else "elder",
                    "members": members,
                }
            )
            for row in entry_rows[-len(own) :]:
                if row["key"] in members:
                    row["sibling_group_key"] = application.reference
    # A class someone listed but the round offers no seats in is a class of the round with 0 seats: the
    # explanation can then say "no seats" rather than the class being unknown.
    offered = {(c.facility_code, c.age_class) for c in classes_of(session, round_)}
    session.add_all(
        RoundClass(tenant_id=tenant.id, round_id=round_.id, facility_code=code, age_class=age, seats=0)
        for code, age in sorted(listed - offered)
    )
    if entry_rows:
        _insert(session, RoundEntry, entry_rows)
    if group_rows:
        _insert(session, SiblingGroup, group_rows)
    session.flush()
    round_.status = FROZEN
    round_.frozen_at = utcnow()
    round_.frozen_by = actor.label
    round_.rule_set_id = rule_set.id
    round_.rule_set_version = rule_set.version
    round_.rule_set_sha256 = rule_set.body_sha256
    round_.tail_names = list(points.tail_names(body))
    round_.lottery_seed = seed
    # Hashed from the rows just written; compute reads them back and must find the same hash (decision 0040).
    classes = [(c.facility_code, c.age_class, c.seats) for c in classes_of(session, round_)]
    round_.input_sha256 = allocation.input_sha256(_engine_input(round_, classes, entry_rows, group_rows))
    session.flush()
    _audit(
        session,
        round_,
        actor,
        "frozen",
        applications=len(candidates),
        entries=len(entry_rows),
        sibling_groups=len(group_rows),
        rule_set_id=str(rule_set.id) if rule_set.id else None,
        rule_set_sha256=rule_set.body_sha256,
        lottery_seed=seed,
        input_sha256=round_.input_sha256,
    )
    return round_


@dataclass(frozen=True)
class PinnedRules:
    """The rule set a round is frozen under: its body, and what names it (id and version when the tenant
    published one; always the body's hash)."""

    id: uuid.UUID | None
    version: int | None
    body: dict[str, Any]
    body_sha256: str


def pinned_rules(session: Session, tenant_id: uuid.UUID, fiscal_year: int) -> PinnedRules:
    """The rules in force for ``fiscal_year``: the tenant's published version (named by id and version), else the
    standard default (named by its hash alone)."""
    published = rule_sets.published_for(session, tenant_id, fiscal_year)
    body = rule_sets.rules_for(session, tenant_id, fiscal_year)
    return PinnedRules(
        id=published.id if published is not None else None,
        version=published.version if published is not None else None,
        body=body,
        body_sha256=rules.body_sha256(body),
    )


def _priority_json(priority: Priority) -> dict[str, Any]:
    return {
        "tier": priority.tier,
        "score": priority.score,
        "tail": list(priority.tail),
        "facility_bonus": [[code, bonus] for code, bonus in priority.facility_bonus],
    }


def _priority(stored: Mapping[str, Any]) -> Priority:
    return Priority(
        tier=int(stored["tier"]),
        score=int(stored["score"]),
        tail=tuple(int(v) for v in stored["tail"]),
        facility_bonus=tuple(sorted((str(code), int(bonus)) for code, bonus in stored.get("facility_bonus") or ())),
    )


#: The columns of an entry the engine is given (read as plain rows: a round has tens of thousands of entries).
_ENGINE_COLUMNS = (
    RoundEntry.key,
    RoundEntry.age_class,
    RoundEntry.preferences,
    RoundEntry.priority,
    RoundEntry.current_facility,
    RoundEntry.sibling_group_key,
    RoundEntry.eligible,
)


def _engine_rows(session: Session, round_: AllocationRound) -> list[dict[str, Any]]:
    stmt = select(*_ENGINE_COLUMNS).where(RoundEntry.tenant_id == round_.tenant_id, RoundEntry.round_id == round_.id)
    return [dict(row._mapping) for row in session.execute(stmt)]


def _engine_input(
    round_: AllocationRound,
    classes: Iterable[tuple[str, int, int]],
    entries: Iterable[Mapping[str, Any]],
    groups: Iterable[Mapping[str, Any]],
) -> RoundInput:
    """The engine's input in a canonical order (whatever order the rows come in): what ``input_sha256`` names."""
    return RoundInput(
        seats=tuple(sorted((ClassKey(code, age), seats) for code, age, seats in classes)),
        entries=tuple(
            Entry(
                id=e["key"],
                age_class=e["age_class"],
                preferences=tuple(e["preferences"]),
                priority=_priority(e["priority"]),
                current_facility=e["current_facility"],
                group=e["sibling_group_key"],
            )
            for e in sorted(entries, key=lambda e: e["key"])
            if e["eligible"]
        ),
        groups=tuple(
            EngineGroup(
                id=g["key"],
                members=tuple(g["members"]),
                mode=g["mode"],
                partial_priority=g["partial_priority"],
            )
            for g in sorted(groups, key=lambda g: g["key"])
        ),
        tail_names=tuple(round_.tail_names or ()),
        reuse_transfer_seats=round_.reuse_transfer_seats,
    )


def round_input(
    session: Session, round_: AllocationRound, entries: Sequence[Mapping[str, Any]] | None = None
) -> RoundInput:
    """The engine's input, read back from the frozen rows (``entries``: the entry rows, if read already)."""
    return _engine_input(
        round_,
        ((c.facility_code, c.age_class, c.seats) for c in classes_of(session, round_)),
        _engine_rows(session, round_) if entries is None else entries,
        (
            {"key": g.key, "members": g.members, "mode": g.mode, "partial_priority": g.partial_priority}
            for g in groups_of(session, round_)
        ),
    )


# --------------------------------------------------------------------------------------------- compute


def compute(session: Session, tenant: Tenant, actor: Actor, round_id: uuid.UUID) -> AllocationRound:
    """Run the engine on the frozen snapshot and store its outcome (replacing an earlier run's)."""
    _require_worker(actor)
    round_ = get_round(session, tenant.id, round_id)
    _require_status(round_, FROZEN, COMPUTED)
    rows = _engine_rows(session, round_)
    given = round_input(session, round_, rows)
    if allocation.input_sha256(given) != round_.input_sha256:
        raise Conflict("The frozen snapshot no longer matches its hash: it was changed after freezing.")
    try:
        outcome = allocation.compute(given)
    except ValueError as refused:  # an inconsistent snapshot (a class twice, an unknown sibling): say which
        raise Conflict(f"The engine refused the snapshot: {refused}", rule="engine_input") from refused
    # The checker reads the outcome against the input without re-running it: what the review page shows.
    report = allocation.verify(given, outcome)
    for model in (RoundResult, RoundClassStat):
        session.execute(delete(model).where(model.tenant_id == tenant.id, model.round_id == round_.id))
    ineligible = sorted(row["key"] for row in rows if not row["eligible"])
    _store_outcome(session, round_, outcome, ineligible)
    counts: dict[str, int] = defaultdict(int)
    for placement in outcome.placements:
        counts[placement.outcome] += 1
    counts["ineligible"] = len(ineligible)
    round_.status = COMPUTED
    round_.computed_at = utcnow()
    round_.computed_by = actor.label
    round_.result_sha256 = allocation.result_sha256(outcome)
    round_.algorithm_version = outcome.algorithm_version
    round_.stats = {
        "entries": len(given.entries) + len(ineligible),
        **{name: counts[name] for name in ("placed", "stays", "waitlisted", "ineligible")},
        "residual_sibling_envy": list(outcome.residual_sibling_envy),
        "violations": [asdict(v) for v in report.violations],
        "extra": dict(outcome.extra),
    }
    session.flush()
    _record_allocation_use(session, round_)
    _audit(
        session,
        round_,
        actor,
        "computed",
        input_sha256=round_.input_sha256,
        result_sha256=round_.result_sha256,
        algorithm_version=round_.algorithm_version,
        counts=dict(counts),
        residual_sibling_envy=len(outcome.residual_sibling_envy),
        violations=len(report.violations),
    )
    return round_


#: The job name of an allocation run in the residents' data-use ledger.
ALLOCATION_JOB = "childcare_allocation"


def _record_allocation_use(session: Session, round_: AllocationRound) -> None:
    """One system entry per child per run in the family's data-use ledger: the run used the child's points,
    preferences and the household's certification (one executemany, as the results are written)."""
    stmt = (
        select(
            RoundEntry.key,
            Application.id,
            Application.subject_person_id,
            Application.applicant_person_id,
            Application.applicant_account_id,
        )
        .join(
            Application, (Application.id == RoundEntry.application_id) & (Application.tenant_id == RoundEntry.tenant_id)
        )
        .where(RoundEntry.tenant_id == round_.tenant_id, RoundEntry.round_id == round_.id)
    )
    uses = [
        (access.Subject(application_id, subject or applicant, account), f"round {round_.id} entry {key}")
        for key, application_id, subject, applicant, account in session.execute(stmt)
    ]
    access.record_batch_use(
        session,
        round_.tenant_id,
        ALLOCATION_JOB,
        uses,
        object_type="allocation_round",
        object_id=round_.id,
        categories=[access.CHILDCARE, access.HOUSEHOLD],
    )


def _store_outcome(session: Session, round_: AllocationRound, outcome: RoundOutcome, ineligible: list[str]) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": round_.tenant_id,
            "round_id": round_.id,
            "entry_key": p.entry_id,
            "outcome": p.outcome,
            "facility_code": p.facility,
            "age_class": p.age_class,
            "pref_rank": p.pref_rank,
            # The items' fields as they are (what ``allocation.explanation_dict`` gives), without ``asdict``'s
            # deep copy: a round stores about a hundred thousand of them.
            "explanation": [dict(vars(item)) for item in p.explanation],
        }
        for p in outcome.placements
    ]
    rows += [
        {
            "id": uuid.uuid4(),
            "tenant_id": round_.tenant_id,
            "round_id": round_.id,
            "entry_key": key,
            "outcome": "ineligible",
            "facility_code": None,
            "age_class": None,
            "pref_rank": None,
            "explanation": [],
        }
        for key in ineligible
    ]
    if rows:
        _insert(session, RoundResult, rows)
    stats = [
        {
            "id": uuid.uuid4(),
            "tenant_id": round_.tenant_id,
            "round_id": round_.id,
            "facility_code": s.key.facility,
            "age_class": s.key.age_class,
            "seats": s.seats,
            "listed_by": s.listed_by,
            "placed": s.placed,
            "lowest_placed_score": s.lowest_placed_score,
            "lowest_placed_tiebreak": s.lowest_placed_tiebreak,
            "waiting_count": s.waiting_count,
        }
        for s in outcome.stats
    ]
    if stats:
        _insert(session, RoundClassStat, stats)


# --------------------------------------------------------------------------------------------- approve, publish


def approve(session: Session, tenant: Tenant, actor: Actor, round_id: uuid.UUID) -> AllocationRound:
    """上長決裁: a supervisor who did not compute the result approves it for publication."""
    _require_worker(actor)
    if APPROVER_ROLE not in actor.staff_roles:
        raise Forbidden("Only a supervisor approves an allocation round.")
    round_ = get_round(session, tenant.id, round_id)
    _require_status(round_, COMPUTED)
    if round_.stats.get("violations"):
        raise Conflict("The result breaks a rule of the allocation (see the review): it cannot be approved.")
    if round_.computed_by == actor.label:
        raise SeparationOfDuties(
            "You computed this round, so another supervisor must approve it (four eyes).",
            rule="actor_differs_from",
            differs_from="compute",
        )
    round_.status = APPROVED
    round_.approved_at = utcnow()
    round_.approved_by = actor.label
    session.flush()
    _audit(session, round_, actor, "approved", result_sha256=round_.result_sha256)
    return round_


#: The workflow states an application of the round may still be published from; one withdrawn (or rejected)
#: since the freeze is left alone, and said so in the round's numbers.
PUBLISHABLE_STATES = ("certified", "waitlisted")


def allocation_decision(
    round_: AllocationRound,
    entries: Sequence[RoundEntry],
    results: Mapping[str, RoundResult],
    names: Mapping[str, dict[str, str]],
    published_on: date,
) -> dict[str, Any]:
    """``decision["allocation"]`` of one application (the brief's shared shape)."""
    children = []
    for entry in sorted(entries, key=lambda e: e.child_index):
        result = results.get(entry.key)
        outcome = result.outcome if result is not None else "waitlisted"
        code = result.facility_code if result is not None and outcome in ("placed", "stays") else None
        children.append(
            {
                "index": entry.child_index,
                "outcome": outcome,
                "facility_code": code,
                "facility_name": dict(names[code]) if code is not None and code in names else None,
                "age_class": result.age_class if result is not None and code else None,
                "pref_rank": result.pref_rank if result is not None else None,
                "start_month": round_.intake_month,
                "points": entry.points,
                "explanation": [
                    {**item, "facility_name": dict(names.get(item.get("facility"), {"ja": "", "en": ""}))}
                    for item in (result.explanation if result is not None else [])
                ],
            }
        )
    return {
        "round_id": str(round_.id),
        "round_label": {"ja": round_.label_ja, "en": round_.label_en},
        "intake_month": round_.intake_month,
        "published_on": published_on.isoformat(),
        "children": children,
    }


def publish(session: Session, tenant: Tenant, actor: Actor, round_id: uuid.UUID) -> AllocationRound:
    """Write every application's allocation and move it (``allocate`` or ``waitlist``, as the system)."""
    _require_worker(actor)
    round_ = get_round(session, tenant.id, round_id)
    _require_status(round_, APPROVED)
    by_application: dict[uuid.UUID, list[RoundEntry]] = defaultdict(list)
    for entry in entries_of(session, round_):
        by_application[entry.application_id].append(entry)
    results = {r.entry_key: r for r in results_of(session, round_)}
    names = facility_names(session, tenant.id)
    today = jp.today()
    system = Actor.system()
    moved: dict[str, int] = defaultdict(int)
    skipped = []
    applications_ = session.execute(
        select(Application).where(Application.tenant_id == tenant.id, Application.id.in_(by_application))
    ).scalars()
    for application in sorted(applications_, key=lambda a: a.reference):
        if application.state not in PUBLISHABLE_STATES:
            skipped.append(application.reference)
            continue
        decision = allocation_decision(round_, by_application[application.id], results, names, today)
        placed = any(child["outcome"] == "placed" for child in decision["children"])
        name = "allocate" if placed else "waitlist"
        applications.transition(session, tenant, system, application.id, name, decision={"allocation": decision})
        moved[name] += 1
    round_.status = PUBLISHED
    round_.published_at = utcnow()
    round_.published_by = actor.label
    round_.stats = {**round_.stats, "published": dict(moved), "not_published": skipped}
    session.flush()
    _audit(session, round_, actor, "published", moved=dict(moved), not_published=skipped)
    return round_


# --------------------------------------------------------------------------------------------- review


def review_rows(session: Session, round_: AllocationRound) -> list[dict[str, Any]]:
    """Every child of the round with its outcome (none before computing), by entry key."""
    results = {r.entry_key: r for r in results_of(session, round_)}
    rows = []
    for entry in entries_of(session, round_):
        result = results.get(entry.key)
        rows.append(
            {
                "entry": entry.key,
                "application_id": entry.application_id,
                "child_index": entry.child_index,
                "child_name": entry.child_name,
                "age_class": entry.age_class,
                "preferences": list(entry.preferences),
                "current_facility": entry.current_facility,
                "score": entry.priority.get("score") if entry.eligible else None,
                "tier": entry.priority.get("tier") if entry.eligible else None,
                "eligible": entry.eligible,
                "sibling_group": entry.sibling_group_key,
                "outcome": result.outcome if result is not None else None,
                "facility_code": result.facility_code if result is not None else None,
                "pref_rank": result.pref_rank if result is not None else None,
                "explanation": list(result.explanation) if result is not None else [],
            }
        )
    return rows


@dataclass(frozen=True)
class ClassReview:
    """One class on the review page: its numbers and the children placed in it, highest priority first."""

    numbers: dict[str, Any]
    placed: list[dict[str, Any]]


def review(session: Session, round_: AllocationRound) -> list[ClassReview]:
    """The clerk's review: per class, the open numbers and who was placed there (by score, high first)."""
    placed: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in review_rows(session, round_):
        if row["outcome"] in ("placed", "stays") and row["facility_code"]:
            placed[(row["facility_code"], row["age_class"])].append(row)
    return [
        ClassReview(
            numbers=numbers,
            placed=sorted(
                placed.get((numbers["facility_code"], numbers["age_class"]), []),
                key=lambda r: (-(r["tier"] or 0), -(r["score"] or 0), r["entry"]),
            ),
        )
        for numbers in open_numbers(session, round_)
    ]


# --------------------------------------------------------------------------------------------- open numbers


def export_name(round_: AllocationRound) -> str:
    """The file name of the round's open numbers (ASCII: the intake month and the kind)."""
    return f"allocation-{round_.intake_month}-{round_.kind}"


def open_numbers(session: Session, round_: AllocationRound) -> list[dict[str, Any]]:
    """Per facility × age class: seats, applicants, placed, lowest admitted score, waiting (issue 17 point 7)."""
    names = facility_names(session, round_.tenant_id)
    return [
        {
            "facility_code": s.facility_code,
            "facility_name_ja": names.get(s.facility_code, {}).get("ja", ""),
            "facility_name_en": names.get(s.facility_code, {}).get("en", ""),
            "age_class": s.age_class,
            "seats": s.seats,
            "listed_by": s.listed_by,
            "placed": s.placed,
            "lowest_placed_score": s.lowest_placed_score,
            "lowest_placed_tiebreak": s.lowest_placed_tiebreak,
            "waiting_count": s.waiting_count,
        }
        for s in class_stats_of(session, round_)
    ]


def open_numbers_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The open numbers as CSV (UTF-8, a header line, empty cells for "none")."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=STATS_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in STATS_COLUMNS})
    return out.getvalue()
