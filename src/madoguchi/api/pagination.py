"""Keyset pagination: ``limit`` and an ``after`` cursor in, ``items`` and ``next_cursor`` out.

Lists that grow without bound (the queue, the webhook delivery log, the municipalities) page by the last row's
key rather than by offset, so rows arriving meanwhile never shift or repeat a page. Cursors are opaque to
clients: (created_at, id) inside for the queue and the delivery log, a unique text key (a slug, a local
government code) for the municipalities.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from marshmallow import Schema, fields, validate

from madoguchi.errors import ValidationFailed

#: Rows per page when the caller names no ``limit``, and the most it may name (as the applications API).
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "after") -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) in a cursor this API issued; anything else is a 422 on ``field``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive cursor time")
        return moment, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(errors={field: ["is not a cursor returned by this API"]}) from None


def encode_key_cursor(key: str) -> str:
    """A cursor after a row whose order is one unique text column."""
    return base64.urlsafe_b64encode(json.dumps([key]).encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str, *, field: str = "after") -> str:
    """The key in a cursor of :func:`encode_key_cursor`; anything else is a 422 on ``field``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
        if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
            raise TypeError("not a cursor of a text key")
        return value[0]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(errors={field: ["is not a cursor returned by this API"]}) from None


class PageArgsSchema(Schema):
    """The query string of a keyset-paged list."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"rows per page, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"},
    )
    after = fields.String(metadata={"description": "cursor from the previous page's next_cursor"})


class _Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


Row = TypeVar("Row", bound=_Keyed)


def keyset_page(
    rows: Sequence[Row], limit: int, present: Callable[[Row], Any], cursor: Callable[[Row], str] | None = None
) -> dict[str, Any]:
    """A page from up to ``limit + 1`` rows read in order: the first ``limit`` presented, and the cursor after the
    last of them when the extra row shows that more follow (``cursor``: of a row; default its (created_at, id))."""
    page = rows[:limit]
    more = len(rows) > limit
    after = cursor or (lambda row: encode_cursor(row.created_at, row.id))
    return {"items": [present(row) for row in page], "next_cursor": after(page[-1]) if more else None}
