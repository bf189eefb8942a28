"""Cross-checks of a childcare application (form 2.0.0) that its JSON Schema cannot express, each with its message
beside the field it is about (decision 0039).

The schema checks each answer alone; these check answers against each other and against the municipality's data:

* the start month is after the current month (until the application is filed), and each child is born before it;
* each child's age class (年齢区分: the age on 1 April of the start month's fiscal year, ``jp.childcare_age_class``)
  goes with the category asked: 1号/2号 from age 3, 3号 under 3; no child of school age;
* each facility named (ranked, current, a sibling's) is one of this municipality's, and takes that age class:
  a small-scale nursery (小規模保育) takes ages 0–2 only, a facility with no places ever for the class (its
  ``capacity_by_age``) is refused, 1号 (education) is only at a 認定こども園, and 保育短時間 only where the facility
  offers it (``accepts_short_hours``);
* 保育標準時間 needs every guardian's need to allow it: work or study of at least 120 hours a month (short hours
  below that, as is job seeking); employment counts only from the municipality's minimum hours;
* no child is listed twice (the same register entry, or the same name and date of birth).

Registered with ``applications.hooks`` for procedures whose output document is ``childcare_decision``; it runs on
every save of a draft (checking only what is answered) and on submit. Messages are worded for the reader
(``hooks.Worded``) through gettext; other tenants' facilities are never read (the query is the tenant's, under RLS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import hooks, repository

if TYPE_CHECKING:  # annotations only
    from madoguchi.applications.models import Application
    from madoguchi.registry.models import Facility

#: Hours of work (or study) a month from which a guardian's need allows 保育標準時間 (the national rule: 月120時間
#:程度; below it, 保育短時間).
STANDARD_HOURS = 120
#: Need reasons measured in hours a month (the form requires ``monthly_hours`` for them).
HOURLY_REASONS = ("employed", "self_employed", "student")
#: Need reasons whose care is 保育短時間 whatever else (求職活動).
SHORT_ONLY_REASONS = ("job_seeking",)
#: The first age class of 1号 and 2号 (満3歳以上); 3号 is below it.
THREE = 3
#: Age classes a childcare facility takes (0歳児 to 5歳児); 6 and above are at school.
OLDEST_CLASS = 5
SMALL_SCALE = "small_scale"
#: The facility kinds that offer education (1号): a 認定こども園 (a 保育所 or 小規模保育 does not).
EDUCATION_KINDS = ("certified_center",)

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")

Errors = dict[str, list[str]]


def _add(errors: Errors, pointer: str, message: str) -> None:
    messages = errors.setdefault(pointer, [])
    if message not in messages:
        messages.append(hooks.Worded(message))


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _month(value: Any) -> date | None:
    match = _MONTH.match(value) if isinstance(value, str) else None
    return date(int(match[1]), int(match[2]), 1) if match else None


def _english() -> bool:
    # Outside a request (a worker, a test) gettext has no catalog either: English throughout.
    return str(get_locale() or "en") == "en"


def _facility_name(facility: Facility) -> str:
    return facility.name_en if _english() else facility.name_ja


def _month_text(month: date) -> str:
    return f"{month:%Y-%m}" if _english() else jp.to_wareki_month(month)


def _class_text(age_class: int) -> str:
    return _("the %(age)d-year-old class", age=age_class)


def _fiscal_year_text(year: int) -> str:
    return f"FY{year}" if _english() else jp.fiscal_year_label_ja(year)


def _child_label(index: int, child: Mapping[str, Any]) -> str:
    return str(child.get("name") or _("child %(number)d", number=index + 1))


def childcare_form_errors(session: Session, application: Application, data: dict[str, Any]) -> Errors:
    """Messages keyed by JSON pointer; empty when the answers given agree (a draft's missing ones are not asked)."""
    errors: Errors = {}
    start = _month(data.get("desired_start_month"))
    # Asked before the application is filed: answering a clerk's request later must not fail on the calendar.
    if start is not None and start <= jp.today() and application.submitted_at is None:
        _add(errors, "/desired_start_month", _("Choose a month after the current one: places start on the 1st."))
        start = None  # the classes of a month already begun are not worth checking against
    facilities = {f.facility_code: f for f in repository.facilities(session, application.tenant_id)}
    children = _list(data.get("children"))
    for index, child in enumerate(children):
        if isinstance(child, dict):
            _check_child(errors, index, child, start, facilities, data)
    _check_duplicates(errors, children)
    _check_guardians(errors, data, application.settings_snapshot)
    household = data.get("household")
    siblings = _list(household.get("siblings_enrolled")) if isinstance(household, dict) else []
    for index, sibling in enumerate(siblings):
        code = sibling.get("facility_code") if isinstance(sibling, dict) else None
        if isinstance(code, str) and code not in facilities:
            _add(errors, f"/household/siblings_enrolled/{index}/facility_code", _unknown_facility(code))
    return errors


def _unknown_facility(code: str) -> str:
    return _("%(code)s is not a facility of this municipality: choose one from the list.", code=code)


def _age_class(
    errors: Errors, pointer: str, child: Mapping[str, Any], start: date | None
) -> tuple[int | None, int | None]:
    """(age class, fiscal year) of the child in the start month's fiscal year, or Nones when not known (or wrong)."""
    birth = _date(child.get("birth_date"))
    if birth is None or start is None:
        return None, None
    if birth >= start:
        _add(
            errors,
            f"{pointer}/birth_date",
            _("The child must be born before the start month (%(month)s).", month=_month_text(start)),
        )
        return None, None
    fiscal_year = jp.fiscal_year_of(start)
    age_class = jp.childcare_age_class(birth, fiscal_year)
    if age_class > OLDEST_CLASS:
        message = _(
            "In %(year)s this child is of school age (%(class)s): childcare facilities take ages 0 to 5.",
            year=_fiscal_year_text(fiscal_year),
            **{"class": _class_text(age_class)},
        )
        _add(errors, f"{pointer}/birth_date", message)
        return None, None
    return age_class, fiscal_year


def _check_child(
    errors: Errors,
    index: int,
    child: Mapping[str, Any],
    start: date | None,
    facilities: Mapping[str, Facility],
    data: Mapping[str, Any],
) -> None:
    pointer = f"/children/{index}"
    age_class, fiscal_year = _age_class(errors, pointer, child, start)
    category = child.get("desired_category")
    if age_class is not None and fiscal_year is not None and category in ("1", "2", "3"):
        in_year = {"year": _fiscal_year_text(fiscal_year), "class": _class_text(age_class)}
        if category == "3" and age_class >= THREE:
            message = _(
                "In %(year)s this child is in %(class)s (the age on 1 April): category 3 is for children under 3."
                " Choose category 1 or 2.",
                **in_year,
            )
            _add(errors, f"{pointer}/desired_category", message)
        elif category in ("1", "2") and age_class < THREE:
            message = _(
                "In %(year)s this child is in %(class)s (the age on 1 April): categories 1 and 2 are from age 3."
                " Choose category 3.",
                **in_year,
            )
            _add(errors, f"{pointer}/desired_category", message)
    for code in _list(child.get("desired_facilities")):
        if not isinstance(code, str):
            continue
        facility = facilities.get(code)
        if facility is None:
            _add(errors, f"{pointer}/desired_facilities", _unknown_facility(code))
            continue
        message = _refusal(facility, age_class, category) or _hours_refusal(facility, child)
        if message:
            _add(errors, f"{pointer}/desired_facilities", message)
    current = child.get("current_facility")
    if isinstance(current, str) and current not in facilities:
        _add(errors, f"{pointer}/current_facility", _unknown_facility(current))
    if child.get("care_time") == "standard" and category in ("2", "3"):
        short = _short_hours_guardians(data)
        if short:
            message = _(
                "Standard hours need every guardian to work or study at least %(hours)d hours a month (or another"
                " reason that needs full-day care): %(who)s. Choose short hours.",
                hours=STANDARD_HOURS,
                who="、".join(short) if not _english() else ", ".join(short),
            )
            _add(errors, f"{pointer}/care_time", message)


def _refusal(facility: Facility, age_class: int | None, category: Any) -> str | None:
    """Why ``facility`` cannot take the child (its kind, or no places ever for the class), or None."""
    name = _facility_name(facility)
    if category == "1" and facility.kind not in EDUCATION_KINDS:
        return _(
            "%(facility)s does not offer education (category 1): choose a 認定こども園, or category 2.",
            facility=name,
        )
    if age_class is None:
        return None
    if facility.kind == SMALL_SCALE and age_class >= THREE:
        return _(
            "%(facility)s is a small-scale nursery: it takes children aged 0 to 2 only, and this child will be in"
            " %(class)s.",
            facility=name,
            **{"class": _class_text(age_class)},
        )
    places = (facility.capacity_by_age or {}).get(str(age_class)) or 0
    if places <= 0:
        return _(
            "%(facility)s has no places for %(class)s: choose another facility.",
            facility=name,
            **{"class": _class_text(age_class)},
        )
    return None


def _hours_refusal(facility: Facility, child: Mapping[str, Any]) -> str | None:
    """A facility that offers no 保育短時間 cannot take a child certified for it."""
    if child.get("care_time") == "short" and not facility.accepts_short_hours:
        return _(
            "%(facility)s does not take children for short hours: choose another facility.",
            facility=_facility_name(facility),
        )
    return None


def _short_hours_guardians(data: Mapping[str, Any]) -> list[str]:
    """The guardians (by name) whose need allows only 保育短時間."""
    found = []
    for number, guardian in enumerate(data.get("guardians") or [], start=1):
        if not isinstance(guardian, dict):
            continue
        reason, hours = guardian.get("need_reason"), guardian.get("monthly_hours")
        hourly_short = reason in HOURLY_REASONS and isinstance(hours, int) and hours < STANDARD_HOURS
        if hourly_short or reason in SHORT_ONLY_REASONS:
            label = str(guardian.get("name") or _("guardian %(number)d", number=number))
            found.append(_("%(name)s (%(hours)s)", name=label, hours=_hours_text(reason, hours)))
    return found


def _hours_text(reason: Any, hours: Any) -> str:
    if reason in SHORT_ONLY_REASONS:
        return _("looking for work")
    return _("%(hours)d hours a month", hours=hours)


def _check_guardians(errors: Errors, data: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Employment counts as a need for care only from the municipality's minimum hours a month."""
    minimum = settings.get("min_monthly_work_hours")
    if not isinstance(minimum, int):
        return
    for index, guardian in enumerate(data.get("guardians") or []):
        if not isinstance(guardian, dict):
            continue
        hours = guardian.get("monthly_hours")
        if guardian.get("need_reason") in ("employed", "self_employed") and isinstance(hours, int) and hours < minimum:
            message = _(
                "Work counts as a need for care here from %(minimum)d hours a month. If it is less, choose the"
                " reason that fits (for example looking for work).",
                minimum=minimum,
            )
            _add(errors, f"/guardians/{index}/monthly_hours", message)


def _check_duplicates(errors: Errors, children: list[Any]) -> None:
    """A child listed twice: the same register entry, or the same name (異体字 folded) and date of birth."""
    seen: dict[object, int] = {}
    for index, child in enumerate(children):
        if not isinstance(child, dict):
            continue
        keys: list[object] = []
        if child.get("resident_code"):
            keys.append(("code", child["resident_code"]))
        if child.get("name") and child.get("birth_date"):
            keys.append(("name", jp.name_search_key(str(child["name"])), child["birth_date"]))
        earlier = next((seen[key] for key in keys if key in seen), None)
        if earlier is not None:
            message = _(
                "This child is already listed as %(other)s: list each child once.",
                other=_child_label(earlier, children[earlier]),
            )
            _add(errors, f"/children/{index}/name", message)
            continue
        for key in keys:
            seen[key] = index


hooks.on_data_check("childcare_decision")(childcare_form_errors)
