"""The console page of residents' satisfaction answers (``/<tenant>/console/satisfaction/``, decision 0049).

For one month in Japan (and optionally one procedure): per procedure and journey, how the answers spread over the
5-point scale and the share satisfied (4 and 5 among the answers with a score, as the KPIs count it); then the
comments, newest first, a page at a time. An answer shows its procedure, journey, month and score, never the
application or the resident: the row does not know them (``satisfaction.operations``).

Supervisors and tenant admins only: the page is about running the service, not about one application, and a
comment may hold what a resident wrote about themselves despite the hint. Residents, vendors and other
municipalities never see it.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.console.rounds import month_label
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.principal import current_principal
from madoguchi.satisfaction import queries, repository
from madoguchi.web.auth import require_staff, signed_in_with_any_role
from madoguchi.web.i18n import localized

#: Who sees the page (and the console's link to it).
VIEWER_ROLES = frozenset({"supervisor", "tenant_admin"})
#: Comments per page.
PAGE_SIZE = 20

bp = Blueprint(
    "satisfaction_console", __name__, url_prefix="/<tenant>/console/satisfaction", template_folder="templates"
)
require_staff(bp, roles=VIEWER_ROLES)
WEB_BLUEPRINTS = [bp]

JOURNEY_LABELS = {
    "submitted": lazy_gettext("Right after submitting"),
    "issued": lazy_gettext("After the decision or issue"),
}
SCORE_LABELS = {
    5: lazy_gettext("Very satisfied"),
    4: lazy_gettext("Satisfied"),
    3: lazy_gettext("Neither satisfied nor dissatisfied"),
    2: lazy_gettext("Dissatisfied"),
    1: lazy_gettext("Very dissatisfied"),
}


@bp.app_template_global()
def sees_satisfaction() -> bool:
    """For the console's navigation: may the signed-in staff member open the satisfaction answers?"""
    return signed_in_with_any_role(VIEWER_ROLES)


def _procedure_titles() -> dict[str, str]:
    return {
        ts.service_key: localized(catalog.shared_effective_settings(ts, sv).get("title")) or ts.service_key
        for ts, sv in catalog_repository.enabled_services(db_session(), current_tenant.id, content=False)
    }


def _months() -> list[str]:
    """The months with answers, newest first, and the current month."""
    found = {queries.period_of(day) for day in repository.months_answered(db_session(), current_tenant.id)}
    found.add(jp.today().strftime("%Y-%m"))
    return sorted(found, reverse=True)


def _page_number(text: str | None) -> int | None:
    if text in (None, ""):
        return 1
    if text.isdigit() and 0 < int(text) < 100_000:
        return int(text)
    return None


@bp.get("/")
def satisfaction_answers() -> ResponseReturnValue:
    session = db_session()
    titles = _procedure_titles()
    months = _months()
    errors: dict[str, list[str]] = {}
    period = request.args.get("month") or months[0]
    if period not in months:
        try:
            queries.month_bounds(period)
        except ValueError:
            errors["month"] = [_("Choose a month from the list.")]
            period = months[0]
        else:
            months = sorted({*months, period}, reverse=True)
    service_key = request.args.get("procedure") or None
    if service_key is not None and service_key not in titles:
        errors["procedure"] = [_("Choose a procedure from the list.")]
        service_key = None
    page = _page_number(request.args.get("page"))
    if page is None:
        errors["page"] = [_("There is no such page.")]
        page = 1
    start, end = queries.month_bounds(period)
    rows, total = repository.comments(
        session, current_tenant.id, start, end, service_key=service_key, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )

    def page_url(number: int) -> str:
        if service_key:
            return url_for(
                ".satisfaction_answers", tenant=current_tenant.slug, month=period, procedure=service_key, page=number
            )
        return url_for(".satisfaction_answers", tenant=current_tenant.slug, month=period, page=number)

    account = current_principal().account
    html = render_template(
        "satisfaction/answers.html",
        section="satisfaction",
        tenant=current_tenant,
        is_tenant_admin=account is not None and "tenant_admin" in (account.roles or []),
        errors=errors,
        period=period,
        period_label=month_label(period),
        month_options=[(m, month_label(m)) for m in months],
        procedure_options=sorted(titles.items(), key=lambda item: item[1]),
        service_key=service_key,
        titles=titles,
        distributions=queries.distributions(session, current_tenant.id, period, service_key=service_key),
        comments=rows,
        total=total,
        page=page,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page * PAGE_SIZE < total else None,
        journey_labels=JOURNEY_LABELS,
        score_labels=SCORE_LABELS,
        month_of=lambda moment: month_label(queries.period_of(moment)),
    )
    return html, 400 if errors else 200


@bp.app_template_filter("satisfaction_share")
def satisfaction_share(share: float | None) -> str:
    """A share as a whole percentage, or a dash with no scored answer."""
    return "—" if share is None else f"{share * 100:.0f}%"
