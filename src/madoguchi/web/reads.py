"""Recording, from a page or an API operation, that someone other than the resident read their data.

Views call ``record_read(...)`` after they have found what they will show (a 404 records nothing). The reader
is the request's principal; the screen or operation is the route (``GET /<tenant>/console/applications/
<uuid:application_id>``). A resident reading their own data records nothing: their ledger is about others.
API views that record are marked ``@context.records_reads`` so that on SQLite their transaction takes the write
lock up front (``context._choose_sqlite_transaction_mode``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from flask import request

from madoguchi.applications.models import Application
from madoguchi.audit import access
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.principal import Principal, current_principal
from madoguchi.oauth import repository as oauth_repository


def _reader(principal: Principal) -> access.Reader | None:
    if principal.client_id is not None:
        return access.Reader(access.VENDOR_APP, principal.actor.label, client_id=principal.client_id)
    if principal.is_staff:
        assert principal.account is not None
        return access.Reader(access.STAFF, principal.actor.label, tuple(principal.account.roles or ()))
    return None  # a resident (their own data) or nobody


def record_read(
    *,
    action: str,
    object_type: str,
    object_id: str | uuid.UUID,
    categories: Iterable[str],
    application: Application | None = None,
    person_id: uuid.UUID | None = None,
    purpose: str | None = None,
    flush: bool = True,
) -> None:
    """Record this request's read of a resident's data, in the request's transaction (committed with it)."""
    reader = _reader(current_principal())
    if reader is None:
        return
    if application is not None:
        # Whose data: the person concerned (本人), or the applicant's own entry while nobody is linked yet.
        person = application.subject_person_id or application.applicant_person_id
        subject = access.Subject(application.id, person, application.applicant_account_id)
        purpose = purpose or f"application {application.id}"
    else:
        subject = access.Subject(person_id=person_id)
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    principal = current_principal()
    consent_id, scope = None, None
    if reader.actor_type == access.VENDOR_APP:
        # The token's scope, and the resident's consent that let the app act for them (none: the app acts for the
        # municipality with client credentials, and the ledger says so).
        scope = " ".join(sorted(principal.scopes))
        if principal.account is not None and principal.client_id is not None:
            consent = oauth_repository.find_consent(
                db_session(), current_tenant.id, principal.account.id, principal.client_id
            )
            consent_id = consent.id if consent is not None else None
    access.record_read(
        db_session(),
        current_tenant.id,
        reader,
        subject,
        action=action,
        channel="api" if request.path.startswith("/api/") else "console",
        operation=f"{request.method} {rule}",
        object_type=object_type,
        object_id=object_id,
        categories=categories,
        purpose=purpose,
        consent_id=consent_id,
        scope=scope,
        flush=flush,
    )
