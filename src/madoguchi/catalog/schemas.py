"""Marshmallow schemas of the public catalog API (dump only: the catalog is read-only over HTTP), and of the
settings a municipality changes on a procedure (loaded by the tenant admin's pages; normalized here, once)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields


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
    per = fields.String(required=True, metadata={"description": "copy, application, or persons (per copy by units)"})
    by_channel = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "the fee of each channel (counter, online, convenience), in yen"},
    )
    persons_per_unit = fields.Integer(metadata={"description": "per persons: how many persons make one unit"})


class IdentityAssuranceConditionSchema(Schema):
    field = fields.String(required=True, metadata={"description": "JSON pointer into the application data"})
    equals = fields.Raw(required=True, metadata={"description": "string, number or boolean"})
    level = fields.String(required=True, metadata={"description": "the level needed when the answer is equal"})


class ProcedureSummarySchema(Schema):
    key = fields.String(required=True, metadata={"example": "residency-certificate"})
    version = fields.String(required=True)
    title = fields.Nested(LocalizedTextSchema, required=True)
    summary = fields.Nested(LocalizedTextSchema)
    fee = fields.Nested(FeeSchema, required=True)
    sla_days = fields.Integer(metadata={"description": "expected processing time in days"})
    identity_assurance = fields.String(
        metadata={
            "description": "the level a resident needs to submit online, lowest first: email, verified or card "
            "(decision 0048)"
        }
    )
    identity_assurance_when = fields.List(
        fields.Nested(IdentityAssuranceConditionSchema),
        metadata={"description": "answers that raise the level: when the answer at `field` equals `equals`"},
    )
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


# --- Input: a municipality's settings of a procedure --------------------------------------------------------------


class WholeNumber(fields.Integer):
    """A whole number as people type it: full-width digits (NFKC), surrounding spaces and thousands separators
    ("１，０００" is 1000); anything else (decimals, words, other scripts' digits) is refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str):
            value = unicodedata.normalize("NFKC", value).strip().replace(",", "")
            if not re.fullmatch(r"-?[0-9]+", value):
                raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class ProcedureSettingsSchema(Schema):
    """Settings a municipality may change on a procedure. Whether the standard lets it, and within which range,
    is the catalog's check (``catalog.operations.change_overrides``, ``upgrades.adopt_version``)."""

    fee = WholeNumber(metadata={"description": "in yen, within the standard's range"})
    sla_days = WholeNumber(metadata={"description": "processing time in days, within the standard's range"})
    min_monthly_work_hours = WholeNumber(metadata={"description": "childcare: within the standard's range"})
    max_preferences = WholeNumber(metadata={"description": "childcare: facilities each child may rank"})
    auto_issue = fields.Boolean(metadata={"description": "issue without a clerk when the standard allows it"})
    extra_steps = fields.List(fields.String(), metadata={"description": "optional steps the standard offers"})
