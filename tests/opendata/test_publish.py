"""Publishing: snapshots kept (byte-identical re-runs, purges change nothing), the country's aggregate, the files
and the API (ETag/304, 404s, no sign-in), Frictionless validation, and one municipality's data never under
another's URLs."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import frictionless
import pytest
from sqlalchemy import delete, select

from madoguchi import jp
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.db import Database
from madoguchi.opendata import compute, publish
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from madoguchi.payments.models import PaymentIntent
from madoguchi.tenancy.models import Tenant
from tests.opendata.conftest import PERIOD, Towns, jst, opt_in_lowest_score, random_facts, seed, seed_round

NOW = jst(2025, 12, 5, 0, 30)
GAIJI_NAME = "𠮷野髙﨑葛󠄀村"
A_FILES = (
    "/midorikawa-village/open-data/procedure-kpis.csv",
    "/midorikawa-village/open-data/procedure-kpis.json",
    "/midorikawa-village/open-data/catalog-adoption.csv",
    "/midorikawa-village/open-data/catalog-adoption.json",
    "/midorikawa-village/open-data/childcare-round-results.csv",
    "/midorikawa-village/open-data/datapackage.json",
    "/midorikawa-village/open-data/dcat.jsonld",
    f"/midorikawa-village/open-data/{PERIOD}/procedure-kpis.csv",
    f"/midorikawa-village/open-data/{PERIOD}/datapackage.json",
    "/open-data/procedure-kpis.csv",
    "/open-data/procedure-kpis.json",
    "/open-data/catalog-adoption.csv",
    "/open-data/childcare-round-results.json",
    "/open-data/datapackage.json",
    f"/open-data/{PERIOD}/procedure-kpis.json",
    "/open-data/dcat.jsonld",
    "/api/v1/open-data/procedure-kpis",
    f"/api/v1/open-data/procedure-kpis/{PERIOD}",
    "/api/v1/t/midorikawa-village/open-data/procedure-kpis",
    f"/api/v1/t/midorikawa-village/open-data/catalog-adoption/{PERIOD}",
)


@pytest.fixture
def published(db: Database, towns: Towns) -> Towns:
    """Three municipalities with known facts, A's name with 外字 and IVS, the month published. A and B each
    published a childcare round to families in the month (A opted in to the lowest placed score), so the
    childcare-round-results files have rows with suppressed cells and a ``_total`` row without age class."""
    for n, tenant in enumerate((towns.a, towns.b, towns.c)):
        facts, answers = random_facts(30 + n, 150)
        with db.transaction(tenant.id) as session:
            seed(session, tenant, facts, answers)
            if tenant is not towns.c:
                seed_round(session, tenant, jst(2025, 11, 20 + n))
    opt_in_lowest_score(db, towns.a)
    with db.transaction() as session:
        session.get(Tenant, towns.a.id).name_ja = GAIJI_NAME
    with db.transaction() as session:
        a, b, c = (session.get(Tenant, t.id) for t in (towns.a, towns.b, towns.c))
        publish.publish(session, [a, b, c], PERIOD, now=NOW)
    return towns


def _bodies(client: Any) -> dict[str, bytes]:
    found = {}
    for url in A_FILES:
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = response.data
    return found


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_files_are_public_and_carry_license_and_attribution(client: Any, published: Towns) -> None:
    bodies = _bodies(client)
    package = json.loads(bodies["/midorikawa-village/open-data/datapackage.json"])
    assert package["licenses"][0]["name"] == "PDL-1.0" and "CC BY 4.0" in package["licenses"][0]["compatibility"]
    assert package["attribution"] == "出典：緑川村「行政手続オープンデータ」"
    assert package["definition_version"] == "1.0"
    document = json.loads(bodies["/midorikawa-village/open-data/procedure-kpis.json"])
    assert document["license"]["path"].startswith("https://www.digital.go.jp/")
    assert document["attribution"] and document["rows"]
    b_package = json.loads(client.get("/sakuragaoka-city/open-data/datapackage.json").data)
    assert b_package["licenses"][0]["name"] == "CC-BY-4.0"
    dcat = json.loads(bodies["/open-data/dcat.jsonld"])
    assert dcat["@type"] == "dcat:Catalog" and dcat["dcat:dataset"][0]["dcat:distribution"][0]["dcat:downloadURL"]
    csv_response = client.get("/midorikawa-village/open-data/procedure-kpis.csv")
    assert csv_response.content_type.startswith("text/csv") and not csv_response.data.startswith(b"\xef\xbb\xbf")


def test_names_with_gaiji_and_ivs_survive_the_csv(client: Any, published: Towns) -> None:
    rows = _csv_rows(client.get("/midorikawa-village/open-data/procedure-kpis.csv").data)
    assert rows and {row["municipality"] for row in rows} == {GAIJI_NAME}
    assert all(jp.is_valid_local_government_code(row["lg_code"]) for row in rows)
    assert rows[-1]["procedure_key"] == "_total"
    for row in rows:
        hidden = json.loads(row["suppressed"])
        assert all(row[name] == "" for name in hidden)


def test_every_lg_code_of_every_file_has_a_valid_check_digit(client: Any, published: Towns) -> None:
    for url in ("/open-data/procedure-kpis.csv", "/open-data/catalog-adoption.csv"):
        for row in _csv_rows(client.get(url).data):
            assert row["lg_code"] == "" or jp.is_valid_local_government_code(row["lg_code"]), url
    codes = {row["lg_code"] for row in _csv_rows(client.get("/open-data/catalog-adoption.csv").data)}
    assert codes == {"018996", "202983", "398977"}


def test_the_data_package_validates_with_frictionless(client: Any, published: Towns, tmp_path: Path) -> None:
    rounds_csv = client.get("/open-data/childcare-round-results.csv").data.decode()
    assert rounds_csv.count("_total") == 2 and GAIJI_NAME in rounds_csv and ',"[""placed""' in rounds_csv
    for prefix, folder in (("/midorikawa-village/open-data/", "a"), ("/open-data/", "national")):
        root = tmp_path / folder
        (root / PERIOD).mkdir(parents=True)
        for name in ("datapackage.json", "procedure-kpis.csv", "catalog-adoption.csv", "childcare-round-results.csv"):
            (root / name).write_bytes(client.get(prefix + name).data)
            (root / PERIOD / name).write_bytes(client.get(f"{prefix}{PERIOD}/{name}").data)
        (root / "month.json").write_bytes(client.get(f"{prefix}{PERIOD}/datapackage.json").data)
        for package in ("datapackage.json", "month.json"):
            report = frictionless.validate(str(root / package))
            assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    # a tampered file fails the package's hash: the validation is real
    broken = tmp_path / "a" / "procedure-kpis.csv"
    broken.write_bytes(broken.read_bytes().replace(b"2025-11", b"2025-12", 1))
    assert not frictionless.validate(str(tmp_path / "a" / "datapackage.json")).valid
    # and the rounds' schema is checked, not only the hash: without the hash, a count that is not a number fails
    package = json.loads((tmp_path / "national" / "datapackage.json").read_text())
    (resource,) = [r for r in package["resources"] if r["name"] == "childcare-round-results"]
    del resource["hash"], resource["bytes"]
    package["resources"] = [resource]
    (tmp_path / "national" / "rounds.json").write_text(json.dumps(package))
    assert frictionless.validate(str(tmp_path / "national" / "rounds.json")).valid
    rounds_file = tmp_path / "national" / "childcare-round-results.csv"
    rounds_file.write_bytes(rounds_file.read_bytes().replace(b",_total,,36,", b",_total,,x,", 1))
    report = frictionless.validate(str(tmp_path / "national" / "rounds.json"))
    assert not report.valid and "type-error" in str(report.flatten(["type"]))


def test_rerunning_a_closed_month_gives_the_same_bytes_and_a_purge_changes_nothing(
    db: Database, client: Any, published: Towns
) -> None:
    before = _bodies(client)
    with db.transaction() as session:
        tenants = publish.publishing_tenants(session)
        outcomes, national = publish.publish(session, tenants, PERIOD, now=jst(2026, 1, 7))
    assert {o.result for o in outcomes} == {"kept"} and national is False
    assert _bodies(client) == before
    # Purge the applications (with their events). Payment records are kept by law (and append-only for the app's
    # role), so applications with a payment stay.
    with db.transaction(published.a.id) as session:
        paid = select(PaymentIntent.application_id).where(PaymentIntent.tenant_id == published.a.id)
        gone = select(Application.id).where(Application.tenant_id == published.a.id, Application.id.not_in(paid))
        session.execute(delete(ApplicationEvent).where(ApplicationEvent.application_id.in_(gone)))
        purged = session.execute(delete(Application).where(Application.id.in_(gone))).rowcount
    assert purged > 50
    with db.transaction(published.a.id) as session:
        stored = session.execute(select(KpiMonth.internal).where(KpiMonth.dataset == "procedure-kpis")).scalar_one()
        assert compute.internal_procedure_rows(session, published.a.id, PERIOD) != stored  # the figures did go
    with db.transaction() as session:
        publish.publish(session, publish.publishing_tenants(session), PERIOD, now=jst(2026, 2, 7))
    assert _bodies(client) == before


def test_the_country_is_the_sum_of_the_municipalities_then_suppressed(db: Database, published: Towns) -> None:
    internals = []
    for tenant in (published.a, published.b, published.c):
        with db.transaction(tenant.id) as session:
            month = session.execute(
                select(KpiMonth).where(KpiMonth.dataset == "procedure-kpis", KpiMonth.period == PERIOD)
            ).scalar_one()
            internals.append(month.internal)
    with db.transaction() as session:
        national = session.execute(
            select(NationalKpiMonth).where(NationalKpiMonth.dataset == "procedure-kpis")
        ).scalar_one()
    # The municipalities' own published rows come first (the national page compares them), then the country's.
    rows = {row["procedure_key"]: row for row in national.published if row["lg_code"] is None}
    for key in ("residency-certificate", "tax-certificate", "_total"):
        for name in ("submitted_total", "submitted_online", "decided", "started_online", "withdrawn"):
            exact = sum(r[name] for internal in internals for r in internal if r["procedure_key"] == key)
            shown = rows[key][name]
            assert shown == exact or (shown is None and name in rows[key]["suppressed"]), (key, name)
            if exact >= 10 and shown is None:
                assert name in rows[key]["suppressed"]
            if 0 < exact < 10:
                assert shown is None
    assert rows["_total"]["submitted_total"] == sum(i[-1]["submitted_total"] for i in internals)
    assert rows["_total"]["population"] == 3120 + 84260 + 11873
    assert {row["municipality"] for row in national.published if row["lg_code"] is None} == {"全国"}
    municipal = [row for row in national.published if row["lg_code"] is not None]
    assert {row["lg_code"] for row in municipal} == {
        published.a.local_government_code,
        published.b.local_government_code,
        published.c.local_government_code,
    }


def test_a_municipality_that_does_not_publish_or_is_suspended_is_left_out(
    db: Database, client: Any, towns: Towns
) -> None:
    facts, answers = random_facts(40, 120)
    for tenant in (towns.a, towns.b, towns.c):
        with db.transaction(tenant.id) as session:
            seed(session, tenant, facts, answers)
    with db.transaction() as session:
        a = session.get(Tenant, towns.a.id)
        a.profile = {**a.profile, "open_data": {**a.profile["open_data"], "publish": False}}
        session.get(Tenant, towns.c.id).status = "suspended"
    with db.transaction() as session:
        tenants = publish.publishing_tenants(session)
        assert [t.slug for t in tenants] == ["sakuragaoka-city"]
        publish.publish(session, tenants, PERIOD, now=NOW)
    assert client.get("/midorikawa-village/open-data/procedure-kpis.csv").status_code == 404
    assert client.get("/api/v1/t/midorikawa-village/open-data/procedure-kpis").status_code == 404
    codes = {row["lg_code"] for row in _csv_rows(client.get("/open-data/catalog-adoption.csv").data)}
    assert codes == {"202983"}
    national = json.loads(client.get("/open-data/procedure-kpis.json").data)["rows"]
    b = json.loads(client.get("/sakuragaoka-city/open-data/procedure-kpis.json").data)["rows"]
    assert national[-1]["submitted_total"] == b[-1]["submitted_total"]


def test_another_municipalitys_figures_never_show_under_a_municipalitys_urls(client: Any, published: Towns) -> None:
    for url in (
        "/sakuragaoka-city/open-data/procedure-kpis.csv",
        "/sakuragaoka-city/open-data/catalog-adoption.json",
        f"/sakuragaoka-city/open-data/{PERIOD}/procedure-kpis.json",
        "/api/v1/t/sakuragaoka-city/open-data/procedure-kpis",
        "/sakuragaoka-city/open-data/datapackage.json",
    ):
        body = client.get(url).data.decode("utf-8")
        assert "018996" not in body and GAIJI_NAME not in body and "202983" in body, url
    for url in A_FILES:
        body = client.get(url).data.decode("utf-8")
        # the exact figures (numerators, the histogram) never leave the platform
        exact = ("days_to_decision", "started_online_submitted", "correction_requested", "satisfied", "other_outcomes")
        for internal in exact:
            assert f'"{internal}"' not in body and f",{internal}," not in body, (url, internal)


@pytest.mark.parametrize(
    "url",
    [
        "/no-such-town/open-data/procedure-kpis.csv",
        "/midorikawa-village/open-data/no-such-dataset.csv",
        "/midorikawa-village/open-data/2024-01/procedure-kpis.csv",
        "/midorikawa-village/open-data/2025-13/procedure-kpis.csv",
        "/midorikawa-village/open-data/2024-01/datapackage.json",
        "/open-data/2024-01/childcare-round-results.csv",
        "/open-data/2024-01/procedure-kpis.json",
    ],
)
def test_unknown_municipality_dataset_or_month_is_the_404_page(client: Any, published: Towns, url: str) -> None:
    response = client.get(url, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/t/no-such-town/open-data/procedure-kpis",
        "/api/v1/t/midorikawa-village/open-data/nope",
        "/api/v1/t/midorikawa-village/open-data/procedure-kpis/2024-01",
        "/api/v1/open-data/procedure-kpis/not-a-month",
        "/api/v1/open-data/nope",
    ],
)
def test_the_api_answers_404_problems(client: Any, published: Towns, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    [
        "/midorikawa-village/open-data/procedure-kpis.csv",
        "/open-data/datapackage.json",
        "/api/v1/open-data/procedure-kpis",
        "/api/v1/t/midorikawa-village/open-data/catalog-adoption",
    ],
)
def test_a_strong_etag_and_304_on_if_none_match(client: Any, published: Towns, url: str) -> None:
    first = client.get(url)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and not etag.startswith("W/") and len(etag) == 66
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_api_index_lists_months_and_links(client: Any, published: Towns) -> None:
    index = client.get("/api/v1/t/midorikawa-village/open-data").get_json()
    assert index["months"] == [PERIOD] and index["publisher"] == GAIJI_NAME
    assert index["datapackage"].endswith("/midorikawa-village/open-data/datapackage.json")
    national = client.get("/api/v1/open-data").get_json()
    assert national["months"] == [PERIOD] and [d["dataset"] for d in national["datasets"]] == [
        "procedure-kpis",
        "catalog-adoption",
        "childcare-round-results",
    ]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/t/{tenant}/open-data/{dataset}/{month}" in spec["paths"]


def test_every_file_the_performance_pages_link_to_is_served(client: Any, published: Towns) -> None:
    """The pages link to the files relatively (``procedure-kpis.csv`` from ``/<tenant>/open-data/``): each link of
    the download list answers 200, for a municipality and for the country."""
    for page in ("/midorikawa-village/open-data/", "/open-data/"):
        html = client.get(page).get_data(as_text=True)
        files = html.split('id="files-heading"', 1)[1].split("</section>", 1)[0]
        links = re.findall(r'href="([^"/]+)"', files)
        assert {"procedure-kpis.csv", "catalog-adoption.csv", "childcare-round-results.csv"} <= set(links), page
        for link in links:
            assert client.get(page + link).status_code == 200, page + link
