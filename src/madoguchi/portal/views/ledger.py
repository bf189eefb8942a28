"""わたしのデータの利用記録: the resident's data-use ledger, a page and a CSV download (docs/data-use-ledger.md).

Every entry says when (Japan time), who (staff: their role in words and a pseudonymous staff code, never a name;
an app: its name and the consent that let it act; the system: the job), what (the screen or operation, the
application by reference, the kinds of data) and why. Entries held back are simply not there.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Response, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.applications import repository as applications
from madoguchi.audit import access, ledger
from madoguchi.audit.operations import session_keyring
from madoguchi.context import current_tenant, db_session
from madoguchi.db import utcnow
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS
from madoguchi.oauth import repository as oauth_repository
from madoguchi.portal.views.common import _account, _procedure_title, _render, bp
from madoguchi.web.i18n import format_datetime_local, localized

if TYPE_CHECKING:  # annotations only
    from madoguchi.audit.models import AccessEvent

PAGE_SIZE = 50

WHO_TYPES = {
    access.STAFF: lazy_gettext("Municipal staff"),
    access.VENDOR_APP: lazy_gettext("Apps you allowed"),
    access.SYSTEM: lazy_gettext("Automatic processing"),
}

ROLE_WORDS = {
    "clerk": lazy_gettext("Staff member in charge"),
    "supervisor": lazy_gettext("Supervisor"),
    "tenant_admin": lazy_gettext("System administrator of the municipality"),
    "accountant": lazy_gettext("Accounting staff"),
}

JOB_WORDS = {
    access.PREFILL: lazy_gettext("Automatic entry from the register"),
    access.AUTO_ISSUE: lazy_gettext("Automatic issue of a certificate"),
    "childcare_allocation": lazy_gettext("Childcare place allocation"),
}

ACTION_WORDS = {
    access.VIEW_APPLICATION: lazy_gettext("Viewed an application"),
    access.LIST_APPLICATIONS: lazy_gettext("Listed an application"),
    access.VIEW_REGISTRY: lazy_gettext("Viewed your resident register entry"),
    access.COUNTER_SEARCH_HIT: lazy_gettext("Found you in a search of the register at the counter"),
    access.DOWNLOAD_ATTACHMENT: lazy_gettext("Downloaded a document you attached"),
    access.DOWNLOAD_CERTIFICATE: lazy_gettext("Downloaded a certificate"),
    access.PREFILL: lazy_gettext("Filled in a form from the register"),
    access.AUTO_ISSUE: lazy_gettext("Issued a certificate from the register"),
    access.BATCH_USE: lazy_gettext("Used your data in a batch run"),
}

CATEGORY_WORDS = {
    access.BASIC4: lazy_gettext("Name, address, date of birth, sex"),
    access.HOUSEHOLD: lazy_gettext("Household"),
    access.APPLICATION_FORM: lazy_gettext("Application answers"),
    access.APPLICATION_HISTORY: lazy_gettext("Application history"),
    access.ATTACHMENTS: lazy_gettext("Attached documents"),
    access.CERTIFICATE: lazy_gettext("Certificate"),
    access.TAX: lazy_gettext("Tax and income"),
    access.CHILDCARE: lazy_gettext("Childcare (points, preferences, outcome)"),
}

REGISTER_WORDS = {"resident_register": lazy_gettext("Resident register")}

#: The register fields a prefill names, in words (``person.*``, ``household.*``).
FIELD_WORDS = {
    "person.full_name": lazy_gettext("Name"),
    "person.family_name": lazy_gettext("Family name"),
    "person.given_name": lazy_gettext("Given name"),
    "person.full_name_kana": lazy_gettext("Name reading"),
    "person.family_name_kana": lazy_gettext("Family name reading"),
    "person.given_name_kana": lazy_gettext("Given name reading"),
    "person.birth_date": lazy_gettext("Date of birth"),
    "person.sex": lazy_gettext("Sex"),
    "person.postal_code": lazy_gettext("Postal code"),
    "person.address": lazy_gettext("Address"),
    "person.resident_code": lazy_gettext("Resident code"),
    "household.head_name": lazy_gettext("Head of household"),
}


@dataclass(frozen=True)
class Entry:
    at: Any
    when: str
    who_type: str
    who: str
    staff_code: str | None
    consent_id: uuid.UUID | None
    what: str
    application: str
    data: str
    why: str


def _prefill_words(purpose: str) -> str | None:
    """``resident_register@2026-12-08: person.address,person.birth_date`` in words, else None."""
    head, sep, fields = purpose.partition(": ")
    register, at, day = head.partition("@")
    if not (sep and at and register in REGISTER_WORDS):
        return None
    names = ", ".join(str(FIELD_WORDS.get(f, f)) for f in fields.split(",") if f)
    return _("%(register)s as of %(day)s: %(fields)s", register=REGISTER_WORDS[register], day=day, fields=names)


def _entries(
    events: list[AccessEvent], apps: dict[uuid.UUID, Any], clients: dict[uuid.UUID, str], consents: set[uuid.UUID]
) -> list[Entry]:
    keyring = session_keyring(db_session())
    rows = []
    for event in events:
        code = None
        if event.actor_type == access.STAFF:
            roles = [str(ROLE_WORDS.get(r, r)) for r in event.actor_roles] or [_("Municipal staff")]
            code = access.staff_code(event, keyring)
            who = _("%(roles)s (staff code %(code)s)", roles=", ".join(roles), code=code)
        elif event.actor_type == access.VENDOR_APP:
            name = clients.get(event.client_id) if event.client_id else None
            who = name or _("An app")
            if event.consent_id is None:
                who = _("%(app)s, for the municipality", app=who)
        else:
            job = event.actor.removeprefix("system:")
            who = _("Automatic processing: %(job)s", job=JOB_WORDS.get(job, job))
        application = apps.get(event.application_id) if event.application_id else None
        reference = f"{application.reference} ({_procedure_title(application)})" if application is not None else ""
        purpose = event.purpose or ""
        if event.action == access.PREFILL:
            why = _prefill_words(purpose) or purpose
        elif event.actor_type == access.VENDOR_APP:
            scopes = [localized(SCOPE_DESCRIPTIONS[s]) for s in (event.scope or "").split() if s in SCOPE_DESCRIPTIONS]
            why = _("With your permission: %(scopes)s", scopes="; ".join(scopes)) if event.consent_id else ""
            if reference:
                why = (why + " " if why else "") + _("about application %(reference)s", reference=reference)
        elif event.action == access.BATCH_USE and event.operation == "childcare_allocation":
            why = _("Allocating childcare places (one run of the allocation)")
        elif purpose == "counter filing":
            why = _("Filing an application at the counter")
        elif purpose == "identity check":
            why = _("Checking an account holder's identity against the register")
        elif purpose == "finding the person concerned":
            why = _("Finding the person an application was made for")
        elif reference:
            why = _("Processing application %(reference)s", reference=reference)
        else:
            why = purpose
        rows.append(
            Entry(
                at=event.at,
                when=format_datetime_local(event.at),
                who_type=str(WHO_TYPES.get(event.actor_type, event.actor_type)),
                who=who,
                staff_code=code,
                consent_id=event.consent_id if event.consent_id in consents else None,
                what=str(ACTION_WORDS.get(event.action, event.action)),
                application=reference,
                data=", ".join(str(CATEGORY_WORDS.get(c, c)) for c in event.data_categories),
                why=why,
            )
        )
    return rows


def _filters() -> tuple[str | None, ledger.Month | None, dict[str, list[str]], dict[str, str]]:
    who = request.args.get("who") or None
    month_text = request.args.get("month") or ""
    errors: dict[str, list[str]] = {}
    if who is not None and who not in WHO_TYPES:
        errors["who"] = [_("Choose who from the list.")]
        who = None
    month = ledger.Month.parse(month_text) if month_text else None
    if month_text and month is None:
        errors["month"] = [_("Enter a month as YYYY-MM, for example 2026-04.")]
    return who, month, errors, {"who": who or "", "month": month_text}


def _load(who: str | None, month: ledger.Month | None, *, limit: int | None, offset: int) -> tuple[list[Entry], int]:
    session = db_session()
    account = _account()
    events, total = ledger.entries(
        session,
        current_tenant.id,
        account.id,
        account.person_id,
        now=utcnow(),
        retention=ledger.retention_years(current_tenant.profile),
        who=who,
        month=month,
        limit=limit,
        offset=offset,
    )
    apps = applications.references_of(
        session, current_tenant.id, [e.application_id for e in events if e.application_id]
    )
    applications.load_snapshots(session, list(apps.values()))
    clients = oauth_repository.client_names(session, current_tenant.id, [e.client_id for e in events if e.client_id])
    consents = {consent.id for consent, _client in oauth_repository.consents_of(session, current_tenant.id, account.id)}
    return _entries(events, apps, clients, consents), total


@bp.get("/<tenant>/account/data-use")
def data_use() -> Any:
    who, month, errors, form = _filters()
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    rows: list[Entry] = []
    total = 0
    if not errors:
        rows, total = _load(who, month, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    args: dict[str, Any] = {k: v for k, v in form.items() if v}
    return _render(
        "portal/data_use.html",
        422 if errors else 200,
        active="data_use",
        entries=rows,
        total=total,
        page=page,
        pages=pages,
        previous_url=url_for(".data_use", tenant=current_tenant.slug, page=page - 1, **args) if page > 1 else None,
        next_url=url_for(".data_use", tenant=current_tenant.slug, page=page + 1, **args) if page < pages else None,
        csv_url=url_for(".data_use_csv", tenant=current_tenant.slug, **args),
        errors=errors,
        form=form,
        who_options=[(k, str(v)) for k, v in WHO_TYPES.items()],
        retention_years=ledger.retention_years(current_tenant.profile),
    )


CSV_HEADER = (
    lazy_gettext("Date and time (Japan)"),
    lazy_gettext("Who (kind)"),
    lazy_gettext("Who"),
    lazy_gettext("What"),
    lazy_gettext("Application"),
    lazy_gettext("Data"),
    lazy_gettext("Why"),
)


@bp.get("/<tenant>/account/data-use/csv")
def data_use_csv() -> Any:
    who, month, errors, _form = _filters()
    if errors:
        return data_use()
    rows, _total = _load(who, month, limit=None, offset=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(h) for h in CSV_HEADER])
    for row in rows:
        writer.writerow([row.when, row.who_type, row.who, row.what, row.application, row.data, row.why])
    # UTF-8 with a BOM: spreadsheet software in Japan then reads it as UTF-8, not Shift_JIS.
    body = "\ufeff" + out.getvalue()
    name = f"data-use-{current_tenant.slug}{'-' + str(month) if month else ''}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
