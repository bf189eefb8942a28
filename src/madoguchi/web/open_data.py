"""The open-data files (issue 20, docs/open-data.md), for anyone (no sign-in): a municipality's under
``/<tenant>/open-data/`` and the country's under ``/open-data/``. Every dataset as CSV and JSON (every month, or
``YYYY-MM/`` one month), the Frictionless ``datapackage.json`` and a DCAT record (``dcat.jsonld``). The HTML index
pages (``…/open-data/``) are another blueprint's. Each answer carries a strong ETag (SHA-256 of the bytes) and is
304 on a matching If-None-Match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, request, url_for

from madoguchi.context import current_tenant, db_session
from madoguchi.opendata import reading
from madoguchi.security import public

if TYPE_CHECKING:  # annotations only
    from madoguchi.tenancy.models import Tenant

tenant_files = Blueprint("open_data_files", __name__, url_prefix="/<tenant>/open-data")
national_files = Blueprint("national_open_data_files", __name__, url_prefix="/open-data")
WEB_BLUEPRINTS = [national_files, tenant_files]

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8; header=present",
    "json": "application/json",
    "jsonld": "application/ld+json",
}


def file_response(body: bytes, ext: str) -> Response:
    response = Response(body, mimetype=None, content_type=MEDIA_TYPES[ext])
    response.set_etag(reading.etag(body))
    response.headers["Cache-Control"] = "public, max-age=300"
    # Open data: any site may fetch it from a browser (no credentials are involved).
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)  # 304 without a body when If-None-Match matches
    return response


def _dataset(tenant: Tenant | None, dataset: str, ext: str, period: str | None) -> Response:
    return file_response(reading.dataset_file(db_session(), tenant, dataset, ext, period), ext)


def _package(tenant: Tenant | None, period: str | None) -> Response:
    return file_response(reading.package_file(db_session(), tenant, period), "json")


def _tenant() -> Tenant:
    return current_tenant


@tenant_files.get("/<dataset>.csv", defaults={"ext": "csv"})
@tenant_files.get("/<dataset>.json", defaults={"ext": "json"})
@public
def tenant_dataset(dataset: str, ext: str) -> Response:
    return _dataset(_tenant(), dataset, ext, None)


@tenant_files.get("/<month:period>/<dataset>.csv", defaults={"ext": "csv"})
@tenant_files.get("/<month:period>/<dataset>.json", defaults={"ext": "json"})
@public
def tenant_month_dataset(period: str, dataset: str, ext: str) -> Response:
    return _dataset(_tenant(), dataset, ext, period)


@tenant_files.get("/datapackage.json")
@public
def tenant_package() -> Response:
    return _package(_tenant(), None)


@tenant_files.get("/<month:period>/datapackage.json")
@public
def tenant_month_package(period: str) -> Response:
    return _package(_tenant(), period)


@tenant_files.get("/dcat.jsonld")
@public
def tenant_dcat() -> Response:
    tenant = _tenant()
    reading.check_publishes(tenant)
    package = url_for("open_data_files.tenant_package", tenant=tenant.slug, _external=True)
    base = package.removesuffix("datapackage.json")
    return file_response(reading.dcat_file(db_session(), tenant, base), "jsonld")


@national_files.get("/<dataset>.csv", defaults={"ext": "csv"})
@national_files.get("/<dataset>.json", defaults={"ext": "json"})
@public
def national_dataset(dataset: str, ext: str) -> Response:
    return _dataset(None, dataset, ext, None)


@national_files.get("/<month:period>/<dataset>.csv", defaults={"ext": "csv"})
@national_files.get("/<month:period>/<dataset>.json", defaults={"ext": "json"})
@public
def national_month_dataset(period: str, dataset: str, ext: str) -> Response:
    return _dataset(None, dataset, ext, period)


@national_files.get("/datapackage.json")
@public
def national_package() -> Response:
    return _package(None, None)


@national_files.get("/<month:period>/datapackage.json")
@public
def national_month_package(period: str) -> Response:
    return _package(None, period)


@national_files.get("/dcat.jsonld")
@public
def national_dcat() -> Response:
    base = url_for("national_open_data_files.national_package", _external=True).removesuffix("datapackage.json")
    return file_response(reading.dcat_file(db_session(), None, base), "jsonld")
