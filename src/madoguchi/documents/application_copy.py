"""申込内容の写し: a signed copy of exactly what the applicant submitted, with its 受付日時 and reference.

Since April 2025 a parent extending 育児休業給付 hands Hello Work a copy of the childcare application (申込書の写し)
together with the 保留通知 (spec §1.1), so the copy must be faithful: every answer, labelled as the form shows it
(the form's ``x-title`` and choice titles in Japanese), in the form's order, arrays item by item (several children,
two guardians), answers the form no longer describes under their own key rather than left out, and the attachments
by name. It is built from the application's data and its form snapshot at the moment it is asked for, and stored
as the document's content, so the PDF states what was on record then and /verify vouches for it.

Unlike a certificate, nothing here comes from the register: the copy certifies what the applicant wrote.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.documents.models import Attachment
from madoguchi.errors import Conflict
from madoguchi.registry.models import Facility

KIND = "application_copy"
#: A row ``("", "")`` is a section break in the rendered document (``pdf._sections``).
BREAK = ("", "")
_YES, _NO = "はい", "いいえ"


def _ja(text: Any) -> str:
    """The Japanese of a ``{ja, en}`` text (or the text itself)."""
    return str(text.get("ja") or text.get("en") or "") if isinstance(text, dict) else str(text or "")


def _title(schema: dict[str, Any], fallback: str) -> str:
    """The label the form shows (its Japanese ``x-title``, else ``title``), or the answer's own key."""
    return _ja(schema.get("x-title")) or _ja(schema.get("title")) or fallback


def _is_object(schema: dict[str, Any], value: Any) -> bool:
    return isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema or not schema)


def _answered(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


class _Rows:
    """The answers as labelled rows: what the walk of the form over the data yields."""

    def __init__(self, facilities: dict[str, str]) -> None:
        self.rows: list[tuple[str, str]] = []
        self.facilities = facilities

    def scalar(self, schema: dict[str, Any], value: Any, key: str) -> str:
        if isinstance(value, bool):
            return _YES if value else _NO
        titles = schema.get("x-enum-titles") or {}
        if isinstance(value, str) and value in titles:
            return _ja(titles[value])
        if isinstance(value, str) and schema.get("format") == "date":
            try:
                return jp.to_wareki(date.fromisoformat(value))
            except ValueError:
                return value
        if isinstance(value, str) and "facilit" in key and value in self.facilities:
            return f"{self.facilities[value]}（{value}）"  # the facility's name as the form offered it
        unit = schema.get("x-unit")
        if unit and isinstance(value, int | float):
            return f"{value}{_ja(unit)}"
        return str(value)

    def walk(self, schema: dict[str, Any], value: dict[str, Any], prefix: str) -> None:
        """The properties of an object in the form's order, then any the form does not describe."""
        properties = schema.get("properties") or {}
        keys = [k for k in properties if k in value] + [k for k in value if k not in properties]
        for key in keys:
            self.answer(properties.get(key) or {}, value[key], key, prefix)

    def answer(self, schema: dict[str, Any], value: Any, key: str, prefix: str) -> None:
        if not _answered(value):
            return
        label = f"{prefix}{_title(schema, key)}"
        if _is_object(schema, value):
            self.walk(schema, value, f"{label}／")
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            items = schema.get("items") or {}
            for number, item in enumerate(value, start=1):
                self.rows.append(BREAK)
                self.rows.append((f"{label}（{number}）", ""))
                if isinstance(item, dict):
                    self.walk(items, item, "")
                else:
                    self.rows.append((f"{label}（{number}）", self.scalar(items, item, key)))
            self.rows.append(BREAK)
        elif isinstance(value, list):
            items = schema.get("items") or {}
            values = [self.scalar(items, item, key) for item in value]
            ranked = "facilit" in key and len(values) > 1  # ranked preferences: the rank is part of the answer
            self.rows.append((label, "、".join(f"第{i}希望 {v}" if ranked else v for i, v in enumerate(values, 1))))
        else:
            self.rows.append((label, self.scalar(schema, value, key)))


def answer_rows(
    form: dict[str, Any], data: dict[str, Any], facilities: dict[str, str] | None = None
) -> list[list[str]]:
    """Every answer of ``data`` as ``[label, value]`` rows, labelled by ``form``; a top-level group (申請者, 児童…)
    or an array item starts a section."""
    rows = _Rows(facilities or {})
    properties = form.get("properties") or {}
    keys = [k for k in properties if k in data] + [k for k in data if k not in properties]
    for key in keys:
        schema, value = properties.get(key) or {}, data[key]
        if _is_object(schema, value) and _answered(value):
            rows.rows.append(BREAK)
            rows.rows.append((_title(schema, key), ""))
            rows.walk(schema, value, "")
            rows.rows.append(BREAK)
        else:
            rows.answer(schema, value, key, "")
    # Consecutive or leading breaks are one break.
    tidy: list[tuple[str, str]] = []
    for row in rows.rows:
        if row == BREAK and (not tidy or tidy[-1] == BREAK):
            continue
        tidy.append(row)
    while tidy and tidy[-1] == BREAK:
        tidy.pop()
    return [list(row) for row in tidy]


def received_at_ja(application: Application) -> str:
    """受付日時 in Japan time, as printed: 令和8年12月7日 14時05分."""
    assert application.submitted_at is not None
    moment = application.submitted_at.astimezone(jp.JAPAN)
    return f"{jp.to_wareki(moment.date())} {moment.hour}時{moment.minute:02d}分"


def application_copy(session: Session, application: Application) -> dict[str, Any]:
    """The content of the 申込内容の写し: reference, procedure, 受付日時, every answer, the attachments by name."""
    if application.submitted_at is None:
        raise Conflict("The application has not been submitted: there is nothing received to copy.")
    settings = application.settings_snapshot or {}
    facilities = dict(
        session.execute(
            select(Facility.facility_code, Facility.name_ja).where(Facility.tenant_id == application.tenant_id)
        ).all()
    )
    documents = {d.get("key"): d for d in settings.get("required_documents") or []}
    attachments = session.execute(
        select(Attachment.document_key, Attachment.original_name)
        .where(Attachment.tenant_id == application.tenant_id, Attachment.application_id == application.id)
        .order_by(Attachment.created_at, Attachment.id)
    ).all()
    return {
        "reference": application.reference,
        "procedure": _ja(settings.get("title")) or application.service_key,
        "procedure_version": settings.get("version"),
        "submitted_at": application.submitted_at.isoformat(),
        "submitted_at_ja": received_at_ja(application),
        "answers": answer_rows(settings.get("form") or {}, application.data or {}, facilities),
        "attachments": [{"document": _title(documents.get(key) or {}, key), "name": name} for key, name in attachments],
    }


def copy_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of the PDF: what identifies the application, the answers, then the attachments."""
    lines = [
        ("申込番号", content.get("reference") or ""),
        ("手続", content.get("procedure") or ""),
        ("受付日時", content.get("submitted_at_ja") or ""),
    ]
    lines.append(BREAK)
    lines.extend((str(label), str(value)) for label, value in content.get("answers") or [])
    lines.append(BREAK)
    attachments = content.get("attachments") or []
    if not attachments:
        lines.append(("添付書類", "なし"))
    for number, item in enumerate(attachments, start=1):
        lines.append((f"添付書類（{number}）", f"{item.get('document')}：{item.get('name')}"))
    return lines
