"""The resident's data-use ledger (わたしのデータの利用記録): every source of a use shows up in the resident's page at
once, held entries stay hidden until their day, a resident sees only entries about themselves and their town, the
CSV says the same, and the MAC still verifies rows written before the consent and scope columns existed."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.audit import access, ledger
from madoguchi.audit.keys import canonical_json
from madoguchi.audit.models import AccessEvent
from madoguchi.audit.operations import session_keyring
from madoguchi.cli import main
from madoguchi.db import Database, utcnow
from madoguchi.identity.sessions import start_session
from madoguchi.web.i18n import format_date_local
from tests.conftest import Backend
from tests.documents.certificate_fixtures import Town, World, submit
from tests.oauth.conftest import Resident, bearer, register, tokens_for
from tests.world import RESIDENCY

#: A vendor app's name with 外字 and an IVS (葛󠄀 = 葛 + U+E0100): it must come back exactly, in the page and the CSV.
APP_NAME = "髙﨑𠮷葛󠄀くらしナビ"


def _ledger(town: Town, query: str = "", client: Any = None, locale: str = "en") -> Any:
    lang = ("&" if "?" in query else "?") + f"lang={locale}"
    return (client or town.resident).get(town.page(f"/account/data-use{query}{lang}"))


def _entries_html(html: str) -> list[str]:
    block = html.split('<ol class="cards data-use">', 1)
    return re.findall(r"<li class=\"card\">(.*?)</li>", block[1], re.S) if len(block) == 2 else []


def _events(db: Database, town: Town) -> list[AccessEvent]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(AccessEvent).order_by(AccessEvent.at)).scalars())


def _created(town: Town) -> dict[str, Any]:
    created = town.resident.post(
        town.api("/applications/"),
        json={"procedure": "residency-certificate", "data": RESIDENCY},
    )
    assert created.status_code == 201, created.json
    return created.json


def test_a_clerk_opening_an_application_shows_once_with_unit_action_and_purpose_never_the_name(
    world: World, db: Database
) -> None:
    town = world.a  # auto-issue: the prefill and the issue are already there
    with db.transaction(town.tenant.id) as session:
        session.merge(town.clerk_account).display_name = "窓口 髙﨑"
    application = submit(town)
    before = len(_entries_html(_ledger(town).get_data(as_text=True)))
    page = town.clerk.get(town.page(f"/console/applications/{application['id']}"))
    assert page.status_code == 200
    html = _ledger(town).get_data(as_text=True)
    entries = _entries_html(html)
    assert len(entries) == before + 1  # shown at once: the read was committed with the page that showed the data
    newest = entries[0]
    assert "Viewed an application" in newest and "Staff member in charge" in newest
    assert application["reference"] in newest
    code = re.search(r"S-[0-9A-F]{8}", newest)
    assert code is not None
    # The staff member is a role and a code, never a name or an address.
    assert "窓口 髙﨑" not in html and town.clerk_account.email not in html
    ja = _entries_html(_ledger(town, locale="ja").get_data(as_text=True))[0]
    assert "申請内容の閲覧" in ja and "担当職員" in ja and "（職員コード S-" in ja and "の処理のため" in ja
    # The same clerk has the same code the next time.
    town.clerk.get(town.page(f"/console/applications/{application['id']}"))
    assert code.group(0) in _entries_html(_ledger(town).get_data(as_text=True))[0]
    # The neighbour (another person of the same town) sees none of it.
    neighbour = _ledger(town, client=town.neighbour).get_data(as_text=True)
    assert application["reference"] not in neighbour and _entries_html(neighbour) == []


def test_the_prefill_entry_names_the_register_the_fields_and_the_day(world: World, db: Database) -> None:
    town = world.a
    created = _created(town)
    source = created["prefill_sources"]["/applicant/name"]
    assert source["source"] == "resident_register" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["as_of"])
    system = [e for e in _events(db, town) if e.actor_type == access.SYSTEM]
    assert len(system) == 1
    entry = system[0]
    assert (entry.action, entry.actor, str(entry.application_id)) == (
        access.PREFILL,
        "system:prefill",
        created["id"],
    )
    assert entry.subject_person_id == town.person.id and entry.purpose.startswith(
        f"resident_register@{source['as_of']}"
    )
    text = _ledger(town, "?who=system").get_data(as_text=True)
    assert f"as of {source['as_of']}" in text and "Address" in text and created["reference"] in text


def test_auto_issue_is_a_system_entry(world: World, db: Database) -> None:
    town = world.a  # sakuragaoka-city issues at once
    application = submit(town)
    assert application["state"] == "issued"
    auto = [e for e in _events(db, town) if e.action == access.AUTO_ISSUE]
    assert len(auto) == 1
    assert (auto[0].actor_type, auto[0].object_type, str(auto[0].application_id)) == (
        access.SYSTEM,
        "issued_document",
        application["id"],
    )
    assert auto[0].subject_person_id == town.person.id
    text = _ledger(town, "?who=system").get_data(as_text=True)
    assert len(_entries_html(text)) == 2  # the prefill and the issue, nothing of anyone else


def _vendor_token(app: Any, db: Database, town: Town, name: str = APP_NAME) -> tuple[Any, str]:
    client = register(db, town.tenant, name=name)
    with db.transaction(town.tenant.id) as session:
        account = session.merge(town.resident_account)
        _, cookie = start_session(session, account, second_factor_done=True)
    resident = Resident(town.resident_account.id, town.resident_account.email, cookie, town.tenant)
    return client, tokens_for(app, client, resident)["access_token"]


def test_a_vendor_read_shows_the_app_its_scope_and_the_consent(app: Any, world: World, db: Database) -> None:
    town = world.a
    created = _created(town)
    client, token = _vendor_token(app, db, town)
    http = app.test_client()
    read = http.get(town.api(f"/applications/{created['id']}"), headers=bearer(token))
    assert read.status_code == 200, read.json
    vendor = [e for e in _events(db, town) if e.actor_type == access.VENDOR_APP]
    assert len(vendor) == 1
    event = vendor[0]
    assert event.client_id == client.row.id and event.scope and "applications:read" in event.scope.split()
    with db.transaction(town.tenant.id) as session:
        from madoguchi.oauth import repository as oauth_repository

        consent = oauth_repository.find_consent(session, town.tenant.id, town.resident_account.id, client.row.id)
    assert consent is not None and event.consent_id == consent.id
    html = _ledger(town, "?who=vendor_app").get_data(as_text=True)
    entries = _entries_html(html)
    assert len(entries) == 1 and APP_NAME in entries[0]
    assert f"connected-apps#consent-{consent.id}" in entries[0]
    # The consents page has that anchor.
    assert f'id="consent-{consent.id}"' in town.resident.get(town.page("/account/connected-apps")).get_data(
        as_text=True
    )
    # The vendor's list of the resident's applications is a read of each application listed, too.
    listed = http.get(town.api("/applications/"), headers=bearer(token))
    assert listed.status_code == 200 and len(listed.json["items"]) == 1
    assert http.get(town.api(f"/applications/{created['id']}/history"), headers=bearer(token)).status_code == 200
    assert [(e.action, e.object_type) for e in _events(db, town) if e.actor_type == access.VENDOR_APP] == [
        (access.VIEW_APPLICATION, "application"),
        (access.LIST_APPLICATIONS, "application"),
        (access.VIEW_APPLICATION, "application_history"),
    ]


def test_the_csv_says_the_same_in_utf8_with_exact_names(app: Any, world: World, db: Database) -> None:
    town = world.a
    created = _created(town)
    _client, token = _vendor_token(app, db, town)
    assert app.test_client().get(town.api(f"/applications/{created['id']}"), headers=bearer(token)).status_code == 200
    response = town.resident.get(town.page("/account/data-use/csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3  # header, the vendor read, the prefill
    assert rows[1][2] == APP_NAME or rows[1][2].startswith(APP_NAME)
    assert "葛\U000e0100" in rows[1][2]  # the IVS selector survives
    assert created["reference"] in rows[1][4] and created["reference"] in rows[2][4]
    only_system = town.resident.get(town.page("/account/data-use/csv?who=system")).get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(only_system)))) == 2


def test_filters_pages_and_a_bad_month_is_told_beside_the_field(world: World, db: Database) -> None:
    town = world.a
    _created(town)
    month = utcnow().astimezone(ledger.jp.JAPAN).strftime("%Y-%m")
    assert len(_entries_html(_ledger(town, f"?month={month}").get_data(as_text=True))) == 1
    assert _entries_html(_ledger(town, "?month=2001-01").get_data(as_text=True)) == []
    full_width = month.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    assert len(_entries_html(_ledger(town, f"?month={full_width}").get_data(as_text=True))) == 1
    bad = _ledger(town, "?month=2026-13")
    assert bad.status_code == 422
    assert 'id="month-error"' in bad.get_data(as_text=True)
    assert _ledger(town, "?who=nobody").status_code == 422
    assert town.resident.get(town.page("/account/data-use/csv?month=x")).status_code == 422


def test_a_held_entry_is_invisible_until_its_day_and_nothing_hints_at_it(world: World, db: Database) -> None:
    town = world.a
    created = _created(town)
    html_before = _ledger(town).get_data(as_text=True)
    later = utcnow() + timedelta(days=30)
    with db.transaction(town.tenant.id) as session:
        access.record_read(
            session,
            town.tenant.id,
            access.Reader(access.STAFF, f"account:{town.clerk_account.id}", ("clerk",)),
            access.Subject(uuid.UUID(created["id"]), town.person.id, town.resident_account.id),
            action=access.VIEW_REGISTRY,
            channel="console",
            operation="GET /<tenant>/console/counter/people/<uuid:person_id>",
            object_type="person",
            object_id=town.person.id,
            categories=[access.BASIC4],
            purpose="investigation",
            visible_from=later,
        )
    html_now = _ledger(town).get_data(as_text=True)
    assert _entries_html(html_now) == _entries_html(html_before)
    assert "investigation" not in html_now and "1 entry" in html_now
    exported = town.resident.get(town.page("/account/data-use/csv")).get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(exported)))) == 2
    with db.transaction(town.tenant.id) as session:
        rows, total = ledger.entries(
            session,
            town.tenant.id,
            town.resident_account.id,
            town.person.id,
            now=later + timedelta(seconds=1),
            retention=7,
        )
    assert total == 2 and rows[0].purpose == "investigation"


def test_tenant_a_reads_never_reach_tenant_b(world: World, db: Database) -> None:
    application = submit(world.b)
    assert world.b.clerk.get(world.b.page(f"/console/applications/{application['id']}")).status_code == 200
    # Town A's resident: their own ledger has only their own town's entries (none of B's).
    a_html = _ledger(world.a).get_data(as_text=True)
    assert application["reference"] not in a_html and _entries_html(a_html) == []
    # B's resident's session on A's address, and A's resident on B's: not signed in there (no page of the other).
    for town, client in ((world.a, world.b.resident), (world.b, world.a.resident)):
        response = client.get(town.page("/account/data-use"))
        assert response.status_code in (302, 303, 401, 404)
        csv_response = client.get(town.page("/account/data-use/csv"))
        assert csv_response.status_code in (302, 303, 401, 404)
    with db.transaction(world.a.tenant.id) as session:
        assert session.execute(select(AccessEvent)).scalars().all() == []


def test_retention_hides_and_the_owner_purge_removes_old_entries(world: World, db: Database, backend: Backend) -> None:
    town = world.a
    _created(town)
    assert ledger.retention_years(town.tenant.profile) == 7
    assert ledger.retention_years({"data_use_ledger": {"retention_years": 10}}) == 10
    assert ledger.retention_years({"data_use_ledger": {"retention_years": 0}}) == 7
    eight_years_on = utcnow() + timedelta(days=366 * 8)
    with db.transaction(town.tenant.id) as session:
        _rows, total = ledger.entries(
            session, town.tenant.id, town.resident_account.id, town.person.id, now=eight_years_on, retention=7
        )
        assert total == 0
        _rows, kept = ledger.entries(
            session, town.tenant.id, town.resident_account.id, town.person.id, now=eight_years_on, retention=10
        )
        assert kept == 1
    # A year in a leap day still has a day seven years back.
    assert ledger.kept_since(7, ledger.datetime(2028, 2, 29, 12, tzinfo=ledger.jp.JAPAN)).year == 2021


@pytest.mark.commits  # the owner deletes on a connection of its own
def test_the_purge_runs_as_the_owner_and_is_on_the_audit_chain(
    world: World, db: Database, backend: Backend, settings: Any
) -> None:
    town = world.a
    _created(town)
    owner = Database(backend.owner_url, pool_size=1, audit_key=settings.audit_key)
    try:
        with owner.transaction(town.tenant.id) as session:
            assert ledger.purge_expired(session, town.tenant.id, retention=7, now=utcnow(), actor="test") == 0
            removed = ledger.purge_expired(
                session, town.tenant.id, retention=7, now=utcnow() + timedelta(days=366 * 8), actor="test"
            )
        assert removed == 1
    finally:
        owner.dispose()
    assert _events(db, town) == []


@pytest.mark.commits
def test_an_old_shape_row_still_verifies_and_a_changed_scope_is_found(
    app: Any, world: World, db: Database, runner: Any, backend: Backend
) -> None:
    town = world.a
    created = _created(town)
    _client, token = _vendor_token(app, db, town)
    assert app.test_client().get(town.api(f"/applications/{created['id']}"), headers=bearer(token)).status_code == 200
    with db.transaction(town.tenant.id) as session:
        keyring = session_keyring(session)
        events = list(session.execute(select(AccessEvent)).scalars())
        prefill = next(e for e in events if e.actor_type == access.SYSTEM)
        vendor = next(e for e in events if e.actor_type == access.VENDOR_APP)
        # A row of before migration 0035: its MAC was over content without the two keys; it still verifies.
        content = access._content(prefill)
        assert "consent_id" not in content and "scope" not in content
        assert prefill.mac == keyring.current.access_event_mac(canonical_json(content))
        assert access._content(vendor)["consent_id"] == str(vendor.consent_id)
    result = runner.invoke(main, ["audit", "verify", "--tenant", town.tenant.slug])
    assert result.exit_code == 0 and "2 data-use entries" in result.output, result.output
    from tests.audit.test_staff_reads import _tamper

    _tamper(
        backend,
        "update access_events set scope = 'applications:read applications:write catalog:read x' where id = :id",
        {"id": vendor.id if backend.is_postgres else vendor.id.hex},
    )
    result = runner.invoke(main, ["audit", "verify", "--tenant", town.tenant.slug])
    assert result.exit_code == 1 and f"data-use entry {vendor.id} was modified" in result.output


def test_the_decision_pages_say_which_answers_came_from_which_register_as_of_when(world: World) -> None:
    town = world.b  # a clerk decides (Japanese only)
    application = submit(town)
    day = application["prefill_sources"]["/applicant/name"]["as_of"]
    with town.resident.application.test_request_context("/?lang=ja"):
        words = format_date_local(day, "ja")
    resident_page = town.resident.get(town.page(f"/applications/{application['id']}")).get_data(as_text=True)
    assert "住民記録から転記した項目" in resident_page and f"{words}時点" in resident_page
    console_page = town.clerk.get(town.page(f"/console/applications/{application['id']}")).get_data(as_text=True)
    assert f"{words}時点" in console_page and "person.full_name" in console_page


def test_a_person_found_by_a_counter_search_sees_it_and_others_found_see_their_own(world: World, db: Database) -> None:
    town = world.a
    response = town.clerk.get(town.page("/console/counter/?search=1&name=髙橋"))
    assert response.status_code == 200 and "美咲" in response.get_data(as_text=True)
    hits = [e for e in _events(db, town) if e.action == access.COUNTER_SEARCH_HIT]
    assert hits and {e.subject_person_id for e in hits} >= {town.person.id}
    assert all(e.actor_type == access.STAFF and e.purpose == "counter filing" for e in hits)
    entries = _entries_html(_ledger(town, "?who=staff").get_data(as_text=True))
    assert len(entries) == 1 and "Found you in a search of the register at the counter" in entries[0]
    # The neighbour (also a 髙橋) was in the results too: they see their own hit, one entry, not the resident's.
    assert len({e.subject_person_id for e in hits}) == len(hits) == 2
    assert len(_entries_html(_ledger(town, "?who=staff", client=town.neighbour).get_data(as_text=True))) == 1
