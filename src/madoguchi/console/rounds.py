"""The console's allocation rounds (利用調整): the list, a new round, and the round page.

``/<tenant>/console/rounds``: the municipality's rounds and a form for a new one. ``/<tenant>/console/rounds/<id>``:
the seats per facility × age class (editable while the round is a draft), the steps (freeze, compute, approve,
publish) with who took them, and once computed the review: per class the seats, applicants, placements with
their scores, the lowest admitted score and the waiting count; the sibling groups left with justified envy; what
the checker found. The open numbers download as CSV or JSON.

Clerks and supervisors of the municipality only; only a supervisor other than whoever computed approves. The
operations are ``childcare.rounds``. Decision 0040.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.childcare import rounds
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, ValidationFailed
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_staff, signed_in_with_any_role
from madoguchi.web.i18n import current_locale

bp = Blueprint("rounds_console", __name__, url_prefix="/<tenant>/console/rounds", template_folder="templates")
require_staff(bp, roles=rounds.WORKER_ROLES)
WEB_BLUEPRINTS = [bp]

STATUS_LABELS = {
    "draft": lazy_gettext("Draft: seats can be changed"),
    "frozen": lazy_gettext("Frozen"),
    "computed": lazy_gettext("Computed: awaiting approval"),
    "approved": lazy_gettext("Approved: ready to publish"),
    "published": lazy_gettext("Published"),
}
KIND_LABELS = {
    "first": lazy_gettext("First round (一次)"),
    "second": lazy_gettext("Second round (二次)"),
    "monthly": lazy_gettext("Monthly (途中入所)"),
}
OUTCOME_LABELS = {
    "placed": lazy_gettext("Placed"),
    "stays": lazy_gettext("Stays at current facility"),
    "waitlisted": lazy_gettext("Waitlisted"),
    "ineligible": lazy_gettext("Not eligible"),
}
#: The step each status leads to: (operation, button label).
NEXT_STEP = {
    "draft": ("freeze", lazy_gettext("Freeze the applications")),
    "frozen": ("compute", lazy_gettext("Compute the allocation")),
    "computed": ("approve", lazy_gettext("Approve (supervisor)")),
    "approved": ("publish", lazy_gettext("Publish to the applicants")),
}
STEP_DONE = {
    "freeze": lazy_gettext("The applications were frozen into the round."),
    "compute": lazy_gettext("The allocation was computed."),
    "approve": lazy_gettext("The round was approved."),
    "publish": lazy_gettext("The round was published: the applicants are told."),
}


@bp.app_template_global()
def sees_rounds() -> bool:
    """For the console's navigation: may the signed-in staff member open the allocation rounds?"""
    return signed_in_with_any_role(rounds.WORKER_ROLES)


def month_label(intake_month: str) -> str:
    """``2027-04`` as the page's language writes a month: 令和9年4月（2027年4月）, or April 2027."""
    try:
        first = date.fromisoformat(f"{intake_month}-01")
    except ValueError:
        return intake_month
    if current_locale() == "ja":
        return f"{jp.to_wareki_month(first)}（{first.year}年{first.month}月）"
    return first.strftime("%B %Y")


def _staff_names(round_: Any) -> dict[str, str]:
    """Who took each step, by name: the round records actors as ``account:<id>`` (the audit trail's form)."""
    ids = {}
    for label in (round_.created_by, round_.frozen_by, round_.computed_by, round_.approved_by, round_.published_by):
        if label and label.startswith("account:"):
            try:
                ids[label] = uuid.UUID(label.removeprefix("account:"))
            except ValueError:
                continue
    names = identity_repository.display_names(db_session(), current_tenant.id, set(ids.values()))
    return {label: names[account_id] for label, account_id in ids.items() if account_id in names}


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    account = current_principal().account
    return (
        render_template(
            template,
            tenant=current_tenant,
            section="rounds",
            is_tenant_admin=account is not None and "tenant_admin" in (account.roles or []),
            status_labels=STATUS_LABELS,
            kind_labels=KIND_LABELS,
            outcome_labels=OUTCOME_LABELS,
            month_label=month_label,
            **context,
        ),
        status,
    )


def _list(errors: dict[str, list[str]] | None = None, form: dict[str, str] | None = None) -> ResponseReturnValue:
    return _render(
        "rounds/list.html",
        422 if errors else 200,
        rounds_=rounds.list_rounds(db_session(), current_tenant.id),
        errors=errors or {},
        form=form or {},
        kinds=[(kind, str(KIND_LABELS[kind])) for kind in rounds.KINDS],
    )


#: The operations' messages are in English; the pages say them in the user's language.
FIELD_MESSAGES = {
    "label_ja": lazy_gettext("Enter a name of at most 100 characters, e.g. 令和9年4月一次利用調整."),
    "label_en": lazy_gettext("Enter a name of at most 100 characters, e.g. April 2027, first round."),
    "intake_month": lazy_gettext("Enter the intake month as YYYY-MM, for example 2027-04."),
    "kind": lazy_gettext("Choose the kind of round."),
}


@bp.get("")
def round_list() -> ResponseReturnValue:
    return _list()


@bp.post("")
def create() -> ResponseReturnValue:
    form = {key: request.form.get(key, "") for key in ("label_ja", "label_en", "intake_month", "kind")}
    try:
        created = rounds.create_round(
            db_session(),
            current_tenant,
            current_principal().actor,
            label_ja=form["label_ja"],
            label_en=form["label_en"],
            intake_month=form["intake_month"],
            kind=form["kind"],
        )
    except ValidationFailed as refused:
        return _list({field: [str(FIELD_MESSAGES[field])] for field in refused.errors or {}}, form)
    flash(_("The round was created with the facilities' capacities as seats: lower them to the places offered."))
    return redirect(url_for(".round_page", tenant=current_tenant.slug, round_id=created.id), 303)


def _page(round_id: uuid.UUID, errors: dict[str, list[str]] | None = None, status: int = 200) -> ResponseReturnValue:
    session = db_session()
    round_ = rounds.get_round(session, current_tenant.id, round_id)  # NotFound: 404
    names = rounds.facility_names(session, current_tenant.id)
    computed = round_.status in ("computed", "approved", "published")
    actor = current_principal().actor
    return _render(
        "rounds/round.html",
        status,
        round_=round_,
        staff_names=_staff_names(round_),
        classes=rounds.classes_of(session, round_),
        names=names,
        review=rounds.review(session, round_) if computed else [],
        waiting=[r for r in rounds.review_rows(session, round_) if r["outcome"] == "waitlisted"] if computed else [],
        next_step=NEXT_STEP.get(round_.status),
        may_approve=rounds.APPROVER_ROLE in actor.staff_roles and round_.computed_by != actor.label,
        errors=errors or {},
    )


@bp.get("/<uuid:round_id>")
def round_page(round_id: uuid.UUID) -> ResponseReturnValue:
    return _page(round_id)


@bp.post("/<uuid:round_id>/seats")
def change_seats(round_id: uuid.UUID) -> ResponseReturnValue:
    seats = {}
    for name, value in request.form.items():
        # Fields are named seats.<facility code>.<age class>, as the operation names its errors.
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "seats" and parts[2].isdigit():
            seats[(parts[1], int(parts[2]))] = value
    try:
        rounds.set_seats(db_session(), current_tenant, current_principal().actor, round_id, seats)
    except ValidationFailed as refused:
        errors = {field: [_("Enter a whole number of seats from 0 to 999.")] for field in refused.errors or {}}
        return _page(round_id, errors, 422)
    except Conflict:
        return _page(round_id, {"form": [_("The round is no longer a draft: its seats are fixed.")]}, 409)
    flash(_("The seats were saved."))
    return redirect(url_for(".round_page", tenant=current_tenant.slug, round_id=round_id), 303)


def _take(step: str, round_id: uuid.UUID) -> ResponseReturnValue:
    try:
        getattr(rounds, step)(db_session(), current_tenant, current_principal().actor, round_id)
    except Forbidden:
        message = _("Only a supervisor who did not compute the round approves it (four eyes).")
        return _page(round_id, {"form": [message]}, 403)
    except Conflict:
        return _page(round_id, {"form": [_("This step is not possible now: the page shows where the round is.")]}, 409)
    flash(str(STEP_DONE[step]))
    return redirect(url_for(".round_page", tenant=current_tenant.slug, round_id=round_id), 303)


@bp.post("/<uuid:round_id>/freeze")
def freeze(round_id: uuid.UUID) -> ResponseReturnValue:
    return _take("freeze", round_id)


@bp.post("/<uuid:round_id>/compute")
def compute(round_id: uuid.UUID) -> ResponseReturnValue:
    return _take("compute", round_id)


@bp.post("/<uuid:round_id>/approve")
def approve(round_id: uuid.UUID) -> ResponseReturnValue:
    return _take("approve", round_id)


@bp.post("/<uuid:round_id>/publish")
def publish(round_id: uuid.UUID) -> ResponseReturnValue:
    return _take("publish", round_id)


@bp.get("/<uuid:round_id>/open-numbers")
def open_numbers(round_id: uuid.UUID) -> Response:
    """The round's open numbers to download: ``?format=csv`` (default) or ``json``, UTF-8."""
    session = db_session()
    round_ = rounds.get_round(session, current_tenant.id, round_id)
    rows = rounds.open_numbers(session, round_)
    as_json = request.args.get("format") == "json"
    body = json.dumps(rows, ensure_ascii=False, indent=1) if as_json else rounds.open_numbers_csv(rows)
    response = Response(body.encode("utf-8"), mimetype="application/json" if as_json else "text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{rounds.export_name(round_)}.{"json" if as_json else "csv"}"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
