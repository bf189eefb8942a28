"""The console's allocation rounds: a clerk creates a round, edits seats, freezes and computes it, the review shows
placements per class, a supervisor approves, the open numbers download; others are refused."""

from __future__ import annotations

import csv
import io
import json
import re

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind
from tests.childcare.rounds_world import Household, Kid, add_facilities, born, file_application
from tests.console.conftest import HTTPS, Office, post_form
from tests.factories import make_account


def _with_applicants(office: Office) -> None:
    one = born(2025, 10, 1)
    with office.db.transaction(office.tenant.id) as session:
        add_facilities(session, office.tenant)
        for name in ("髙橋　結", "𠮷田　陽", "渡邊󠄂　蓮"):
            file_application(session, office.tenant, Household(kids=[Kid(name, one, ["HK-01", "HK-02"])]))


def _create(office: Office) -> str:
    listing = office.url("/rounds")
    created = post_form(
        office.clerk,
        listing,
        {"label_ja": "令和9年4月一次", "label_en": "April 2027", "intake_month": "2027-04", "kind": "first"},
        form_url=listing,
    )
    assert created.status_code == 303, created.get_data(as_text=True)
    return created.headers["Location"]


def test_a_clerk_runs_a_round_and_a_supervisor_approves_it_in_the_console(office: Office) -> None:
    _with_applicants(office)
    page = _create(office)
    html = office.clerk.get(page).get_data(as_text=True)
    assert "令和9年4月一次" in html and 'name="seats.HK-01.1" value="2"' in html
    round_url = page.removeprefix(HTTPS)
    saved = post_form(office.clerk, f"{page}/seats", {"seats.HK-01.1": "１"}, form_url=page)
    assert saved.status_code == 303
    assert 'name="seats.HK-01.1" value="1"' in office.clerk.get(page).get_data(as_text=True)

    for step in ("freeze", "compute"):
        done = post_form(office.clerk, f"{page}/{step}", {}, form_url=page)
        assert done.status_code == 303 and done.headers["Location"].endswith(round_url)
    review = office.clerk.get(page).get_data(as_text=True)
    assert "ひかり保育園" in review and "髙橋　結" in review
    assert "決裁する（上長）" not in review  # the clerk may not approve: no button
    assert "決裁する（上長）" in office.supervisor.get(page).get_data(as_text=True)
    refused = post_form(office.clerk, f"{page}/approve", {}, form_url=page)
    assert refused.status_code == 403

    approved = post_form(office.supervisor, f"{page}/approve", {}, form_url=page)
    assert approved.status_code == 303
    # Who took each step, by name, and the intake month in 和暦 (midorikawa-village's pages are in Japanese).
    steps = office.clerk.get(page).get_data(as_text=True)
    assert "窓口 花子" in steps and "係長 次郎" in steps and "account:" not in steps
    assert "令和9年4月（2027年4月）" in steps
    download = office.clerk.get(f"{page}/open-numbers?format=csv")
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data().decode("utf-8"))))
    hk01 = next(r for r in rows if r["facility_code"] == "HK-01" and r["age_class"] == "1")
    assert (hk01["seats"], hk01["listed_by"], hk01["placed"]) == ("1", "3", "1")
    assert hk01["facility_name_ja"] == "ひかり保育園"
    as_json = json.loads(office.clerk.get(f"{page}/open-numbers?format=json").get_data())
    assert {(r["facility_code"], r["age_class"]) for r in as_json} == {
        (r["facility_code"], int(r["age_class"])) for r in rows
    }

    published = post_form(office.clerk, f"{page}/publish", {}, form_url=page)
    assert published.status_code == 303
    assert "公表済み" in office.clerk.get(page).get_data(as_text=True)  # midorikawa-village pages are in Japanese


def test_bad_seats_and_bad_rounds_are_explained_beside_the_field(office: Office) -> None:
    _with_applicants(office)
    listing = office.url("/rounds")
    refused = post_form(
        office.clerk,
        listing,
        {"label_ja": "", "label_en": "x", "intake_month": "2027/04", "kind": "first"},
        form_url=listing,
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'href="#label_ja"' in html and 'href="#intake_month"' in html
    page = _create(office)
    bad = post_form(office.clerk, f"{page}/seats", {"seats.HK-01.1": "-3", "seats.HK-01.2": "1"}, form_url=page)
    assert bad.status_code == 422
    assert 'id="seats.HK-01.1-error"' in bad.get_data(as_text=True)
    html = office.clerk.get(page).get_data(as_text=True)
    assert 'name="seats.HK-01.2" value="2"' in html  # nothing changed


def test_the_pages_are_in_japanese_for_a_japanese_clerk(office: Office) -> None:
    page = _create(office)
    html = office.clerk.get(f"{page}?lang=ja").get_data(as_text=True)
    assert "利用調整" in html and "募集人数" in html


def test_only_the_municipalitys_clerks_and_supervisors_open_rounds(office: Office, db: Database, sign_in) -> None:
    page = _create(office)
    round_path = page.removeprefix(f"{HTTPS}/{office.tenant.slug}")
    assert office.resident.get(page).status_code in (302, 303, 403, 404)
    with db.transaction(office.tenant.id) as session:
        admin = make_account(session, office.tenant, kind=AccountKind.STAFF, roles=["tenant_admin"])
    assert sign_in(admin).get(page).status_code == 403
    # Another municipality's clerk: not signed in here, and the round is not in their municipality.
    assert office.foreign_clerk.get(page).status_code in (302, 303, 403, 404)
    foreign = office.foreign_clerk.get(f"{HTTPS}/{office.other.slug}{round_path}")
    assert foreign.status_code == 404
    assert office.foreign_clerk.post(f"{HTTPS}/{office.other.slug}{round_path}/freeze").status_code in (400, 403, 404)
    assert re.search(r"Draft|下書き", office.clerk.get(page).get_data(as_text=True))
