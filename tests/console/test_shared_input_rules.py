"""The console's pages load their input with the API's schemas: what the API refuses, the page refuses too, with
the message beside the field (one rule, written once in the domain's schemas)."""

from __future__ import annotations

import uuid

import pytest
from marshmallow import ValidationError

from madoguchi.applications.schemas import NOBODY, AssigneeChoiceSchema, QueueFilterArgsSchema
from madoguchi.identity.schemas import AccountLookupArgsSchema
from tests.console.conftest import HTTPS, Office, post_form
from tests.factories import make_account


def _api(office: Office, query: str) -> str:
    return f"{HTTPS}/api/v1/t/{office.tenant.slug}/applications/{query}"


def test_an_assignee_that_is_not_me_none_or_an_account_id_is_refused_by_the_api_and_beside_the_assign_field(
    office: Office,
) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    refused = office.clerk.get(_api(office, "?assignee=bob"))
    assert refused.status_code == 422 and "assignee" in refused.json["errors"]
    response = post_form(office.clerk, f"{url}/assignee", {"assignee": "bob"}, form_url=url)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="assignee-error"' in html and "職員を選んでください" in html
    assert office.application(application_id).assignee_account_id is None


def test_me_and_nobody_mean_the_same_in_the_api_queue_and_the_assign_form(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    assert post_form(office.clerk, f"{url}/assignee", {"assignee": "me"}, form_url=url).status_code == 303
    mine = office.clerk.get(_api(office, "?assignee=me")).json["items"]
    assert [item["id"] for item in mine] == [str(application_id)]
    assert office.clerk.get(_api(office, "?assignee=none")).json["items"] == []
    assert post_form(office.clerk, f"{url}/assignee", {"assignee": "none"}, form_url=url).status_code == 303
    assert office.application(application_id).assignee_account_id is None


def test_the_assignee_field_loads_me_none_an_id_and_a_blank_as_each_form_means_it() -> None:
    account_id = uuid.uuid4()
    assert QueueFilterArgsSchema().load({"assignee": "me"}) == {"assignee": "me"}
    assert QueueFilterArgsSchema().load({"assignee": f" {account_id} "}) == {"assignee": account_id}
    assert QueueFilterArgsSchema().load({"assignee": ""}) == {"assignee": None}  # an empty filter: anyone
    assert AssigneeChoiceSchema().load({"assignee": ""}) == {"assignee": NOBODY}  # the blank choice: nobody
    with pytest.raises(ValidationError):
        QueueFilterArgsSchema().load({"assignee": "someone"})


def test_the_identity_check_finds_an_address_typed_full_width_as_the_identity_api_normalizes_it(
    office: Office,
) -> None:
    with office.db.transaction(office.tenant.id) as session:
        account = make_account(session, office.tenant, email="𠮷田@example.jp")
    typed = "　𠮷田＠ＥＸＡＭＰＬＥ．ＪＰ　"  # an IME left on: full-width @, letters and the ideographic space
    assert AccountLookupArgsSchema().load({"email": typed}) == {"email": account.email}
    found = office.clerk.get(office.url("/identity/"), query_string={"email": typed})
    assert found.status_code == 303 and found.headers["Location"].endswith(f"/identity/accounts/{account.id}")
    refused = office.clerk.get(office.url("/identity/"), query_string={"email": "𠮷田@"})
    assert refused.status_code == 422 and 'id="email-error"' in refused.get_data(as_text=True)
    assert office.clerk.get(office.url("/identity/"), query_string={"email": "  "}).status_code == 422
