"""Variant-name matches of the マイナンバーカード a clerk confirms (decision 0048): the register person's name as
registered next to the card's name and address, then confirm (the account is verified at the card level) or reject.

The card's details are opened from their sealed form here only, for open reviews only; the operation erases them at
the decision and writes the audit record. Clerks and supervisors; another municipality's review is not found (404).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.console.views.common import bp
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, NotFound
from madoguchi.identity import operations as identity
from madoguchi.identity.card import operations as card_operations
from madoguchi.identity.principal import current_principal
from madoguchi.registry import repository as registry_repository
from madoguchi.web import card_sign_in
from madoguchi.web.auth import signed_in_with_any_role

if TYPE_CHECKING:  # annotations only
    from madoguchi.identity.card.models import CardMatchReview

#: Who decides a variant-name match.
REVIEWER_ROLES = frozenset({"clerk", "supervisor"})
REASONS = {
    "variant_name": lazy_gettext("A character of the name differs (e.g. 髙/高, 﨑/崎)"),
    "address_differs": lazy_gettext("The address differs"),
}


@bp.app_template_global()
def sees_card_reviews() -> bool:
    """For the console's navigation: may the signed-in staff member decide card matches?"""
    return g.get("principal") is not None and signed_in_with_any_role(REVIEWER_ROLES)


def _reviewer() -> None:
    if not signed_in_with_any_role(REVIEWER_ROLES):
        abort(403)


def _card_details(review: CardMatchReview) -> dict[str, str]:
    """The card's name and address as the provider gave them (opened from their sealed form; none once decided)."""
    details = card_operations.review_card_details(review) or {}
    return {"name": str(details.get("name", "")), "address": str(details.get("address", ""))}


def _rows() -> list[dict[str, Any]]:
    session = db_session()
    rows = []
    for review in card_operations.open_reviews(session, current_tenant.id):
        person = registry_repository.find_person(session, current_tenant.id, review.person_id)
        account = identity.get_account(session, current_tenant.id, review.account_id)
        rows.append(
            {
                "review": review,
                "person": person,
                "account": account,
                "card": _card_details(review),
                "reason": str(REASONS.get(review.reason, review.reason)),
                "provider": card_sign_in.provider_name(review.issuer),
            }
        )
    return rows


def _page(errors: dict[str, list[str]] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("console/card_reviews.html", rows=_rows(), errors=errors or {}), status


@bp.get("/card-reviews")
def card_reviews() -> ResponseReturnValue:
    _reviewer()
    return _page()


@bp.post("/card-reviews/<uuid:review_id>")
def decide_card_review(review_id: uuid.UUID) -> ResponseReturnValue:
    _reviewer()
    decision = request.form.get("decision")
    if decision not in ("confirm", "reject"):
        return _page({f"decision-{review_id}": [_("Choose confirm or reject.")]}, 422)
    principal = current_principal()
    assert principal.account is not None  # require_staff
    session = db_session()
    try:
        review = card_operations.decide_review(
            session,
            current_tenant,
            review_id,
            confirm=decision == "confirm",
            by=principal.account,
            actor=principal.actor.label,
        )
    except NotFound:
        session.rollback()
        abort(404)
    except Forbidden:
        session.rollback()
        abort(403)
    except Conflict:
        session.rollback()
        flash(_("This match was already decided, or the person is linked to another account."))
        return redirect(url_for(".card_reviews", tenant=current_tenant.slug), code=303)
    if review.decision == "confirmed":
        flash(_("Confirmed: the account is verified with the My Number Card."))
    else:
        flash(_("Rejected: the account stays as it was; the resident is asked to come to the counter."))
    return redirect(url_for(".card_reviews", tenant=current_tenant.slug), code=303)
