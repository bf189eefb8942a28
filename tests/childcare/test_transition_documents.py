"""A transition may name the document its ``issue_document`` issues (decision 0042): the catalog checker accepts a
known kind with that action and names the field of anything else; every kind it knows has a builder and a title."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from madoguchi.catalog.definitions import check_catalog
from madoguchi.catalog.definitions.vocabulary import KNOWN_DOCUMENT_KINDS
from madoguchi.documents import content, pdf

REPO = Path(__file__).resolve().parents[2]
SERVICE = "services/childcare-admission/service.yaml"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "services", tmp_path / "services")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _edit_waitlist(root: Path, **changes: Any) -> int:
    """Change the ``waitlist`` transition of childcare admission; returns its index."""
    path = root / SERVICE
    service = yaml.safe_load(path.read_text(encoding="utf-8"))
    transitions = service["workflow"]["transitions"]
    index = next(i for i, t in enumerate(transitions) if t["name"] == "waitlist")
    transitions[index].update(changes)
    path.write_text(yaml.safe_dump(service, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return index


def _problems(root: Path) -> list[str]:
    return [str(problem) for problem in check_catalog(root / "services", root / "tenants")]


def test_the_shipped_childcare_workflow_issues_the_waitlist_notice_on_waitlist_and_allocate(catalog: Path) -> None:
    assert _problems(catalog) == []
    service = yaml.safe_load((catalog / SERVICE).read_text(encoding="utf-8"))
    named = {t["name"]: t.get("document") for t in service["workflow"]["transitions"]}
    assert named["waitlist"] == named["allocate"] == "childcare_waitlist" and named["issue"] is None


def test_an_unknown_document_is_named_with_the_known_ones(catalog: Path) -> None:
    index = _edit_waitlist(catalog, document="waitlist_letter")
    assert _problems(catalog) == [
        f"{SERVICE}: workflow.transitions[{index}].document: unknown document 'waitlist_letter' (known: "
        f"{', '.join(KNOWN_DOCUMENT_KINDS)})"
    ]


def test_a_document_without_the_issue_action_is_refused(catalog: Path) -> None:
    index = _edit_waitlist(catalog, actions=["record_decision", "notify_applicant"])
    assert _problems(catalog) == [
        f"{SERVICE}: workflow.transitions[{index}].document: a document is issued only with the action issue_document"
    ]


def test_every_known_document_has_a_builder_and_a_title() -> None:
    # Every kind a catalog may name is built and titled; the 申込内容の写し and the 領収書 are issued on request, never
    # by a step.
    assert set(KNOWN_DOCUMENT_KINDS) == set(content.BUILDERS) - {"application_copy", "payment_receipt"}
    assert set(KNOWN_DOCUMENT_KINDS) - {"tax_certificate"} <= set(pdf.TITLES)  # tax titles: pdf.TAX_TITLES
    assert pdf.is_notice("childcare_waitlist") and pdf.title_of("childcare_waitlist", {}) == "保育所等利用保留通知書"
