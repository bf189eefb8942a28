"""Reading the published months back, for the files, the API and the pages: published rows only, never the exact
figures (``KpiMonth.internal`` stays with the municipality)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.errors import NotFound
from madoguchi.opendata import files
from madoguchi.opendata.columns import CATALOG_ADOPTION, CHILDCARE_ROUND_RESULTS, PROCEDURE_KPIS
from madoguchi.opendata.compute import open_data_settings, parse_period
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from madoguchi.opendata.publish import NATIONAL_NAME, timestamp
from madoguchi.tenancy.models import Tenant

#: The datasets published as files.
PUBLISHED_DATASETS = (PROCEDURE_KPIS, CATALOG_ADOPTION, CHILDCARE_ROUND_RESULTS)
NATIONAL_PUBLISHER = files.Publisher(
    name=NATIONAL_NAME,
    slug=None,
    lg_code=None,
    license="PDL-1.0",
    attribution="出典：Madoguchi 参加自治体の行政手続データ（全国集計） / Source: Madoguchi municipalities (aggregate)",
)


@dataclass(frozen=True)
class Month:
    period: str
    generated_at: str
    rows: list[dict[str, Any]]


def publisher_for(tenant: Tenant) -> files.Publisher:
    settings = open_data_settings(tenant)
    attribution = settings.get("attribution") or f"出典：{tenant.name_ja}（{tenant.name_en}）"
    return files.Publisher(
        name=tenant.name_ja,
        slug=tenant.slug,
        lg_code=tenant.local_government_code,
        license=settings["license"],
        attribution=attribution,
    )


def check_dataset(dataset: str) -> None:
    if dataset not in PUBLISHED_DATASETS:
        raise NotFound(f"There is no open dataset '{dataset}'.")


def check_publishes(tenant: Tenant) -> None:
    if not open_data_settings(tenant)["publish"]:
        raise NotFound(f"{tenant.name_en} does not publish open data.")


def tenant_months(session: Session, tenant: Tenant, dataset: str, period: str | None = None) -> list[Month]:
    """The municipality's published months of ``dataset`` (one, or every one), oldest first. 404 when none."""
    check_dataset(dataset)
    check_publishes(tenant)
    stmt = select(KpiMonth.period, KpiMonth.generated_at, KpiMonth.published).where(
        KpiMonth.tenant_id == tenant.id, KpiMonth.dataset == dataset
    )
    if period is not None:
        _check_period(period)
        stmt = stmt.where(KpiMonth.period == period)
    months = [Month(p, timestamp(g), rows) for p, g, rows in session.execute(stmt.order_by(KpiMonth.period))]
    if period is not None and not months:
        raise NotFound(f"{period} has not been published.")
    return months


def national_months(session: Session, dataset: str, period: str | None = None) -> list[Month]:
    check_dataset(dataset)
    stmt = select(NationalKpiMonth.period, NationalKpiMonth.generated_at, NationalKpiMonth.published).where(
        NationalKpiMonth.dataset == dataset
    )
    if period is not None:
        _check_period(period)
        stmt = stmt.where(NationalKpiMonth.period == period)
    months = [Month(p, timestamp(g), rows) for p, g, rows in session.execute(stmt.order_by(NationalKpiMonth.period))]
    if period is not None and not months:
        raise NotFound(f"{period} has not been published.")
    return months


def _check_period(period: str) -> None:
    try:
        parse_period(period)
    except Exception:
        raise NotFound(f"There is no month '{period}'.") from None


def rows_of(months: list[Month]) -> list[dict[str, Any]]:
    return [row for month in months for row in month.rows]


def periods(session: Session, tenant: Tenant | None) -> list[str]:
    """The months published (of the municipality, or of the country), oldest first."""
    if tenant is None:
        stmt = select(NationalKpiMonth.period).where(NationalKpiMonth.dataset == PROCEDURE_KPIS)
    else:
        check_publishes(tenant)
        stmt = select(KpiMonth.period).where(KpiMonth.tenant_id == tenant.id, KpiMonth.dataset == PROCEDURE_KPIS)
    return sorted(set(session.execute(stmt).scalars()))


def months_of(session: Session, tenant: Tenant | None, dataset: str, period: str | None) -> list[Month]:
    if tenant is None:
        return national_months(session, dataset, period)
    return tenant_months(session, tenant, dataset, period)


def publisher(tenant: Tenant | None) -> files.Publisher:
    return NATIONAL_PUBLISHER if tenant is None else publisher_for(tenant)


def dataset_file(session: Session, tenant: Tenant | None, dataset: str, ext: str, period: str | None) -> bytes:
    """One dataset as CSV or JSON: one month, or every published month (oldest first)."""
    months = months_of(session, tenant, dataset, period)
    rows = rows_of(months)
    if ext == "csv":
        return files.to_csv(dataset, rows)
    return files.to_json(dataset, rows, publisher(tenant))


def package_file(session: Session, tenant: Tenant | None, period: str | None) -> bytes:
    """``datapackage.json`` over the CSV files of one month (paths ``YYYY-MM/<dataset>.csv``) or of every month."""
    bodies: dict[str, bytes] = {}
    created: list[str] = []
    for dataset in PUBLISHED_DATASETS:
        months = _months_or_none(session, tenant, dataset, period)
        bodies[dataset] = files.to_csv(dataset, rows_of(months))
        created += [month.generated_at for month in months]
    prefix = f"{period}/" if period else ""
    return files.datapackage(publisher(tenant), bodies, prefix=prefix, created=max(created) if created else None)


def _months_or_none(session: Session, tenant: Tenant | None, dataset: str, period: str | None) -> list[Month]:
    """A dataset's months for the package: a month published before the dataset existed (childcare round
    results came later than procedure-kpis) gives an empty table instead of a 404 for the whole package."""
    try:
        return months_of(session, tenant, dataset, period)
    except NotFound:
        if dataset == PROCEDURE_KPIS:
            raise
        return []


def dcat_file(session: Session, tenant: Tenant | None, base_url: str) -> bytes:
    modified = [m.generated_at for d in PUBLISHED_DATASETS for m in _months_or_none(session, tenant, d, None)]
    return files.dcat(
        publisher(tenant), list(PUBLISHED_DATASETS), base_url=base_url, modified=max(modified) if modified else None
    )


def etag(body: bytes) -> str:
    """A strong validator: the SHA-256 of the bytes."""
    return hashlib.sha256(body).hexdigest()
