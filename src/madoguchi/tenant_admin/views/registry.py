"""Registry CSV imports from the browser: residents, tax assessments, childcare facilities."""

from __future__ import annotations

import io
from typing import Any

from flask import flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.datastructures import FileStorage

from madoguchi.context import current_tenant, db_session
from madoguchi.identity import boundary
from madoguchi.registry import operations as registry
from madoguchi.registry.csv_formats import (
    COLUMNS,
    KINDS,
    RowError,
    UnreadableEncoding,
    decode_registry_csv,
    parse_registry_csv,
)
from madoguchi.registry.schemas import RegistryImportSchema
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _render,
    _to,
    bp,
)
from madoguchi.web import form_input

#: The biggest registry CSV accepted from the browser (larger registers go through ``madoguchi registry import``).
MAX_CSV_BYTES = 5 * 1024 * 1024

REGISTRY_KIND_LABELS = {
    "residents": lazy_gettext("Resident register"),
    "tax": lazy_gettext("Tax assessments"),
    "facilities": lazy_gettext("Childcare facilities"),
}

#: How the import page words a refusal of the registry's import schema: (left empty, wrong).
UPLOAD_MESSAGES = {
    "kind": (lazy_gettext("Choose what the file contains."),) * 2,
    "file": (lazy_gettext("Choose a CSV file."),) * 2,
    "form": (lazy_gettext("Choose a CSV file."),) * 2,
}

# --- Registry CSV import -------------------------------------------------------------------------------------------


def _registry_context(**extra: Any) -> dict[str, Any]:
    return {
        "section": "registry",
        "kind_options": [(kind, str(REGISTRY_KIND_LABELS[kind])) for kind in KINDS],
        "columns": COLUMNS,
        "kind_labels": REGISTRY_KIND_LABELS,
        "max_megabytes": MAX_CSV_BYTES // (1024 * 1024),
        **extra,
    }


def _read_upload(upload: FileStorage, errors: Errors) -> str | None:
    try:
        content = upload.stream.read(MAX_CSV_BYTES + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file
    if len(content) > MAX_CSV_BYTES:
        _add(errors, "file", _("The file is larger than %(size)s MB.", size=MAX_CSV_BYTES // (1024 * 1024)))
        return None
    try:
        return decode_registry_csv(content)[0]
    except UnreadableEncoding as unreadable:
        if unreadable.gaiji:
            message = _(
                "Line %(line)s has a user-defined character (外字) that Shift_JIS cannot carry: "
                "save the file as UTF-8 to import names with 外字.",
                line=unreadable.line,
            )
        else:
            message = _(
                "The file must be a CSV file saved as UTF-8 or Shift_JIS text: line %(line)s is neither.",
                line=unreadable.line,
            )
        _add(errors, "file", message)
        return None


@bp.route("/registry", methods=["GET", "POST"])
def registry_import() -> ResponseReturnValue:
    if request.method == "GET":
        return _render("registry.html", **_registry_context(values={}))
    values = {"kind": request.form.get("kind", "")}
    upload = request.files.get("file")
    data, errors = form_input.load(RegistryImportSchema(), {**values, "file": upload}, UPLOAD_MESSAGES)
    # A chosen file is read even when the kind is missing, so its own problems show at once too.
    text = _read_upload(upload, errors) if upload is not None and "file" not in errors else None
    if data is None or errors or text is None:
        return _render("registry.html", 422, **_registry_context(values=values, errors=errors))
    kind: str = data["kind"]
    parsed = parse_registry_csv(kind, io.StringIO(text, newline=""))
    row_errors: list[RowError] = parsed.errors
    if not row_errors:
        session = db_session()
        report = registry.import_rows(
            session, current_tenant.id, kind, parsed.rows, parsed.lines, sealer=boundary.sealer(), actor=_actor()
        )
        if report.ok:
            unchanged = len(parsed.rows) - report.created - report.updated
            flash(
                _(
                    "%(kind)s: %(rows)s rows imported (%(created)s new, %(updated)s updated, %(unchanged)s unchanged).",
                    kind=REGISTRY_KIND_LABELS[kind],
                    rows=len(parsed.rows),
                    created=report.created,
                    updated=report.updated,
                    unchanged=unchanged,
                )
            )
            return _to("tenant_admin.registry_import")
        session.rollback()
        row_errors = report.errors
    errors["file"] = [
        _(
            "The file has %(count)s problem(s): nothing was imported. Correct the rows listed below.",
            count=len(row_errors),
        )
    ]
    return _render("registry.html", 422, **_registry_context(values=values, errors=errors, row_errors=row_errors))
