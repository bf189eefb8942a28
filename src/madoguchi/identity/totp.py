"""TOTP second factor (RFC 6238, 30-second steps, 6 digits) with pyotp.

A code is accepted for the current step and one step either side (clock drift), and only once: the caller
stores the step (counter) of the last accepted code and passes it back, and any code of that step or an
earlier one is refused, so a code seen over someone's shoulder is worthless once used.
"""

from __future__ import annotations

import hmac
import time
import unicodedata
from collections.abc import Callable

import pyotp
import segno

#: Steps accepted either side of the current one.
VALID_WINDOW = 1

#: Seconds since the epoch; tests replace it to move the clock.
clock: Callable[[], float] = time.time


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app imports (usually from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def normalize_code(code: str) -> str:
    """Full-width digits and spaces people type ("１２３ ４５６") become "123456"."""
    return "".join(unicodedata.normalize("NFKC", code).split())


def matching_counter(secret: str, code: str, *, last_counter: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_counter``; else None."""
    code = normalize_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(clock())
    for counter in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if last_counter is not None and counter <= last_counter:
            continue
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def qr_code_svg(uri: str, *, label: str) -> str:
    """The URI as an inline SVG QR code (segno; no external asset), named ``label`` for screen readers.

    Dark on white with the standard quiet zone, so phone cameras read it in dark mode too.
    """
    svg: str = segno.make(uri, error="m").svg_inline(
        scale=4, title=label, svgclass="qr-code", dark="#000", light="#fff", omitsize=True
    )
    return svg.replace("<svg ", '<svg role="img" ', 1)
