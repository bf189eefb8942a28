"""教育・保育給付認定通知書 (支給認定証): the notice of the clerk's certification, issued on ``certify``.

子ども・子育て支援法20条4項: the municipality notifies the guardian of the certification, stating the category
(1号・2号・3号), the 保育必要量 and the validity period of each child. What is certified comes from
``application.decision["certification"]`` (the clerk's decision, checked by ``childcare.certification``); who is
named comes from the register where the application links them (the guardian, a child picked from the household),
else from the form. It is a decision (処分), so it is headed 文書番号 and carries the 教示 (``pdf.NOTICES``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.errors import Conflict
from madoguchi.registry.models import Person

KIND = "childcare_certification"
CATEGORY_TITLES = {
    "1": "1号認定（教育標準時間認定・満3歳以上）",
    "2": "2号認定（保育認定・満3歳以上）",
    "3": "3号認定（保育認定・満3歳未満）",
}
CARE_TIME_TITLES = {"standard": "保育標準時間", "short": "保育短時間"}
#: 保育を必要とする事由 (施行規則1条の5), as the form's need reasons name them.
NEED_REASON_TITLES = {
    "employed": "就労",
    "self_employed": "就労（自営業）",
    "pregnancy": "妊娠・出産",
    "illness": "疾病",
    "disability": "障害",
    "caregiving": "介護・看護",
    "disaster": "災害復旧",
    "job_seeking": "求職活動",
    "student": "就学",
    "abuse_dv": "虐待・DVのおそれ",
    "childcare_leave": "育児休業取得中の継続利用",
    "other": "その他",
}


def _person(session: Session, application: Application, **criteria: Any) -> Person | None:
    clauses = [Person.tenant_id == application.tenant_id] + [getattr(Person, k) == v for k, v in criteria.items()]
    return session.execute(select(Person).where(*clauses)).scalar_one_or_none()


def _children(data: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(data.get("children"), list):
        return [c if isinstance(c, dict) else {} for c in data["children"]]
    return [dict(data.get("child") or {})]  # form 1.0.0


def childcare_certification(session: Session, application: Application) -> dict[str, Any]:
    """What the 支給認定証 states: the guardian, each child certified with its category, hours and validity, the
    guardians' needs for care, the day it was certified."""
    certification = (application.decision or {}).get("certification")
    if not certification:
        raise Conflict("Nothing is certified yet: the certification is decided on 'certify'.")
    data = application.data or {}
    guardian = None
    if application.applicant_person_id is not None:
        guardian = _person(session, application, id=application.applicant_person_id)
    form_applicant = data.get("applicant") or {}
    children = _children(data)
    certified = []
    for entry in certification.get("children") or []:
        given = children[entry["index"]] if entry["index"] < len(children) else {}
        code = given.get("resident_code")
        registered = _person(session, application, resident_code=code) if code else None
        birth = registered.birth_date.isoformat() if registered else given.get("birth_date")
        certified.append(
            {
                "index": entry["index"],
                "name": registered.full_name if registered else given.get("name") or "",
                "name_kana": registered.full_name_kana if registered else given.get("name_kana") or "",
                "birth_date": birth,
                "category": entry["category"],
                "care_time": entry.get("care_time"),
                "valid_from": entry["valid_from"],
                "valid_to": entry["valid_to"],
            }
        )
    return {
        "reference": application.reference,
        "applied_on": jp.date_in_japan(application.submitted_at).isoformat() if application.submitted_at else None,
        "certified_on": certification.get("certified_on"),
        "guardian": {
            "name": guardian.full_name if guardian else form_applicant.get("name") or "",
            "address": guardian.address if guardian else form_applicant.get("address") or "",
        },
        "children": certified,
        "needs": [
            {"name": g.get("name") or "", "reason": g.get("need_reason"), "monthly_hours": g.get("monthly_hours")}
            for g in data.get("guardians") or []
            if isinstance(g, dict)
        ],
    }


def _wareki(iso: str | None) -> str:
    return jp.to_wareki(date.fromisoformat(iso)) if iso else ""


def certification_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of the 支給認定証: the guardian, then one section per child, then the needs and the day."""
    guardian = content.get("guardian") or {}
    lines = [
        ("申込番号", content.get("reference") or ""),
        ("保護者氏名", guardian.get("name") or ""),
        ("住所", guardian.get("address") or ""),
    ]
    for child in content.get("children") or []:
        lines.append(("", ""))
        lines += [
            ("児童氏名", child.get("name") or ""),
            ("フリガナ", child.get("name_kana") or ""),
            ("生年月日", _wareki(child.get("birth_date"))),
            ("認定区分", CATEGORY_TITLES.get(child.get("category") or "", str(child.get("category") or ""))),
            ("保育必要量", CARE_TIME_TITLES.get(child.get("care_time") or "", "―（教育標準時間）")),
            ("有効期間", f"{_wareki(child.get('valid_from'))}から{_wareki(child.get('valid_to'))}まで"),
        ]
    needs = []
    for need in content.get("needs") or []:
        reason = NEED_REASON_TITLES.get(need.get("reason") or "", need.get("reason") or "")
        hours = f"（月{need['monthly_hours']}時間）" if need.get("monthly_hours") else ""
        needs.append(f"{need.get('name')}：{reason}{hours}")
    lines.append(("", ""))
    if needs:
        lines.append(("保育を必要とする事由", "／".join(needs)))
    lines.append(("申込日", _wareki(content.get("applied_on"))))
    lines.append(("認定日", _wareki(content.get("certified_on"))))
    return lines
