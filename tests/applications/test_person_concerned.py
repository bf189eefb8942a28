"""Applicant and person concerned apart (decision 0036): an agent (代理人), a legal representative or a third party
(第三者) files under their own account for another person; a clerk links the person in the register and reviews the
evidence before approval; what each relation may receive holds whatever was ticked."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from madoguchi.applications import operations as ops
from madoguchi.applications import repository
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.registry.models import Person
from tests.factories import make_attachment, make_person, resident, tenants
from tests.world import PRINCIPAL, RESIDENCY, Town, build_town, residency_by_agent

STANDARD = "midorikawa-village"
AUTO_ISSUE = "sakuragaoka-city"
SUPERVISED = "shiomi-town"

THIRD_PARTY: dict[str, Any] = {
    **RESIDENCY,
    "applicant": dict(PRINCIPAL),
    "requester": {"relationship": "third_party", "third_party_reason": "賃貸借契約の未払賃料を請求する訴訟のため"},
}
#: An agent asking for the Individual Number, to be handed over electronically (which the rules override).
AGENT_WITH_NUMBER: dict[str, Any] = {
    **residency_by_agent("代理 𠮷子"),
    "include": {"individual_number": True},
    "purpose_detail": "勤務先への個人番号の提出（年末調整）",
}


def _agent(db: Database, town: Town) -> Actor:
    """A verified resident of the town who is not of the principal's (town.parent's) household: 渡邊󠄂 花子."""
    with db.transaction(town.tenant.id) as session:
        person = make_person(
            session,
            town.tenant,
            family_name="渡邊󠄂",
            given_name="花子",
            family_name_kana="ワタナベ",
            given_name_kana="ハナコ",
            birth_date=date(1970, 1, 1),
        )
        return resident(session, town.tenant, person)


def _act(db: Database, town: Town, verb: str, *args: Any, **kwargs: Any) -> Any:
    with db.transaction(town.tenant.id) as session:
        return getattr(ops, verb)(session, town.tenant, *args, **kwargs)


def _get(db: Database, town: Town, application_id) -> Application:
    with db.transaction(town.tenant.id) as session:
        return repository.get(session, town.tenant.id, application_id)


def _draft(db: Database, town: Town, actor: Actor, data: dict[str, Any], key: str = "residency-certificate"):
    with db.transaction(town.tenant.id) as session:
        return ops.create_draft(session, town.tenant, actor, key, data).id


def _attach(db: Database, town: Town, application_id, key: str) -> None:
    with db.transaction(town.tenant.id) as session:
        make_attachment(session, town.tenant, application_id, key)


def _submitted(db: Database, town: Town, actor: Actor, data: dict[str, Any], evidence: str):
    application_id = _draft(db, town, actor, data)
    _attach(db, town, application_id, evidence)
    _act(db, town, "submit", actor, application_id)
    return application_id


def _documents(db: Database, town: Town, application_id) -> list[IssuedDocument]:
    with db.transaction(town.tenant.id) as session:
        stmt = select(IssuedDocument).where(IssuedDocument.application_id == application_id)
        return list(session.execute(stmt).scalars())


def test_an_agent_applies_under_their_own_account_and_the_certificate_is_about_the_person(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")

    filed = _get(db, town, application_id)
    assert (filed.applicant_account_id, filed.applicant_person_id) == (agent.account_id, agent.person_id)
    assert filed.relation == "agent" and filed.subject_person_id is None
    # Nothing of the agent's own entry was prefilled as the person's: the person is as the agent named them.
    assert filed.prefill_sources == {} and filed.data["applicant"] == PRINCIPAL

    clerk = town.clerk
    _act(db, town, "transition", clerk, application_id, "start_review")
    with pytest.raises(Conflict) as blocked:
        _act(db, town, "transition", clerk, application_id, "approve")
    assert blocked.value.extra == {
        "rule": "person_concerned_confirmed",
        "missing": ["person_not_linked", "evidence_not_accepted"],
    }

    _act(db, town, "link_person_concerned", clerk, application_id, town.parent.id)
    with pytest.raises(Conflict) as still:
        _act(db, town, "transition", clerk, application_id, "approve")
    assert still.value.extra["missing"] == ["evidence_not_accepted"]

    with pytest.raises(ValidationFailed) as no_reason:
        _act(db, town, "review_evidence", clerk, application_id, "not_accepted", "  ")
    assert set(no_reason.value.errors) == {"reason"}
    _act(db, town, "review_evidence", clerk, application_id, "not_accepted", "委任状に日付がありません")
    with pytest.raises(Conflict):
        _act(db, town, "transition", clerk, application_id, "approve")
    assert _get(db, town, application_id).state == "in_review"

    _act(db, town, "review_evidence", clerk, application_id, "accepted")
    _act(db, town, "transition", clerk, application_id, "approve")
    _act(db, town, "transition", clerk, application_id, "issue")

    (document,) = _documents(db, town, application_id)
    [person] = document.content["persons"]
    assert person["resident_code"] == town.parent.resident_code and person["name"] == town.parent.full_name
    assert document.content["address"] == town.parent.address
    with db.transaction(town.tenant.id) as session:
        actions = [e.action for e in repository.history(session, town.tenant.id, application_id)]
    assert actions.count("evidence_review") == 2 and "link_person" in actions


def test_the_relation_is_fixed_when_the_draft_starts(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    application_id = _draft(db, town, agent, residency_by_agent("渡邊󠄂 花子"))
    with pytest.raises(ValidationFailed) as refused:
        _act(db, town, "update_draft", agent, application_id, {**RESIDENCY, "applicant": PRINCIPAL})
    assert set(refused.value.errors) == {"/requester/relationship"}
    assert _get(db, town, application_id).data["requester"]["relationship"] == "agent"


def test_a_resident_filing_for_themselves_is_the_person_concerned_as_before(db, towns) -> None:
    town = towns[STANDARD]
    application_id = _draft(db, town, town.resident, RESIDENCY)
    filed = _get(db, town, application_id)
    assert filed.relation == "self" and filed.subject_person_id == filed.applicant_person_id == town.parent.id
    assert filed.data["applicant"]["name"] == town.parent.full_name


def test_a_third_party_with_evidence_gets_only_the_basic_items(db, towns) -> None:
    town = towns[STANDARD]
    creditor = _agent(db, town)
    for item in ("domicile", "relationship", "individual_number", "resident_record_code"):
        with pytest.raises(ValidationFailed) as refused:
            _draft(db, town, creditor, {**THIRD_PARTY, "include": {item: True}, "purpose_detail": "訴訟"})
        assert f"/include/{item}" in refused.value.errors
        assert "基礎証明事項" in " ".join(refused.value.errors[f"/include/{item}"])

    application_id = _submitted(db, town, creditor, THIRD_PARTY, "legitimate_reason_evidence")
    clerk = town.clerk
    _act(db, town, "transition", clerk, application_id, "start_review")
    _act(db, town, "link_person_concerned", clerk, application_id, town.parent.id)
    _act(db, town, "review_evidence", clerk, application_id, "accepted")
    _act(db, town, "transition", clerk, application_id, "approve")
    _act(db, town, "transition", clerk, application_id, "issue")
    (document,) = _documents(db, town, application_id)
    [person] = document.content["persons"]
    assert person["name"] == town.parent.full_name
    assert not {"domicile", "domicile_head", "individual_number_included", "resident_record_code"} & set(person)


def test_what_a_third_party_ticked_past_the_form_is_refused_at_submission(db, towns) -> None:
    town = towns[STANDARD]
    creditor = _agent(db, town)
    application_id = _draft(db, town, creditor, THIRD_PARTY)
    _attach(db, town, application_id, "legitimate_reason_evidence")
    with db.transaction(town.tenant.id) as session:  # as if a client had slipped it past the form
        data = {**THIRD_PARTY, "include": {"individual_number": True}, "purpose_detail": "訴訟"}
        session.execute(update(Application).where(Application.id == application_id).values(data=data))
    with pytest.raises(ValidationFailed) as refused:
        _act(db, town, "submit", creditor, application_id)
    assert "/include/individual_number" in refused.value.errors
    assert _get(db, town, application_id).state == "draft"


def test_an_agents_individual_number_copy_is_forced_to_the_post_and_kept_from_the_agent(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    application_id = _draft(db, town, agent, AGENT_WITH_NUMBER)
    drafted = _get(db, town, application_id)
    # Told at once (the draft says so), and what the agent chose is kept as they chose it.
    assert drafted.forced_delivery == "mail" and drafted.delivery_method == "mail"
    assert drafted.data["delivery"] == "electronic"

    _act(db, town, "update_draft", agent, application_id, {**AGENT_WITH_NUMBER, "include": {}})
    assert _get(db, town, application_id).forced_delivery is None
    _act(db, town, "update_draft", agent, application_id, AGENT_WITH_NUMBER)
    assert _get(db, town, application_id).forced_delivery == "mail"

    # A legal representative receives the copy like the person: nothing is forced.
    representative = {**AGENT_WITH_NUMBER, "requester": {**AGENT_WITH_NUMBER["requester"]}}
    representative["requester"]["relationship"] = "legal_representative"
    assert _get(db, town, _draft(db, town, agent, representative)).forced_delivery is None


def test_auto_issue_never_applies_to_an_agent(db, towns) -> None:
    town = towns[AUTO_ISSUE]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")
    assert _get(db, town, application_id).state == "submitted"
    assert _documents(db, town, application_id) == []
    # The person filing for themselves in the same town still gets it at once.
    own = _draft(db, town, town.resident, RESIDENCY)
    _act(db, town, "submit", town.resident, own)
    assert _get(db, town, own).state == "issued"


def test_supervisor_step_waits_for_the_confirmation_too(db, towns) -> None:
    town = towns[SUPERVISED]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")
    _act(db, town, "transition", town.clerk, application_id, "start_review")
    with pytest.raises(Conflict):
        _act(db, town, "transition", town.clerk, application_id, "recommend_approval")


def test_tax_certificates_take_an_agent_but_not_a_third_party(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    tax = {
        "applicant": PRINCIPAL,
        "fiscal_year": 2025,
        "kind": "income",
        "purpose": "other",
        "purpose_detail": "扶養認定",
        "copies": 1,
        "delivery": "mail",
    }
    with pytest.raises(ValidationFailed) as refused:
        _draft(db, town, agent, {**tax, "requester": {"relationship": "third_party"}}, key="tax-certificate")
    assert "may not apply as 'third_party'" in refused.value.errors["/requester/relationship"][0]
    agent_body = {**tax, "requester": residency_by_agent("渡邊󠄂 花子")["requester"]}
    filed = _get(db, town, _draft(db, town, agent, agent_body, key="tax-certificate"))
    assert filed.relation == "agent" and filed.subject_person_id is None


def test_only_staff_link_and_only_a_person_of_this_municipality(db, towns) -> None:
    town, other = towns[STANDARD], towns[AUTO_ISSUE]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")
    with pytest.raises(Forbidden):
        _act(db, town, "link_person_concerned", agent, application_id, town.parent.id)
    with pytest.raises(NotFound):
        _act(db, town, "link_person_concerned", town.clerk, application_id, other.parent.id)
    with pytest.raises(NotFound):  # another municipality's clerk does not find the application
        _act(db, other, "link_person_concerned", other.clerk, application_id, other.parent.id)
    assert _get(db, town, application_id).subject_person_id is None


def test_linking_another_person_sets_the_evidence_review_aside(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")
    _act(db, town, "link_person_concerned", town.clerk, application_id, town.parent.id)
    _act(db, town, "review_evidence", town.clerk, application_id, "accepted")
    _act(db, town, "link_person_concerned", town.clerk, application_id, town.child.id)
    relinked = _get(db, town, application_id)
    assert relinked.subject_person_id == town.child.id and relinked.evidence_review is None


def test_a_household_of_ten_is_certified_for_the_linked_person(db, seeded) -> None:
    tenant = next(t for t in tenants(db) if t.slug == STANDARD)
    town = build_town(db, tenant)
    with db.transaction(tenant.id) as session:
        household = session.get(Person, town.parent.id).household
        for n in range(8):
            make_person(session, tenant, household, given_name=f"子{n}", relation_to_head="子")
    agent = _agent(db, town)
    data = {**residency_by_agent("渡邊󠄂 花子"), "scope": "whole_household"}
    application_id = _submitted(db, town, agent, data, "power_of_attorney")
    for verb, args in (
        ("transition", ("start_review",)),
        ("link_person_concerned", (town.parent.id,)),
        ("review_evidence", ("accepted",)),
        ("transition", ("approve",)),
        ("transition", ("issue",)),
    ):
        _act(db, town, verb, town.clerk, application_id, *args)
    (document,) = _documents(db, town, application_id)
    assert len(document.content["persons"]) == 10
    assert not any(p["name"].startswith("渡邊") for p in document.content["persons"])  # never the agent


def test_the_applicants_answer_to_a_request_for_more_information_is_reviewed_again(db, towns) -> None:
    town = towns[STANDARD]
    agent = _agent(db, town)
    application_id = _submitted(db, town, agent, residency_by_agent("渡邊󠄂 花子"), "power_of_attorney")
    _act(db, town, "transition", town.clerk, application_id, "start_review")
    _act(db, town, "link_person_concerned", town.clerk, application_id, town.parent.id)
    _act(db, town, "review_evidence", town.clerk, application_id, "not_accepted", "委任者の署名がありません")
    _act(db, town, "transition", town.clerk, application_id, "request_more_info", comment="署名のある委任状を")
    _act(db, town, "transition", agent, application_id, "respond", comment="差し替えました")
    answered = _get(db, town, application_id)
    assert answered.state == "in_review" and answered.evidence_review is None
    assert answered.subject_person_id == town.parent.id  # the person stays linked


def test_at_the_counter_the_clerk_found_the_person_first_and_may_record_an_agent(db, towns) -> None:
    town = towns[STANDARD]
    with db.transaction(town.tenant.id) as session:
        draft = ops.create_draft(
            session, town.tenant, town.clerk, "residency-certificate", RESIDENCY, channel="counter",
            person_id=town.parent.id,
        )  # fmt: skip
        application_id = draft.id
    agent = residency_by_agent("渡邊󠄂 花子")["requester"]
    _act(db, town, "update_draft", town.clerk, application_id, {**RESIDENCY, "requester": agent})
    at_counter = _get(db, town, application_id)
    assert at_counter.relation == "agent" and at_counter.subject_person_id == town.parent.id
    assert at_counter.data["applicant"]["name"] == town.parent.full_name  # from the register, as found
