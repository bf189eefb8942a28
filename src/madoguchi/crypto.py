"""Encryption of specially protected personal data (the Individual Number) at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with the platform data key
(``MADOGUCHI_DATA_KEY``). The tenant id is bound in as associated data by prefixing it to the plaintext
and checking it on decryption, so a ciphertext copied into another tenant's row does not decrypt there.
"""

from __future__ import annotations

import uuid

from cryptography.fernet import Fernet, InvalidToken


class DataKeyMissing(RuntimeError):
    pass


class Sealer:
    def __init__(self, key: str) -> None:
        if not key:
            raise DataKeyMissing("MADOGUCHI_DATA_KEY is not set: Individual Numbers cannot be stored.")
        self._fernet = Fernet(key.encode())

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, tenant_id: uuid.UUID, plaintext: str) -> bytes:
        return self._fernet.encrypt(f"{tenant_id}:{plaintext}".encode())

    def open(self, tenant_id: uuid.UUID, token: bytes) -> str:
        try:
            scoped = self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("undecryptable value (wrong key or altered data)") from exc
        prefix = f"{tenant_id}:"
        if not scoped.startswith(prefix):
            raise ValueError("value belongs to another tenant")
        return scoped.removeprefix(prefix)
