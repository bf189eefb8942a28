"""A transition may name the document its ``issue_document`` issues (decision 0041): the catalog checks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from madoguchi.catalog import definitions
from tests.catalog.test_definitions import (  # noqa: F401 - the fixture, for these tests
    REPO,
    catalog,
    edit_yaml,
    problems_in,
    service_yaml,
    transition,
)


def test_the_shipped_certify_issues_the_certification_notice() -> None:
    service = definitions.load_services(REPO / "services")["childcare-admission"]
    certify = next(t for t in service["workflow"]["transitions"] if t["name"] == "certify")
    assert certify["document"] == "childcare_certification"
    assert {"record_certification", "issue_document"} <= set(certify["actions"])
    effective = definitions.effective_service(service)
    assert next(t for t in effective["workflow"]["transitions"] if t["name"] == "certify")["document"] == (
        "childcare_certification"
    )


def test_a_document_without_issue_document_is_reported(catalog: Path) -> None:  # noqa: F811
    def name_a_document(service: dict[str, Any]) -> None:
        transition(service, "start_review")["document"] = "childcare_waitlist"  # start_review issues nothing

    edit_yaml(service_yaml(catalog, "childcare-admission"), name_a_document)
    [problem] = problems_in(catalog)
    assert problem.startswith("services/childcare-admission/service.yaml: workflow.transitions[")
    assert problem.endswith("].document: a document is issued only with the action issue_document")


def test_a_document_that_is_not_snake_case_is_reported(catalog: Path) -> None:  # noqa: F811
    def name_a_document(service: dict[str, Any]) -> None:
        transition(service, "certify")["document"] = "Certification-Notice"

    edit_yaml(service_yaml(catalog, "childcare-admission"), name_a_document)
    assert len(problems_in(catalog)) == 1 and "document" in problems_in(catalog)[0]


def test_the_output_document_must_still_be_issued_by_a_transition_without_a_document(catalog: Path) -> None:  # noqa: F811
    def issue_only_on_certify(service: dict[str, Any]) -> None:
        transition(service, "issue")["actions"] = ["notify_applicant"]

    edit_yaml(service_yaml(catalog, "childcare-admission"), issue_only_on_certify)
    assert problems_in(catalog) == [
        "services/childcare-admission/service.yaml: workflow.transitions: no transition has the action issue_document"
    ]
