"""Signatures (Standard Webhooks) and the SSRF rules for target addresses, without a database."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from standardwebhooks.webhooks import Webhook

from madoguchi.notify import webhook_transport as webhooks


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = webhooks.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signed_headers_verify_with_the_standard_webhooks_library() -> None:
    secret = webhooks.new_secret()
    body = '{"type":"application.submitted","data":{"reference":"RC-ABCD-2345"}}'
    headers = webhooks.signed_headers(secret, "4b6f0d7e-1b1e-4a53-9a3e-0f3b7c1d2e3f", body)
    assert Webhook(secret).verify(body, headers) == {
        "type": "application.submitted",
        "data": {"reference": "RC-ABCD-2345"},
    }


def test_new_secrets_are_32_random_bytes_in_whsec_format() -> None:
    first, second = webhooks.new_secret(), webhooks.new_secret()
    assert first != second
    assert first.startswith("whsec_") and len(base64.b64decode(first[6:])) == 32


@pytest.mark.parametrize(
    ("address", "blocked_even_when_private_allowed"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("fd00::1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", True),
        ("fe80::1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address under test, nothing binds to it
        ("::", True),
        ("224.0.0.251", True),
        ("ff02::1", True),
        ("240.0.0.1", True),
        ("192.0.2.1", True),  # documentation range: not public
        ("::ffff:10.0.0.1", False),  # IPv4-mapped: judged by the IPv4 address it reaches
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, blocked_even_when_private_allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert webhooks.address_refusal(ip, allow_private=False)
    assert bool(webhooks.address_refusal(ip, allow_private=True)) is blocked_even_when_private_allowed


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"])
def test_public_addresses_are_accepted(address: str) -> None:
    assert webhooks.address_refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
def test_numeric_host_spellings_of_loopback_are_resolved_and_refused(host: str) -> None:
    with pytest.raises(webhooks.UnsafeTarget, match="loopback"):
        webhooks.check_url(f"https://{host}/hook", allow_private=False)


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]
    monkeypatch.setattr(webhooks, "resolve_host", lambda host, port: answers)
    with pytest.raises(webhooks.UnsafeTarget, match="private"):
        webhooks.check_url("https://mixed.vendor.example/hook", allow_private=False)


def test_a_checked_target_keeps_host_port_and_query() -> None:
    target = webhooks.check_url("https://93.184.216.34:8443/in/hook?tenant=a", allow_private=False)
    expected = ("https", "93.184.216.34", 8443, "/in/hook?tenant=a")
    assert (target.scheme, target.host, target.port, target.path) == expected
    assert webhooks.check_url("http://127.0.0.1/", allow_private=True).port == 80


def test_international_names_and_paths_become_what_dns_and_http_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        asked.append(host)
        return [ipaddress.IPv4Address("93.184.216.34")]

    monkeypatch.setattr(webhooks, "resolve_host", resolve)
    target = webhooks.check_url("https://窓口.example/通知?町=緑川", allow_private=False)
    assert asked == ["xn--6or331g.example"] and target.host == "xn--6or331g.example"
    assert target.path == "/%E9%80%9A%E7%9F%A5?%E7%94%BA=%E7%B7%91%E5%B7%9D"
