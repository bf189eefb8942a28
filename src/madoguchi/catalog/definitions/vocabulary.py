"""The closed vocabularies of catalog files: roles, guards, actions, the settings a tenant may override, the
registry fields a form may prefill from, and the patterns names must follow."""

from __future__ import annotations

from jsonschema import Draft202012Validator

# --- The closed vocabularies the workflow engine and the portal understand --------------------------------------------

KNOWN_ROLES = ("applicant", "clerk", "supervisor", "tenant_admin", "system")
KNOWN_GUARDS = (
    "form_valid",
    "required_documents_present",
    "identity_assurance_met",
    "comment_present",
    "assigned",
    # Someone other than the person concerned (代理人, 法定代理人, 第三者) applied: the clerk has linked the person in
    # the register and accepted the evidence (委任状, 疎明資料) before the decision (decision 0036).
    "person_concerned_confirmed",
    # The fee is settled before anything is issued: paid in full (online, at the counter, by 定額小為替), exempt
    # (減免), or nothing to pay (payments, decision 0044).
    "fee_settled",
)
KNOWN_ACTIONS = (
    "notify_applicant",
    "issue_document",
    "record_decision",
    "notify_staff",
    # The clerk's 教育・保育給付認定 (category, 保育必要量, validity per child), checked and written to the decision.
    "record_certification",
    # The fee of the application, line by line for its channel, stored as its quote (payments, decision 0043).
    "quote_fee",
)
#: Documents a procedure may issue (``output_document.kind``, a transition's ``document``): each has a builder in
#: ``documents.content`` and a layout in ``documents.pdf``.
KNOWN_DOCUMENT_KINDS = (
    "residency_certificate",
    "tax_certificate",
    "childcare_decision",
    "childcare_waitlist",
    "childcare_certification",
)
APPLICANT_KINDS = ("self", "household_member", "agent", "legal_representative", "third_party")
#: The document that shows an applicant who is not the person concerned may apply for them, by relation: a power of
#: attorney (委任状) for an agent, proof of legal representation (戸籍謄本, 登記事項証明書) for a legal representative,
#: evidence of the legitimate reason (疎明資料, 住民基本台帳法12条の3) for a third party.
EVIDENCE_DOCUMENTS = {
    "agent": "power_of_attorney",
    "legal_representative": "legal_representation_evidence",
    "third_party": "legitimate_reason_evidence",
}
#: How sure the municipality must be of who applies, lowest first (as ``identity.models.IdentityAssurance``: the catalog
#: sits below identity). A procedure names its level and may raise it for what is asked (decision 0048).
IDENTITY_ASSURANCE_LEVELS = ("email", "verified", "card")
TENANT_STATUSES = ("trial", "live", "suspended")
LOCALES = ("ja", "en")

#: Registry fields a form field may be prefilled from (once-only: what the municipality knows is not asked again).
REGISTRY_FIELDS = (
    "person.full_name",
    "person.full_name_kana",
    "person.family_name",
    "person.given_name",
    "person.family_name_kana",
    "person.given_name_kana",
    "person.birth_date",
    "person.sex",
    "person.postal_code",
    "person.address",
    "person.resident_code",
    "household.head_name",
)

#: Every setting a service may let tenants override (each service lists its own subset in ``tenant_may_override``).
OVERRIDABLE_SETTINGS = (
    "fee",
    "sla_days",
    "min_monthly_work_hours",
    "max_preferences",
    "auto_issue",
    "extra_steps",
    "extra_questions",
    "instructions",
)
#: Overridable settings declared in service.yaml as ``{default, min, max}`` integers.
RANGE_SETTINGS = ("fee", "sla_days", "min_monthly_work_hours", "max_preferences")

FORM_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The keywords of JSON Schema 2020-12. Anything else in a form must be a UI hint starting with ``x-``: the
#: metaschema accepts unknown keywords, so a typo such as ``requird`` would otherwise silently do nothing.
SCHEMA_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | {
    # Core and annotation keywords, which validate nothing and so are not in the validator table.
    "$schema", "$id", "$defs", "$anchor", "$dynamicAnchor", "$vocabulary", "$comment",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "contentEncoding", "contentMediaType", "contentSchema", "then", "else",
}  # fmt: skip
#: The form property under which a tenant's extra questions are added.
EXTRA_QUESTIONS_PROPERTY = "extra"
MAX_EXTRA_QUESTIONS = 5
EXTRA_QUESTION_TYPES = ("string", "integer", "number", "boolean")
#: WCAG 2.1 AA (adopted by JIS X 8341-3) for normal text: the portal puts white text on the brand colour.
MIN_BRAND_CONTRAST = 4.5

KEBAB_RE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SNAKE_RE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
SEMVER_RE = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
POINTER_RE = r"^(?:/(?:[^/~]|~[01])+)+$"
