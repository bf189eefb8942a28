"""Virus scanning of uploads, before anything is stored: off by default, ClamAV when configured.

``MADOGUCHI_VIRUS_SCANNER_URL`` is ``off`` (``NoScanner``) or ``clamav://host:3310`` (``ClamAVScanner``,
speaking clamd's ``INSTREAM`` command over TCP: ``zINSTREAM\\0``, then chunks each prefixed by their length
as a 4-byte big-endian integer, a zero-length chunk to end, and one reply such as ``stream: OK`` or
``stream: Eicar-Test-Signature FOUND``). The protocol is small enough that a few lines of socket code
serve, rather than another dependency.

An infected file is refused (422); a scanner that cannot be reached refuses the upload too (503): an
upload is never stored unscanned while scanning is on.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from flask import current_app

from madoguchi.config import Settings

EXTENSION_KEY = "madoguchi.scanner"
#: clamd's default StreamMaxLength is 25 MB; chunks well below its buffer size.
_CHUNK_BYTES = 64 * 1024


class ScannerUnavailable(Exception):
    """The scanner could not be reached or gave no usable answer: the upload must not be stored."""


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    #: The scanner's name for what it found ("Eicar-Test-Signature"), or None when clean.
    signature: str | None = None
    #: "clean", "not_scanned" (scanning is off) or "infected"; recorded on the attachment.
    status: str = "clean"


NOT_SCANNED = ScanResult(clean=True, status="not_scanned")


class Scanner(Protocol):
    def scan(self, data: bytes) -> ScanResult: ...


class NoScanner:
    """Scanning is off: every file passes, recorded as not scanned."""

    def scan(self, data: bytes) -> ScanResult:
        return NOT_SCANNED


class ClamAVScanner:
    """clamd over TCP with the INSTREAM command."""

    def __init__(self, host: str, port: int = 3310, *, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def scan(self, data: bytes) -> ScanResult:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as connection:
                connection.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), _CHUNK_BYTES):
                    chunk = data[start : start + _CHUNK_BYTES]
                    connection.sendall(struct.pack(">I", len(chunk)) + chunk)
                connection.sendall(struct.pack(">I", 0))
                reply = _read_reply(connection)
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.host}:{self.port}: {exc}") from exc
        return parse_reply(reply)


def _read_reply(connection: socket.socket) -> str:
    received = b""
    while not received.endswith(b"\0"):
        part = connection.recv(4096)
        if not part:
            break
        received += part
    return received.rstrip(b"\0\n").decode("utf-8", "replace")


def parse_reply(reply: str) -> ScanResult:
    """``stream: OK`` → clean; ``stream: <name> FOUND`` → infected; anything else (an ERROR) → unavailable."""
    _, _, verdict = reply.partition(": ")
    if verdict == "OK":
        return ScanResult(clean=True)
    if verdict.endswith(" FOUND"):
        return ScanResult(clean=False, signature=verdict.removesuffix(" FOUND"), status="infected")
    raise ScannerUnavailable(f"unexpected answer from clamd: {reply!r}")


def scanner_for(settings: Settings) -> Scanner:
    url = settings.virus_scanner_url.strip()
    if url in ("", "off"):
        return NoScanner()
    parsed = urlparse(url)
    if parsed.scheme != "clamav" or not parsed.hostname:
        raise ValueError("MADOGUCHI_VIRUS_SCANNER_URL must be 'off' or clamav://host:port")
    return ClamAVScanner(parsed.hostname, parsed.port or 3310, timeout=settings.virus_scanner_timeout_seconds)


def current_scanner() -> Scanner:
    """The app's scanner, made from its settings on first use."""
    scanner = current_app.extensions.get(EXTENSION_KEY)
    if scanner is None:
        scanner = current_app.extensions[EXTENSION_KEY] = scanner_for(current_app.config["MADOGUCHI"])
    return scanner
