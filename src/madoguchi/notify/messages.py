"""Building each email from its outbox message: recipient, language, subject and plain-text body.

Templates live in ``templates/email/<template>.txt`` (Jinja, plain text), one per message for every language:
each defines a ``subject`` block and a ``body`` block and extends ``_base.txt`` (greeting-free frame and the
municipality's contact). Their text is English in ``{% trans %}`` blocks, translated in notify's gettext catalog
(``translations/ja/LC_MESSAGES/messages.po``) like every page, and rendered under Flask-Babel's ``force_locale``:
so rendering needs the app's context (its Babel and catalogs), which the outbox worker pushes per message
(decision 0023). The template name is the outbox payload's ``template`` (``application.approved``,
``account.verify_email``...). A workflow state without a template of its own gets ``application._state``,
which names the state as the procedure titles it.

What an application email may contain: the municipality's name, the procedure's title in the reader's language,
the reference and a link to the application in the portal, how the certificate reaches them (download, post,
counter with its pick-up code). Nothing the resident typed, no clerk comment, no address.

Language: the account's chosen language (``accounts.locale``), else the municipality's default, limited to the
locales the municipality offers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import has_app_context
from flask_babel import force_locale, gettext, ngettext
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp, outbox
from madoguchi.applications.models import Application
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.documents import delivery
from madoguchi.identity.models import Account
from madoguchi.outbox import OutboxMessage
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings

SUPPORTED_LOCALES = ("ja", "en")
JAPAN = ZoneInfo("Asia/Tokyo")
#: The fallback for a workflow state without a template of its own.
STATE_TEMPLATE = "application._state"


@dataclass(frozen=True)
class Email:
    """A built email and what the delivery log keeps about it."""

    template: str
    reference: str | None
    recipient: str
    locale: str
    subject: str
    body: str
    mime: EmailMessage


@cache
def _environment() -> Environment:
    # Plain text: no HTML escaping. StrictUndefined: a missing value is an error, not an empty hole in a mail.
    environment = Environment(
        loader=PackageLoader("madoguchi.notify", "templates/email"),
        autoescape=False,  # noqa: S701 - plain-text emails, never HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Flask-Babel's gettext, as on the pages: the current app's catalogs in the locale force_locale sets.
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    return environment


def offered_locales(tenant: Tenant) -> tuple[str, ...]:
    """The locales the municipality offers (its file's ``locales``; every supported one if it names none)."""
    listed = (tenant.profile or {}).get("locales")
    if not listed:  # as on the pages: a municipality that names no locales offers every supported one
        return SUPPORTED_LOCALES
    offered = tuple(x for x in listed if x in SUPPORTED_LOCALES)
    return offered or (tenant.default_locale if tenant.default_locale in SUPPORTED_LOCALES else "ja",)


def choose_locale(tenant: Tenant, preferred: str | None) -> str:
    """``preferred`` if the municipality offers it, else its default locale, else the first it offers."""
    offered = offered_locales(tenant)
    for candidate in (preferred, tenant.default_locale):
        if candidate in offered:
            return candidate
    return offered[0]


def localized(value: Any, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value.get(locale) or value.get("ja") or next(iter(value.values()), ""))


def format_yen(amount: int, locale: str) -> str:
    """300円 in Japanese, ¥300 in English (as the pages' ``yen`` filter writes it)."""
    return f"{amount:,}円" if locale == "ja" else f"¥{amount:,}"


def format_moment(moment: datetime, locale: str) -> str:
    """令和8年11月26日 14:05 in Japanese, 2026-11-26 14:05 (JST) in English: Japan time either way."""
    local = moment.astimezone(JAPAN)
    if locale == "ja":
        return f"{jp.to_wareki(local.date())} {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M} (JST)"


def render(template: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of ``template`` in ``locale``; inside the app's context (its translations)."""
    if not has_app_context():
        # Outside a context force_locale does nothing and gettext returns the English text: refuse instead.
        raise RuntimeError("emails are rendered inside the app's context (its translations): give the worker the app")
    compiled = _environment().get_template(f"{template}.txt")
    with force_locale(locale):
        subject = "".join(compiled.blocks["subject"](compiled.new_context(context))).strip()
        body = compiled.render(context).strip() + "\n"
    return " ".join(subject.split()), body


def has_template(template: str) -> bool:
    try:
        _environment().get_template(f"{template}.txt")
    except TemplateNotFound:
        return False
    return True


def common_context(tenant: Tenant, locale: str, settings: Settings) -> dict[str, Any]:
    contact = (tenant.profile or {}).get("contact") or {}
    return {
        "tenant_name": tenant.name(locale),
        "department": localized(contact.get("department"), locale),
        "phone": contact.get("phone") or "",
        "hours": localized(contact.get("hours"), locale),
        "portal_url": f"{settings.public_url.rstrip('/')}/{tenant.slug}/?lang={locale}",
    }


def _application_email(
    session: Session, tenant: Tenant, payload: dict[str, Any], settings: Settings
) -> tuple[str, str, str | None, str, dict[str, Any]] | None:
    account_id, application_id = payload.get("account_id"), payload.get("application_id")
    if not account_id or not application_id:
        return None
    account = session.execute(
        select(Account).where(Account.tenant_id == tenant.id, Account.id == uuid.UUID(str(account_id)))
    ).scalar_one_or_none()
    application = session.execute(
        select(Application).where(Application.tenant_id == tenant.id, Application.id == uuid.UUID(str(application_id)))
    ).scalar_one_or_none()
    if account is None or account.disabled or not account.email or application is None:
        return None
    locale = choose_locale(tenant, account.locale)
    template = str(payload.get("template") or "")
    state = template.removeprefix("application.")
    if not has_template(template):
        template = STATE_TEMPLATE
    snapshot = application.settings_snapshot or {}
    state_titles = {
        s["name"]: localized(s.get("title"), locale) for s in snapshot.get("workflow", {}).get("states", [])
    }
    base = settings.public_url.rstrip("/")
    context = {
        "procedure": localized(snapshot.get("title"), locale),
        "reference": application.reference,
        "state": state_titles.get(state, state),
        "application_url": f"{base}/{tenant.slug}/applications/{application.id}?lang={locale}",
        # The fee a payment request (事後決済) asks for: 300円 / ¥300 (decision 0044).
        "amount": format_yen(int(payload.get("amount_jpy") or 0), locale),
        **_delivery_context(session, application),
    }
    return template, account.email, application.reference, locale, context


def _delivery_context(session: Session, application: Application) -> dict[str, Any]:
    """How the resident receives the paper (``delivery``: electronic, mail, counter) and the counter's pick-up
    code: the issue and delivery emails say what happens next by the method chosen (decision 0033)."""
    filed = delivery.of_application(session, application)
    return {
        "delivery": filed.method if filed is not None else delivery.method_of(application),
        "pickup_code": delivery.grouped_pickup_code(filed.pickup_code) if filed and filed.pickup_code else "",
    }


def _account_email(
    tenant: Tenant, payload: dict[str, Any], secrets: dict[str, str]
) -> tuple[str, str, str | None, str, dict[str, Any]] | None:
    recipient = payload.get("to")
    if not recipient:
        return None
    locale = choose_locale(tenant, payload.get("locale"))
    # Links come from the payload, one-time ones from its sealed secrets (madoguchi.outbox).
    context = {key: value for key, value in {**payload, **secrets}.items() if key.endswith("_url")}
    if payload.get("expires_at"):
        context["expires_at"] = format_moment(datetime.fromisoformat(str(payload["expires_at"])), locale)
    return str(payload["template"]), str(recipient), payload.get("reference"), locale, context


def build(session: Session, tenant: Tenant, message: OutboxMessage, settings: Settings) -> Email | None:
    """The email ``message`` asks for, or None when there is nobody to send it to."""
    payload = message.payload or {}
    if message.topic == "notify.applicant":
        found = _application_email(session, tenant, payload, settings)
    elif message.topic == "notify.account":
        found = _account_email(tenant, payload, outbox.open_secrets(message, _sealer(settings)))
    else:
        raise LookupError(f"no email for topic {message.topic!r}")
    if found is None:
        return None
    template, recipient, reference, locale, context = found
    subject, body = render(template, locale, {**common_context(tenant, locale, settings), **context})
    mime = _mime(tenant, settings, message.id, recipient=recipient, locale=locale, subject=subject, body=body)
    return Email(str(payload.get("template") or template), reference, recipient, locale, subject, body, mime)


def _sealer(settings: Settings) -> Sealer | None:
    return Sealer(settings.data_key) if settings.data_key else None


def message_id(outbox_id: uuid.UUID, settings: Settings) -> str:
    """The ``Message-ID`` of the email for outbox message ``outbox_id``: the same on every attempt."""
    domain = parseaddr(settings.email_from)[1].rpartition("@")[2] or "madoguchi.invalid"
    return f"<{outbox_id}@{domain}>"


def _mime(
    tenant: Tenant, settings: Settings, outbox_id: uuid.UUID, *, recipient: str, locale: str, subject: str, body: str
) -> EmailMessage:
    sender_address = parseaddr(settings.email_from)[1]
    mime = EmailMessage()
    mime["From"] = Address(display_name=tenant.name(locale), addr_spec=sender_address)
    mime["To"] = recipient
    mime["Subject"] = subject
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = message_id(outbox_id, settings)
    # RFC 3834: automatic mail; auto-responders should not answer it.
    mime["Auto-Submitted"] = "auto-generated"
    # base64 keeps Japanese text intact through servers that do not speak 8BITMIME.
    mime.set_content(body, charset="utf-8", cte="base64")
    # After set_content, which clears every Content-* header.
    mime["Content-Language"] = locale
    return mime
