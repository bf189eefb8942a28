"""Signed webhooks: subscriptions, fan-out of events to deliveries, delivery over HTTP, replay.

How an event travels (every step is a row written in a transaction, nothing is sent from a web request):

1. A domain operation writes an outbox message (``application.submitted``, ``application.state_changed``,
   ``document.issued``) in the transaction of the change.
2. The outbox worker runs ``fan_out``: one ``WebhookDelivery`` per active subscription to that event (unique
   per subscription and message, so an event is never delivered twice to one subscription) and one
   ``webhook.deliver`` outbox message per delivery.
3. The worker runs the deliver handler, which says what to send where (a ``Dispatch``); outside any
   transaction, and with at most a few sends at once per endpoint, the worker checks the target again (DNS
   may have changed since subscription), POSTs the signed body to the address that was checked (short connect
   and read timeouts) and records the outcome. A failure is retried with exponential backoff and, after the
   last attempt, the delivery is marked ``failed``.

Signatures follow Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id`` is the event's
outbox message id (the same on every retry and replay), ``webhook-timestamp`` the attempt's unix time and
``webhook-signature`` ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``.

SSRF: targets must be https and resolve only to public addresses, checked at subscription and again at each
delivery, and the connection goes to the checked address (no second lookup). ``webhooks_allow_private``
(tests, local demos) also admits plain http and loopback/private/CGNAT addresses, never link-local
(cloud metadata endpoints live there), multicast, unspecified or reserved ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.notify.models import WebhookDelivery, WebhookSubscription
from madoguchi.oauth.models import OAuthClient, OAuthConsent
from madoguchi.outbox import Dispatch, OutboxMessage
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings

log = logging.getLogger(__name__)

APPLICATION_SUBMITTED = "application.submitted"
APPLICATION_STATE_CHANGED = "application.state_changed"
DOCUMENT_ISSUED = "document.issued"
EVENTS = (APPLICATION_SUBMITTED, APPLICATION_STATE_CHANGED, DOCUMENT_ISSUED)

#: Outbox topic of one delivery attempt series (payload: {"delivery_id": ...}).
DELIVER_TOPIC = "webhook.deliver"

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
#: Active subscriptions per owner (a vendor app, or the tenant admins together).
MAX_SUBSCRIPTIONS = 25
USER_AGENT = "Madoguchi-Webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A request line is ASCII: anything else in a path or query is percent-encoded (as UTF-8).
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))

# ---------------------------------------------------------------------------------------------- signing


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value for one attempt."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


# ------------------------------------------------------------------------------------------------- SSRF


class UnsafeTarget(ValueError):
    """A webhook URL we will not send to; the message says why, in words fit for a field error."""


_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64): it is what gets reached."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64_NETWORK:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` is not an acceptable webhook target, or None if it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded, allow_private=allow_private)
    if address.is_loopback:
        kind = "a loopback"
    elif any(address in network for network in _PRIVATE_NETWORKS):
        kind = "a private"
    elif address in _SHARED_NETWORK:
        kind = "a shared (carrier-grade NAT)"
    else:
        kind = None
    if kind is not None:
        return None if allow_private else f"resolves to {kind} address ({address})"
    if address.is_unspecified:
        return f"resolves to an unspecified address ({address})"
    if address.is_link_local:
        return f"resolves to a link-local address ({address})"
    if address.is_multicast:
        return f"resolves to a multicast address ({address})"
    if address.is_reserved:
        return f"resolves to a reserved address ({address})"
    if not address.is_global:
        return f"resolves to a non-public address ({address})"
    return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (tests replace this to simulate DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Target:
    """A checked webhook target: where to connect (``addresses``) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IPAddress, ...]


def check_url(url: str, *, allow_private: bool) -> Target:
    """Parse ``url``, resolve its host and check every address. Raises ``UnsafeTarget``."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeTarget("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"is not a valid URL ({exc})") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UnsafeTarget("must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("must not contain credentials")
    if parts.fragment:
        raise UnsafeTarget("must not contain a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("must name a host")
    try:
        host = host.encode("idna").decode("ascii")  # what DNS, SNI and the Host header use
    except UnicodeError:
        raise UnsafeTarget("has an invalid host name") from None
    if port == 0:
        raise UnsafeTarget("has an invalid port (0)")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError, ValueError):
            raise UnsafeTarget(f"host '{host}' does not resolve") from None
    if not addresses:
        raise UnsafeTarget(f"host '{host}' does not resolve")
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal:
            raise UnsafeTarget(refusal)
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_PRINTABLE_ASCII)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


# ------------------------------------------------------------------------------------------------ HTTP


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address that was checked, while naming the host in the request as usual."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the host name (SNI and certificate), not the address."""

    def __init__(self, host: str, port: int, address: IPAddress, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, headers: dict[str, str], body: str, *, connect_timeout: float, read_timeout: float) -> int:
    """POST ``body`` to the first reachable checked address; returns the status. Redirects are not followed.

    ``connect_timeout`` bounds each connection attempt, ``read_timeout`` the wait for the answer once the
    request is out; the whole call never takes longer than the two together."""
    deadline = time.monotonic() + connect_timeout + read_timeout
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    last_error: OSError | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = connection_class(target.host, target.port, address, min(connect_timeout, remaining))
        try:
            try:
                connection.connect()
            except OSError as exc:
                last_error = exc
                continue
            assert connection.sock is not None
            connection.sock.settimeout(max(min(read_timeout, deadline - time.monotonic()), 0.01))
            connection.request("POST", target.path, body=body.encode(), headers=headers)
            response = connection.getresponse()
            # Read a little so a well-behaved server sees its response consumed; the body is not kept.
            response.read(4096)
            return response.status
        finally:
            connection.close()
    raise last_error or TimeoutError("no address answered in time")


def endpoint_of(url: str) -> str:
    """What the worker's per-endpoint limit counts: scheme, host and port (no DNS lookup)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    return f"{scheme}://{(parts.hostname or '').lower()}:{port or (443 if scheme == 'https' else 80)}"


# -------------------------------------------------------------------------------------- subscriptions


def _sealer(settings: Settings) -> Sealer:
    return Sealer(settings.data_key)


def _owned(client_id: uuid.UUID | None) -> list[Any]:
    """Which subscriptions a caller manages: a vendor app its own; a tenant admin session (None) all."""
    criteria: list[Any] = [WebhookSubscription.deleted_at.is_(None)]
    if client_id is not None:
        criteria.append(WebhookSubscription.client_id == client_id)
    return criteria


def list_subscriptions(session: Session, tenant_id: uuid.UUID, *, client_id: uuid.UUID | None) -> list[Any]:
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.tenant_id == tenant_id, *_owned(client_id))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return list(session.execute(stmt).scalars())


def get_subscription(
    session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *, client_id: uuid.UUID | None
) -> WebhookSubscription:
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.id == subscription_id, *_owned(client_id)
    )
    subscription = session.execute(stmt).scalar_one_or_none()
    if subscription is None:
        raise NotFound("No such webhook subscription.")
    return subscription


def subscribe(
    session: Session,
    tenant: Tenant,
    *,
    actor: str,
    client_id: uuid.UUID | None,
    url: str,
    events: list[str],
    description: str | None,
    settings: Settings,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it with its signing secret (the only time the secret is readable)."""
    unknown = sorted({e for e in events if e not in EVENTS})
    if unknown or not events:
        raise ValidationFailed(errors={"events": [f"must be one or more of: {', '.join(EVENTS)}"]})
    url = url.strip()
    try:
        check_url(url, allow_private=settings.webhooks_allow_private)
    except UnsafeTarget as refusal:
        raise ValidationFailed("The webhook URL is not acceptable.", errors={"url": [str(refusal)]}) from None
    owned = list_subscriptions(session, tenant.id, client_id=client_id)
    if client_id is None:
        owned = [s for s in owned if s.client_id is None]
    if len(owned) >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"At most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first.")
    secret = new_secret()
    subscription = WebhookSubscription(
        tenant_id=tenant.id,
        client_id=client_id,
        url=url,
        events=[e for e in EVENTS if e in events],
        description=description,
        secret_sealed=_sealer(settings).seal(tenant.id, secret),
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.subscribe",
        object_type="webhook_subscription",
        object_id=subscription.id,
        data={"url": url, "events": subscription.events, "client_id": str(client_id) if client_id else None},
    )
    return subscription, secret


def unsubscribe(session: Session, tenant: Tenant, subscription: WebhookSubscription, *, actor: str) -> None:
    """Stop sending to a subscription. Its log stays; what was still pending is cancelled."""
    now = utcnow()
    subscription.deleted_at = now
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == PENDING)
        .values(status=CANCELLED, job_id=None, next_attempt_at=None, last_error="the subscription was deleted")
    )
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.unsubscribe",
        object_type="webhook_subscription",
        object_id=subscription.id,
        data={"url": subscription.url},
    )


def deliveries_page(
    session: Session,
    tenant_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    newest_first: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[WebhookDelivery]:
    """One keyset page of a subscription's delivery log (``limit + 1`` rows: the extra one says "more")."""
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.subscription_id == subscription_id
    )
    key = tuple_(WebhookDelivery.created_at, WebhookDelivery.id)
    if after is not None:
        stmt = stmt.where(key < tuple_(*after) if newest_first else key > tuple_(*after))
    order = (
        (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        if newest_first
        else (WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return list(session.execute(stmt.order_by(*order).limit(limit + 1)).scalars())


def get_delivery(
    session: Session, tenant_id: uuid.UUID, subscription: WebhookSubscription, delivery_id: uuid.UUID
) -> WebhookDelivery:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id,
        WebhookDelivery.subscription_id == subscription.id,
        WebhookDelivery.id == delivery_id,
    )
    delivery = session.execute(stmt).scalar_one_or_none()
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


def replay(session: Session, tenant: Tenant, delivery: WebhookDelivery, *, actor: str) -> WebhookDelivery:
    """Send a delivered or failed event again: same ``webhook-id`` and body, a fresh series of attempts."""
    if delivery.status == PENDING:
        raise Conflict(
            "This delivery is still pending; it is retried automatically.",
            next_attempt_at=delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        )
    job = outbox.enqueue(session, DELIVER_TOPIC, {"delivery_id": str(delivery.id), "replay": True})
    delivery.job_id = job.id
    delivery.status = PENDING
    delivery.next_attempt_at = job.available_at
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.replay",
        object_type="webhook_delivery",
        object_id=delivery.id,
        data={"subscription": str(delivery.subscription_id), "webhook_id": str(delivery.message_id)},
    )
    return delivery


# ------------------------------------------------------------------------------------ worker handlers


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(session: Session, tenant: Tenant, message: OutboxMessage) -> str:
    """The JSON body of an event, as sent: ids, reference, procedure and states. No personal data."""
    payload = message.payload
    data: dict[str, Any] = {"tenant": tenant.slug, "application_id": str(payload["application_id"])}
    if message.topic == DOCUMENT_ISSUED:
        application = session.execute(
            select(Application).where(Application.id == uuid.UUID(str(payload["application_id"])))
        ).scalar_one()
        data.update(
            reference=application.reference,
            service_key=application.service_key,
            document_id=str(payload["document_id"]),
            document_kind=payload["kind"],
        )
    else:
        data.update(
            reference=payload["reference"],
            service_key=payload["service_key"],
            from_state=payload["from"],
            to_state=payload["to"],
        )
    body = {"type": message.topic, "timestamp": _iso(message.created_at), "data": data}
    return json.dumps(body, separators=(",", ":"))


def _revoked_clients(session: Session, client_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not client_ids:
        return set()
    stmt = select(OAuthClient.id).where(OAuthClient.id.in_(client_ids), OAuthClient.revoked_at.is_not(None))
    return set(session.execute(stmt).scalars())


def _vendor_apps_entitled(session: Session, application_id: uuid.UUID, client_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of ``client_ids``, the vendor apps that may hear about the application: the one that filed it, and those
    its applicant has consented to (a consent the resident withdraws ends the events with it)."""
    if not client_ids:
        return set()
    row = session.execute(
        select(Application.filed_by_client_id, Application.applicant_account_id).where(Application.id == application_id)
    ).one_or_none()
    if row is None:
        return set()
    entitled = {row.filed_by_client_id} & client_ids
    if row.applicant_account_id is not None:
        consented = select(OAuthConsent.oauth_client_id).where(
            OAuthConsent.account_id == row.applicant_account_id, OAuthConsent.oauth_client_id.in_(client_ids)
        )
        entitled |= set(session.execute(consented).scalars())
    return entitled


def fan_out(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """One delivery (and one ``webhook.deliver`` job) per subscription that existed when the event happened
    (deleted subscriptions, those of revoked vendor apps, and those of vendor apps the applicant never consented to
    get nothing)."""
    subscriptions = [
        s
        for s in session.execute(
            select(WebhookSubscription)
            .where(WebhookSubscription.deleted_at.is_(None), WebhookSubscription.created_at <= message.created_at)
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        ).scalars()
        if message.topic in s.events
    ]
    vendor_apps = {s.client_id for s in subscriptions if s.client_id is not None}
    revoked = _revoked_clients(session, vendor_apps)
    entitled = _vendor_apps_entitled(session, uuid.UUID(str(message.payload["application_id"])), vendor_apps - revoked)
    # The municipality's own subscriptions hear every event; a vendor app only of the applications it filed or
    # whose resident consented to it (issue 12: a webhooks:manage scope is no licence to watch everyone).
    subscriptions = [s for s in subscriptions if s.client_id is None or s.client_id in entitled]
    if not subscriptions:
        return
    already = set(
        session.execute(
            select(WebhookDelivery.subscription_id).where(WebhookDelivery.message_id == message.id)
        ).scalars()
    )
    body = event_body(session, tenant, message)
    for subscription in subscriptions:
        if subscription.id in already:
            continue
        delivery = WebhookDelivery(
            tenant_id=tenant.id,
            subscription_id=subscription.id,
            message_id=message.id,
            event=message.topic,
            body=body,
            status=PENDING,
            created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        job = outbox.enqueue(session, DELIVER_TOPIC, {"delivery_id": str(delivery.id)})
        delivery.job_id = job.id
        delivery.next_attempt_at = job.available_at
    session.flush()


class DeliveryFailed(Exception):
    """An attempt failed. The worker rolls back the handler's savepoint, schedules the retry, then calls
    ``after_rollback`` so the attempt is still written to the delivery log."""

    def __init__(self, delivery_id: uuid.UUID, attempted_at: datetime, error: str, status_code: int | None) -> None:
        super().__init__(error)
        self.delivery_id = delivery_id
        self.attempted_at = attempted_at
        self.error = error
        self.status_code = status_code

    def after_rollback(self, session: Session, *, retry_at: datetime | None) -> None:
        delivery = session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == self.delivery_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if delivery is None:
            return
        delivery.attempts += 1
        delivery.last_attempt_at = self.attempted_at
        delivery.last_status_code = self.status_code
        delivery.last_error = self.error[:2000]
        delivery.next_attempt_at = retry_at
        if retry_at is None:
            delivery.status = FAILED
        session.flush()


def _describe(status: int) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"


def _cancel(delivery: WebhookDelivery, reason: str) -> None:
    delivery.status, delivery.job_id, delivery.next_attempt_at = CANCELLED, None, None
    delivery.last_error = reason


def deliver(session: Session, tenant: Tenant, message: OutboxMessage, *, settings: Settings) -> Dispatch | None:
    """One attempt of one delivery (the ``webhook.deliver`` handler): what to POST where, or None when there is
    nothing to do. The target is checked again (DNS may have changed) when the worker sends, outside any
    transaction."""
    delivery_id = uuid.UUID(str(message.payload["delivery_id"]))
    delivery = _current_delivery(session, delivery_id, message.id)
    if delivery is None:
        log.info("webhook job %s has nothing to do (delivery %s replaced, done or gone)", message.id, delivery_id)
        return None
    subscription = session.execute(
        select(WebhookSubscription).where(WebhookSubscription.id == delivery.subscription_id)
    ).scalar_one()
    if subscription.deleted_at is not None:
        _cancel(delivery, "the subscription was deleted")
        return None
    if subscription.client_id is not None and _revoked_clients(session, {subscription.client_id}):
        _cancel(delivery, "the vendor app was revoked")
        return None
    url, sealed, body, webhook_id = (
        subscription.url,
        subscription.secret_sealed,
        delivery.body,
        str(delivery.message_id),
    )

    def send() -> tuple[datetime, int]:
        attempted_at = utcnow()
        status: int | None = None
        try:
            secret = _sealer(settings).open(tenant.id, sealed)
            target = check_url(url, allow_private=settings.webhooks_allow_private)
            headers = signed_headers(secret, webhook_id, body)
            status = post(
                target,
                headers,
                body,
                connect_timeout=settings.webhook_connect_timeout_seconds,
                read_timeout=settings.webhook_read_timeout_seconds,
            )
        except UnsafeTarget as refusal:
            raise DeliveryFailed(delivery_id, attempted_at, f"blocked: the URL {refusal}", None) from refusal
        except Exception as exc:  # whatever went wrong goes into the log the vendor reads
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DeliveryFailed(delivery_id, attempted_at, error, None) from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(delivery_id, attempted_at, _describe(status), status)
        return attempted_at, status

    def record(session: Session, message: OutboxMessage, outcome: tuple[datetime, int]) -> None:
        delivery = _current_delivery(session, delivery_id, message.id)
        if delivery is None:  # replaced or cancelled while it was being sent
            return
        attempted_at, status = outcome
        delivery.attempts += 1
        delivery.status = DELIVERED
        delivery.last_status_code = status
        delivery.last_error = None
        delivery.last_attempt_at = delivery.delivered_at = attempted_at
        delivery.next_attempt_at = None
        session.flush()

    return Dispatch(endpoint_of(url), send, record, sequence=f"webhook:{subscription.id}")


def _current_delivery(session: Session, delivery_id: uuid.UUID, job_id: uuid.UUID) -> WebhookDelivery | None:
    """The delivery, locked, if ``job_id`` is still the job in charge of it and it is pending."""
    delivery = session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if delivery is None or delivery.job_id != job_id or delivery.status != PENDING:
        return None
    return delivery


def delivery_handler(settings: Settings) -> Callable[[Session, Tenant, OutboxMessage], Dispatch | None]:
    """The ``webhook.deliver`` handler bound to the settings it needs (data key, allow-private, timeouts)."""

    def handle(session: Session, tenant: Tenant, message: OutboxMessage) -> Dispatch | None:
        return deliver(session, tenant, message, settings=settings)

    return handle
