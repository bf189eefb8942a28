"""Marshmallow schemas of the public catalog API (dump only: the catalog is read-only over HTTP)."""

from __future__ import annotations

from marshmallow import Schema, fields


class LocalizedTextSchema(Schema):
    ja = fields.String(required=True)
    en = fields.String(required=True)


class PrefectureSchema(Schema):
    code = fields.String(required=True)
    ja = fields.String()
    en = fields.String()


class TenantSchema(Schema):
    slug = fields.String(required=True, metadata={"example": "kawabe-town"})
    name = fields.Nested(LocalizedTextSchema, required=True)
    local_government_code = fields.String(
        required=True, metadata={"description": "全国地方公共団体コード (six digits, JIS X 0402 check digit)"}
    )
    prefecture = fields.Nested(PrefectureSchema)
    locales = fields.List(fields.String())
    default_locale = fields.String()
    status = fields.String(metadata={"description": "trial or live (suspended tenants are not listed)"})


class FeeSchema(Schema):
    amount = fields.Integer(required=True, metadata={"description": "in yen"})
    currency = fields.String(required=True)
    per = fields.String(required=True, metadata={"description": "copy or application"})


class ProcedureSummarySchema(Schema):
    key = fields.String(required=True, metadata={"example": "residency-certificate"})
    version = fields.String(required=True)
    title = fields.Nested(LocalizedTextSchema, required=True)
    summary = fields.Nested(LocalizedTextSchema)
    fee = fields.Nested(FeeSchema, required=True)
    sla_days = fields.Integer(metadata={"description": "expected processing time in days"})
    identity_assurance = fields.String(metadata={"description": "email or verified"})
    eligible_applicants = fields.List(fields.String())
    auto_issue = fields.Boolean()
    instructions = fields.Nested(LocalizedTextSchema, allow_none=True)


class ProcedureDetailSchema(ProcedureSummarySchema):
    legal_basis = fields.List(fields.Nested(LocalizedTextSchema))
    required_documents = fields.List(fields.Dict())
    prefill = fields.Dict(metadata={"description": "form field (JSON pointer) -> registry field it is filled from"})
    output_document = fields.Dict(allow_none=True)
    retention = fields.Dict()
    form = fields.Dict(required=True, metadata={"description": "JSON Schema 2020-12 of the application data"})
    workflow = fields.Dict(required=True, metadata={"description": "states and transitions"})
