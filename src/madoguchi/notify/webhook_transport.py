"""How a webhook travels: the Standard Webhooks signature, the SSRF checks of a target URL, and the POST to an
address that was checked (no second DNS lookup).

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
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
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
