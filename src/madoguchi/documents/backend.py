"""What every document storage backend shares: the ``Storage`` protocol, the key rules (every key under
``tenants/<tenant-id>/``), the errors a backend raises and the ``Content-Disposition`` of a download.

Both backends (``madoguchi.documents.storage.LocalStorage``, ``madoguchi.documents.s3.S3Storage``) import this
module; neither imports the other (docs/decisions/0016-layers.md).
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from typing import Protocol
from urllib.parse import quote


class StorageError(Exception):
    """The storage backend failed (unreachable, denied); the caller's transaction should roll back."""


class StoredObjectMissing(StorageError):
    """No object under that key."""


def new_key(tenant_id: uuid.UUID, area: str) -> str:
    """A fresh server-generated key under the tenant's prefix, e.g. ``tenants/<id>/attachments/<random>``."""
    if not area.isidentifier():
        raise ValueError(f"storage area must be a plain word, not {area!r}")
    return f"tenants/{tenant_id}/{area}/{secrets.token_hex(16)}"


def tenant_of_key(key: str) -> uuid.UUID:
    """The tenant a key belongs to; raises ValueError for a key outside ``tenants/<uuid>/``."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "tenants" or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a tenant storage key: {key!r}")
    return uuid.UUID(parts[1])


class Storage(Protocol):
    """What the rest of the app may ask of a backend. ``tenant_id`` must match the key's tenant prefix."""

    def put(self, key: str, data: bytes, *, tenant_id: uuid.UUID, content_type: str) -> None: ...

    def get(self, key: str, *, tenant_id: uuid.UUID) -> bytes: ...

    def delete(self, key: str, *, tenant_id: uuid.UUID) -> None: ...

    def exists(self, key: str, *, tenant_id: uuid.UUID) -> bool: ...

    def download_url(
        self, key: str, *, tenant_id: uuid.UUID, filename: str, content_type: str, seconds: int
    ) -> str | None:
        """A short-lived URL the browser may fetch directly (S3 presigned GET), or None: serve it through
        the app (the local backend)."""
        ...


def check_key(key: str, tenant_id: uuid.UUID) -> None:
    """Refuse a key outside ``tenants/<tenant_id>/`` (a programming error, never a user's mistake)."""
    if tenant_of_key(key) != tenant_id:
        raise PermissionError("storage key belongs to another tenant")


#: File name extension for the fallback name of a download whose name has no ASCII letters.
_EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
#: Characters that may stand unquoted in RFC 8187 ``ext-value`` (attr-char), besides letters and digits.
_ATTR_CHARS = "!#$&+-.^_`|~"


def _ascii(text: str) -> str:
    """Latin letters without accents; anything else that is not a safe file-name character becomes ``_``."""
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() or c in "-_()[] " else "_" for c in flat).strip(" _")


def content_disposition(filename: str, content_type: str = "", disposition: str = "attachment") -> str:
    """An RFC 6266 ``Content-Disposition`` value: an ASCII ``filename`` for old clients, ``filename*`` in UTF-8.

    A name with no ASCII letters at all (住民票.pdf) gets ``document.pdf`` as its fallback, not ``.pdf``.
    """
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem, ascii_extension = (_ascii(stem), _ascii(extension))
    if not any(c.isalpha() for c in ascii_stem):
        ascii_stem = "document"
    if not ascii_extension:
        ascii_extension = _EXTENSIONS.get(content_type, ".")[1:]
    ascii_name = f"{ascii_stem}.{ascii_extension}" if ascii_extension else ascii_stem
    value = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"
    return value
