"""The tenant admin's pages load their input with the domain's schemas, the ones the API uses: what the schema
refuses, the page refuses beside the field, and what it normalizes (full-width digits) the page takes."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.catalog.models import TenantService
from madoguchi.db import Database
from madoguchi.oauth.models import OAuthClient
from madoguchi.oauth.schemas import ClientCreateSchema
from tests.tenant_admin.conftest import Person, Towns, admin_url, error_summary_links, field_error, post

LONG_NAME = "髙" * 201  # one past the API's 200 characters


def test_an_app_name_the_api_refuses_is_refused_beside_the_name_field_and_nothing_is_registered(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    assert "name" in ClientCreateSchema().validate({"name": LONG_NAME})
    data = {
        "name": LONG_NAME,
        "homepage_url": "",
        "kinds": ["system"],
        "redirect_uris": "",
        "scopes": ["catalog:read"],
    }
    response = post(admin_b, admin_url(towns.b, "/apps/new?lang=en"), data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and error_summary_links(html) == ["name"]
    assert "(at most 200 characters)" in (field_error(html, "name") or "")
    with db.transaction(towns.b.id) as session:
        assert session.execute(select(OAuthClient)).first() is None


def test_a_fee_typed_with_full_width_digits_and_a_separator_is_saved_as_the_number(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, "/procedures/tax-certificate")
    response = post(admin_b, url, {"fee": "４００", "sla_days": " ３ ", "auto_issue": "no"})
    assert response.status_code == 303
    with db.transaction(towns.b.id) as session:
        row = session.execute(select(TenantService).where(TenantService.service_key == "tax-certificate")).scalar_one()
        assert (row.overrides["fee"], row.overrides["sla_days"]) == (400, 3)
    refused = post(admin_b, url + "?lang=en", {"fee": "1,2,3.5", "sla_days": "3", "auto_issue": "no"}, form_url=url)
    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "fee") == "Enter a whole number, for example 300."
