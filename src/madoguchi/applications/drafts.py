"""Drafts: an application created (prefilled from the register, online or at the counter) and edited until it
is submitted. Prefilled answers come from the register and are not asked again."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import forms, hooks, relations, repository
from madoguchi.applications.history import check_version, ensure_visible, flush, record, role_label
from madoguchi.applications.models import Application
from madoguchi.audit import access
from madoguchi.catalog import operations as catalog
from madoguchi.db import utcnow
from madoguchi.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from madoguchi.identity.actors import APPLICANT_ROLE, Actor
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

REGISTRY_SOURCE = "resident_register"
CHANNELS = ("online", "counter", "api")
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at the counter


def _reference(service_key: str) -> str:
    prefix = "".join(word[0] for word in service_key.split("-")).upper()[:3]
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"{prefix}-{code[:4]}-{code[4:]}"


def _prefill(person: Person, mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The register's values for the form, and for each the register and the day it was read (provenance: the form,
    the decision and the resident's data-use ledger say "from the resident register as of <day>")."""
    values = person.registry_fields()
    as_of = jp.today().isoformat()
    data: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for ptr, field in mapping.items():
        value = values.get(field)
        if value is not None:
            forms.assign(data, ptr, value)
            sources[ptr] = {"source": REGISTRY_SOURCE, "field": field, "as_of": as_of}
    return data, sources


def prefill_purpose(sources: dict[str, Any]) -> str:
    """The ledger's words for a prefill: ``<register>@<day>: <field>,<field>`` (the page puts it in words)."""
    first = next(iter(sources.values()))
    fields = sorted({str(s.get("field", "")) for s in sources.values()})
    return f"{first.get('source', REGISTRY_SOURCE)}@{first.get('as_of', '')}: {','.join(fields)}"


def _categories_of(fields: list[str]) -> list[str]:
    return sorted({access.HOUSEHOLD if f.startswith("household.") else access.BASIC4 for f in fields})


def _record_prefill(session: Session, application: Application, person: Person) -> None:
    """One system entry in the person's ledger: which register, which fields, as of which day, for which application."""
    sources = application.prefill_sources
    if not sources:
        return
    access.record_system_use(
        session,
        application.tenant_id,
        access.PREFILL,
        access.Subject(application.id, person.id, application.applicant_account_id),
        action=access.PREFILL,
        object_type="application",
        object_id=application.id,
        categories=_categories_of([str(s.get("field", "")) for s in sources.values()]),
        purpose=prefill_purpose(sources),
    )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_prefilled_unchanged(application: Application, data: dict[str, Any]) -> dict[str, Any]:
    """Prefilled fields come from the register and are not asked again: keep them, refuse edits of them."""
    errors: dict[str, list[str]] = {}
    result = _merge({}, data)
    for ptr in application.prefill_sources:
        registered = forms.resolve(application.data, ptr, None)
        given = forms.resolve(data, ptr, None)
        if given is not None and given != registered:
            errors[ptr] = ["comes from the resident register and cannot be changed in this form"]
        elif registered is not None:
            forms.assign(result, ptr, registered)
    if errors:
        raise ValidationFailed("Some fields cannot be changed.", errors=errors)
    return result


#: The message for a household-member picker given someone outside the applicant's household.
NOT_IN_HOUSEHOLD = "is not a member of the applicant's household in the resident register"


def _pickers(schema: dict[str, Any], ptr: str = "") -> list[tuple[str, str, dict[str, str]]]:
    """(pointer of a list, picker property, its ``x-prefill``) for each list of objects whose items pick a household
    member and name the fields that member's register entry fills (form 2.0.0 of childcare: each child)."""
    found = []
    for name, sub in (schema.get("properties") or {}).items():
        if sub.get("type") == "object":
            found += _pickers(sub, f"{ptr}/{name}")
        items = sub.get("items") or {}
        if sub.get("type") == "array" and items.get("type") == "object":
            for picker, field in (items.get("properties") or {}).items():
                if field.get("x-widget") == "household-member-picker" and field.get("x-prefill"):
                    found.append((f"{ptr}/{name}", picker, dict(field["x-prefill"])))
    return found


def fill_picked(session: Session, application: Application, data: dict[str, Any]) -> None:
    """Each row whose picker names a member of the applicant's household gets that member's name, reading, date of
    birth... from the register (once-only: what the register knows is not typed again); a code outside the household
    is refused, so no one reads another household's entries through the form. Filing for someone else (代理人,
    第三者) has no household to pick from."""
    pickers = _pickers(application.settings_snapshot["form"])
    if not pickers:
        return
    own = application.relation not in relations.ON_BEHALF and application.applicant_person_id is not None
    members: dict[str, Person] | None = None
    errors: dict[str, list[str]] = {}
    for list_ptr, picker, mapping in pickers:
        rows = forms.resolve(data, list_ptr, None)
        for index, row in enumerate(rows if isinstance(rows, list) else []):
            code = row.get(picker) if isinstance(row, dict) else None
            if not code:
                continue
            if members is None:
                household = (
                    repository.household_of(session, application.tenant_id, application.applicant_person_id)
                    if own and application.applicant_person_id is not None
                    else []
                )
                members = {m.resident_code: m for m in household if not m.is_removed}
            member = members.get(code)
            if member is None:
                errors[f"{list_ptr}/{index}/{picker}"] = [NOT_IN_HOUSEHOLD]
                continue
            values = member.registry_fields()
            used = [source for source in mapping.values() if values.get(source) is not None]
            copied = any(row.get(name) != values[source] for name, source in mapping.items() if source in used)
            for name, source in mapping.items():
                if values.get(source) is not None:
                    row[name] = values[source]
            if copied and application.id is not None:  # a save that copies nothing new records nothing
                # The member's own ledger: the system copied their register entry into this application.
                access.record_system_use(
                    session,
                    application.tenant_id,
                    access.PREFILL,
                    access.Subject(application.id, member.id),
                    action=access.PREFILL,
                    object_type="application",
                    object_id=application.id,
                    categories=_categories_of(used),
                    purpose=f"{REGISTRY_SOURCE}@{jp.today().isoformat()}: {','.join(sorted(set(used)))}",
                )
    if errors:
        raise ValidationFailed("Choose a member of your household.", errors=errors)


def _validate_draft(session: Session, application: Application, data: dict[str, Any]) -> None:
    settings = application.settings_snapshot
    errors = forms.field_errors(settings["form"], data, partial=True)
    # What the relation may not ask for, said plainly (the form's own rule would only say "False was expected").
    errors.update(relations.entitlement_errors(application.relation, data, settings))
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors=errors)
    refused = hooks.data_errors(session, application, data)
    if refused:
        # What the register says (no assessment for that year, ...) is told now, not found by a clerk later.
        raise ValidationFailed(" ".join(m for messages in refused.values() for m in messages), errors=refused)


def _relation(settings: dict[str, Any], data: dict[str, Any] | None) -> str | None:
    """The applicant's relation to the person concerned, fixed when the draft starts (None: the form asks none)."""
    if not relations.asks_relation(settings["form"]):
        return None
    relation = relations.given_relation(data) or relations.SELF
    if relation not in (settings.get("eligible_applicants") or []):
        allowed = ", ".join(settings.get("eligible_applicants") or [])
        raise ValidationFailed(
            "You may not apply for this procedure in that capacity.",
            errors={relations.RELATION_POINTER: [f"may not apply as '{relation}' (allowed: {allowed})"]},
        )
    return relation


def create_draft(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    service_key: str,
    data: dict[str, Any] | None = None,
    *,
    channel: str = "online",
    person_id: uuid.UUID | None = None,
    applicant_account_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> Application:
    """Start an application, prefilled from the register when the applicant is linked to a person.

    Residents file for themselves or their household (their linked person, who is then the person concerned), or
    for someone else under their own account as the relation in ``data`` says (``/requester/relationship``: an
    agent, a legal representative, a third party): then nothing of the applicant's own entry is prefilled as the
    person's, and a clerk links the person they named (decision 0036). At the counter (書かない窓口) a clerk names the
    person found in the register; the application is prefilled from that record and the resident only
    confirms it.
    """
    if channel not in CHANNELS:
        raise ValidationFailed(errors={"channel": [f"must be one of: {', '.join(CHANNELS)}"]})
    tenant_service, version = catalog.tenant_service_for(session, tenant.id, service_key)
    settings = catalog.effective_settings(tenant_service, version)
    relation = _relation(settings, data)
    subject_person_id = person_id

    if actor.is_resident:
        if person_id is not None and person_id != actor.person_id:
            raise Forbidden("A resident files for themselves; for someone else, say how you stand to them.")
        person_id, applicant_account_id = actor.person_id, actor.account_id
        # Filing for someone else: the applicant's own entry is not the person concerned's (a clerk links that).
        subject_person_id = None if relation in relations.ON_BEHALF else person_id
    elif actor.is_staff:
        if not actor.staff_roles:
            raise Forbidden("This account has no staff role.")
    else:
        raise Forbidden("Only residents and staff file applications.")

    person = None
    if person_id is not None:
        person = session.execute(select(Person).where(Person.id == person_id)).scalar_one_or_none()
        if person is None:
            raise NotFound("No such person in this municipality's resident register.")

    snapshot_hash = repository.store_snapshot(session, tenant.id, settings)
    application = Application(
        id=uuid.uuid4(),  # known before the flush: the ledger entries of household members name it
        tenant_id=tenant.id,
        reference=_reference(service_key),
        service_key=service_key,
        service_version_id=version.id,
        state=settings["workflow"]["initial"],
        channel=channel,
        applicant_account_id=applicant_account_id,
        applicant_person_id=person.id if person else None,
        subject_person_id=subject_person_id,
        relation=relation,
        filed_by_client_id=client_id,
        settings_snapshot_hash=snapshot_hash,
    )
    # The form's person is the person concerned: prefilled from the register only when that is the applicant's entry.
    prefills = person is not None and subject_person_id == person.id
    prefilled, sources = _prefill(person, settings.get("prefill") or {}) if prefills and person else ({}, {})
    application.prefill_sources = sources
    application.data = prefilled
    data = forms.normalize(settings["form"], data) if data else data
    merged = _check_prefilled_unchanged(application, data) if data else prefilled
    if relation is not None:
        forms.assign(merged, relations.RELATION_POINTER, relation)
    fill_picked(session, application, merged)
    _validate_draft(session, application, merged)
    application.data = merged
    application.forced_delivery = relations.forced_delivery(relation, merged)
    session.add(application)
    flush(session)
    record(
        session,
        application,
        actor,
        action="create",
        role=role_label(actor),
        from_state=None,
        to_state=application.state,
        data={"service": service_key, "version": version.version, "channel": channel, "relation": relation},
    )
    if prefills and person is not None:
        _record_prefill(session, application, person)
    flush(session)
    return application


def _may_edit(actor: Actor, application: Application) -> str:
    ensure_visible(actor, application)
    if actor.account_id is not None and actor.account_id == application.applicant_account_id:
        return APPLICANT_ROLE
    return role_label(actor)


def _keep_relation(application: Application, data: dict[str, Any]) -> None:
    """The relation is fixed when the draft starts (it decided whose entry was prefilled): refuse another one. At the
    counter the clerk found the person concerned first, so the relation of whoever stands there may change."""
    if application.relation is None:
        return
    given = relations.given_relation(data)
    if given is not None and application.channel == "counter":
        application.relation = given
    elif given is not None and given != application.relation:
        raise ValidationFailed(
            "The relation to the person is fixed when the application starts.",
            errors={relations.RELATION_POINTER: ["is fixed when the application starts: start a new application"]},
        )
    forms.assign(data, relations.RELATION_POINTER, application.relation)


def update_draft(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Application:
    """Replace the draft's data (prefilled fields stay as registered). Allowed while the draft is editable."""
    application = repository.get(session, tenant.id, application_id)
    role = _may_edit(actor, application)
    check_version(application, expected_version)
    if not application.is_editable:
        raise Conflict(f"The application is '{application.state}' and can no longer be edited.")
    merged = _check_prefilled_unchanged(application, forms.normalize(application.settings_snapshot["form"], data))
    _keep_relation(application, merged)
    fill_picked(session, application, merged)
    _validate_draft(session, application, merged)
    application.data = merged
    application.forced_delivery = relations.forced_delivery(application.relation, merged)
    application.updated_at = utcnow()
    flush(session)
    record(
        session,
        application,
        actor,
        action="update",
        role=role,
        from_state=application.state,
        to_state=application.state,
    )
    flush(session)
    return application
