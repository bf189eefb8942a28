"""Who applies for whom, and what each may receive: the applicant's relation to the person concerned (本人).

The applicant is whoever files (their own account); the person concerned is the entry in the register the
certificate is about. They are the same person, or of one household, for ``self`` and ``household_member``
(住民基本台帳法12条: the applicant's own entry locates the household). Otherwise someone files for another person
under their own account: an agent with a power of attorney (任意代理人, 委任状), a legal representative (法定代理人)
or a third party with a legitimate reason (第三者, 12条の3, 疎明資料). They name the person as they know them; a clerk
matches the person in the register and reviews the evidence before approval (``confirmation_problems``), and the
rules below hold whatever was ticked on the form (decision 0036).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from madoguchi.applications import forms
from madoguchi.catalog.definitions.vocabulary import EVIDENCE_DOCUMENTS

if TYPE_CHECKING:  # annotations only
    from madoguchi.applications.models import Application

SELF = "self"
HOUSEHOLD_MEMBER = "household_member"
AGENT = "agent"
LEGAL_REPRESENTATIVE = "legal_representative"
THIRD_PARTY = "third_party"
#: Where the form holds the relation (the catalog's ``eligible_applicants`` are its values).
RELATION_POINTER = "/requester/relationship"
#: The applicant's own entry in the register is the person concerned's, or of their household.
OWN_RELATIONS = frozenset({SELF, HOUSEHOLD_MEMBER})
#: Someone else files: the person is matched by a clerk, the evidence reviewed, nothing issued unattended.
ON_BEHALF = frozenset(EVIDENCE_DOCUMENTS)

#: The clerk's review of the evidence.
ACCEPTED, NOT_ACCEPTED = "accepted", "not_accepted"
EVIDENCE_OUTCOMES = (ACCEPTED, NOT_ACCEPTED)
#: The delivery forced on an agent's copy with 個人番号 or 住民票コード: by post to the person's registered address.
MAIL = "mail"
#: Items only the person (or their household, or a legal representative) receives in hand (総務省通知: an agent's
#: copy with them is posted to the person's address; a third party never gets them, 12条の3).
RESTRICTED_ITEMS = ("individual_number", "resident_record_code")
#: Items beyond the basic ones (基礎証明事項: name, birth date, sex, address) a third party does not receive.
NON_BASIC_ITEMS = ("domicile", "relationship", *RESTRICTED_ITEMS)


def asks_relation(form: dict[str, Any]) -> bool:
    """Whether the procedure's form asks how the applicant stands to the person (residency, tax certificates)."""
    requester = (form.get("properties") or {}).get("requester") or {}
    return "relationship" in (requester.get("properties") or {})


def given_relation(data: dict[str, Any] | None) -> str | None:
    value = forms.resolve(data or {}, RELATION_POINTER, None)
    return value if isinstance(value, str) and value else None


def entitlement_errors(
    relation: str | None, data: dict[str, Any], settings: dict[str, Any], *, complete: bool = False
) -> dict[str, list[str]]:
    """What this relation may not ask for, by JSON pointer (empty: nothing refused). ``complete``: the answers are
    to be submitted, so what a draft may still leave out is asked for too."""
    if relation is None:
        return {}
    errors: dict[str, list[str]] = {}
    eligible = settings.get("eligible_applicants") or []
    if relation not in eligible:
        errors[RELATION_POINTER] = [f"may not apply as '{relation}' (allowed: {', '.join(eligible)})"]
        return errors
    include = data.get("include") or {}
    if relation == THIRD_PARTY:
        for item in NON_BASIC_ITEMS:
            if include.get(item):
                errors[f"/include/{item}"] = ["is not given to a third party: only the basic items (基礎証明事項)"]
    elif (
        relation == AGENT
        and complete
        and (include.get("domicile") or include.get("relationship"))
        and not str(data.get("purpose_detail") or "").strip()
    ):
        errors["/purpose_detail"] = ["is required to include domicile or relationship: name who needs them"]
    return errors


def forced_delivery(relation: str | None, data: dict[str, Any]) -> str | None:
    """The delivery the rules impose: an agent's copy with 個人番号 or 住民票コード goes by post to the person."""
    include = data.get("include") or {}
    if relation == AGENT and any(include.get(item) for item in RESTRICTED_ITEMS):
        return MAIL
    return None


def confirmation_problems(application: Application) -> list[str]:
    """What a clerk must still do before deciding on an application filed for someone else (empty: nothing)."""
    if application.relation not in ON_BEHALF:
        return []
    problems = []
    if application.subject_person_id is None:
        problems.append("person_not_linked")
    if application.evidence_review != ACCEPTED:
        problems.append("evidence_not_accepted")
    return problems
