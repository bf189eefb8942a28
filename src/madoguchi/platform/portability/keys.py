"""The keys of tenant archives: the Ed25519 signing and trusted keys, and the transfer cipher that carries sealed
columns (個人番号) between installations."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from madoguchi.config import Settings
from madoguchi.platform.portability.archive import FORMAT, ArchiveError

# ------------------------------------------------------------------------------------------------ keys


def _b64decode(value: str, setting: str) -> bytes:
    text = value.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ArchiveError(f"{setting} is not valid base64") from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key (the first 16 hex digits of its SHA-256), written beside signatures."""
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


class TransferCipher:
    """AES-SIV under the key both installations share: deterministic, so an archive exported again is identical.

    Each value is bound (associated data) to its table, column, tenant and row, so a value moved to another row
    does not decrypt.
    """

    def __init__(self, key: str) -> None:
        raw = _b64decode(key, "MADOGUCHI_ARCHIVE_TRANSFER_KEY")
        if len(raw) != 64:
            raise ArchiveError("MADOGUCHI_ARCHIVE_TRANSFER_KEY must be 64 bytes (urlsafe base64)")
        self._siv = AESSIV(raw)
        self.key_id = hashlib.sha256(b"madoguchi-archive-transfer-key:" + raw).hexdigest()[:16]

    @staticmethod
    def _context(column: str, tenant_id: uuid.UUID, row_key: str) -> list[bytes]:
        return [FORMAT.encode(), column.encode(), tenant_id.bytes, row_key.encode()]

    def encrypt(self, plaintext: str, *, column: str, tenant_id: uuid.UUID, row_key: str) -> bytes:
        return self._siv.encrypt(plaintext.encode(), self._context(column, tenant_id, row_key))

    def decrypt(self, token: bytes, *, column: str, tenant_id: uuid.UUID, row_key: str) -> str:
        try:
            return self._siv.decrypt(token, self._context(column, tenant_id, row_key)).decode()
        except InvalidTag:
            raise ArchiveError(f"{column} of row {row_key} does not decrypt with the transfer key") from None


@dataclass(frozen=True)
class ArchiveKeys:
    """The keys of this installation, from settings."""

    signing: Ed25519PrivateKey | None
    trusted: dict[str, Ed25519PublicKey]
    transfer: TransferCipher | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveKeys:
        signing = None
        if settings.archive_signing_key.strip():
            raw = _b64decode(settings.archive_signing_key, "MADOGUCHI_ARCHIVE_SIGNING_KEY")
            if len(raw) != 32:
                raise ArchiveError("MADOGUCHI_ARCHIVE_SIGNING_KEY must be an Ed25519 private key of 32 bytes")
            signing = Ed25519PrivateKey.from_private_bytes(raw)
        trusted: dict[str, Ed25519PublicKey] = {}
        for text in filter(None, (part.strip() for part in settings.archive_trusted_keys.split(","))):
            raw = _b64decode(text, "MADOGUCHI_ARCHIVE_TRUSTED_KEYS")
            if len(raw) != 32:
                raise ArchiveError(f"MADOGUCHI_ARCHIVE_TRUSTED_KEYS: {text!r} is not an Ed25519 public key")
            public = Ed25519PublicKey.from_public_bytes(raw)
            trusted[key_id(public)] = public
        if signing is not None:
            trusted[key_id(signing.public_key())] = signing.public_key()
        transfer = TransferCipher(settings.archive_transfer_key) if settings.archive_transfer_key.strip() else None
        return cls(signing, trusted, transfer)


def generate_keys() -> dict[str, str]:
    """A fresh signing key, its public key and a transfer key, as the settings expect them."""
    signing = Ed25519PrivateKey.generate()
    return {
        "archive_signing_key": _b64(signing.private_bytes_raw()),
        "archive_trusted_keys": public_key_text(signing.public_key()),
        "archive_transfer_key": _b64(os.urandom(64)),
    }
