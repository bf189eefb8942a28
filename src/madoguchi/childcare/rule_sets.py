"""Operations on a tenant's allocation rule sets (利用調整基準): drafts, publishing, retiring, and reading the rules.

A tenant admin starts a draft for a fiscal year from the standard default or from the latest published version,
saves it (only a valid body is stored: a refused save changes nothing), and publishes it. Publishing retires the
version published before it for that year, so one is in force at a time; a published version never changes
(``rule_set_models`` refuses it). Rounds read the rules in force with :func:`rules_for` or pin the row with
:func:`published_for`. Every step is audited. Decision 0038.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.catalog.upgrades import CHANGED, Change, compare, compare_mapping, compare_named
from madoguchi.childcare import rules as rulebook
from madoguchi.childcare.rule_set_models import DRAFT, PUBLISHED, RETIRED, AllocationRuleSet
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor

#: Where a draft starts from.
FROM_DEFAULT, FROM_PUBLISHED = "default", "published"
#: The fiscal years a rule set may be written for (a typo like 20277 is refused).
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: The parts of a rule set a difference belongs to, in the order they are listed.
AREAS = ("household", "base_points", "reason_rank", "adjustments", "tie_breakers")


def listed(session: Session, tenant_id: uuid.UUID) -> list[AllocationRuleSet]:
    """Every version of the tenant's rule sets, the latest fiscal year first, then the latest version first."""
    stmt = (
        select(AllocationRuleSet)
        .where(AllocationRuleSet.tenant_id == tenant_id)
        .order_by(AllocationRuleSet.fiscal_year.desc(), AllocationRuleSet.version.desc())
    )
    return list(session.execute(stmt).scalars())


def get(session: Session, tenant_id: uuid.UUID, rule_set_id: uuid.UUID, *, lock: bool = False) -> AllocationRuleSet:
    """One version of the tenant's rule sets; another tenant's is not found. ``lock``: row-locked until the end of the
    transaction (PostgreSQL), so a second publish of the same draft (a double click) waits and then sees it
    published."""
    stmt = select(AllocationRuleSet).where(
        AllocationRuleSet.tenant_id == tenant_id, AllocationRuleSet.id == rule_set_id
    )
    if lock:  # and read again: the row the request loaded before the lock may be stale once the lock is granted
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound("No such rule set.")
    return found


def published_for(session: Session, tenant_id: uuid.UUID, fiscal_year: int) -> AllocationRuleSet | None:
    """The version in force for the fiscal year, if one is published."""
    return session.execute(
        select(AllocationRuleSet).where(
            AllocationRuleSet.tenant_id == tenant_id,
            AllocationRuleSet.fiscal_year == fiscal_year,
            AllocationRuleSet.status == PUBLISHED,
        )
    ).scalar_one_or_none()


def rules_for(session: Session, tenant_id: uuid.UUID, fiscal_year: int) -> dict[str, Any]:
    """The rule-set body in force for the fiscal year: the published version's, else the standard default."""
    found = published_for(session, tenant_id, fiscal_year)
    if found is None:
        return rulebook.default_rules()
    return rulebook.validated(found.body)


def _latest_published(session: Session, tenant_id: uuid.UUID, fiscal_year: int) -> AllocationRuleSet | None:
    """The published version of that year, else the latest of an earlier year (retired ones included)."""
    stmt = (
        select(AllocationRuleSet)
        .where(
            AllocationRuleSet.tenant_id == tenant_id,
            AllocationRuleSet.fiscal_year <= fiscal_year,
            AllocationRuleSet.status.in_((PUBLISHED, RETIRED)),
        )
        .order_by(
            AllocationRuleSet.fiscal_year.desc(),
            (AllocationRuleSet.status == PUBLISHED).desc(),
            AllocationRuleSet.version.desc(),
        )
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def create_draft(
    session: Session, tenant_id: uuid.UUID, fiscal_year: int, *, source: str, actor: Actor
) -> AllocationRuleSet:
    """A new draft version for the fiscal year, its body copied from ``source`` (``default`` or ``published``).

    Refused (``ValidationFailed`` with a ``rule``, nothing stored): a year outside 2000–2100 (``fiscal_year``), an
    unknown source (``source``), ``published`` with nothing published (``nothing_published``); ``Conflict`` when
    the year has a draft already (``draft_exists``: finish or reuse that one).
    """
    if not FIRST_YEAR <= fiscal_year <= LAST_YEAR:
        raise ValidationFailed("No such fiscal year.", errors={"fiscal_year": ["out of range"]}, rule="fiscal_year")
    if source == FROM_DEFAULT:
        body = rulebook.default_rules()
    elif source == FROM_PUBLISHED:
        base = _latest_published(session, tenant_id, fiscal_year)
        if base is None:
            raise ValidationFailed(
                "Nothing is published yet.", errors={"source": ["nothing published"]}, rule="nothing_published"
            )
        body = dict(base.body)
    else:
        raise ValidationFailed("Unknown source.", errors={"source": ["unknown"]}, rule="source")
    versions = session.execute(
        select(func.max(AllocationRuleSet.version), func.count().filter(AllocationRuleSet.status == DRAFT)).where(
            AllocationRuleSet.tenant_id == tenant_id, AllocationRuleSet.fiscal_year == fiscal_year
        )
    ).one()
    if versions[1]:
        raise Conflict("This fiscal year has a draft already.", rule="draft_exists")
    body = rulebook.validated(body)
    draft = AllocationRuleSet(
        tenant_id=tenant_id,
        fiscal_year=fiscal_year,
        version=(versions[0] or 0) + 1,
        status=DRAFT,
        body=body,
        body_sha256=rulebook.body_sha256(body),
    )
    session.add(draft)
    session.flush()
    _audit(session, draft, actor, "allocation_rule_set.draft_created", source=source)
    return draft


def _draft(session: Session, tenant_id: uuid.UUID, rule_set_id: uuid.UUID) -> AllocationRuleSet:
    found = get(session, tenant_id, rule_set_id, lock=True)
    if found.status != DRAFT:
        raise Conflict(f"Version {found.version} is {found.status}: only a draft changes.", rule="not_draft")
    return found


def save_draft(
    session: Session, tenant_id: uuid.UUID, rule_set_id: uuid.UUID, body: Any, *, actor: Actor
) -> AllocationRuleSet:
    """Replace a draft's body with a valid one. ``ValidationFailed`` lists every problem by JSON pointer (``errors``)
    and carries them as ``RuleProblem`` in ``extra["problems"]``; ``Conflict`` if the version is not a draft."""
    draft = _draft(session, tenant_id, rule_set_id)
    problems = rulebook.check(body)
    if problems:
        raise_invalid(problems)
    body = rulebook.validated(body)
    if rulebook.body_sha256(body) == draft.body_sha256:
        return draft
    draft.body, draft.body_sha256, draft.updated_at = body, rulebook.body_sha256(body), utcnow()
    session.flush()
    _audit(session, draft, actor, "allocation_rule_set.draft_saved")
    return draft


def raise_invalid(problems: list[rulebook.RuleProblem]) -> None:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.pointer or "/", []).append(problem.message)
    raise ValidationFailed("The rule set is not valid.", errors=errors, rule="invalid_rules", problems=problems)


def publish(session: Session, tenant_id: uuid.UUID, rule_set_id: uuid.UUID, *, actor: Actor) -> AllocationRuleSet:
    """Put a draft in force for its fiscal year; the version in force before it is retired. From now on the
    version never changes. ``Conflict`` if it is not a draft; ``ValidationFailed`` if its body is not valid."""
    draft = _draft(session, tenant_id, rule_set_id)
    problems = rulebook.check(draft.body)
    if problems:
        raise_invalid(problems)
    before = published_for(session, tenant_id, draft.fiscal_year)
    now = utcnow()
    if before is not None:
        before.status, before.retired_at = RETIRED, now
        # Flushed first: the partial unique index allows one published row per year at every statement.
        session.flush()
    draft.status, draft.published_at, draft.published_by_account_id = PUBLISHED, now, actor.account_id
    session.flush()
    _audit(
        session,
        draft,
        actor,
        "allocation_rule_set.published",
        retired_version=before.version if before is not None else None,
    )
    return draft


def retire(session: Session, tenant_id: uuid.UUID, rule_set_id: uuid.UUID, *, actor: Actor) -> AllocationRuleSet:
    """Take a published version out of force: the year falls back to the standard default until another is
    published. ``Conflict`` if the version is not published."""
    found = get(session, tenant_id, rule_set_id, lock=True)
    if found.status != PUBLISHED:
        raise Conflict(f"Version {found.version} is {found.status}: only the published one is retired.", rule="status")
    found.status, found.retired_at = RETIRED, utcnow()
    session.flush()
    _audit(session, found, actor, "allocation_rule_set.retired")
    return found


def _audit(session: Session, rule_set: AllocationRuleSet, actor: Actor, action: str, **more: Any) -> None:
    data = {
        "fiscal_year": rule_set.fiscal_year,
        "version": rule_set.version,
        "status": rule_set.status,
        "body_sha256": rule_set.body_sha256,
        **more,
    }
    audit.record(
        session,
        rule_set.tenant_id,
        actor=actor.label,
        action=action,
        object_type="allocation_rule_set",
        object_id=rule_set.id,
        data=data,
    )


# --- The difference between two versions ------------------------------------------------------------------------------


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every difference between two rule-set bodies, as the catalog's upgrade report lists them.

    Rows and adjustments are matched by code (added, removed, or changed key by key); reason ranks by reason; the
    tie-breakers are one ordered list (a new order is one change).
    """
    return [*_household(old, new), *_named(old, new), *_ties(old, new)]


def _household(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    for name in ("household_rule", "min_monthly_work_hours", "sibling_key", "rank_tiebreak", "max_preferences"):
        yield from compare("household", name, old.get(name), new.get(name))


def _named(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    old_rows, new_rows = old.get("base_points") or [], new.get("base_points") or []
    yield from compare_named("base_points", ("base_points",), old_rows, new_rows, "code")
    # The first matching row wins: the same rows in another order are other rules.
    old_codes, new_codes = [row["code"] for row in old_rows], [row["code"] for row in new_rows]
    if [c for c in old_codes if c in new_codes] != [c for c in new_codes if c in old_codes]:
        yield Change("base_points", CHANGED, "base_points (order)", old_codes, new_codes)
    yield from compare_mapping("reason_rank", ("reason_rank",), old.get("reason_rank"), new.get("reason_rank"))
    yield from compare_named("adjustments", ("adjustments",), old.get("adjustments"), new.get("adjustments"), "code")


def _ties(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    yield from compare("tie_breakers", "tie_breakers", old.get("tie_breakers"), new.get("tie_breakers"))
