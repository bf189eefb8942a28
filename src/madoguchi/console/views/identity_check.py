"""Identity verification at the counter (窓口での本人確認): link a resident's account to their register entry."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.console.views.common import (
    _person,
    _search_register,
    bp,
)
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import (
    Conflict,
    Forbidden,
    NotFound,
)
from madoguchi.identity import operations as identity
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.card import operations as card_operations
from madoguchi.identity.models import Account, AccountKind
from madoguchi.identity.principal import current_principal
from madoguchi.identity.schemas import AccountLookupArgsSchema
from madoguchi.registry.models import Person
from madoguchi.web import card_sign_in, form_input

#: How the identity pages word a refusal: (left empty, wrong).
FIND_MESSAGES = {
    "email": (lazy_gettext("Enter this."), lazy_gettext("Enter an email address like name@example.jp.")),
}
CONFIRM_DOCUMENT = {
    "checked": (lazy_gettext("Check the identity document against the register entry first."),) * 2,
}

# ------------------------------------------------------------------- identity verification at the counter
# The resident shows an identity document; the clerk finds their account by email, searches the register, compares
# both side by side and links them (identity.operations.link_identity_at_counter holds the rule and the audit).


@bp.get("/identity/")
def identity_find() -> ResponseReturnValue:
    """Find the resident's account by its email address."""
    raw = request.args.get("email", "")
    errors: dict[str, list[str]] = {}
    if "email" in request.args:
        data, errors = form_input.load(AccountLookupArgsSchema(), {"email": raw}, FIND_MESSAGES)
        if data is not None:
            account = identity.find_account_by_email(db_session(), current_tenant.id, data["email"])
            if account is not None and account.kind == AccountKind.RESIDENT:
                return redirect(
                    url_for(".identity_account", tenant=current_tenant.slug, account_id=account.id), code=303
                )
            errors["email"] = [_("No resident account uses this address. Check it with the resident.")]
    return render_template("console/identity_find.html", email=raw, errors=errors), (422 if errors else 200)


def _resident_account(account_id: uuid.UUID) -> Account:
    """A resident account of this municipality, else 404 (another municipality's accounts do not exist here)."""
    try:
        account = identity.get_account(db_session(), current_tenant.id, account_id)
    except NotFound:
        abort(404)
    if account.kind != AccountKind.RESIDENT:
        abort(404)
    return account


def _linked_person(account: Account) -> Person | None:
    return _person(account.person_id) if account.person_id is not None else None


@bp.get("/identity/accounts/<uuid:account_id>")
def identity_account(account_id: uuid.UUID) -> ResponseReturnValue:
    """The account, and the register search to find the person it belongs to."""
    account = _resident_account(account_id)
    query, people, errors = _search_register("identity check")
    return render_template(
        "console/identity_account.html",
        account=account,
        linked=_linked_person(account),
        evidence=_evidence(account),
        query=query,
        people=people,
        errors=errors,
        person_url=lambda person: url_for(
            ".identity_confirm", tenant=current_tenant.slug, account_id=account.id, person_id=person.id
        ),
    ), (422 if errors else 200)


def _evidence(account: Account) -> list[dict[str, Any]]:
    """What verified the account: method, provider, when and by whom (never the card's data)."""
    session = db_session()
    rows = card_operations.evidence_of(session, current_tenant.id, account.id)
    staff_ids = {uuid.UUID(r.verified_by.removeprefix("account:")) for r in rows if _is_account_label(r.verified_by)}
    names = identity_repository.display_names(session, current_tenant.id, staff_ids)
    return [
        {
            "method": card_sign_in.method_in_words(row.method),
            "level": card_sign_in.level_in_words(row.level),
            "provider": card_sign_in.provider_name(row.issuer),
            "at": row.verified_at,
            "by": _who(row.verified_by, account, names),
        }
        for row in rows
    ]


def _is_account_label(label: str) -> bool:
    try:
        uuid.UUID(label.removeprefix("account:"))
    except ValueError:
        return False
    return label.startswith("account:")


def _who(label: str, account: Account, names: dict[uuid.UUID, str]) -> str:
    if label == f"account:{account.id}":
        return _("The resident")
    if _is_account_label(label):
        return names.get(uuid.UUID(label.removeprefix("account:")), _("A staff member"))
    return _("The system")


def _identity_confirm_page(
    account: Account, person: Person, errors: dict[str, list[str]] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template("console/identity_confirm.html", account=account, person=person, errors=errors or {}), status


@bp.route("/identity/accounts/<uuid:account_id>/people/<uuid:person_id>", methods=["GET", "POST"])
def identity_confirm(account_id: uuid.UUID, person_id: uuid.UUID) -> ResponseReturnValue:
    """Account and register entry side by side; confirming links them (clerks and supervisors)."""
    account, person = _resident_account(account_id), _person(person_id)
    if request.method == "GET":
        return _identity_confirm_page(account, person)
    values = {"checked": request.form.get("checked")}
    _data, errors = form_input.load(form_input.confirmation("checked")(), values, CONFIRM_DOCUMENT)
    if errors:
        return _identity_confirm_page(account, person, errors, 422)
    principal = current_principal()
    assert principal.account is not None  # require_staff: a staff member is signed in
    session = db_session()
    try:
        identity.link_identity_at_counter(
            session,
            current_tenant.id,
            account.id,
            resident_code=person.resident_code,
            by=principal.account,
            actor=principal.actor.label,
        )
    except Forbidden:
        session.rollback()
        abort(403)
    except Conflict:
        session.rollback()
        account, person = _resident_account(account_id), _person(person_id)
        message = (
            _("This account is already linked to another person.")
            if account.person_id not in (None, person.id)
            else _("This person is already linked to another account.")
        )
        return _identity_confirm_page(account, person, {"form": [message]}, 409)
    flash(_("Done: %(email)s is now verified as %(name)s.", email=account.email, name=person.full_name))
    return redirect(url_for(".identity_account", tenant=current_tenant.slug, account_id=account.id), code=303)
