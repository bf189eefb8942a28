"""Published versions of the standard catalog. Global: every tenant runs the same standard."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, OrderedJSONType, new_id, utcnow


class ServiceVersion(Base):
    """One published version of a standard procedure: its service.yaml and form.json, frozen.

    Rows are never updated once published; an application keeps pointing at the version it was filed
    under, so a new version never changes the rules of an application in flight.
    """

    __tablename__ = "service_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(32))
    #: service.yaml as parsed, without the form.
    definition: Mapped[dict[str, Any]]
    #: form.json (JSON Schema 2020-12).
    form_schema: Mapped[dict[str, Any]] = mapped_column(OrderedJSONType)
    #: SHA-256 of the canonical JSON of definition + form: republishing changed content under an old
    #: version number is refused.
    content_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
