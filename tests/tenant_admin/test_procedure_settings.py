"""Procedure settings: a tenant admin changes the overrides the standard allows, validated as `catalog check` does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.catalog.models import TenantService
from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from madoguchi.tenancy.models import Tenant
from tests.tenant_admin.conftest import (
    HTTPS,
    Person,
    Towns,
    admin_url,
    error_summary_links,
    field_error,
    post,
    signed_in,
)

CITY_KEY = "tax-certificate"


def _overrides(db: Database, tenant: Tenant, key: str) -> dict[str, Any]:
    with db.transaction(tenant.id) as session:
        row = session.execute(select(TenantService).where(TenantService.service_key == key)).scalar_one()
        return dict(row.overrides)


def _audit(db: Database, tenant: Tenant) -> list[AuditRecord]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars())


def _procedures_api(app: Any, tenant: Tenant) -> dict[str, Any]:
    response = app.test_client().get(f"{HTTPS}/api/v1/t/{tenant.slug}/procedures")
    return {item["key"]: item for item in response.json}


def test_the_procedures_page_lists_each_procedure_with_its_fee(admin_b: Person, towns: Towns) -> None:
    response = admin_b.http.get(admin_url(towns.b, "/procedures?lang=en"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Tax and income certificates" in html and "¥350" in html  # sakuragaoka-city's fee in its tenant file


def test_changing_the_fee_saves_it_audits_it_and_new_applications_see_it(
    app: Any, db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}")
    response = post(admin_b, url, {"fee": "４００", "sla_days": "3", "auto_issue": "yes"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/{towns.b.slug}/console/admin/procedures")
    overrides = _overrides(db, towns.b, CITY_KEY)
    assert overrides["fee"] == 400  # full-width digits normalized
    assert overrides["instructions"]["en"].startswith("This year's")  # settings not on the form are kept
    assert _procedures_api(app, towns.b)[CITY_KEY]["fee"]["amount"] == 400
    [record] = [r for r in _audit(db, towns.b) if r.action == "tenant_service.overrides_changed"]
    assert record.data == {"service_key": CITY_KEY, "before": {"fee": 350}, "after": {"fee": 400}}
    assert record.actor == f"account:{admin_b.account_id}"
    listing = admin_b.http.get(admin_url(towns.b, "/procedures"))
    assert "400円" in listing.get_data(as_text=True)


def test_a_fee_outside_the_standard_range_is_shown_beside_the_field_and_nothing_changes(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}")
    before = _overrides(db, towns.b, CITY_KEY)
    response = post(admin_b, url + "?lang=en", {"fee": "500", "sla_days": "abc", "auto_issue": "yes"}, form_url=url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "sla_days") is not None
    # The range check is the catalog's; with one parse error nothing reaches it, so try the fee alone.
    response = post(admin_b, url + "?lang=en", {"fee": "500", "sla_days": "3", "auto_issue": "yes"}, form_url=url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "fee") == "The fee must be between 200 and 450 yen."
    assert error_summary_links(html) == ["fee"]
    assert 'value="500"' in html  # what was typed is kept
    assert _overrides(db, towns.b, CITY_KEY) == before
    assert not [r for r in _audit(db, towns.b) if r.action == "tenant_service.overrides_changed"]


def test_the_fee_error_is_in_japanese_by_default(admin_b: Person, towns: Towns) -> None:
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}")
    response = post(admin_b, url, {"fee": "100", "sla_days": "3", "auto_issue": "yes"})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "fee") == "手数料は200円から450円の範囲で設定してください。"


def test_auto_issue_with_a_supervisor_step_is_refused_as_catalog_check_would(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}?lang=en")
    data = {"fee": "350", "sla_days": "3", "auto_issue": "yes", "extra_steps": "supervisor_approval"}
    response = post(admin_b, url, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Automatic issuing is not possible with the extra steps chosen" in (field_error(html, "auto_issue") or "")
    assert "extra_steps" not in _overrides(db, towns.b, CITY_KEY)


def test_childcare_offers_no_fee_but_the_working_hours_within_48_to_64(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, "/procedures/childcare-admission?lang=en")
    page = admin_b.http.get(url).get_data(as_text=True)
    assert 'name="fee"' not in page and 'name="auto_issue"' not in page
    assert 'name="min_monthly_work_hours"' in page
    assert 'name="max_preferences"' in page
    response = post(admin_b, url, {"sla_days": "30", "min_monthly_work_hours": "40", "max_preferences": "31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "min_monthly_work_hours") == "The minimum monthly working hours must be between 48 and 64."
    assert field_error(html, "max_preferences") == "The number of facilities must be between 1 and 30."
    response = post(
        admin_b,
        url,
        {
            "sla_days": "20",
            "min_monthly_work_hours": "48",
            "max_preferences": "２０",
            "extra_steps": "supervisor_approval",
        },
    )
    assert response.status_code == 303
    overrides = _overrides(db, towns.b, "childcare-admission")
    assert overrides["min_monthly_work_hours"] == 48 and overrides["sla_days"] == 20
    assert overrides["max_preferences"] == 20
    assert overrides["extra_steps"] == ["supervisor_approval"] and overrides["extra_questions"]


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(db: Database, admin_b: Person, towns: Towns) -> None:
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}")
    before = _overrides(db, towns.b, CITY_KEY)
    response = admin_b.http.post(url, data={"fee": "400", "sla_days": "3"}, headers={"Referer": f"{HTTPS}/"})
    assert response.status_code == 400
    assert _overrides(db, towns.b, CITY_KEY) == before


def test_an_unknown_procedure_is_404(admin_b: Person, towns: Towns) -> None:
    assert admin_b.http.get(admin_url(towns.b, "/procedures/no-such-procedure")).status_code == 404


def test_a_clerk_gets_403_and_another_towns_admin_is_sent_to_sign_in(
    app: Any, db: Database, admin_a: Person, towns: Towns
) -> None:
    clerk = signed_in(app, db, towns.b, StaffRole.CLERK, StaffRole.SUPERVISOR)
    url = admin_url(towns.b, f"/procedures/{CITY_KEY}")
    assert clerk.http.get(url).status_code == 403
    response = admin_a.http.get(url)
    assert response.status_code == 303
    assert f"/{towns.b.slug}/login?next=" in response.headers["Location"]
    before = _overrides(db, towns.b, CITY_KEY)
    refused = clerk.http.post(url, data={"fee": "400"}, headers={"Referer": f"{HTTPS}/"})
    assert refused.status_code in (400, 403)
    assert _overrides(db, towns.b, CITY_KEY) == before


def test_an_application_in_flight_keeps_its_fee_and_a_new_one_gets_the_new_fee(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    from madoguchi.applications import operations as applications
    from tests.factories import resident

    with db.transaction(towns.b.id) as session:
        before = applications.create_draft(session, towns.b, resident(session, towns.b), CITY_KEY)
        before_id = before.id
    response = post(
        admin_b, admin_url(towns.b, f"/procedures/{CITY_KEY}"), {"fee": "200", "sla_days": "5", "auto_issue": "no"}
    )
    assert response.status_code == 303
    with db.transaction(towns.b.id) as session:
        after = applications.create_draft(session, towns.b, resident(session, towns.b), CITY_KEY)
        kept = session.get(type(after), before_id)
        assert kept is not None
        assert (kept.settings_snapshot["fee"], kept.settings_snapshot["sla_days"]) == (350, 3)
        assert (after.settings_snapshot["fee"], after.settings_snapshot["sla_days"]) == (200, 5)
        assert after.settings_snapshot["auto_issue"] is False
