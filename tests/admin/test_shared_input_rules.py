"""The platform admin pages load their input with the admin API's schemas (``platform.schemas``): what the API
refuses, the page refuses beside the field; what the schema normalizes, the page saves normalized."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.platform.schemas import InvitationCreateSchema, TenantDeleteConfirmationSchema
from madoguchi.tenancy.models import Tenant, TenantInvitation
from tests.admin.conftest import ADMIN
from tests.admin.test_tenants import _post
from tests.tenant_admin.conftest import Towns, error_summary_links, field_error

NAME_WITH_A_FORMAT_CHARACTER = "髙橋\u200b一郎"  # a zero-width space pasted from a document


def test_an_invitation_the_api_refuses_is_refused_beside_each_field_and_nothing_is_stored(
    db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    bad = {"email": "chief@", "display_name": NAME_WITH_A_FORMAT_CHARACTER}
    assert set(InvitationCreateSchema().validate(bad)) == {"email", "display_name"}
    url = f"{ADMIN}/tenants/{towns.a.id}/invite?lang=en"
    response = _post(platform_admin, url, bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and error_summary_links(html) == ["email", "display_name"]
    assert field_error(html, "email") == "Enter an email address like name@example.jp."
    assert field_error(html, "display_name") == "Use letters, digits and punctuation only."
    long_name = _post(platform_admin, url, {"email": "chief@example.jp", "display_name": "髙" * 101})
    assert field_error(long_name.get_data(as_text=True), "display_name") == "Use at most 100 characters."
    with db.transaction(towns.a.id) as session:
        assert session.execute(select(TenantInvitation)).first() is None


def test_a_full_width_address_and_a_blank_name_are_invited_as_the_api_would(
    db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    url = f"{ADMIN}/tenants/{towns.a.id}/invite?lang=en"
    response = _post(platform_admin, url, {"email": "ｃｈｉｅｆ＠Midorikawa.Example.JP", "display_name": "  "})
    assert response.status_code == 200, response.get_data(as_text=True)
    with db.transaction(towns.a.id) as session:
        invitation = session.execute(select(TenantInvitation)).scalar_one()
    assert invitation.email == "chief@midorikawa.example.jp"
    assert InvitationCreateSchema().load({"email": "ｃｈｉｅｆ＠Midorikawa.Example.JP", "display_name": "  "}) == {
        "email": "chief@midorikawa.example.jp",
        "display_name": None,
        "locale": None,
    }


def test_deleting_asks_for_the_slug_typed_again_normalized_as_the_new_tenant_form_normalizes_it(
    db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    url = f"{ADMIN}/tenants/{towns.b.id}/delete?lang=en"
    wrong = _post(platform_admin, url, {"confirm_slug": "  "})
    assert wrong.status_code == 422
    assert field_error(wrong.get_data(as_text=True), "confirm_slug") == f"Type the slug {towns.b.slug} to confirm."
    typed = "　" + towns.b.slug.upper().translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)}) + " "
    assert TenantDeleteConfirmationSchema().load({"confirm_slug": typed}) == {"confirm_slug": towns.b.slug}
    assert _post(platform_admin, url, {"confirm_slug": typed}).status_code == 303
    with db.transaction() as session:
        tenant = session.execute(select(Tenant).where(Tenant.id == towns.b.id)).scalar_one()
    assert tenant.status == "deleted"
