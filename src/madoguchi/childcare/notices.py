"""What the 利用決定通知書 and the 保留通知書 state (issue 17 point 6), from the application and its decision.

Both read the round's result from ``application.decision["allocation"]`` and the 支給認定 from
``application.decision["certification"]`` (the brief's shared shapes), never from the round tables; names, birth
dates and addresses come from the register (the form's text only where a child is not linked to it); facility
names from the tenant's facilities. The explanation is written out in Japanese (``explanations``) into the content,
so the stored content is exactly what the signed PDF prints. ``documents`` renders and signs it.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.childcare import explanations, fees
from madoguchi.errors import Conflict
from madoguchi.registry import repository as registry_repository
from madoguchi.registry.models import Facility, Person
from madoguchi.tenancy.models import Tenant

CATEGORY = {
    "1": "1号認定（教育標準時間認定）",
    "2": "2号認定（満3歳以上・保育認定）",
    "3": "3号認定（満3歳未満・保育認定）",
}
CARE_TIME = {"standard": "保育標準時間", "short": "保育短時間"}
#: 保留の理由 (spec §1.4): the notice states it in these words.
WAITLIST_REASON = "利用調整の結果、希望施設に空きがないため"
#: The children a notice is about, by outcome.
DECIDED = (explanations.PLACED, explanations.STAYS)
WAITING = (explanations.WAITLISTED,)
#: The workflow state ``waitlist`` leads to (the transition's actions run once the state is set).
WAITLISTED_STATE = "waitlisted"


class NothingToNotify(Conflict):
    """The notice asked for has no child to state (a 保留通知書 when every child was placed): nothing is issued."""

    slug, title = "nothing-to-notify", "No child of this application is concerned by this notice"


def month_label(month: str) -> str:
    """``2027-04`` → 令和9年4月（2027年4月）: 和暦 first, as the other documents date, with the 西暦 beside it."""
    year, number = (int(part) for part in month.split("-"))
    era, era_year = jp.wareki_year(date(year, number, 1))
    return f"{era}{'元' if era_year == 1 else era_year}年{number}月（{year}年{number}月）"


def _month_start(month: str) -> date:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1)


def waiting_period(month: str) -> tuple[str, str]:
    """保留期間: the desired month's first to last day, as ISO dates."""
    first = _month_start(month)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first.isoformat(), last.isoformat()


def _children_of_form(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The form's children (2.0.0: /children; 1.0.0 had one /child)."""
    children = data.get("children")
    if isinstance(children, list):
        return [child or {} for child in children]
    return [data["child"]] if isinstance(data.get("child"), Mapping) else []


def _person_entry(person: Person | None, typed: Mapping[str, Any]) -> dict[str, Any]:
    if person is not None:
        return {
            "name": person.full_name,
            "name_kana": person.full_name_kana,
            "birth_date": person.birth_date.isoformat(),
            "birth_date_wareki": jp.to_wareki(person.birth_date),
        }
    birth = typed.get("birth_date")
    return {
        "name": typed.get("name") or "",
        "name_kana": typed.get("name_kana") or "",
        "birth_date": birth or "",
        "birth_date_wareki": jp.to_wareki(date.fromisoformat(birth)) if birth else "",
    }


def _guardian(session: Session, application: Application) -> dict[str, Any]:
    """保護者氏名・住所: the applicant's register entry (the form's answers when not linked)."""
    typed = application.data.get("applicant") or {}
    person = (
        registry_repository.find_person(session, application.tenant_id, application.applicant_person_id)
        if application.applicant_person_id
        else None
    )
    if person is not None:
        return {"name": person.full_name, "postal_code": person.postal_code, "address": person.address}
    return {
        "name": typed.get("name") or "",
        "postal_code": typed.get("postal_code") or "",
        "address": typed.get("address") or "",
    }


def _facility_names(session: Session, tenant_id: Any, codes: list[str]) -> dict[str, dict[str, str]]:
    if not codes:
        return {}
    rows = session.execute(
        select(Facility.facility_code, Facility.name_ja, Facility.name_en).where(
            Facility.tenant_id == tenant_id, Facility.facility_code.in_(codes)
        )
    ).all()
    return {code: {"ja": name_ja, "en": name_en} for code, name_ja, name_en in rows}


def _allocation(application: Application) -> dict[str, Any]:
    allocation = (application.decision or {}).get("allocation")
    if not isinstance(allocation, Mapping) or not allocation.get("children"):
        raise Conflict("This application has no published allocation result: the notice cannot be issued yet.")
    return dict(allocation)


def _certification(application: Application, index: int) -> dict[str, Any]:
    certification = (application.decision or {}).get("certification") or {}
    found = next((c for c in certification.get("children") or [] if c.get("index") == index), None)
    if found is None:
        raise Conflict(f"Child {index + 1} has no 支給認定 (certification) on record: certify before the notice.")
    return {
        "category": CATEGORY.get(str(found.get("category")), str(found.get("category") or "")),
        "care_time": CARE_TIME.get(str(found.get("care_time")), ""),
        "care_time_code": found.get("care_time"),
        "valid_from": found.get("valid_from"),
        "valid_to": found.get("valid_to"),
        "certified_on": certification.get("certified_on"),
    }


def _explanation(result: Mapping[str, Any], sibling_mode: str | None, start: str | None = None) -> dict[str, Any]:
    explained = explanations.explain(result, "ja", sibling_mode=sibling_mode, start=start)
    return {
        "result": explained.result,
        "choices": list(explained.choices),
        "points": list(explained.points),
        "continuing": explained.continuing,
    }


def _common(session: Session, application: Application, allocation: Mapping[str, Any]) -> dict[str, Any]:
    submitted = application.submitted_at
    return {
        "reference": application.reference,
        "guardian": _guardian(session, application),
        "submitted_on": jp.date_in_japan(submitted).isoformat() if submitted else None,
        "round_label": (allocation.get("round_label") or {}).get("ja") or "",
        "intake_month": allocation.get("intake_month"),
        "published_on": allocation.get("published_on"),
    }


def decision_content(session: Session, application: Application) -> dict[str, Any]:
    """保育所等利用決定通知書: each placed child's facility (by name), class, start month, 認定区分 and 保育必要量
    from the certification, and the 保育料 from the tenant's table and the household's 所得割額."""
    allocation = _allocation(application)
    data = application.data
    form_children = _children_of_form(data)
    tenant = session.get(Tenant, application.tenant_id)
    table = ((tenant.profile or {}) if tenant else {}).get("childcare_fees")
    children = []
    levies: dict[str, tuple[fees.HouseholdLevy | None, bool]] = {}
    for result in allocation["children"]:
        if result.get("outcome") not in DECIDED:
            continue
        index = int(result["index"])
        typed = form_children[index] if index < len(form_children) else {}
        person = fees.person_by_code(session, application.tenant_id, typed.get("resident_code"))
        certification = _certification(application, index)
        start = str(result.get("start_month") or allocation.get("intake_month") or "")
        if start not in levies:
            levies[start] = fees.levy_for_application(session, application, _month_start(start))
        levy, consented = levies[start]
        age_class = int(result.get("age_class") or 0)
        fee = fees.monthly_fee(
            table, month=_month_start(start), age_class=age_class, care_time=certification["care_time_code"], levy=levy
        )
        names = result.get("facility_name") or {}
        children.append(
            {
                "index": index,
                **_person_entry(person, typed),
                "outcome": result.get("outcome"),
                "facility_code": result.get("facility_code"),
                "facility_name": names.get("ja") or result.get("facility_code"),
                "age_class": age_class,
                "class_label": explanations.age_class_label(age_class, "ja"),
                "start_month": start,
                "start_label": month_label(start),
                **certification,
                "fee": fee.as_dict(),
                "tax_lookup_consented": consented,
                "explanation": _explanation(result, data.get("sibling_mode"), month_label(start)),
            }
        )
    if not children:
        raise NothingToNotify("No child of this application was placed: a 保留通知書 is issued instead.")
    return {**_common(session, application, allocation), "children": children}


def _without_round(application: Application, children: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A clerk's ``waitlist`` with no published round (a month's 途中入所 decided by hand): every child of the
    application is waiting, with no explanation of points. On ``allocate`` there is then nobody to notify."""
    if application.state != WAITLISTED_STATE:
        raise NothingToNotify("No round result says which child waits: there is no 保留 to notify.")
    month = str(application.data.get("desired_start_month") or "")
    return {
        "intake_month": month,
        "children": [
            {"index": index, "outcome": explanations.WAITLISTED, "start_month": month, "explanation": []}
            for index in range(len(children))
        ],
    }


def waitlist_content(session: Session, application: Application) -> dict[str, Any]:
    """保留通知書 (spec §1.4): for each waitlisted child, the desired month and facilities with their ranks, the
    reason, the period (the desired month's first to last day), the explanation and that it stays considered."""
    data = application.data
    form_children = _children_of_form(data)
    published = (application.decision or {}).get("allocation")
    allocation = _allocation(application) if published else _without_round(application, form_children)
    wanted = [str(code) for child in form_children for code in child.get("desired_facilities") or []]
    names = _facility_names(session, application.tenant_id, sorted(set(wanted)))
    desired_month = str(data.get("desired_start_month") or allocation.get("intake_month") or "")
    children = []
    for result in allocation["children"]:
        if result.get("outcome") not in WAITING:
            continue
        index = int(result["index"])
        typed = form_children[index] if index < len(form_children) else {}
        person = fees.person_by_code(session, application.tenant_id, typed.get("resident_code"))
        month = str(result.get("start_month") or desired_month)
        if not month:
            raise Conflict("The application names no desired start month: the 保留期間 cannot be stated.")
        first, last = waiting_period(month)
        children.append(
            {
                "index": index,
                **_person_entry(person, typed),
                "desired_month": month,
                "desired_month_label": month_label(month),
                "desired_facilities": [
                    {"rank": rank, "code": code, "name": (names.get(code) or {}).get("ja") or code}
                    for rank, code in enumerate(typed.get("desired_facilities") or [], start=1)
                ],
                "reason": WAITLIST_REASON,
                "period": {"from": first, "to": last},
                "explanation": _explanation(result, data.get("sibling_mode")),
            }
        )
    if not children:
        raise NothingToNotify("No child of this application is waitlisted: there is no 保留 to notify.")
    return {**_common(session, application, allocation), "children": children}
