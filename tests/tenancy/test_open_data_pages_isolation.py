"""The performance pages across tenants: every route of the blueprint is in this matrix; a municipality's page shows
its own months only, whatever month is asked for; the national page shows only what was published nationally.
"""

from __future__ import annotations

from typing import Any

import pytest

from madoguchi.db import Database
from tests.identity import conftest as identity_fixtures
from tests.identity.conftest import Towns
from tests.support.kpi_rows import add_month, kpi_row

towns = identity_fixtures.towns
HTTPS = "https://localhost"

#: Every route of the performance pages -> the test that covers it across tenants.
ROUTES = {
    "/<tenant>/open-data/": "test_a_municipalitys_page_never_shows_another_municipalitys_months",
    "/open-data/": "test_the_national_page_shows_no_municipalitys_own_snapshot",
}


def test_every_performance_page_route_is_in_this_matrix(app: Any) -> None:
    found = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("open_data_pages.")}
    assert found == set(ROUTES)
    for test in set(ROUTES.values()):
        assert test in globals(), test


@pytest.fixture
def b_only(db: Database, towns: Towns) -> None:
    """Only B has published: recognisable figures (a name with 外字, 77%, 12.5 days) in two months."""
    with db.transaction(towns.b.id) as session:
        for period in ("2026-10", "2026-11"):
            add_month(
                session,
                towns.b,
                period,
                [
                    kpi_row(
                        towns.b,
                        period,
                        "residency-certificate",
                        municipality="𠮷野髙﨑市",
                        digital_take_up=0.77,
                        median_days_to_decision=12.5,
                    ),
                ],
            )


@pytest.mark.parametrize("month", [None, "2026-10", "2026-11"])
def test_a_municipalitys_page_never_shows_another_municipalitys_months(
    client: Any, towns: Towns, b_only: None, month: str | None
) -> None:
    query = {"month": month} if month else {}
    response = client.get(f"{HTTPS}/{towns.a.slug}/open-data/", query_string=query)
    html = response.get_data(as_text=True)
    # Nothing of A's is published: the empty state, or "nothing published for that month" (B's months are not A's).
    assert response.status_code == (200 if month is None else 404)
    assert "<figure" not in html and "77%" not in html and "12.5" not in html and "𠮷野髙﨑市" not in html
    # B's own page shows them (the figures exist, so their absence above is tenancy, not an empty seed).
    own = client.get(f"{HTTPS}/{towns.b.slug}/open-data/", query_string=query).get_data(as_text=True)
    assert "77%" in own and "<figure" in own


def test_the_national_page_shows_no_municipalitys_own_snapshot(client: Any, towns: Towns, b_only: None) -> None:
    """The national page reads the national table only: B's municipal months are not national until published so."""
    response = client.get(f"{HTTPS}/open-data/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="no-figures"' in html
    assert "77%" not in html and "𠮷野髙﨑市" not in html
