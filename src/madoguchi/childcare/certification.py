"""教育・保育給付認定 (支給認定): the clerk's decision per child on ``certify``, checked before anything changes.

The decision is recorded as ``application.decision["certification"]`` (the shape every part of issue 17 reads):
``{"certified_on": "YYYY-MM-DD", "children": [{"index", "category", "care_time", "valid_from", "valid_to"}]}``,
one entry per child of the application (its index in ``/children``).

What is checked (子ども・子育て支援法19条・20条, 施行規則1条の5・4条・8条; decision 0041):

* the category against the child's age on ``valid_from``: 3号 is for a child under 3 (満3歳未満), 1号 and 2号 for a
  child of 3 or more who has not reached school age; 2号 and 3号 need a guardian's need for care (hours of work at
  least the municipality's minimum);
* the 保育必要量: none for 1号; 標準時間 only when every working guardian works at least 120 hours a month (the
  common rule; a clerk may always choose 短時間);
* the validity: from no earlier than the day the application arrived, to no later than the end the law sets for
  the category — 3号 until the day before the child reaches 3 (満3歳に達する日の前日: two days before the 3rd
  birthday), 1号・2号 until the child reaches school age (the 31 March before the first school year).

A refusal names each wrong field with a code and its values (``problems``), so the console words it beside the
field in the page's language; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NoReturn

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import hooks
from madoguchi.applications.models import Application
from madoguchi.errors import ValidationFailed

#: The workflow action (catalog vocabulary) whose decision this module checks.
ACTION = "record_certification"
CATEGORIES = ("1", "2", "3")
CARE_TIMES = ("standard", "short")
#: 保育標準時間 is for households working about 120 hours a month or more (施行規則4条; the common rule).
STANDARD_MIN_HOURS = 120
#: The minimum hours of work a month when the procedure's settings give none (施行規則1条の5: 48–64).
DEFAULT_MIN_HOURS = 64
#: Need reasons measured in hours a month (the form's ``monthly_hours``).
HOURS_REASONS = frozenset({"employed", "self_employed", "student"})
#: 求職活動: the certification lasts until the end of the month in which 90 days pass (施行規則8条).
JOB_SEEKING_DAYS = 90
MAX_CHILDREN = 6
#: What is decided per child (besides its index).
FIELDS = ("category", "care_time", "valid_from", "valid_to")

#: The English wording of each problem (the API's problem+json); the console words them from the codes.
MESSAGES = {
    "required": "is required",
    "unknown_child": "names no child of this application",
    "duplicate_child": "decides the same child twice",
    "missing_child": "decide every child of the application (missing: {missing})",
    "too_old_for_3": "3号 is for a child under 3; the child is {age} on {on}",
    "too_young_for_1_2": "1号 and 2号 are for a child of 3 or more; the child is {age} on {on}",
    "school_age": "the child reaches school age on {on}: no certification from then",
    "no_need": "2号 and 3号 need a need for care: {guardian} works {hours} hours a month, under the minimum {minimum}",
    "no_care_time_for_1": "1号 has no hours of care: leave it empty",
    "care_time_required": "choose 標準時間 (standard) or 短時間 (short)",
    "standard_needs_hours": "標準時間 needs {minimum} hours of work a month; {guardian} works {hours}",
    "before_application": "cannot start before the application arrived ({on})",
    "before_birth": "cannot start before the child was born ({on})",
    "ends_before_start": "must not be before the start ({on})",
    "after_legal_end": "must not be after {on}, where the law ends this category",
    "in_the_future": "must not be in the future",
    "no_birth_date": "the child's birth date is not known: it is needed to certify",
}


class ChildCertificationSchema(Schema):
    """One child's certification: category, hours of care (none for 1号) and the validity period."""

    class Meta:
        unknown = RAISE

    index = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_CHILDREN - 1))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    care_time = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(CARE_TIMES))
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(required=True)


class CertificationSchema(Schema):
    class Meta:
        unknown = RAISE

    certified_on = fields.Date(load_default=None, allow_none=True)
    children = fields.List(
        fields.Nested(ChildCertificationSchema), required=True, validate=validate.Length(min=1, max=MAX_CHILDREN)
    )


class CertificationDecisionSchema(Schema):
    """The ``decision`` of the ``certify`` transition (the API's body and the console's form both load it)."""

    class Meta:
        unknown = EXCLUDE  # other parts of the decision (none today) are not this check's business

    certification = fields.Nested(CertificationSchema, required=True)


# ------------------------------------------------------------------------------------- reading the form


@dataclass(frozen=True)
class Child:
    index: int
    name: str
    birth_date: date | None
    desired_category: str | None
    care_time: str | None


@dataclass(frozen=True)
class Guardian:
    name: str
    need_reason: str | None
    monthly_hours: int | None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def children_of(data: dict[str, Any]) -> list[Child]:
    """The children of the application (form 2.0.0 ``/children``; the one ``/child`` of form 1.0.0)."""
    if isinstance(data.get("children"), list):
        items = [c if isinstance(c, dict) else {} for c in data["children"]]
    else:  # form 1.0.0: one child, category and hours asked once for the application
        child = dict(data.get("child") or {})
        child.setdefault("desired_category", data.get("certification_category"))
        child.setdefault("care_time", data.get("care_time"))
        items = [child]
    return [
        Child(
            index=i,
            name=str(c.get("name") or ""),
            birth_date=_date(c.get("birth_date")),
            desired_category=c.get("desired_category") if c.get("desired_category") in CATEGORIES else None,
            care_time=c.get("care_time") if c.get("care_time") in CARE_TIMES else None,
        )
        for i, c in enumerate(items)
    ]


def guardians_of(data: dict[str, Any]) -> list[Guardian]:
    """The guardians and their need for care (form 2.0.0; form 1.0.0 asked ``employment_status`` and hours)."""
    found = []
    for g in data.get("guardians") or []:
        if not isinstance(g, dict):
            continue
        hours = g.get("monthly_hours", g.get("monthly_work_hours"))
        found.append(
            Guardian(
                name=str(g.get("name") or ""),
                need_reason=g.get("need_reason") or g.get("employment_status"),
                monthly_hours=hours if isinstance(hours, int) and not isinstance(hours, bool) else None,
            )
        )
    return found


def start_of(data: dict[str, Any]) -> date | None:
    """The 1st of the desired start month (``/desired_start_month``, ``YYYY-MM``)."""
    return _date(f"{data.get('desired_start_month')}-01") if data.get("desired_start_month") else None


def arrived_on(application: Application) -> date | None:
    """The day (Japan) the application arrived: certification takes effect no earlier (子ども・子育て支援法20条)."""
    return jp.date_in_japan(application.submitted_at) if application.submitted_at else None


# ----------------------------------------------------------------------------------------- the law's dates


def reaches_age_on(birth: date, years: int) -> date:
    """The first day the child is ``years`` old (``jp.age_on``): the birthday, or 1 March for one born on 29
    February in a common year. The law's 満N歳に達する日 is the day before it."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:  # 29 February, in a common year
        return date(birth.year + years, 3, 1)


def under_three_ends(birth: date) -> date:
    """The last day of a 3号 certification: 満3歳に達する日の前日 (施行規則8条), two days before the 3rd birthday."""
    return reaches_age_on(birth, 3) - timedelta(days=2)


def school_age_on(birth: date) -> date:
    """The first school year's first day (学校教育法17条: the first 1 April after the child reached 6)."""
    six = reaches_age_on(birth, 6)
    april = date(six.year, 4, 1)
    return april if six <= april else date(six.year + 1, 4, 1)


def legal_end(category: str, birth: date) -> date:
    """The latest day a certification of ``category`` may run to (施行規則8条)."""
    if category == "3":
        return under_three_ends(birth)
    return school_age_on(birth) - timedelta(days=1)  # 小学校就学の始期に達するまで


def _month_end(day: date) -> date:
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def category_for_age(birth: date, on: date) -> str:
    """The category the child's age suggests when the parent asked none: 3号 under 3, else 2号."""
    return "3" if on < reaches_age_on(birth, 3) else "2"


def _min_hours(application: Application) -> int:
    value = (application.settings_snapshot or {}).get("min_monthly_work_hours")
    if isinstance(value, dict):
        value = value.get("default")
    return int(value) if isinstance(value, int) else DEFAULT_MIN_HOURS


def _working(guardians: list[Guardian]) -> list[Guardian]:
    return [g for g in guardians if g.need_reason in HOURS_REASONS]


def default_care_time(guardians: list[Guardian]) -> str:
    working = _working(guardians)
    enough = all((g.monthly_hours or 0) >= STANDARD_MIN_HOURS for g in working)
    return "standard" if enough and guardians else "short"


def proposal(application: Application, *, today: date | None = None) -> dict[str, Any]:
    """What the clerk's form starts from: per child what the parent asked (category, 保育必要量), valid from the
    desired start month's 1st (not before the application arrived) to the end the law sets for the category
    (shorter for 求職活動). The clerk changes what the evidence says otherwise; ``check`` then judges it."""
    data = application.data or {}
    guardians = guardians_of(data)
    today = today or jp.today()
    start = start_of(data) or today
    arrived = arrived_on(application)
    valid_from = max(start, arrived) if arrived else start
    children = []
    for child in children_of(data):
        entry: dict[str, Any] = {"index": child.index, "category": child.desired_category, "care_time": None}
        if child.birth_date is not None:
            begins = max(valid_from, child.birth_date)
            category = child.desired_category or category_for_age(child.birth_date, begins)
            ends = legal_end(category, child.birth_date)
            if category != "1" and any(g.need_reason == "job_seeking" for g in guardians):
                ends = min(ends, _month_end(begins + timedelta(days=JOB_SEEKING_DAYS)))
            entry.update(category=category, valid_from=begins.isoformat(), valid_to=max(ends, begins).isoformat())
            if category != "1":
                # What the parent asked, unless the hours cannot support 標準時間 (the check would refuse it).
                allowed = default_care_time(guardians)
                entry["care_time"] = "short" if allowed == "short" else child.care_time or allowed
        children.append(entry)
    return {"certified_on": today.isoformat(), "children": children}


# -------------------------------------------------------------------------------------------- the check


class _Problems:
    """Problems keyed by a JSON pointer into the decision, with a code and values the surfaces word."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, pointer: str, code: str, **values: Any) -> None:
        self.items.append({"pointer": pointer, "code": code, "values": values})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors: dict[str, list[str]] = {}
        for item in self.items:
            errors.setdefault(item["pointer"], []).append(MESSAGES[item["code"]].format(**item["values"]))
        raise ValidationFailed("The certification is not valid.", errors=errors, problems=self.items)


def _schema_problems(messages: Any, pointer: str, problems: _Problems) -> None:
    """marshmallow's nested messages as problems by pointer (the API's problem+json and the console's fields)."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            _schema_problems(value, f"{pointer}/{key}", problems)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        problems.items.append({"pointer": pointer, "code": "schema", "values": {}, "message": " ".join(messages)})
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            _schema_problems(value, f"{pointer}/{index}", problems)


def _raise_schema(error: SchemaError) -> NoReturn:
    problems = _Problems()
    _schema_problems(error.messages, "", problems)
    errors: dict[str, list[str]] = {}
    for item in problems.items:
        errors.setdefault(item["pointer"], []).append(item["message"])
    raise ValidationFailed("The certification is not valid.", errors=errors, problems=problems.items)


def check(session: Session, application: Application, decision: dict[str, Any] | None) -> dict[str, Any]:
    """The clerk's certification, checked against the application; returns the decision to record (dates as ISO
    strings) or raises ``ValidationFailed`` naming each wrong field. Nothing is changed here."""
    try:
        loaded = CertificationDecisionSchema().load(decision or {})
    except SchemaError as error:
        _raise_schema(error)
    certification = loaded["certification"]
    data = application.data or {}
    children = {child.index: child for child in children_of(data)}
    guardians = guardians_of(data)
    arrived = arrived_on(application)
    today = jp.today()
    problems = _Problems()
    certified_on = certification.get("certified_on") or today
    if certified_on > today:
        problems.add("/certification/certified_on", "in_the_future")
    seen: set[int] = set()
    for position, entry in enumerate(certification["children"]):
        at = f"/certification/children/{position}"
        child = children.get(entry["index"])
        if child is None:
            problems.add(f"{at}/index", "unknown_child")
            continue
        if entry["index"] in seen:
            problems.add(f"{at}/index", "duplicate_child")
            continue
        seen.add(entry["index"])
        _check_child(application, child, entry, guardians, arrived, at, problems)
    missing = sorted(set(children) - seen)
    if missing:
        problems.add("/certification/children", "missing_child", missing=", ".join(str(i + 1) for i in missing))
    problems.raise_if_any()
    return {
        "certification": {
            "certified_on": certified_on.isoformat(),
            "children": [
                {
                    "index": entry["index"],
                    "category": entry["category"],
                    "care_time": entry["care_time"] if entry["category"] != "1" else None,
                    "valid_from": entry["valid_from"].isoformat(),
                    "valid_to": entry["valid_to"].isoformat(),
                }
                for entry in sorted(certification["children"], key=lambda e: e["index"])
            ],
        }
    }


def _check_child(
    application: Application,
    child: Child,
    entry: dict[str, Any],
    guardians: list[Guardian],
    arrived: date | None,
    at: str,
    problems: _Problems,
) -> None:
    category, care_time = entry["category"], entry["care_time"]
    valid_from, valid_to = entry["valid_from"], entry["valid_to"]
    birth = child.birth_date
    if birth is None:
        problems.add(f"{at}/category", "no_birth_date")
        return
    # The validity first: the category is judged on the age when it starts.
    if arrived is not None and valid_from < arrived:
        problems.add(f"{at}/valid_from", "before_application", on=arrived.isoformat())
    elif valid_from < birth:
        problems.add(f"{at}/valid_from", "before_birth", on=birth.isoformat())
    if valid_to < valid_from:
        problems.add(f"{at}/valid_to", "ends_before_start", on=valid_from.isoformat())
    age = jp.age_on(birth, max(valid_from, birth))
    school = school_age_on(birth)
    if valid_from >= school:
        problems.add(f"{at}/category", "school_age", on=school.isoformat())
    elif category == "3" and valid_from >= reaches_age_on(birth, 3):
        problems.add(f"{at}/category", "too_old_for_3", age=age, on=valid_from.isoformat())
    elif category in ("1", "2") and valid_from < reaches_age_on(birth, 3):
        problems.add(f"{at}/category", "too_young_for_1_2", age=age, on=valid_from.isoformat())
    elif valid_to > legal_end(category, birth) and valid_to >= valid_from:
        problems.add(f"{at}/valid_to", "after_legal_end", on=legal_end(category, birth).isoformat())
    if category == "1":
        if care_time is not None:
            problems.add(f"{at}/care_time", "no_care_time_for_1")
        return
    minimum = _min_hours(application)
    for guardian in _working(guardians):
        hours = guardian.monthly_hours or 0
        if hours < minimum:
            problems.add(f"{at}/category", "no_need", guardian=guardian.name, hours=hours, minimum=minimum)
            break
    if care_time is None:
        problems.add(f"{at}/care_time", "care_time_required")
    elif care_time == "standard":
        for guardian in _working(guardians):
            if (guardian.monthly_hours or 0) < STANDARD_MIN_HOURS:
                problems.add(
                    f"{at}/care_time",
                    "standard_needs_hours",
                    guardian=guardian.name,
                    hours=guardian.monthly_hours or 0,
                    minimum=STANDARD_MIN_HOURS,
                )
                break


hooks.on_decision(ACTION)(check)
