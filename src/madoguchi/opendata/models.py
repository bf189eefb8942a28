"""Monthly KPI snapshots: one row per municipality × dataset × month, and one per dataset × month for the country.

A month is computed once it is closed (JST) and then kept: purging applications later does not change what was
published. ``internal`` holds the exact figures (counts, and the days-to-decision histogram that lets medians be
combined across municipalities); ``published`` the rows as published, after small-count suppression. Only
``published`` ever leaves the platform; ``internal`` is the municipality's own and stays under row-level security.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class KpiMonth(TenantScoped, Base):
    """One municipality's dataset for one month (``period`` ``YYYY-MM``, JST)."""

    __tablename__ = "kpi_months"
    __table_args__ = (UniqueConstraint("tenant_id", "dataset", "period", name="uq_kpi_months_dataset_period"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: ``procedure-kpis``, ``catalog-adoption``, ``childcare-round-results`` (opendata.columns.DATASETS)
    dataset: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))
    #: the version of the definitions the figures were computed by (opendata.columns.DEFINITION_VERSION)
    definition_version: Mapped[str] = mapped_column(String(20))
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: exact figures, one dict per row (never published as such)
    internal: Mapped[list[Any]] = mapped_column(default=list)
    #: the rows as published: suppressed cells are None and listed in the row's ``suppressed``
    published: Mapped[list[Any]] = mapped_column(default=list)


class NationalKpiMonth(Base):
    """The country's aggregate of one dataset for one month: sums of the municipalities' exact figures, suppressed
    again. Global (not tenant-scoped): it holds only published rows, nothing a municipality keeps to itself."""

    __tablename__ = "national_kpi_months"
    __table_args__ = (UniqueConstraint("dataset", "period", name="uq_national_kpi_months_dataset_period"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    dataset: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))
    definition_version: Mapped[str] = mapped_column(String(20))
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published: Mapped[list[Any]] = mapped_column(default=list)
