"""Issuing the document a procedure produces (the workflow action ``issue_document``).

The workflow in ``applications`` names the action; documents does the work and registers it with
``applications.hooks`` (docs/decisions/0016-layers.md): the content from the register (``content``), the signed
PDF (``certificates``), the paper copy's delivery when the resident chose post or the counter (``delivery``), the
audit record and the ``document.issued`` outbox event, in the transition's transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications import hooks
from madoguchi.applications import repository as applications_repository
from madoguchi.applications.models import Application
from madoguchi.applications.workflow import Transition
from madoguchi.audit import access
from madoguchi.audit import operations as audit
from madoguchi.childcare import notices as childcare_notices
from madoguchi.db import utcnow
from madoguchi.documents import application_copy, certificates, delivery, receipt, repository
from madoguchi.documents import content as document_content
from madoguchi.documents.models import IssuedDocument
from madoguchi.errors import Conflict
from madoguchi.identity.actors import Actor
from madoguchi.identity.principal import Principal
from madoguchi.tenancy.models import Tenant

hooks.auto_issuable_kinds.update(document_content.AUTO_ISSUABLE)
# A tax certificate the register cannot support is refused when it is asked for, not when a clerk issues it.
hooks.on_data_check("tax_certificate")(document_content.tax_request_errors)


@hooks.on_action("issue_document")
def issue_on_transition(
    session: Session, tenant: Tenant, application: Application, actor: Actor, transition: Transition
) -> None:
    if transition.document is None:
        issue_document(session, tenant, application, actor)
        return
    # A transition's own document (the 保留通知書 on allocate/waitlist) concerns some children only: with none of
    # them, the transition goes on and nothing is issued (decision 0042).
    try:
        content = document_content.build(session, application, transition.document)
    except childcare_notices.NothingToNotify:
        return
    issue_document(session, tenant, application, actor, kind=transition.document, content=content)


#: What of the register a document built by the system used, by the first word of its kind (else: basic4).
_REGISTER_CATEGORY = {"tax": access.TAX, "childcare": access.CHILDCARE}


def issue_document(
    session: Session,
    tenant: Tenant,
    application: Application,
    actor: Actor,
    *,
    kind: str | None = None,
    content: dict[str, Any] | None = None,
) -> IssuedDocument:
    """A document for ``application`` (the procedure's output document unless ``kind`` names another): content
    from the register (or ``content``, built already), signed PDF, audit, outbox."""
    if kind is None:
        kind = (application.settings_snapshot.get("output_document") or {}).get("kind")
    if not kind:
        raise Conflict("This procedure issues no document.")
    issued_at = utcnow()
    document = IssuedDocument(
        tenant_id=tenant.id,
        application_id=application.id,
        kind=kind,
        serial=document_content.new_serial(tenant, issued_at.date()),
        content=content if content is not None else document_content.build(session, application, kind),
        issued_at=issued_at,
        issued_by=tenant.name_ja,
    )
    session.add(document)
    session.flush()
    # The signed PDF (reportlab + pyHanko), stored and registered for /verify, in this same transaction.
    certificates.attach_signed_pdf(session, tenant, document)
    # Post or counter: the printed copy goes on the day's mail-out or the pick-up list (decision 0033).
    delivered = None
    if kind not in document_content.ELECTRONIC_ONLY:
        delivered = delivery.file_for(session, tenant, application, document)
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action="document.issue",
        object_type="issued_document",
        object_id=document.id,
        data={
            "serial": document.serial,
            "kind": kind,
            "application": application.reference,
            "pdf_sha256": document.pdf_sha256,
            "delivery": delivered.method if delivered else delivery.ELECTRONIC,
        },
    )
    if actor.kind == "system" and content is None:
        # Auto-issue: no clerk looked, but the system read the register to build the certificate.
        access.record_system_use(
            session,
            tenant.id,
            access.AUTO_ISSUE,
            access.Subject(
                application.id,
                application.subject_person_id or application.applicant_person_id,
                application.applicant_account_id,
            ),
            action=access.AUTO_ISSUE,
            object_type="issued_document",
            object_id=document.id,
            categories=[_REGISTER_CATEGORY.get(kind.split("_")[0], access.BASIC4), access.CERTIFICATE],
            purpose=f"application {application.id}",
        )
    outbox.enqueue(
        session,
        "document.issued",
        {"document_id": document.id, "serial": document.serial, "application_id": application.id, "kind": kind},
    )
    return document


def copy_of_application(
    session: Session, tenant: Tenant, principal: Principal, application_id: uuid.UUID
) -> IssuedDocument:
    """The 申込内容の写し of an application ``principal`` may see (the applicant, the municipality's staff): the last
    copy issued when the answers and attachments are still what it states, else a new signed copy (decision 0041)."""
    return _signed_on_request(session, tenant, principal, application_id, application_copy.KIND)


def receipt_of_application(
    session: Session, tenant: Tenant, principal: Principal, application_id: uuid.UUID
) -> IssuedDocument:
    """The 領収書 of the fees paid for an application ``principal`` may see: the last one issued while the payments
    and refunds are still what it states, else a new signed one (decision 0046). Nothing paid: ``Conflict``."""
    return _signed_on_request(session, tenant, principal, application_id, receipt.KIND)


def _signed_on_request(
    session: Session, tenant: Tenant, principal: Principal, application_id: uuid.UUID, kind: str
) -> IssuedDocument:
    application = applications_repository.get_for(session, principal, application_id)
    content = document_content.build(session, application, kind)
    for earlier in reversed(repository.documents_of(session, application)):
        if earlier.kind == kind and earlier.revoked_at is None and earlier.content == content:
            return earlier
    return issue_document(session, tenant, application, principal.actor, kind=kind)
