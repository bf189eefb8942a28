"""The tenant admin's procedures page says when a new version of the standard is available; the upgrade page shows
what changes and whether the municipality's settings conform, and adopts the version after confirmation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from tests.catalog.test_upgrades import (
    EXPECTED_CHANGES,
    KEY,
    NEW_VERSION,
    OLD_VERSION,
    audit_records,
    publish_second_version,
    running_version,
)
from tests.tenant_admin.conftest import Person, Towns, admin_url, error_summary_links, field_error, post, signed_in

UPGRADE = f"/procedures/{KEY}/upgrade"
ADOPTED = "tenant_service.version_adopted"


@pytest.fixture
def second_version(db: Database, towns: Towns, tmp_path: Path) -> None:
    publish_second_version(db, tmp_path)


def _changes_listed(html: str) -> list[str]:
    return re.findall(r'data-change="([^"]+)"', html)


def _expected_listing() -> list[str]:
    return [f"{change.kind} {change.path}".replace('"', "&#34;") for change in EXPECTED_CHANGES]


def test_without_a_new_version_the_procedures_page_says_nothing_about_upgrades(admin_b: Person, towns: Towns) -> None:
    html = admin_b.http.get(admin_url(towns.b, "/procedures?lang=en")).get_data(as_text=True)

    assert "data-upgrade=" not in html
    page = admin_b.http.get(admin_url(towns.b, UPGRADE + "?lang=en")).get_data(as_text=True)
    assert 'data-upgrade-state="current"' in page and "<form" not in page.split("<main", 1)[-1]


def test_the_procedures_page_says_a_new_version_is_available_and_links_to_it(
    admin_b: Person, towns: Towns, second_version: None
) -> None:
    html = admin_b.http.get(admin_url(towns.b, "/procedures?lang=en")).get_data(as_text=True)

    assert re.findall(r'data-upgrade="([^"]+)"', html) == [KEY]
    assert f"A new version ({NEW_VERSION}) is available" in html
    assert f'href="/{towns.b.slug}/console/admin{UPGRADE}"' in html
    japanese = admin_b.http.get(admin_url(towns.b, "/procedures?lang=ja")).get_data(as_text=True)
    assert f"新しい版（第{NEW_VERSION}版）があります" in japanese


def test_the_upgrade_page_shows_every_change_and_that_the_settings_conform(
    admin_b: Person, towns: Towns, second_version: None
) -> None:
    response = admin_b.http.get(admin_url(towns.b, UPGRADE + "?lang=en"))

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _changes_listed(html) == _expected_listing()
    assert "<code>450</code>" in html and "<code>350</code>" in html  # fee.max before and after
    assert 'data-conformance="ok"' in html
    assert f"Adopt version {NEW_VERSION}" in html
    assert f'data-confirm="Adopt version {NEW_VERSION} now?"' in html


def test_adopting_needs_the_confirmation_then_switches_the_version_in_one_step(
    db: Database, admin_b: Person, towns: Towns, second_version: None
) -> None:
    url = admin_url(towns.b, UPGRADE)
    before = running_version(db, towns.b)

    unconfirmed = post(admin_b, url + "?lang=en", {"version": NEW_VERSION}, form_url=url)
    assert unconfirmed.status_code == 422
    html = unconfirmed.get_data(as_text=True)
    assert field_error(html, "confirm") == "Confirm that you have reviewed the changes."
    assert error_summary_links(html) == ["confirm"]
    assert running_version(db, towns.b) == before

    adopted = post(admin_b, url, {"version": NEW_VERSION, "confirm": "yes"})
    assert adopted.status_code == 303
    assert adopted.headers["Location"].endswith(f"/{towns.b.slug}/console/admin/procedures")
    assert running_version(db, towns.b) == (NEW_VERSION, before[1])
    [record] = audit_records(db, towns.b, ADOPTED)
    assert record.actor == f"account:{admin_b.account_id}"
    assert (record.data["from_version"], record.data["to_version"]) == (OLD_VERSION, NEW_VERSION)
    listing = admin_b.http.get(admin_url(towns.b, "/procedures?lang=en")).get_data(as_text=True)
    assert "now in use for new applications" in listing and "data-upgrade=" not in listing


def test_a_town_whose_fee_no_longer_conforms_sees_it_and_must_correct_it_to_adopt(
    db: Database, admin_a: Person, towns: Towns, second_version: None
) -> None:
    url = admin_url(towns.a, UPGRADE)
    page = admin_a.http.get(url).get_data(as_text=True)  # midorikawa-village's pages are Japanese only
    assert 'data-conformance="problems"' in page and 'data-problem="fee"' in page
    assert "手数料" in page and "250" in page and "350" in page
    assert 'id="fee"' in page and 'value="400"' in page
    before = running_version(db, towns.a)

    unchanged = post(admin_a, url, {"version": NEW_VERSION, "confirm": "yes", "fee": "400"})
    assert unchanged.status_code == 422
    assert field_error(unchanged.get_data(as_text=True), "fee") is not None
    not_a_number = post(admin_a, url, {"version": NEW_VERSION, "confirm": "yes", "fee": "たくさん"})
    assert not_a_number.status_code == 422
    assert running_version(db, towns.a) == before
    assert audit_records(db, towns.a, ADOPTED) == []

    adopted = post(admin_a, url, {"version": NEW_VERSION, "confirm": "yes", "fee": "３００"})
    assert adopted.status_code == 303
    assert running_version(db, towns.a) == (NEW_VERSION, {**before[1], "fee": 300})
    [record] = audit_records(db, towns.a, ADOPTED)
    assert (record.data["overrides_before"], record.data["overrides_after"]) == ({"fee": 400}, {"fee": 300})


def test_a_version_published_while_the_admin_reviewed_is_not_adopted_unseen(
    db: Database, admin_b: Person, towns: Towns, second_version: None
) -> None:
    url = admin_url(towns.b, UPGRADE)

    response = post(admin_b, url + "?lang=en", {"version": "1.0.5", "confirm": "yes"}, form_url=url)

    assert response.status_code == 422
    assert "Another version was published meanwhile" in response.get_data(as_text=True)
    assert running_version(db, towns.b)[0] == OLD_VERSION


def test_another_towns_admin_is_sent_to_the_login_and_changes_nothing(
    app: Any, db: Database, admin_a: Person, admin_b: Person, towns: Towns, second_version: None
) -> None:
    url = admin_url(towns.b, UPGRADE)
    page = admin_b.http.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    assert admin_a.http.get(url).status_code == 303
    response = admin_a.http.post(
        url,
        data={"csrf_token": token, "version": NEW_VERSION, "confirm": "yes"},
        headers={"Referer": "https://localhost/"},
    )

    assert response.status_code in (303, 400, 403)
    assert running_version(db, towns.b)[0] == OLD_VERSION
    assert admin_a.http.get(admin_url(towns.a, "/procedures/no-such-procedure/upgrade")).status_code == 404


def test_a_clerk_gets_403(app: Any, db: Database, towns: Towns, second_version: None) -> None:
    clerk = signed_in(app, db, towns.b, StaffRole.CLERK)

    assert clerk.http.get(admin_url(towns.b, UPGRADE)).status_code == 403
    assert running_version(db, towns.b)[0] == OLD_VERSION
