"""The catalog checker and loader (madoguchi.catalog.definitions) against the shipped services/ and tenants/.

Most tests copy the shipped files into a temporary folder, break exactly one thing, and assert the exact
problem line a catalog author would see.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from madoguchi.applications.assurance import required_assurance
from madoguchi.catalog.definitions import (
    CatalogError,
    Problem,
    check_catalog,
    check_overrides,
    check_service,
    check_tenant,
    default_catalog_dirs,
    effective_service,
    load_service,
    load_services,
    load_tenant,
    load_tenants,
)
from madoguchi.catalog.definitions.vocabulary import IDENTITY_ASSURANCE_LEVELS
from madoguchi.identity.models import ASSURANCE_ORDER
from madoguchi.jp import is_valid_local_government_code

REPO = Path(__file__).resolve().parents[2]
SERVICE_KEYS = ["childcare-admission", "residency-certificate", "tax-certificate"]
ALLOWED_ROLES = "applicant, clerk, supervisor, tenant_admin, system"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped catalog, with the working directory set to it (so paths print relative)."""
    shutil.copytree(REPO / "services", tmp_path / "services")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems_in(root: Path) -> list[str]:
    return [str(problem) for problem in check_catalog(root / "services", root / "tenants")]


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def transition(service: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in service["workflow"]["transitions"] if t["name"] == name)


def service_yaml(root: Path, key: str) -> Path:
    return root / "services" / key / "service.yaml"


def tenant_yaml(root: Path, slug: str) -> Path:
    return root / "tenants" / f"{slug}.yaml"


# --- The shipped catalog ----------------------------------------------------------------------------------------------


def test_shipped_catalog_has_no_problems() -> None:
    assert check_catalog(REPO / "services", REPO / "tenants") == []


def test_shipped_catalog_has_the_three_procedures_and_at_least_two_tenants() -> None:
    services = load_services(REPO / "services")
    tenants = load_tenants(REPO / "tenants", services)
    assert sorted(services) == SERVICE_KEYS
    assert len(tenants) >= 2
    for tenant in tenants.values():
        assert sorted(tenant["services"]) == SERVICE_KEYS
        assert is_valid_local_government_code(tenant["local_government_code"])


def test_shipped_tenants_configure_procedures_differently() -> None:
    services = load_services(REPO / "services")
    tenants = load_tenants(REPO / "tenants", services)
    fees = {
        slug: effective_service(services["residency-certificate"], t["services"]["residency-certificate"]["overrides"])[
            "fee"
        ]
        for slug, t in tenants.items()
    }
    assert len(set(fees.values())) == len(fees)
    steps = [
        effective_service(services["childcare-admission"], t["services"]["childcare-admission"]["overrides"])[
            "extra_steps"
        ]
        for t in tenants.values()
    ]
    assert ["supervisor_approval"] in steps
    assert [] in steps


def test_every_shipped_tenant_runs_valid_procedures() -> None:
    services = load_services(REPO / "services")
    for tenant in load_tenants(REPO / "tenants", services).values():
        for key, enabled in tenant["services"].items():
            effective = effective_service(services[key], enabled["overrides"])
            Draft202012Validator.check_schema(effective["form"])
            assert effective["workflow"]["initial"] == "draft"


# --- service.yaml and form.json ---------------------------------------------------------------------------------------


def test_form_with_an_unknown_type_is_reported_with_its_schema_path(catalog: Path) -> None:
    form = catalog / "services/residency-certificate/form.json"
    edit_json(form, lambda f: f["properties"]["applicant"]["properties"]["name"].update(type="strin"))

    assert problems_in(catalog) == [
        "services/residency-certificate/form.json: properties.applicant.properties.name.type: "
        "'strin' is not one of ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"
    ]


def test_form_with_an_invalid_regular_expression_is_reported(catalog: Path) -> None:
    form = catalog / "services/tax-certificate/form.json"
    edit_json(form, lambda f: f["properties"]["applicant"]["properties"]["postal_code"].update(pattern="^[0-9{3}"))

    assert problems_in(catalog) == [
        "services/tax-certificate/form.json: properties.applicant.properties.postal_code.pattern: "
        "'^[0-9{3}' is not a 'regex'"
    ]


def test_form_field_without_english_title_is_reported(catalog: Path) -> None:
    form = catalog / "services/tax-certificate/form.json"
    edit_json(form, lambda f: f["properties"]["kind"].pop("x-title"))

    assert problems_in(catalog) == [
        "services/tax-certificate/form.json: properties.kind.x-title: every field needs x-title with ja and en"
    ]


def test_form_object_open_to_unknown_fields_is_reported(catalog: Path) -> None:
    form = catalog / "services/childcare-admission/form.json"
    edit_json(form, lambda f: f["properties"]["household"].pop("additionalProperties"))

    assert problems_in(catalog) == [
        "services/childcare-admission/form.json: properties.household.additionalProperties: "
        "must be false: every object lists its fields"
    ]


def test_a_picker_prefill_naming_an_unknown_field_or_registry_field_is_reported(catalog: Path) -> None:
    form = catalog / "services/childcare-admission/form.json"

    def break_prefill(f: dict[str, Any]) -> None:
        picker = f["properties"]["children"]["items"]["properties"]["resident_code"]
        picker["x-prefill"] = {"nickname": "person.full_name", "sex": "person.gender"}

    edit_json(form, break_prefill)

    where = "services/childcare-admission/form.json: properties.children.items.properties.resident_code.x-prefill"
    assert problems_in(catalog) == [
        f"{where}.nickname: no such field beside the picker",
        f"{where}.sex: unknown registry field 'person.gender'",
    ]


def test_form_keyword_typo_is_reported(catalog: Path) -> None:
    form = catalog / "services/residency-certificate/form.json"
    edit_json(form, lambda f: f["properties"]["applicant"].update(requird=f["properties"]["applicant"].pop("required")))

    assert problems_in(catalog) == [
        "services/residency-certificate/form.json: properties.applicant.requird: "
        "unknown keyword 'requird': JSON Schema ignores it (UI hints start with x-)"
    ]


def test_form_enum_value_without_titles_is_reported(catalog: Path) -> None:
    form = catalog / "services/residency-certificate/form.json"
    edit_json(form, lambda f: f["properties"]["delivery"]["enum"].append("fax"))

    assert problems_in(catalog) == [
        "services/residency-certificate/form.json: properties.delivery.x-enum-titles: no ja/en title for value 'fax'"
    ]


def test_form_condition_naming_an_undeclared_field_is_reported(catalog: Path) -> None:
    form = catalog / "services/residency-certificate/form.json"
    edit_json(form, lambda f: f["allOf"][0]["then"].update(required=["selected_member"]))

    assert problems_in(catalog) == [
        "services/residency-certificate/form.json: allOf[0].then.required[0]: "
        "'selected_member' is not a field of this object"
    ]


def test_form_field_on_a_page_x_pages_does_not_list_and_a_page_without_fields_are_reported(catalog: Path) -> None:
    def misplace(form: dict[str, Any]) -> None:
        form["properties"]["delivery"]["x-page"] = "deliveri"  # a typo: the page "delivery" is now empty

    edit_json(catalog / "services/residency-certificate/form.json", misplace)

    assert problems_in(catalog) == [
        "services/residency-certificate/form.json: properties.delivery.x-page: "
        "must name one of the pages in x-pages: applicant, requester, certificate, delivery",
        "services/residency-certificate/form.json: x-pages[3]: no field is on page 'delivery'",
    ]


def test_form_page_without_a_title_in_both_languages_is_reported(catalog: Path) -> None:
    edit_json(catalog / "services/tax-certificate/form.json", lambda f: f["x-pages"][2]["title"].pop("en"))

    assert problems_in(catalog) == ["services/tax-certificate/form.json: x-pages[2].title.en: required key is missing"]


def test_extra_questions_get_their_own_page_after_the_standard_ones() -> None:
    service = load_service(REPO / "services" / "tax-certificate")
    question = {"name": "pickup_time", "title": {"ja": "来庁時間", "en": "Pickup time"}, "schema": {"type": "string"}}

    form = effective_service(service, {"extra_questions": [question]})["form"]

    assert [page["name"] for page in form["x-pages"]] == ["applicant", "requester", "certificate", "delivery", "extra"]
    assert form["x-pages"][-1]["title"] == {"ja": "追加の質問", "en": "Additional questions"}
    assert form["properties"]["extra"]["x-page"] == "extra"
    assert "extra" not in [page["name"] for page in service["form"]["x-pages"]]


def test_transition_to_an_unknown_state_is_reported(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "residency-certificate"), lambda s: transition(s, "respond").update(to="in_reveiw"))

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: workflow.transitions[3].to: unknown state 'in_reveiw'"
    ]


def test_transition_from_an_unknown_state_is_reported(catalog: Path) -> None:
    edit_yaml(
        service_yaml(catalog, "residency-certificate"),
        lambda s: transition(s, "withdraw")["from"].__setitem__(1, "in_reveiw"),
    )

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: workflow.transitions[7].from[1]: unknown state 'in_reveiw'"
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("roles", "mayor", f"unknown role 'mayor' (known: {ALLOWED_ROLES})"),
        (
            "guards",
            "stamp_present",
            "unknown guard 'stamp_present' (known: form_valid, required_documents_present, "
            "identity_assurance_met, comment_present, assigned, person_concerned_confirmed, fee_settled)",
        ),
        (
            "actions",
            "print_paper",
            "unknown action 'print_paper' (known: notify_applicant, issue_document, record_decision, notify_staff, "
            "record_certification, quote_fee)",
        ),
    ],
)
def test_unknown_role_guard_or_action_is_reported(catalog: Path, key: str, value: str, message: str) -> None:
    def add(service: dict[str, Any]) -> None:
        approve = transition(service, "approve")
        approve.setdefault(key, []).append(value)

    edit_yaml(service_yaml(catalog, "residency-certificate"), add)
    index = {"roles": 3, "guards": 1, "actions": 2}[key]

    assert problems_in(catalog) == [
        f"services/residency-certificate/service.yaml: workflow.transitions[4].{key}[{index}]: {message}"
    ]


def test_state_nothing_leads_to_is_reported(catalog: Path) -> None:
    def add_state(service: dict[str, Any]) -> None:
        service["workflow"]["states"].insert(5, {"name": "archived", "title": {"ja": "保管", "en": "Archived"}})

    edit_yaml(service_yaml(catalog, "tax-certificate"), add_state)

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: workflow.states[5].name: "
        "state 'archived' cannot be reached from 'draft'",
        "services/tax-certificate/service.yaml: workflow.states[5].name: "
        "state 'archived' is not terminal but no transition leaves it",
    ]


def test_optional_step_may_not_replace_a_transition_required_by_law(catalog: Path) -> None:
    def replace_reject(service: dict[str, Any]) -> None:
        service["workflow"]["optional_steps"]["supervisor_approval"]["replaces"].append("reject")

    edit_yaml(service_yaml(catalog, "residency-certificate"), replace_reject)

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: workflow.optional_steps.supervisor_approval.replaces[2]: "
        "transition 'reject' is required by law and cannot be replaced"
    ]


def test_optional_step_that_strands_a_state_is_reported(catalog: Path) -> None:
    def drop_return(service: dict[str, Any]) -> None:
        step = service["workflow"]["optional_steps"]["supervisor_approval"]
        step["transitions"] = [t for t in step["transitions"] if t["name"] != "recommend_approval"]

    edit_yaml(service_yaml(catalog, "residency-certificate"), drop_return)

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: "
        "workflow.optional_steps.supervisor_approval.transitions[0].actor_differs_from[0]: "
        "unknown transition 'recommend_approval' (with optional step supervisor_approval)",
        "services/residency-certificate/service.yaml: workflow.optional_steps.supervisor_approval.states[0].name: "
        "state 'awaiting_approval' cannot be reached from 'draft' (with optional step supervisor_approval)",
        "services/residency-certificate/service.yaml: workflow.states[4].name: "
        "state 'approved' cannot be reached from 'draft' (with optional step supervisor_approval)",
        "services/residency-certificate/service.yaml: workflow.states[5].name: "
        "state 'issued' cannot be reached from 'draft' (with optional step supervisor_approval)",
    ]


RECOMMENDERS = {
    "childcare-admission": "propose_allocation",
    "residency-certificate": "recommend_approval",
    "tax-certificate": "recommend_approval",
}


def _step_approve(service: dict[str, Any]) -> dict[str, Any]:
    transitions = service["workflow"]["optional_steps"]["supervisor_approval"]["transitions"]
    return next(t for t in transitions if t["name"] == "approve")


@pytest.mark.parametrize("key", SERVICE_KEYS)
def test_supervisor_approval_of_each_standard_procedure_separates_recommender_and_approver(
    services: dict[str, dict[str, Any]], key: str
) -> None:
    workflow = effective_service(services[key], {"extra_steps": ["supervisor_approval"]})["workflow"]
    approve = next(t for t in workflow["transitions"] if t["name"] == "approve")
    assert approve["actor_differs_from"] == [RECOMMENDERS[key]]


@pytest.mark.parametrize(("key", "rule"), [(key, rule) for key in SERVICE_KEYS for rule in ([], ["start_review"])])
def test_a_standard_procedure_cannot_drop_four_eyes_from_supervisor_approval(
    catalog: Path, key: str, rule: list[str]
) -> None:
    edit_yaml(service_yaml(catalog, key), lambda service: _step_approve(service).update(actor_differs_from=rule))

    [problem] = problems_in(catalog)
    assert problem == (
        f"services/{key}/service.yaml: workflow.optional_steps.supervisor_approval.transitions[1]"
        f".actor_differs_from: four eyes: 'approve' decides what '{RECOMMENDERS[key]}' recommended, so it must "
        "list it here (whoever recommended cannot also approve)"
    )


@pytest.mark.parametrize("override", [{"actor_differs_from": []}, {"four_eyes": False}, {"workflow": {}}])
def test_a_tenant_cannot_switch_four_eyes_off(catalog: Path, override: dict[str, Any]) -> None:
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"), lambda t: t["services"]["tax-certificate"]["overrides"].update(override)
    )

    [problem] = problems_in(catalog)
    [name] = override
    assert problem.startswith(
        f"tenants/shiomi-town.yaml: services.tax-certificate.overrides.{name}: '{name}' is not a setting"
    )


def test_prefill_into_a_field_the_form_lacks_is_reported(catalog: Path) -> None:
    def rename(service: dict[str, Any]) -> None:
        service["prefill"]["/applicant/nme"] = service["prefill"].pop("/applicant/name")

    edit_yaml(service_yaml(catalog, "tax-certificate"), rename)

    assert problems_in(catalog) == [
        'services/tax-certificate/service.yaml: prefill["/applicant/nme"]: no such field in form.json'
    ]


def test_prefill_from_an_unknown_registry_field_is_reported(catalog: Path) -> None:
    edit_yaml(
        service_yaml(catalog, "tax-certificate"), lambda s: s["prefill"].update({"/applicant/phone": "person.phone"})
    )

    [problem] = problems_in(catalog)
    assert problem.startswith(
        "services/tax-certificate/service.yaml: prefill[\"/applicant/phone\"]: unknown registry field 'person.phone' "
        "(known: person.full_name, "
    )


def test_document_condition_on_a_missing_field_is_reported(catalog: Path) -> None:
    def break_condition(service: dict[str, Any]) -> None:
        service["required_documents"][0]["when"]["field"] = "/requester/relation"

    edit_yaml(service_yaml(catalog, "residency-certificate"), break_condition)

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: required_documents[0].when.field: no such field in form.json"
    ]


def test_a_raised_identity_level_on_a_missing_field_is_reported(catalog: Path) -> None:
    def break_condition(service: dict[str, Any]) -> None:
        service["identity_assurance_when"][0]["field"] = "/include/my_number"

    edit_yaml(service_yaml(catalog, "residency-certificate"), break_condition)

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: identity_assurance_when[0].field: no such field in form.json"
    ]


def test_a_raised_identity_level_on_a_value_the_field_cannot_take_is_reported(catalog: Path) -> None:
    def break_condition(service: dict[str, Any]) -> None:
        service["identity_assurance_when"][0]["equals"] = "third_party"

    edit_yaml(service_yaml(catalog, "tax-certificate"), break_condition)

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: identity_assurance_when[0].equals: 'third_party' is not a value of "
        "/requester/relationship (one of: self, household_member, agent, legal_representative)"
    ]


@pytest.mark.parametrize("level", ["email", "verified"])
def test_a_condition_that_does_not_raise_the_level_is_reported(catalog: Path, level: str) -> None:
    edit_yaml(
        service_yaml(catalog, "residency-certificate"), lambda s: s["identity_assurance_when"][1].update(level=level)
    )

    assert problems_in(catalog) == [
        f"services/residency-certificate/service.yaml: identity_assurance_when[1].level: '{level}' is not above the "
        "procedure's identity_assurance 'verified': a condition can only raise the level"
    ]


def test_a_raised_identity_level_must_be_a_known_level_and_name_its_level(catalog: Path) -> None:
    def break_conditions(service: dict[str, Any]) -> None:
        service["identity_assurance_when"][0]["level"] = "passport"
        del service["identity_assurance_when"][1]["level"]

    edit_yaml(service_yaml(catalog, "residency-certificate"), break_conditions)

    assert problems_in(catalog) == [
        "services/residency-certificate/service.yaml: identity_assurance_when[0].level: "
        "'passport' is not one of ['email', 'verified', 'card']",
        "services/residency-certificate/service.yaml: identity_assurance_when[1].level: required key is missing",
    ]


def test_the_shipped_certificates_raise_the_level_for_the_numbers_and_for_another_persons_tax(
    services: dict[str, dict[str, Any]],
) -> None:
    residency = effective_service(services["residency-certificate"])
    tax = effective_service(services["tax-certificate"])
    assert required_assurance(residency, {"include": {"domicile": True}}) == "verified"
    assert required_assurance(residency, {"include": {"individual_number": True}}) == "card"
    assert required_assurance(residency, {"include": {"resident_record_code": True}}) == "card"
    assert required_assurance(residency, {"include": {"individual_number": False}}) == "verified"
    for relationship, level in [("self", "verified"), ("household_member", "verified"), ("agent", "card")]:
        assert required_assurance(tax, {"requester": {"relationship": relationship}}) == level
    assert required_assurance(tax, {"requester": {"relationship": "legal_representative"}}) == "card"
    # An application started before the conditions existed has only the level in its snapshot, and means just that.
    old_snapshot = {key: value for key, value in residency.items() if key != "identity_assurance_when"}
    assert required_assurance(old_snapshot, {"include": {"individual_number": True}}) == "verified"


def test_the_catalogs_identity_levels_are_the_accounts_in_the_same_order() -> None:
    assert IDENTITY_ASSURANCE_LEVELS == ASSURANCE_ORDER


def test_missing_required_key_in_a_service_is_reported(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "tax-certificate"), lambda s: s.pop("version"))

    assert problems_in(catalog) == ["services/tax-certificate/service.yaml: version: required key is missing"]


def test_unknown_key_in_a_service_is_reported(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "tax-certificate"), lambda s: s["fee"].update(tax_included=True))

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: fee.tax_included: "
        "unknown key (expected one of: default, min, max, currency, per, persons_per_unit, channels)"
    ]


def test_service_key_must_match_its_folder(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "tax-certificate"), lambda s: s.update(key="tax-certificates"))

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: key: 'tax-certificates' must equal the folder name 'tax-certificate'"
    ]


def test_service_default_fee_outside_its_own_range_is_reported(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "tax-certificate"), lambda s: s["fee"].update(default=500))

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: fee.default: 500 is outside min..max (200..450)"
    ]


def test_auto_issue_allowed_needs_a_path_the_system_can_take(catalog: Path) -> None:
    edit_yaml(service_yaml(catalog, "tax-certificate"), lambda s: transition(s, "approve")["roles"].remove("system"))

    assert problems_in(catalog) == [
        "services/tax-certificate/service.yaml: auto_issue.allowed: "
        "auto-issue needs transitions the system role can take from submission to issue_document"
    ]


def test_invalid_yaml_in_a_service_gives_the_line(catalog: Path) -> None:
    path = service_yaml(catalog, "childcare-admission")
    lines = path.read_text(encoding="utf-8").splitlines()
    index = lines.index("identity_assurance: verified")
    lines[index] = "identity_assurance: [verified"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert problems_in(catalog) == [
        f"services/childcare-admission/service.yaml: (file): invalid YAML at line {index + 2}, column 4: "
        "expected ',' or ']', but got ':'"
    ]


def test_invalid_json_in_a_form_gives_the_line(catalog: Path) -> None:
    path = catalog / "services/tax-certificate/form.json"
    text = path.read_text(encoding="utf-8").replace('"type": "object",', '"type": "object"', 1)
    path.write_text(text, encoding="utf-8")

    assert problems_in(catalog) == [
        "services/tax-certificate/form.json: (file): invalid JSON at line 4, column 3: Expecting ',' delimiter"
    ]


def test_check_service_and_load_service_agree(catalog: Path) -> None:
    folder = catalog / "services/residency-certificate"
    assert check_service(folder) == []
    service = load_service(folder)
    assert service["key"] == "residency-certificate"
    assert service["form"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    edit_yaml(folder / "service.yaml", lambda s: s["sla_days"].update(min=0))
    expected = [
        Problem("services/residency-certificate/service.yaml", "sla_days.min", "0 is less than the minimum of 1")
    ]
    assert check_service(folder) == expected
    with pytest.raises(CatalogError) as raised:
        load_service(folder)
    assert raised.value.problems == expected


# --- Tenant files -----------------------------------------------------------------------------------------------------


def test_override_the_service_does_not_allow_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "sakuragaoka-city"),
        lambda t: t["services"]["childcare-admission"]["overrides"].update(fee=0),
    )

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.childcare-admission.overrides.fee: 'fee' is not a setting this "
        "procedure lets a tenant change (allowed: sla_days, min_monthly_work_hours, max_preferences, extra_steps, "
        "extra_questions, instructions)"
    ]


def test_fee_outside_the_allowed_range_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "sakuragaoka-city"),
        lambda t: t["services"]["residency-certificate"]["overrides"].update(fee=500),
    )

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.residency-certificate.overrides.fee: "
        "500 is outside the allowed range 200..450"
    ]


def test_minimum_work_hours_outside_the_legal_range_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"),
        lambda t: t["services"]["childcare-admission"]["overrides"].update(min_monthly_work_hours=40),
    )

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: services.childcare-admission.overrides.min_monthly_work_hours: "
        "40 is outside the allowed range 48..64"
    ]


def test_fee_written_as_text_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"),
        lambda t: t["services"]["tax-certificate"]["overrides"].update(fee="200円"),
    )

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: services.tax-certificate.overrides.fee: must be a whole number, not '200円'"
    ]


def test_wrong_check_digit_is_reported(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "sakuragaoka-city"), lambda t: t.update(local_government_code="202984"))

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: local_government_code: wrong check digit: 20298 takes 3 (202983), JIS X 0402"
    ]


def test_unquoted_local_government_code_is_reported(catalog: Path) -> None:
    path = tenant_yaml(catalog, "sakuragaoka-city")
    path.write_text(path.read_text(encoding="utf-8").replace('"202983"', "202983"), encoding="utf-8")

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: local_government_code: "
        'must be six digits written as a quoted string, e.g. "131016"'
    ]


def test_prefecture_must_match_the_local_government_code(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t["prefecture"].update(code="38", ja="愛媛県"))

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: prefecture.code: '38' does not match the first two digits of "
        "local_government_code 398977"
    ]


def test_prefecture_name_is_checked_against_the_one_prefecture_list(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t["prefecture"].update(ja="高知"))

    assert problems_in(catalog) == ["tenants/shiomi-town.yaml: prefecture.ja: prefecture 39 is 高知県, not '高知'"]


def test_tenant_enabling_an_unknown_service_is_reported(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t["services"].update({"passport-application": {}}))

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: services.passport-application: "
        "unknown service (known: childcare-admission, residency-certificate, tax-certificate)"
    ]


def test_pinned_version_that_does_not_exist_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "sakuragaoka-city"),
        lambda t: t["services"]["residency-certificate"].update(version="2.9.0"),
    )

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.residency-certificate.version: "
        "version 2.9.0 of residency-certificate is not published (available: 2.2.0)"
    ]


def test_invalid_yaml_in_a_tenant_gives_line_and_column(catalog: Path) -> None:
    path = tenant_yaml(catalog, "shiomi-town")
    lines = path.read_text(encoding="utf-8").splitlines()
    index = lines.index("status: live")
    lines[index] = "status: live: now"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert problems_in(catalog) == [
        f"tenants/shiomi-town.yaml: (file): invalid YAML at line {index + 1}, column 13: "
        "mapping values are not allowed here"
    ]


def test_duplicate_yaml_key_is_reported_instead_of_silently_taking_the_last(catalog: Path) -> None:
    path = tenant_yaml(catalog, "shiomi-town")
    lines = path.read_text(encoding="utf-8").splitlines()
    index = lines.index("      fee: 200")
    lines.insert(index + 1, "      fee: 210")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert problems_in(catalog) == [
        f"tenants/shiomi-town.yaml: (file): invalid YAML at line {index + 2}, column 7: duplicate key 'fee'"
    ]


def test_missing_required_key_in_a_tenant_is_reported(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t.pop("contact"))

    assert problems_in(catalog) == ["tenants/shiomi-town.yaml: contact: required key is missing"]


def test_slug_must_match_the_file_name(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t.update(slug="shiomi"))

    assert problems_in(catalog) == ["tenants/shiomi-town.yaml: slug: 'shiomi' must equal the file name 'shiomi-town'"]


def test_default_locale_must_be_one_of_the_locales(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "midorikawa-village"), lambda t: t.update(default_locale="en"))

    assert problems_in(catalog) == ["tenants/midorikawa-village.yaml: default_locale: 'en' is not one of locales"]


def test_brand_colour_too_light_for_white_text_is_reported(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t["branding"].update(primary_color="#ffcc00"))

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: branding.primary_color: #ffcc00 gives 1.5:1 contrast with white text; "
        "at least 4.5:1 is needed (WCAG 2.1 AA, JIS X 8341-3)"
    ]


def test_two_tenants_with_the_same_local_government_code_are_reported(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t.update(local_government_code="202983"))
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t["prefecture"].update(code="20", ja="長野県"))

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: local_government_code: 202983 is already used by tenants/sakuragaoka-city.yaml"
    ]


def test_unknown_optional_step_is_reported(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"),
        lambda t: t["services"]["tax-certificate"]["overrides"].update(extra_steps=["mayor_approval"]),
    )

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: services.tax-certificate.overrides.extra_steps[0]: "
        "unknown optional step 'mayor_approval' (available: supervisor_approval)"
    ]


def test_auto_issue_for_childcare_is_not_allowed(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"),
        lambda t: t["services"]["childcare-admission"]["overrides"].update(auto_issue=True),
    )

    [problem] = problems_in(catalog)
    assert problem.startswith(
        "tenants/shiomi-town.yaml: services.childcare-admission.overrides.auto_issue: 'auto_issue' is not a setting"
    )


def test_auto_issue_cannot_be_combined_with_a_step_that_needs_a_person(catalog: Path) -> None:
    edit_yaml(
        tenant_yaml(catalog, "sakuragaoka-city"),
        lambda t: t["services"]["residency-certificate"]["overrides"].update(extra_steps=["supervisor_approval"]),
    )

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.residency-certificate.overrides.auto_issue: "
        "auto-issue is impossible with the extra steps supervisor_approval: a person must act before issuing"
    ]


def test_extra_question_may_not_reuse_a_form_field_name(catalog: Path) -> None:
    question = {"name": "copies", "title": {"ja": "部数", "en": "Copies"}, "schema": {"type": "integer"}}
    edit_yaml(
        tenant_yaml(catalog, "shiomi-town"),
        lambda t: t["services"]["residency-certificate"]["overrides"].update(extra_questions=[question]),
    )

    assert problems_in(catalog) == [
        "tenants/shiomi-town.yaml: services.residency-certificate.overrides.extra_questions[0].name: "
        "'copies' is already a field of the form"
    ]


def test_extra_question_with_an_invalid_schema_is_reported(catalog: Path) -> None:
    def break_question(tenant: dict[str, Any]) -> None:
        tenant["services"]["childcare-admission"]["overrides"]["extra_questions"][0]["schema"]["type"] = "int"

    edit_yaml(tenant_yaml(catalog, "sakuragaoka-city"), break_question)

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.childcare-admission.overrides.extra_questions[0].schema.type: "
        "'int' is not one of ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"
    ]


def test_extra_question_name_must_be_snake_case(catalog: Path) -> None:
    def rename(tenant: dict[str, Any]) -> None:
        tenant["services"]["childcare-admission"]["overrides"]["extra_questions"][0]["name"] = "commuteMinutes"

    edit_yaml(tenant_yaml(catalog, "sakuragaoka-city"), rename)

    assert problems_in(catalog) == [
        "tenants/sakuragaoka-city.yaml: services.childcare-admission.overrides.extra_questions[0].name: "
        "must be snake_case (lowercase letters, digits, _)"
    ]


def test_check_tenant_and_load_tenant(catalog: Path) -> None:
    services = load_services(catalog / "services")
    path = tenant_yaml(catalog, "midorikawa-village")
    assert check_tenant(path, services) == []

    tenant = load_tenant(path)
    assert tenant["slug"] == "midorikawa-village"
    # Unpinned procedures and ones enabled without settings are normalised.
    assert tenant["services"]["childcare-admission"] == {"version": None, "overrides": {}}

    edit_yaml(path, lambda t: t.update(status="closed"))
    with pytest.raises(CatalogError) as raised:
        load_tenant(path, services)
    assert [str(p) for p in raised.value.problems] == [
        "tenants/midorikawa-village.yaml: status: 'closed' is not one of ['trial', 'live', 'suspended']"
    ]


def test_load_tenants_raises_with_every_problem(catalog: Path) -> None:
    edit_yaml(tenant_yaml(catalog, "shiomi-town"), lambda t: t.update(local_government_code="398970"))
    edit_yaml(tenant_yaml(catalog, "midorikawa-village"), lambda t: t.update(locales=["en"], default_locale="en"))

    with pytest.raises(CatalogError) as raised:
        load_tenants(catalog / "tenants")

    assert [str(p) for p in raised.value.problems] == [
        "tenants/midorikawa-village.yaml: locales: must include 'ja'",
        "tenants/shiomi-town.yaml: local_government_code: wrong check digit: 39897 takes 7 (398977), JIS X 0402",
    ]


def test_missing_directories_are_problems_not_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert [str(p) for p in check_catalog(tmp_path / "services", tmp_path / "tenants")] == [
        "services: (file): services directory not found",
        "tenants: (file): tenants directory not found",
    ]


# --- Local government codes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["131016", "131041", "131130", "011002", "271004", "202983", "398977", "018996"])
def test_valid_local_government_codes(code: str) -> None:
    assert is_valid_local_government_code(code)


@pytest.mark.parametrize("code", ["131017", "131040", "13101", "1310160", "13101a", "１３１０１６", ""])
def test_invalid_local_government_codes(code: str) -> None:
    assert not is_valid_local_government_code(code)


# --- Effective settings -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return load_services(REPO / "services")


def test_effective_service_without_overrides_is_the_standard(services: dict[str, dict[str, Any]]) -> None:
    effective = effective_service(services["residency-certificate"], {})

    assert effective["fee"] == 300
    assert effective["sla_days"] == 3
    assert effective["auto_issue"] is False
    assert effective["instructions"] is None
    assert effective["extra_steps"] == []
    assert "min_monthly_work_hours" not in effective
    assert [t["name"] for t in effective["workflow"]["transitions"]] == [
        "submit",
        "start_review",
        "request_more_info",
        "respond",
        "approve",
        "reject",
        "issue",
        "withdraw",
    ]
    assert effective["form"] == services["residency-certificate"]["form"]


def test_effective_service_applies_settings_and_the_supervisor_step(services: dict[str, dict[str, Any]]) -> None:
    effective = effective_service(
        services["residency-certificate"], {"fee": 200, "sla_days": 5, "extra_steps": ["supervisor_approval"]}
    )

    assert (effective["fee"], effective["sla_days"]) == (200, 5)
    workflow = effective["workflow"]
    assert [s["name"] for s in workflow["states"]] == [
        "draft",
        "submitted",
        "in_review",
        "more_info_requested",
        "awaiting_approval",
        "approved",
        "issued",
        "rejected",
        "withdrawn",
    ]
    assert [t["name"] for t in workflow["transitions"]] == [
        "submit",
        "start_review",
        "request_more_info",
        "respond",
        "recommend_approval",
        "approve",
        "return_to_review",
        "withdraw",
        "reject",
        "issue",
    ]
    approve = next(t for t in workflow["transitions"] if t["name"] == "approve")
    assert approve == {
        "name": "approve",
        "title": {"ja": "決裁する", "en": "Approve"},
        "from": ["awaiting_approval"],
        "to": "approved",
        "roles": ["supervisor"],
        "guards": ["person_concerned_confirmed"],
        "actions": ["record_decision", "notify_applicant"],
        "required_by_law": False,
        "actor_differs_from": ["recommend_approval"],
        "step": "supervisor_approval",
    }


def test_effective_childcare_has_the_tenant_work_hour_minimum(services: dict[str, dict[str, Any]]) -> None:
    childcare = services["childcare-admission"]

    assert effective_service(childcare, {})["min_monthly_work_hours"] == 64
    assert effective_service(childcare, {"min_monthly_work_hours": 48})["min_monthly_work_hours"] == 48
    assert effective_service(childcare, {})["fee"] == 0


def test_extra_questions_become_optional_fields_under_extra(services: dict[str, dict[str, Any]]) -> None:
    question = {
        "name": "commute_minutes",
        "title": {"ja": "通勤時間（分）", "en": "Commute (minutes)"},
        "schema": {"type": "integer", "minimum": 0, "maximum": 300},
    }
    form = effective_service(services["childcare-admission"], {"extra_questions": [question]})["form"]

    extra = form["properties"]["extra"]
    assert extra["additionalProperties"] is False
    assert extra["properties"]["commute_minutes"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 300,
        "title": "通勤時間（分）",
        "x-title": {"ja": "通勤時間（分）", "en": "Commute (minutes)"},
    }
    assert "extra" not in form["required"]
    validator = Draft202012Validator(form, format_checker=Draft202012Validator.FORMAT_CHECKER)
    application = {**CHILDCARE_APPLICATION, "extra": {"commute_minutes": 25}}
    assert list(validator.iter_errors(application)) == []
    assert not validator.is_valid({**CHILDCARE_APPLICATION, "extra": {"commute_minutes": 25, "hobby": "x"}})


def test_effective_service_never_changes_its_inputs(services: dict[str, dict[str, Any]]) -> None:
    service = services["residency-certificate"]
    overrides = {
        "extra_steps": ["supervisor_approval"],
        "extra_questions": [{"name": "note", "title": {"ja": "備考", "en": "Note"}, "schema": {"type": "string"}}],
    }
    before = (copy.deepcopy(service), copy.deepcopy(overrides))

    first = effective_service(service, overrides)
    first["form"]["properties"]["extra"]["properties"]["note"]["maxLength"] = 1
    first["workflow"]["transitions"][0]["roles"].append("tenant_admin")
    first["required_documents"].clear()

    assert (service, overrides) == before
    assert effective_service(service, overrides) != first
    assert effective_service(service, overrides) == effective_service(service, overrides)


def test_effective_service_refuses_overrides_that_do_not_conform(services: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(CatalogError) as raised:
        effective_service(services["residency-certificate"], {"fee": 500, "colour": "red"})

    assert raised.value.problems == [
        Problem("residency-certificate", "overrides.fee", "500 is outside the allowed range 200..450"),
        Problem(
            "residency-certificate",
            "overrides.colour",
            "'colour' is not a setting this procedure lets a tenant change "
            "(allowed: fee, sla_days, auto_issue, extra_steps, extra_questions, instructions)",
        ),
    ]
    assert check_overrides(services["residency-certificate"], {"sla_days": 11}, file="console") == [
        Problem("console", "overrides.sla_days", "11 is outside the allowed range 1..10")
    ]


# --- The forms enforce the procedures' rules --------------------------------------------------------------------------

APPLICANT = {
    "name": "髙橋 𠮷子",
    "name_kana": "タカハシ ヨシコ",
    "birth_date": "1990-04-01",
    "postal_code": "399-0000",
    "address": "長野県桜ヶ丘市中央一丁目1番1号",
}
RESIDENCY_APPLICATION = {
    "applicant": APPLICANT,
    "requester": {"relationship": "self"},
    "scope": "self",
    "purpose": "employment",
    "copies": 1,
    "delivery": "electronic",
}
CHILD = {
    "name": "髙橋 陽",
    "name_kana": "タカハシ ヒナタ",
    "birth_date": "2025-06-10",
    "sex": "female",
    "desired_category": "3",
    "care_time": "standard",
    "desired_facilities": ["F001", "F002"],
}
CHILDCARE_APPLICATION = {
    "applicant": APPLICANT,
    "desired_start_month": "2026-04",
    "children": [CHILD],
    "guardians": [
        {
            "name": "髙橋 𠮷子",
            "relationship": "mother",
            "need_reason": "employed",
            "monthly_hours": 120,
            "workplace": "株式会社サンプル",
        }
    ],
    "tax_lookup_consent": True,
}


def errors(form: dict[str, Any], data: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(form, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return sorted(error.message for error in validator.iter_errors(data))


def test_residency_form_accepts_a_plain_request(services: dict[str, dict[str, Any]]) -> None:
    assert errors(services["residency-certificate"]["form"], RESIDENCY_APPLICATION) == []


def test_residency_agent_must_name_the_agent(services: dict[str, dict[str, Any]]) -> None:
    form = services["residency-certificate"]["form"]
    request = {**RESIDENCY_APPLICATION, "requester": {"relationship": "agent"}}

    assert errors(form, request) == ["'agent' is a required property"]
    agent = {"name": "山田 太郎", "address": "長野県桜ヶ丘市二丁目3番4号", "phone": "0260-00-9999"}
    assert errors(form, {**request, "requester": {"relationship": "agent", "agent": agent}}) == []


def test_residency_individual_number_needs_a_purpose_and_the_person_or_household(
    services: dict[str, dict[str, Any]],
) -> None:
    form = services["residency-certificate"]["form"]
    request = {**RESIDENCY_APPLICATION, "include": {"individual_number": True}}

    assert errors(form, request) == ["'purpose_detail' is a required property"]
    request["purpose_detail"] = "勤務先への個人番号の提出（年末調整）"
    assert errors(form, request) == []
    # An agent may ask for it (the copy then goes by post to the person, decision 0036); a third party never.
    agent = {"name": "山田 太郎", "address": "長野県桜ヶ丘市二丁目3番4号", "phone": "0260-00-9999"}
    assert errors(form, {**request, "requester": {"relationship": "agent", "agent": agent}}) == []
    third_party = {"relationship": "third_party", "third_party_reason": "債権回収のため"}
    assert sorted(errors(form, {**request, "requester": third_party})) == [
        "'third_party' is not one of ['self', 'household_member', 'agent', 'legal_representative']",
        "False was expected",
    ]


def test_residency_third_party_never_gets_the_resident_record_code(services: dict[str, dict[str, Any]]) -> None:
    form = services["residency-certificate"]["form"]
    request = {
        **RESIDENCY_APPLICATION,
        "requester": {"relationship": "third_party", "third_party_reason": "賃貸借契約の解除に伴う訴訟手続のため"},
        "include": {"resident_record_code": True},
    }

    assert errors(form, request) == ["False was expected"]


def test_residency_selected_members_are_required_for_a_selection(services: dict[str, dict[str, Any]]) -> None:
    form = services["residency-certificate"]["form"]

    assert errors(form, {**RESIDENCY_APPLICATION, "scope": "selected"}) == ["'selected_members' is a required property"]


def test_tax_form_rejects_years_before_reiwa(services: dict[str, dict[str, Any]]) -> None:
    form = services["tax-certificate"]["form"]
    request = {
        "applicant": APPLICANT,
        "requester": {"relationship": "self"},
        "fiscal_year": 2026,
        "kind": "income",
        "purpose": "childcare",
        "copies": 2,
        "delivery": "mail",
    }

    assert errors(form, request) == []
    assert errors(form, {**request, "fiscal_year": 2018}) == ["2018 is less than the minimum of 2019"]
    assert errors(form, {**request, "requester": {"relationship": "third_party"}}) == [
        "'third_party' is not one of ['self', 'household_member', 'agent', 'legal_representative']"
    ]


def test_childcare_form_accepts_a_complete_application(services: dict[str, dict[str, Any]]) -> None:
    assert errors(services["childcare-admission"]["form"], CHILDCARE_APPLICATION) == []


def test_childcare_work_and_study_need_hours_a_month(services: dict[str, dict[str, Any]]) -> None:
    form = services["childcare-admission"]["form"]
    guardian = {k: v for k, v in CHILDCARE_APPLICATION["guardians"][0].items() if k != "monthly_hours"}

    needs_hours = ["'monthly_hours' is a required property"]
    assert errors(form, {**CHILDCARE_APPLICATION, "guardians": [guardian]}) == needs_hours
    student = {**guardian, "need_reason": "student"}
    assert errors(form, {**CHILDCARE_APPLICATION, "guardians": [student]}) == needs_hours
    ill = {**guardian, "need_reason": "illness", "need_detail": "hospitalised_or_bedridden"}
    assert errors(form, {**CHILDCARE_APPLICATION, "guardians": [ill]}) == []


def test_childcare_care_time_goes_with_categories_2_and_3_only(services: dict[str, dict[str, Any]]) -> None:
    form = services["childcare-admission"]["form"]
    without_care_time = {k: v for k, v in CHILD.items() if k != "care_time"}

    assert errors(form, {**CHILDCARE_APPLICATION, "children": [without_care_time]}) == [
        "'care_time' is a required property"
    ]
    education = {**without_care_time, "desired_category": "1"}
    assert errors(form, {**CHILDCARE_APPLICATION, "children": [education]}) == []
    assert errors(form, {**CHILDCARE_APPLICATION, "children": [{**CHILD, "desired_category": "1"}]}) != []


def test_childcare_takes_one_to_six_children_and_asks_the_sibling_mode_from_two(
    services: dict[str, dict[str, Any]],
) -> None:
    form = services["childcare-admission"]["form"]
    twin = {**CHILD, "name": "髙橋 葵", "name_kana": "タカハシ アオイ"}

    assert errors(form, {**CHILDCARE_APPLICATION, "children": []}) == ["[] should be non-empty"]
    assert errors(form, {**CHILDCARE_APPLICATION, "children": [CHILD, twin]}) == [
        "'sibling_mode' is a required property"
    ]
    assert errors(form, {**CHILDCARE_APPLICATION, "children": [CHILD, twin], "sibling_mode": "all_or_none"}) == []
    assert len(errors(form, {**CHILDCARE_APPLICATION, "children": [CHILD] * 7, "sibling_mode": "independent"})) == 1


def test_childcare_ranks_distinct_facilities_up_to_the_tenants_maximum(services: dict[str, dict[str, Any]]) -> None:
    childcare = services["childcare-admission"]
    form = childcare["form"]

    same_twice = {**CHILD, "desired_facilities": ["F001", "F001"]}
    assert errors(form, {**CHILDCARE_APPLICATION, "children": [same_twice]}) == [
        "['F001', 'F001'] has non-unique elements"
    ]

    def ranking(most: int | None) -> dict[str, Any]:
        effective = effective_service(childcare, {} if most is None else {"max_preferences": most})
        return effective["form"]["properties"]["children"]["items"]["properties"]["desired_facilities"]

    assert ranking(None)["maxItems"] == 10  # the standard's default
    assert ranking(5)["maxItems"] == 5 and ranking(30)["maxItems"] == 30
    assert effective_service(childcare, {"max_preferences": 5})["max_preferences"] == 5
    six = {**CHILD, "desired_facilities": [f"F00{i}" for i in range(1, 7)]}
    five_at_most = effective_service(childcare, {"max_preferences": 5})["form"]
    assert len(errors(five_at_most, {**CHILDCARE_APPLICATION, "children": [six]})) == 1
    assert errors(effective_service(childcare, {})["form"], {**CHILDCARE_APPLICATION, "children": [six]}) == []
    with pytest.raises(CatalogError):
        effective_service(childcare, {"max_preferences": 31})


# --- Where the catalog is ---------------------------------------------------------------------------------------------


def test_default_catalog_dirs_are_the_repository_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADOGUCHI_SERVICES_DIR", raising=False)
    monkeypatch.delenv("MADOGUCHI_TENANTS_DIR", raising=False)

    assert default_catalog_dirs() == (REPO / "services", REPO / "tenants")


def test_default_catalog_dirs_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_SERVICES_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("MADOGUCHI_TENANTS_DIR", str(tmp_path / "t"))

    assert default_catalog_dirs() == (tmp_path / "s", tmp_path / "t")
