"""Settings snapshots: what an application was filed under, stored once per content and read from a process cache.

An application keeps the effective settings of its procedure at filing time (fee, SLA, form, workflow), so later
changes of the municipality's settings or of the catalog never rewrite it. Thousands of applications share the
same few settings, so the content lives once per tenant in ``settings_snapshots``, keyed by its hash
(:func:`snapshot_hash`), and an application names it (``settings_snapshot_hash``). A snapshot never changes: the
hash determines the content, so a parsed snapshot and its ``Workflow`` are cached per process by
``(tenant_id, hash)`` (:data:`cache`) and shared by every request. Shared values are frozen (:func:`freeze`): a
caller that tried to change one would change it for everybody, so it gets a ``TypeError`` instead; ``deepcopy``
gives a plain, changeable copy (``madoguchi.readonly``). Decision 0027.

This module does no I/O: ``applications.models`` reads the table and ``applications.repository`` writes it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from madoguchi.applications.workflow import Workflow
from madoguchi.readonly import freeze


def canonical_json(content: Any) -> bytes:
    """The bytes a snapshot's hash is taken over: compact, UTF-8, no NaN, and the keys in their written order.

    Not sorted: a form's property order is the order its questions are asked (decision 0020), so two snapshots
    that differ only in key order are different snapshots, and must not share a row.
    """
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def snapshot_hash(content: Any) -> str:
    """The SHA-256 (hex) of :func:`canonical_json`: what ``settings_snapshots.hash`` holds for ``content``."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


# -------------------------------------------------------------------------------------------- the cache

#: A snapshot's key: only the tenant that owns the row may read it (row-level security on the table).
SnapshotKey = tuple[uuid.UUID, str]


@dataclass(frozen=True)
class Parsed:
    """One snapshot as the code reads it: the settings (frozen) and their workflow, built once."""

    settings: dict[str, Any]
    workflow: Workflow | None

    @classmethod
    def of(cls, content: Any) -> Parsed:
        settings = freeze(content if isinstance(content, dict) else {})
        spec = settings.get("workflow")
        return cls(settings, Workflow(spec) if spec else None)


class SnapshotCache:
    """Parsed snapshots by ``(tenant_id, hash)``, per process. The key determines the value, so an entry never goes
    stale; the bound only keeps memory flat (cleared whole when full: a platform has a few thousand at most)."""

    def __init__(self, size: int = 4096) -> None:
        self._entries: dict[SnapshotKey, Parsed] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: SnapshotKey) -> Parsed | None:
        return self._entries.get(key)

    def put(self, key: SnapshotKey, content: Any) -> Parsed:
        """Parse ``content`` for ``key`` (or return the entry already there)."""
        found = self._entries.get(key)
        if found is not None:
            return found
        parsed = Parsed.of(content)
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            return self._entries.setdefault(key, parsed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: The process's snapshots (read by ``Application.settings_snapshot`` and ``Application.workflow``).
cache = SnapshotCache()
