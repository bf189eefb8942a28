"""The open-data JSON API (issue 20): the published KPI datasets of the country and of each municipality, the
same documents as the ``.json`` files. Public (no credentials), with a strong ETag (the SHA-256 of the body) and
304 Not Modified on a matching If-None-Match, so a harvester polls cheaply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from madoguchi.context import current_tenant, db_session
from madoguchi.opendata import reading
from madoguchi.security import public
from madoguchi.web.open_data import file_response

if TYPE_CHECKING:  # annotations only
    from madoguchi.tenancy.models import Tenant

blp = Blueprint(
    "open_data",
    __name__,
    description="Open data: monthly procedure KPIs (small counts suppressed) and the procedures offered online,"
    " per municipality and for the country. License and attribution are in every document.",
)

IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you hold: 304 Not Modified when the document is unchanged",
    "schema": {"type": "string"},
}
ETAG_HEADER = {"description": "Strong validator: the SHA-256 of the body", "schema": {"type": "string"}}


class DatasetLinkSchema(Schema):
    dataset = fields.String(required=True)
    title = fields.Dict(keys=fields.String(), values=fields.String())
    json = fields.String(metadata={"description": "this API's document of every month"})
    csv = fields.String(metadata={"description": "the CSV file of every month"})


class OpenDataIndexSchema(Schema):
    publisher = fields.String(required=True)
    months = fields.List(fields.String(), metadata={"description": "months published, YYYY-MM, oldest first"})
    datapackage = fields.String(metadata={"description": "the Frictionless data package"})
    dcat = fields.String(metadata={"description": "a DCAT catalog record (JSON-LD)"})
    datasets = fields.List(fields.Nested(DatasetLinkSchema))


class DatasetDocumentSchema(Schema):
    dataset = fields.String(required=True)
    title = fields.Dict(keys=fields.String(), values=fields.String())
    publisher = fields.String()
    license = fields.Dict(metadata={"description": "name, title, path (URL) and, for PDL 1.0, its CC BY 4.0 note"})
    attribution = fields.String()
    definition_version = fields.String()
    suppression_threshold = fields.Integer()
    columns = fields.List(fields.Dict(), metadata={"description": "Table Schema fields: name, type, unit, ..."})
    rows = fields.List(fields.Dict(), metadata={"description": "one object per row, keys in column order"})


def _index(tenant: Tenant | None) -> dict[str, Any]:
    session = db_session()
    months = reading.periods(session, tenant)
    if tenant is None:
        package = url_for("national_open_data_files.national_package", _external=True)
        dcat = url_for("national_open_data_files.national_dcat", _external=True)
    else:
        package = url_for("open_data_files.tenant_package", tenant=tenant.slug, _external=True)
        dcat = url_for("open_data_files.tenant_dcat", tenant=tenant.slug, _external=True)
    base = package.removesuffix("datapackage.json")
    datasets = []
    for dataset in reading.PUBLISHED_DATASETS:
        ja, en = reading.files.TITLES[dataset]
        if tenant is None:
            api = url_for("open_data.NationalDataset", dataset=dataset, _external=True)
        else:
            api = url_for("open_data.TenantDataset", tenant=tenant.slug, dataset=dataset, _external=True)
        datasets.append({"dataset": dataset, "title": {"ja": ja, "en": en}, "json": api, "csv": f"{base}{dataset}.csv"})
    return {
        "publisher": reading.publisher(tenant).name,
        "months": months,
        "datapackage": package,
        "dcat": dcat,
        "datasets": datasets,
    }


def _document(tenant: Tenant | None, dataset: str, month: str | None) -> Response:
    return file_response(reading.dataset_file(db_session(), tenant, dataset, "json", month), "json")


@blp.route("/open-data")
@public
class NationalIndex(MethodView):
    @blp.response(200, OpenDataIndexSchema)
    def get(self) -> dict[str, Any]:
        """The country's datasets and the months published."""
        return _index(None)


@blp.route("/open-data/<dataset>")
@public
class NationalDataset(MethodView):
    @blp.doc(parameters=[IF_NONE_MATCH])
    @blp.response(200, DatasetDocumentSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match")
    @blp.alt_response(404, description="Unknown dataset")
    def get(self, dataset: str) -> Response:
        """One dataset of the country, every published month (oldest first)."""
        return _document(None, dataset, None)


@blp.route("/open-data/<dataset>/<month:month>")
@public
class NationalDatasetMonth(MethodView):
    @blp.doc(parameters=[IF_NONE_MATCH])
    @blp.response(200, DatasetDocumentSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match")
    @blp.alt_response(404, description="Unknown dataset, or a month not published")
    def get(self, dataset: str, month: str) -> Response:
        """One dataset of the country for one month (`YYYY-MM`, JST)."""
        return _document(None, dataset, month)


@blp.route("/t/<tenant>/open-data")
@public
class TenantIndex(MethodView):
    @blp.response(200, OpenDataIndexSchema)
    @blp.alt_response(404, description="Unknown municipality, or one that does not publish open data")
    @blp.alt_response(403, description="The municipality's service is suspended")
    def get(self) -> dict[str, Any]:
        """A municipality's datasets and the months it has published."""
        return _index(current_tenant)


@blp.route("/t/<tenant>/open-data/<dataset>")
@public
class TenantDataset(MethodView):
    @blp.doc(parameters=[IF_NONE_MATCH])
    @blp.response(200, DatasetDocumentSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match")
    @blp.alt_response(404, description="Unknown municipality or dataset")
    @blp.alt_response(403, description="The municipality's service is suspended")
    def get(self, dataset: str) -> Response:
        """One dataset of a municipality, every published month (oldest first)."""
        return _document(current_tenant, dataset, None)


@blp.route("/t/<tenant>/open-data/<dataset>/<month:month>")
@public
class TenantDatasetMonth(MethodView):
    @blp.doc(parameters=[IF_NONE_MATCH])
    @blp.response(200, DatasetDocumentSchema, headers={"ETag": ETAG_HEADER})
    @blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match")
    @blp.alt_response(404, description="Unknown municipality or dataset, or a month not published")
    @blp.alt_response(403, description="The municipality's service is suspended")
    def get(self, dataset: str, month: str) -> Response:
        """One dataset of a municipality for one month (`YYYY-MM`, JST)."""
        return _document(current_tenant, dataset, month)


API_BLUEPRINTS = [blp]
