"""Keyset pagination cursors: opaque to clients, (created_at, id) inside.

Lists that grow without bound (the queue, the webhook delivery log) page by the last row's
(created_at, id) rather than by offset, so rows arriving meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from madoguchi.errors import ValidationFailed


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


class _Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


Row = TypeVar("Row", bound=_Keyed)


def keyset_page(rows: Sequence[Row], limit: int, present: Callable[[Row], Any]) -> dict[str, Any]:
    """A page from up to ``limit + 1`` rows read in order: the first ``limit`` presented, and the cursor after the
    last of them when the extra row shows that more follow."""
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [present(row) for row in page],
        "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    }
