"""Marshmallow schemas of the applications API, split by direction."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from madoguchi.catalog.schemas import LocalizedTextSchema


class ApplicationCreateSchema(Schema):
    procedure = fields.String(required=True, metadata={"example": "residency-certificate"})
    data = fields.Dict(load_default=dict, metadata={"description": "form data (the procedure's JSON Schema)"})
    resident_code = fields.String(
        validate=validate.Regexp(r"^[0-9]{11}$", error="must be 11 digits"),
        metadata={"description": "staff only: file at the counter for this person in the resident register"},
    )


class ApplicationUpdateSchema(Schema):
    data = fields.Dict(required=True, metadata={"description": "the whole form data; prefilled fields stay"})


#: The longest text staff may write on an application: a transition's reason or an internal note.
COMMENT_MAX_LENGTH = 2000


class TransitionCreateSchema(Schema):
    transition = fields.String(required=True, metadata={"example": "approve"})
    comment = fields.String(validate=validate.Length(max=COMMENT_MAX_LENGTH), load_default=None)
    decision = fields.Dict(
        load_default=None,
        metadata={
            "description": "staff: decision details. On `certify` (childcare) the 支給認定, checked by field: "
            '`{"certification": {"certified_on": "YYYY-MM-DD", "children": [{"index": 0, "category": "3", '
            '"care_time": "standard", "valid_from": "YYYY-MM-DD", "valid_to": "YYYY-MM-DD"}]}}` (decision 0041)'
        },
    )


class NoteCreateSchema(Schema):
    """An internal note on an application (the console's comments, which the applicant does not see)."""

    note = fields.String(required=True, validate=validate.Length(min=1, max=COMMENT_MAX_LENGTH))


class EvidenceReviewSchema(Schema):
    """Staff's review of the evidence of an application filed for someone else (委任状, 疎明資料)."""

    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "not_accepted"]))
    reason = fields.String(
        validate=validate.Length(max=COMMENT_MAX_LENGTH),
        load_default=None,
        metadata={"description": "required when not accepted: the applicant is told it"},
    )


class AssigneeSchema(Schema):
    assignee_id = fields.UUID(required=True, allow_none=True)


#: The assignee a person names without an account id: themselves, or nobody.
ME, NOBODY = "me", "none"


class Assignee(fields.String):
    """A staff member as a person names one: "me", "none" (nobody) or an account id; loads to ``ME``, ``NOBODY``
    or the UUID. ``blank`` is what an empty value means (None: not given, as an empty filter of the queue)."""

    def __init__(self, *, blank: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blank = blank

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return self.blank
        if text in (ME, NOBODY):
            return text
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ValidationError("must be 'me', 'none' or an account id") from None


def assignee_account_id(chosen: str | uuid.UUID | None, me: uuid.UUID | None) -> uuid.UUID | None:
    """The account an ``Assignee`` names: the caller's own for "me", None for "none" or nothing."""
    if chosen == ME:
        return me
    return chosen if isinstance(chosen, uuid.UUID) else None


def assignee_filter(chosen: str | uuid.UUID | None, me: uuid.UUID | None) -> dict[str, Any]:
    """The queue filter an ``Assignee`` names, as ``repository.queue_filters`` takes it."""
    return {"assignee_id": assignee_account_id(chosen, me), "unassigned": chosen == NOBODY}


class AssigneeChoiceSchema(Schema):
    """Assigning from a page: "me", a colleague's account id, or the blank choice for nobody."""

    assignee = Assignee(blank=NOBODY, load_default=NOBODY)


class QueueFilterArgsSchema(Schema):
    """The filters of the staff queue, as the API and the console take them."""

    state = fields.String()
    procedure = fields.String()
    assignee = Assignee(metadata={"description": "staff: 'me', 'none' or an account id"})
    overdue = fields.Boolean(metadata={"description": "staff: only applications past their due date"})


class ApplicationQueryArgsSchema(QueueFilterArgsSchema):
    order = fields.String(load_default="oldest", validate=validate.OneOf(["oldest", "newest"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    after = fields.String(metadata={"description": "cursor from the previous page's next_cursor"})


class PrefillSourceSchema(Schema):
    source = fields.String(required=True)
    field = fields.String(required=True)
    as_of = fields.String(
        metadata={
            "description": "the day (Japan, YYYY-MM-DD) the value was read from the register; absent before issue 20"
        }
    )


class AvailableTransitionSchema(Schema):
    name = fields.String(required=True)
    title = fields.Nested(LocalizedTextSchema)
    to = fields.String(required=True)
    needs_comment = fields.Boolean(required=True)


class SlaPauseSchema(Schema):
    """The processing time's clock, stopped while the applicant is asked for more information (補正)."""

    paused_on = fields.Date(required=True, metadata={"description": "the day (in Japan) the clock stopped"})
    remaining_working_days = fields.Integer(
        required=True,
        metadata={
            "description": "working days the processing time had left; after the answer the application is due "
            "that many working days after the day of the answer (0: on that day)"
        },
    )


class ApplicantSchema(Schema):
    account_id = fields.UUID(allow_none=True, metadata={"description": "the account that filed it"})
    person_id = fields.UUID(allow_none=True, metadata={"description": "staff: that account's own register entry"})


class PersonConcernedSchema(Schema):
    linked = fields.Boolean(required=True, metadata={"description": "a clerk (or the register) identified the person"})
    person_id = fields.UUID(allow_none=True, metadata={"description": "staff: the register entry it is about"})


class EvidenceReviewStateSchema(Schema):
    outcome = fields.String(required=True, metadata={"example": "accepted"})
    reason = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(required=True)


class PersonConcernedLinkSchema(Schema):
    """Staff: the register entry an application filed for someone else is about."""

    resident_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{11}$", error="must be 11 digits"))


class PaymentSummarySchema(Schema):
    """The fee in short (payments.overview.summary); ``GET …/applications/<id>/payments`` has the whole picture."""

    status = fields.String(
        required=True,
        metadata={"description": "not_quoted (a draft), exempt (減免), free, due, paid", "example": "due"},
    )
    currency = fields.String(required=True, metadata={"example": "JPY"})
    total_jpy = fields.Integer(required=True, metadata={"description": "手数料 + システム利用料", "example": 300})
    fee_jpy = fields.Integer(required=True, metadata={"example": 300})
    surcharge_jpy = fields.Integer(required=True, metadata={"example": 0})
    paid_jpy = fields.Integer(required=True, metadata={"example": 0})
    amount_due_jpy = fields.Integer(required=True, metadata={"example": 300})
    exemption = fields.String(allow_none=True, required=True)
    collected = fields.Boolean(
        required=True,
        metadata={"description": "whether the municipality collects its fees through Madoguchi (false: issue does "
                  "not wait for the fee, the counter takes it as before)"},
    )  # fmt: skip


class ApplicationSchema(Schema):
    id = fields.UUID(required=True)
    reference = fields.String(required=True, metadata={"example": "RC-7K3M-Q2XD"})
    procedure = fields.String(required=True)
    procedure_version = fields.String(required=True)
    state = fields.String(required=True)
    channel = fields.String(required=True)
    data = fields.Dict(required=True)
    prefill_sources = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(PrefillSourceSchema),
        required=True,
        metadata={"description": "JSON pointer of each prefilled field -> where its value comes from"},
    )
    assignee_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    due_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "the last day of the processing time, counted in the municipality's working days (no "
            "土日, national holidays, 12/29-1/3 or its own closed days) from the day after submission; null before "
            "submission and while `sla_pause` is set"
        },
    )
    sla_pause = fields.Nested(
        SlaPauseSchema,
        allow_none=True,
        required=True,
        metadata={"description": "set while the clock is stopped for more information (補正); else null"},
    )
    overdue = fields.Boolean(required=True)
    relation = fields.String(
        allow_none=True,
        metadata={
            "description": "how the applicant stands to the person concerned: self, household_member, agent, "
            "legal_representative, third_party (null: the procedure does not ask)"
        },
    )
    applicant = fields.Nested(ApplicantSchema, required=True, metadata={"description": "who filed it"})
    person_concerned = fields.Nested(
        PersonConcernedSchema, required=True, metadata={"description": "whom it is about (本人)"}
    )
    evidence_review = fields.Nested(EvidenceReviewStateSchema, allow_none=True)
    delivery = fields.String(
        allow_none=True, metadata={"description": "how the document is delivered: the one chosen, or one forced"}
    )
    forced_delivery = fields.String(
        allow_none=True,
        metadata={"description": "'mail': an agent asked for the Individual Number: posted to the person's address"},
    )
    version = fields.Integer(required=True, metadata={"description": "also the ETag; send it in If-Match"})
    available_transitions = fields.List(fields.Nested(AvailableTransitionSchema), required=True)
    payment = fields.Nested(
        PaymentSummarySchema,
        allow_none=True,
        metadata={"description": "the fee in short; null in lists (read the application, or its /payments)"},
    )


class ApplicationPageSchema(Schema):
    items = fields.List(fields.Nested(ApplicationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class HistoryEventSchema(Schema):
    seq = fields.Integer(required=True)
    action = fields.String(required=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    actor_role = fields.String(required=True)
    comment = fields.String(allow_none=True)
    at = fields.DateTime(required=True)
