"""The tenant admin's childcare allocation rules (利用調整基準): versions per fiscal year, editing a draft,
publishing, and the difference between two versions (decision 0038).

A draft is edited two ways: a form for the common fields (the household rule, the minimum hours, the points of
each row and adjustment, the order of the tie-breakers) whose fields are named by the JSON pointer they set, and the
whole body as JSON text. A refused save re-renders with status 422, each message beside its field (the text's
messages with their line and pointer), and stores nothing. A published version is shown read-only.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from flask import abort, flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.childcare import rule_sets
from madoguchi.childcare import rules as rulebook
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.tenant_admin.views.common import Errors, _add, _form_text, _render, _to, bp
from madoguchi.tenant_admin.views.upgrades import _change_groups

STATUS_LABELS = {
    "draft": lazy_gettext("Draft"),
    "published": lazy_gettext("In force"),
    "retired": lazy_gettext("Retired"),
}
AREA_LABELS = {
    "household": lazy_gettext("Household rules"),
    "base_points": lazy_gettext("Base points per guardian"),
    "reason_rank": lazy_gettext("Order of the reasons for care"),
    "adjustments": lazy_gettext("Adjustments"),
    "tie_breakers": lazy_gettext("Equal scores"),
}
WARNINGS = {
    "rank_tiebreak": lazy_gettext(
        "The preference rank breaks equal scores. A family that lists its facilities in its true order can then "
        "lose a place to one that lists them strategically: Tama City removed such a rule in FY2022. Keep it off "
        "unless your rules require it."
    ),
    "adjustments_cross_ranks": lazy_gettext(
        "With the lower guardian's rank, the adjustments together are as large as the step between two ranks: "
        "they can move a household into another rank."
    ),
}
HOUSEHOLD_RULES = (
    ("sum", lazy_gettext("Sum of both guardians' points")),
    ("min_rank", lazy_gettext("The lower guardian's points (rank)")),
)
SIBLING_KEYS = (
    ("min", lazy_gettext("Lowest of the siblings")),
    ("average", lazy_gettext("Average of the siblings")),
    ("max", lazy_gettext("Highest of the siblings")),
)
SOURCES = (
    (rule_sets.FROM_DEFAULT, lazy_gettext("The standard rules")),
    (rule_sets.FROM_PUBLISHED, lazy_gettext("The latest published version")),
)
#: Whole numbers the common-fields form sets, by JSON pointer (rows and adjustments are added per body).
NUMBERS = ("/min_monthly_work_hours", "/max_preferences")
CHOICES = {"/household_rule": HOUSEHOLD_RULES, "/sibling_key": SIBLING_KEYS}
TIE_PREFIX = "tie:"


def field_id(pointer: str) -> str:
    """The HTML id of the field that sets ``pointer`` (``/base_points/3/points`` -> ``f-base_points-3-points``)."""
    return "f" + pointer.replace("/", "-")


def _rule_set(rule_set_id: uuid.UUID) -> Any:
    try:
        return rule_sets.get(db_session(), current_tenant.id, rule_set_id)
    except NotFound:
        abort(404)


def _list_page(status: int = 200, *, values: dict[str, str] | None = None, errors: Errors | None = None) -> Any:
    versions = rule_sets.listed(db_session(), current_tenant.id)
    years: dict[int, list[Any]] = {}
    for version in versions:
        years.setdefault(version.fiscal_year, []).append(version)
    next_year = jp.fiscal_year_of(jp.today()) + 1
    return _render(
        "allocation_rules.html",
        status,
        section="allocation_rules",
        years=years,
        status_labels=STATUS_LABELS,
        year_label=jp.fiscal_year_label_ja,
        sources=SOURCES,
        values=values or {"fiscal_year": str(next_year), "source": rule_sets.FROM_DEFAULT},
        errors=errors or {},
    )


@bp.get("/allocation-rules")
def allocation_rules() -> ResponseReturnValue:
    return _list_page()


@bp.post("/allocation-rules")
def allocation_rules_new() -> ResponseReturnValue:
    values = {"fiscal_year": jp.normalize_input(_form_text("fiscal_year")), "source": _form_text("source")}
    errors: Errors = {}
    try:
        year = int(values["fiscal_year"])
    except ValueError:
        _add(errors, "fiscal_year", _("Enter the fiscal year as four digits, for example 2027."))
        return _list_page(422, values=values, errors=errors)
    try:
        draft = rule_sets.create_draft(
            db_session(), current_tenant.id, year, source=values["source"], actor=current_principal().actor
        )
    except (ValidationFailed, Conflict) as refused:
        db_session().rollback()
        rule = refused.extra.get("rule")
        if rule == "fiscal_year":
            _add(errors, "fiscal_year", _("Enter the fiscal year as four digits, for example 2027."))
        elif rule == "draft_exists":
            _add(errors, "fiscal_year", _("This fiscal year has a draft already: edit that one."))
        elif rule == "nothing_published":
            _add(errors, "source", _("No version is published yet: start from the standard rules."))
        else:
            _add(errors, "source", _("Choose where the draft starts from."))
        return _list_page(422, values=values, errors=errors)
    flash(_("Version %(version)s of FY%(year)s is a new draft.", version=draft.version, year=draft.fiscal_year))
    return _to("tenant_admin.allocation_rule_set", rule_set_id=draft.id)


# --- One version ------------------------------------------------------------------------------------------------------


def _fields(body: dict[str, Any], values: dict[str, str] | None) -> dict[str, Any]:
    """What the common-fields form shows: each field's pointer, id and value (the posted one after a refusal)."""
    posted = values or {}

    def value(pointer: str, current: Any) -> str:
        return posted.get(pointer, "" if current is None else str(current))

    ties = body.get("tie_breakers") or []
    return {
        "numbers": {p: value(p, body.get(p[1:])) for p in NUMBERS},
        "choices": {p: value(p, body.get(p[1:])) for p in CHOICES},
        "rank_tiebreak": posted.get("/rank_tiebreak", "true" if body.get("rank_tiebreak") else "") == "true",
        "rows": [
            {
                "row": row,
                "points": value(f"/base_points/{i}/points", row["points"]),
                "hours": value(f"/base_points/{i}/min_monthly_hours", row.get("min_monthly_hours"))
                if "min_monthly_hours" in row
                else None,
                "index": i,
            }
            for i, row in enumerate(body.get("base_points") or [])
        ],
        "adjustments": [
            {"entry": entry, "points": value(f"/adjustments/{i}/points", entry.get("points")), "index": i}
            for i, entry in enumerate(body.get("adjustments") or [])
        ],
        "ties": [
            (code, posted.get(TIE_PREFIX + code, str(ties.index(code) + 1) if code in ties else ""))
            for code in rulebook.TIE_BREAKERS
        ],
    }


def _version_page(
    rule_set: Any,
    status: int = 200,
    *,
    values: dict[str, str] | None = None,
    text: str | None = None,
    errors: Errors | None = None,
) -> Any:
    body = rule_set.body
    others = [v for v in rule_sets.listed(db_session(), current_tenant.id) if v.id != rule_set.id]
    return _render(
        "allocation_rule_set.html",
        status,
        section="allocation_rules",
        rule_set=rule_set,
        body=body,
        fields=_fields(body, values),
        text=rulebook.pretty(body) if text is None else text,
        warnings=[WARNINGS[w.code] for w in rulebook.warnings(body)] if not rulebook.check(body) else [],
        others=others,
        status_labels=STATUS_LABELS,
        household_rules=HOUSEHOLD_RULES,
        sibling_keys=SIBLING_KEYS,
        tie_labels=rulebook.TIE_BREAKER_LABELS,
        field_id=field_id,
        errors=errors or {},
    )


@bp.get("/allocation-rules/<uuid:rule_set_id>")
def allocation_rule_set(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    return _version_page(_rule_set(rule_set_id))


def _whole_number(text: str) -> int | None:
    try:
        return int(jp.normalize_input(text).strip())
    except ValueError:
        return None


def _apply_fields(body: dict[str, Any], errors: Errors) -> tuple[dict[str, Any], dict[str, str]]:
    """The body with the common fields as posted, and the posted values (to show them again after a refusal)."""
    new, values = copy.deepcopy(body), {}
    numbers = [*NUMBERS]
    numbers += [f"/base_points/{i}/points" for i in range(len(body["base_points"]))]
    numbers += [
        f"/base_points/{i}/min_monthly_hours" for i, r in enumerate(body["base_points"]) if "min_monthly_hours" in r
    ]
    numbers += [f"/adjustments/{i}/points" for i, e in enumerate(body["adjustments"]) if "points" in e]
    for pointer in numbers:
        values[pointer] = request.form.get(pointer, "")
        number = _whole_number(values[pointer])
        if number is None:
            _add(errors, field_id(pointer), _("Enter a whole number."))
            continue
        _set(new, pointer, number)
    for pointer in CHOICES:
        values[pointer] = request.form.get(pointer, "")
        _set(new, pointer, values[pointer])
    values["/rank_tiebreak"] = "true" if request.form.get("/rank_tiebreak") == "true" else ""
    new["rank_tiebreak"] = values["/rank_tiebreak"] == "true"
    positions: list[tuple[int, str]] = []
    for code in rulebook.TIE_BREAKERS:
        values[TIE_PREFIX + code] = request.form.get(TIE_PREFIX + code, "").strip()
        if not values[TIE_PREFIX + code]:
            continue
        position = _whole_number(values[TIE_PREFIX + code])
        if position is None or position < 1:
            _add(errors, field_id("/tie_breakers"), _("Number each tie-breaker you use 1, 2, 3…, or leave it empty."))
            continue
        positions.append((position, code))
    new["tie_breakers"] = [code for _position, code in sorted(positions)]
    return new, values


def _set(body: dict[str, Any], pointer: str, value: Any) -> None:
    *parents, last = pointer.split("/")[1:]
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value


def _problem_fields(problems: list[rulebook.RuleProblem], fields: set[str], errors: Errors) -> None:
    """Each problem beside the field that sets its pointer (tie-breakers by the list), else in the summary."""
    for problem in problems:
        where = problem.pointer
        if where.startswith("/tie_breakers"):
            where = "/tie_breakers"
        target = field_id(where) if where in fields else "form"
        message = problem.message if target != "form" else f"{problem.pointer}: {problem.message}"
        _add(errors, target, message)


@bp.post("/allocation-rules/<uuid:rule_set_id>/fields")
def allocation_rule_set_fields(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    rule_set = _rule_set(rule_set_id)
    if rule_set.status != "draft":
        return _not_a_draft(rule_set)
    errors: Errors = {}
    body, values = _apply_fields(rule_set.body, errors)
    if errors:
        return _version_page(rule_set, 422, values=values, errors=errors)
    try:
        rule_sets.save_draft(db_session(), current_tenant.id, rule_set.id, body, actor=current_principal().actor)
    except ValidationFailed as refused:
        db_session().rollback()
        fields = {*values, "/tie_breakers"}
        _problem_fields(refused.extra.get("problems") or [], fields, errors)
        return _version_page(_rule_set(rule_set_id), 422, values=values, errors=errors)
    flash(_("The draft is saved."))
    return _to("tenant_admin.allocation_rule_set", rule_set_id=rule_set.id)


@bp.post("/allocation-rules/<uuid:rule_set_id>/text")
def allocation_rule_set_text(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    rule_set = _rule_set(rule_set_id)
    if rule_set.status != "draft":
        return _not_a_draft(rule_set)
    text = request.form.get("body", "")
    body, problems = rulebook.check_text(text)
    if body is not None:
        try:
            rule_sets.save_draft(db_session(), current_tenant.id, rule_set.id, body, actor=current_principal().actor)
        except ValidationFailed as refused:  # pragma: no cover - check_text and save_draft check the same
            db_session().rollback()
            problems = refused.extra.get("problems") or []
    if problems:
        errors: Errors = {}
        for problem in problems:
            where = problem.pointer or "/"
            if problem.line:
                message = _(
                    "Line %(line)s, %(pointer)s: %(message)s", line=problem.line, pointer=where, message=problem.message
                )
            else:
                message = _("%(pointer)s: %(message)s", pointer=where, message=problem.message)
            _add(errors, "body", message)
        return _version_page(rule_set, 422, text=text, errors=errors)
    flash(_("The draft is saved."))
    return _to("tenant_admin.allocation_rule_set", rule_set_id=rule_set.id)


def _not_a_draft(rule_set: Any) -> ResponseReturnValue:
    errors: Errors = {}
    _add(
        errors, "form", _("This version is no longer a draft: it cannot change. Start a new draft to change the rules.")
    )
    return _version_page(rule_set, 409, errors=errors)


@bp.post("/allocation-rules/<uuid:rule_set_id>/publish")
def allocation_rule_set_publish(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    rule_set = _rule_set(rule_set_id)
    try:
        published = rule_sets.publish(db_session(), current_tenant.id, rule_set.id, actor=current_principal().actor)
    except Conflict:
        db_session().rollback()
        return _not_a_draft(_rule_set(rule_set_id))
    except ValidationFailed as refused:
        db_session().rollback()
        errors: Errors = {}
        _problem_fields(refused.extra.get("problems") or [], set(), errors)
        return _version_page(_rule_set(rule_set_id), 422, errors=errors)
    flash(
        _(
            "Version %(version)s is now in force for FY%(year)s. Rounds already frozen keep the rules they were "
            "frozen under.",
            version=published.version,
            year=published.fiscal_year,
        )
    )
    return _to("tenant_admin.allocation_rule_set", rule_set_id=published.id)


@bp.post("/allocation-rules/<uuid:rule_set_id>/retire")
def allocation_rule_set_retire(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    rule_set = _rule_set(rule_set_id)
    try:
        rule_sets.retire(db_session(), current_tenant.id, rule_set.id, actor=current_principal().actor)
    except Conflict:
        db_session().rollback()
        errors: Errors = {}
        _add(errors, "form", _("Only the version in force can be retired."))
        return _version_page(_rule_set(rule_set_id), 409, errors=errors)
    flash(
        _(
            "The version is retired: FY%(year)s uses the standard rules until another is published.",
            year=rule_set.fiscal_year,
        )
    )
    return _to("tenant_admin.allocation_rule_set", rule_set_id=rule_set.id)


# --- The difference between two versions ------------------------------------------------------------------------------


@bp.get("/allocation-rules/<uuid:rule_set_id>/diff")
def allocation_rule_set_diff(rule_set_id: uuid.UUID) -> ResponseReturnValue:
    new = _rule_set(rule_set_id)
    try:
        against = uuid.UUID(request.args.get("against", ""))
    except ValueError:
        abort(404)
    old = _rule_set(against)
    return _render(
        "allocation_rules_diff.html",
        section="allocation_rules",
        old=old,
        new=new,
        change_groups=_change_groups(rule_sets.diff(old.body, new.body), AREA_LABELS),
    )
