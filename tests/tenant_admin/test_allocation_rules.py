"""Childcare allocation rule sets: versions per fiscal year (draft → published → retired), immutable once published,
edited by the tenant admin with problems beside their field or line, audited, and out of reach of another town."""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.childcare import rule_sets
from madoguchi.childcare import rules as rulebook
from madoguchi.childcare.rule_set_models import AllocationRuleSet, PublishedRuleSetChanged
from madoguchi.db import Database
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.tenancy.models import Tenant
from tests.tenant_admin.conftest import Person, Towns, admin_url, field_error, post

YEAR = 2027


def actor_of(person: Person | None = None) -> Actor:
    account = person.account_id if person else uuid.uuid4()
    return Actor(kind="staff", account_id=account, label=f"account:{account}")


def versions(db: Database, tenant: Tenant) -> list[tuple[int, int, str, str]]:
    with db.transaction(tenant.id) as session:
        return [(v.fiscal_year, v.version, v.status, v.body_sha256) for v in rule_sets.listed(session, tenant.id)]


def make(db: Database, tenant: Tenant, *, publish: bool = False, edit: Any = None, year: int = YEAR) -> uuid.UUID:
    """A draft of ``tenant`` for ``year`` from the default, edited by ``edit(body)`` and published if asked."""
    with db.transaction(tenant.id) as session:
        draft = rule_sets.create_draft(session, tenant.id, year, source="default", actor=actor_of())
        if edit is not None:
            body = copy.deepcopy(draft.body)
            edit(body)
            rule_sets.save_draft(session, tenant.id, draft.id, body, actor=actor_of())
        if publish:
            rule_sets.publish(session, tenant.id, draft.id, actor=actor_of())
        return draft.id


def actions(db: Database, tenant: Tenant) -> list[str]:
    with db.transaction(tenant.id) as session:
        stmt = select(AuditRecord.action).where(
            AuditRecord.tenant_id == tenant.id, AuditRecord.object_type == "allocation_rule_set"
        )
        return sorted(session.execute(stmt).scalars())


# --- Operations ---------------------------------------------------------------------------------------------------


def test_a_year_without_a_published_version_uses_the_standard_rules(db: Database, towns: Towns) -> None:
    make(db, towns.a, edit=lambda body: body.update(min_monthly_work_hours=48))
    with db.transaction(towns.a.id) as session:
        assert rule_sets.rules_for(session, towns.a.id, YEAR) == rulebook.default_rules()
        assert rule_sets.published_for(session, towns.a.id, YEAR) is None


def test_publishing_puts_a_version_in_force_and_retires_the_one_before(db: Database, towns: Towns) -> None:
    make(db, towns.a, publish=True)
    second = make(db, towns.a, edit=lambda body: body.update(min_monthly_work_hours=48))
    with db.transaction(towns.a.id) as session:
        rule_sets.publish(session, towns.a.id, second, actor=actor_of())
    assert [(year, version, status) for year, version, status, _ in versions(db, towns.a)] == [
        (YEAR, 2, "published"),
        (YEAR, 1, "retired"),
    ]
    with db.transaction(towns.a.id) as session:
        assert rule_sets.rules_for(session, towns.a.id, YEAR)["min_monthly_work_hours"] == 48
        assert rule_sets.rules_for(session, towns.a.id, YEAR + 1)["min_monthly_work_hours"] == 64
        assert rule_sets.rules_for(session, towns.b.id, YEAR)["min_monthly_work_hours"] == 64
    assert actions(db, towns.a) == [
        "allocation_rule_set.draft_created",
        "allocation_rule_set.draft_created",
        "allocation_rule_set.draft_saved",
        "allocation_rule_set.published",
        "allocation_rule_set.published",
    ]
    assert versions(db, towns.b) == []


def test_a_published_version_never_changes(db: Database, towns: Towns) -> None:
    published = make(db, towns.a, publish=True)
    with db.transaction(towns.a.id) as session, pytest.raises(Conflict):
        rule_sets.save_draft(session, towns.a.id, published, rulebook.default_rules(), actor=actor_of())
    # Past the operations too: the model refuses a changed body, a status back to draft, and a delete.
    for change in (
        lambda row: setattr(row, "body", {**row.body, "max_preferences": 3}),
        lambda row: setattr(row, "body_sha256", "0" * 64),
        lambda row: setattr(row, "status", "draft"),
        lambda row: setattr(row, "fiscal_year", YEAR + 1),
    ):
        with pytest.raises(PublishedRuleSetChanged), db.transaction(towns.a.id) as session:
            change(session.get(AllocationRuleSet, published))
            session.flush()
    with pytest.raises(PublishedRuleSetChanged), db.transaction(towns.a.id) as session:
        session.delete(session.get(AllocationRuleSet, published))
        session.flush()
    with db.transaction(towns.a.id) as session:
        rule_sets.retire(session, towns.a.id, published, actor=actor_of())
    with pytest.raises(PublishedRuleSetChanged), db.transaction(towns.a.id) as session:
        session.get(AllocationRuleSet, published).status = "published"
        session.flush()
    assert [status for _, _, status, _ in versions(db, towns.a)] == ["retired"]


def test_a_draft_from_the_latest_published_copies_its_body(db: Database, towns: Towns) -> None:
    with db.transaction(towns.a.id) as session, pytest.raises(ValidationFailed) as refused:
        rule_sets.create_draft(session, towns.a.id, YEAR, source="published", actor=actor_of())
    assert refused.value.extra["rule"] == "nothing_published"
    make(db, towns.a, publish=True, edit=lambda body: body.update(max_preferences=5))
    with db.transaction(towns.a.id) as session:
        next_year = rule_sets.create_draft(session, towns.a.id, YEAR + 1, source="published", actor=actor_of())
        assert (next_year.version, next_year.body["max_preferences"]) == (1, 5)
        with pytest.raises(Conflict):  # one draft per year at a time
            rule_sets.create_draft(session, towns.a.id, YEAR + 1, source="default", actor=actor_of())


def test_an_invalid_body_is_refused_with_every_problem_and_nothing_changes(db: Database, towns: Towns) -> None:
    draft = make(db, towns.a)
    before = versions(db, towns.a)
    body = rulebook.default_rules()
    body["tie_breakers"] = ["LOTTERY_ASC", "BASE_TOTAL_DESC"]
    body["base_points"][1]["code"] = "EMP160"
    with db.transaction(towns.a.id) as session, pytest.raises(ValidationFailed) as refused:
        rule_sets.save_draft(session, towns.a.id, draft, body, actor=actor_of())
    assert set(refused.value.errors) == {"/base_points/1/code", "/tie_breakers/0"}
    assert versions(db, towns.a) == before


def test_another_tenants_rule_set_is_not_found(db: Database, towns: Towns) -> None:
    theirs = make(db, towns.b)
    with db.transaction(towns.a.id) as session:
        for operation in (rule_sets.get, rule_sets.publish, rule_sets.retire):
            with pytest.raises(NotFound):
                operation(session, towns.a.id, theirs, **({} if operation is rule_sets.get else {"actor": actor_of()}))
    assert [status for _, _, status, _ in versions(db, towns.b)] == ["draft"]


def test_the_difference_names_rows_by_code_and_a_new_order(db: Database, towns: Towns) -> None:
    old = rulebook.default_rules()
    new = copy.deepcopy(old)
    new["base_points"][0]["points"] = 11
    new["base_points"][1], new["base_points"][2] = new["base_points"][2], new["base_points"][1]
    new["adjustments"] = [e for e in new["adjustments"] if e["code"] != "GRANDPARENT"]
    new["tie_breakers"] = ["INCOME_LEVY_ASC", "LOTTERY_ASC"]
    new["reason_rank"]["other"] = 9
    found = [(c.area, c.kind, c.path) for c in rule_sets.diff(old, new)]
    assert found == [
        ("base_points", "changed", "base_points.EMP160.points"),
        ("base_points", "changed", "base_points (order)"),
        ("reason_rank", "changed", "reason_rank.other"),
        ("adjustments", "removed", "adjustments.GRANDPARENT"),
        ("tie_breakers", "changed", "tie_breakers"),
    ]
    assert rule_sets.diff(old, copy.deepcopy(old)) == []


# --- Pages --------------------------------------------------------------------------------------------------------


def page(tenant: Tenant, path: str = "") -> str:
    return admin_url(tenant, f"/allocation-rules{path}")


def test_the_admin_starts_a_draft_edits_the_common_fields_and_publishes(
    admin_a: Person, db: Database, towns: Towns
) -> None:
    response = post(admin_a, page(towns.a), {"fiscal_year": "２０２７", "source": "default"})
    assert response.status_code == 303
    [(year, version, status, _)] = versions(db, towns.a)
    assert (year, version, status) == (YEAR, 1, "draft")
    edit_url = response.headers["Location"]
    html = admin_a.http.get(edit_url).get_data(as_text=True)
    assert "就労（月160時間以上）" in html and "市区町村民税所得割額の低い順" in html
    form = form_of(html)
    form.update({"/household_rule": "sum", "/sibling_key": "average", "/min_monthly_work_hours": "48"})
    form["/base_points/0/points"] = "12"
    form["tie:INCOME_LEVY_ASC"] = "1"
    form["tie:NEW_BEFORE_TRANSFER"] = ""
    for code, position in (("BASE_TOTAL_DESC", 2), ("SINGLE_PARENT_FIRST", 3), ("REASON_RANK_ASC", 4),
                           ("CHILDREN_DESC", 5), ("LOTTERY_ASC", 9)):  # fmt: skip
        form[f"tie:{code}"] = str(position)
    response = post(admin_a, edit_url + "/fields", form, form_url=edit_url)
    assert response.status_code == 303, field_errors(response)
    with db.transaction(towns.a.id) as session:
        [draft] = rule_sets.listed(session, towns.a.id)
        body = draft.body
        assert (body["min_monthly_work_hours"], body["sibling_key"], body["base_points"][0]["points"]) == (
            48,
            "average",
            12,
        )
        assert body["tie_breakers"] == ["INCOME_LEVY_ASC", "BASE_TOTAL_DESC", "SINGLE_PARENT_FIRST",
                                        "REASON_RANK_ASC", "CHILDREN_DESC", "LOTTERY_ASC"]  # fmt: skip
        assert body["rank_tiebreak"] is False
        rule_set_id = draft.id
    response = post(admin_a, edit_url + "/publish", {}, form_url=edit_url)
    assert response.status_code == 303
    assert [status for _, _, status, _ in versions(db, towns.a)] == ["published"]
    assert "allocation_rule_set.published" in actions(db, towns.a)
    shown = admin_a.http.get(edit_url).get_data(as_text=True)
    assert 'data-status="published"' in shown and "/fields" not in shown
    with db.transaction(towns.a.id) as session:
        assert rule_sets.rules_for(session, towns.a.id, YEAR)["base_points"][0]["points"] == 12
    # Posting to the published version's forms is refused and changes nothing.
    before = versions(db, towns.a)
    for path, data in (("/fields", form), ("/text", {"body": json.dumps(rulebook.default_rules())}), ("/publish", {})):
        assert post(admin_a, edit_url + path, data, form_url=page(towns.a)).status_code == 409, path
    assert versions(db, towns.a) == before
    assert page(towns.a, f"/{rule_set_id}").endswith(edit_url)


def form_of(html: str) -> dict[str, str]:
    """The common-fields form as the page fills it (the unticked rank_tiebreak box is not sent)."""
    found = dict(re.findall(r'name="(/[^"]+|tie:[A-Z_]+)"[^>]*?value="([^"]*)"', html))
    found.pop("/rank_tiebreak", None)
    return found


def field_errors(response: Any) -> list[str]:
    return re.findall(r'<p class="error" id="([^"]+)-error">', response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("field", "value", "field_id", "message"),
    [
        ("/min_monthly_work_hours", "たくさん", "f-min_monthly_work_hours", "整数で入力してください。"),
        ("/max_preferences", "31", "f-max_preferences", "31 is greater than the maximum of 30"),
        ("/base_points/2/points", "2.5", "f-base_points-2-points", "整数で入力してください。"),
        ("/base_points/1/min_monthly_hours", "100", "f-base_points-2", ""),
        ("tie:LOTTERY_ASC", "1", "f-tie_breakers", "LOTTERY_ASC must be last"),
        ("tie:BASE_TOTAL_DESC", "x", "f-tie_breakers", "1、2、3"),
        ("/household_rule", "average", "f-household_rule", "'average' is not one of"),
    ],
)
def test_a_bad_common_field_is_refused_beside_it_and_nothing_changes(
    admin_a: Person, db: Database, towns: Towns, field: str, value: str, field_id: str, message: str
) -> None:
    draft = make(db, towns.a)
    before = versions(db, towns.a)
    edit_url = page(towns.a, f"/{draft}")
    html = admin_a.http.get(edit_url).get_data(as_text=True)
    form = form_of(html)
    form.update({"/household_rule": "sum", "/sibling_key": "min", field: value})
    response = post(admin_a, edit_url + "/fields", form, form_url=edit_url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    if field == "/base_points/1/min_monthly_hours":
        # EMP140 lowered below EMP120: EMP120 can never match, said in the summary with its pointer.
        assert "/base_points/2: never matches" in html
    else:
        assert message in unescape(field_error(html, field_id) or ""), field_errors(response)
    assert versions(db, towns.a) == before


def test_the_json_text_is_saved_or_refused_with_line_and_pointer(admin_a: Person, db: Database, towns: Towns) -> None:
    draft = make(db, towns.a)
    edit_url = page(towns.a, f"/{draft}")
    body = rulebook.default_rules()
    body["rank_tiebreak"] = True
    response = post(admin_a, edit_url + "/text", {"body": json.dumps(body, ensure_ascii=False)}, form_url=edit_url)
    assert response.status_code == 303
    shown = admin_a.http.get(edit_url).get_data(as_text=True)
    assert "data-warning" in shown and "多摩市" in shown  # rank_tiebreak is warned
    before = versions(db, towns.a)
    text = rulebook.pretty(body).replace('"max_preferences": 10', '"max_preferences": "ten"')
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"max_preferences"' in row)
    response = post(admin_a, edit_url + "/text", {"body": text}, form_url=edit_url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f"{line}行目、/max_preferences: 'ten' is not of type 'integer'" in unescape(field_error(html, "body") or "")
    assert "&#34;ten&#34;" in html or '"ten"' in html  # the text typed is kept in the textarea
    response = post(admin_a, edit_url + "/text", {"body": '{"household_rule": '}, form_url=edit_url)
    assert response.status_code == 422
    assert "1行目" in (field_error(response.get_data(as_text=True), "body") or "")
    assert versions(db, towns.a) == before


def test_the_difference_between_two_versions_is_listed(admin_a: Person, db: Database, towns: Towns) -> None:
    first = make(db, towns.a, publish=True)
    second = make(db, towns.a, edit=lambda body: body["base_points"][0].update(points=11))
    response = admin_a.http.get(page(towns.a, f"/{second}/diff?against={first}"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-change="changed base_points.EMP160.points"' in html
    assert admin_a.http.get(page(towns.a, f"/{second}/diff?against=nonsense")).status_code == 404


def test_another_towns_admin_gets_404_on_every_page_and_changes_nothing(
    admin_a: Person, db: Database, towns: Towns
) -> None:
    draft = make(db, towns.b)
    published = make(db, towns.b, publish=True, year=YEAR + 1)
    ours = make(db, towns.a)
    before = versions(db, towns.b)
    # Town B's rule sets through town A's pages: not found, whatever the path.
    for path in (f"/{draft}", f"/{published}", f"/{draft}/diff?against={published}", f"/{ours}/diff?against={draft}"):
        assert admin_a.http.get(page(towns.a, path)).status_code == 404, path
    own_page = page(towns.a, f"/{ours}")
    for path, data in (
        (f"/{draft}/fields", {"/max_preferences": "3"}),
        (f"/{draft}/text", {"body": json.dumps(rulebook.default_rules())}),
        (f"/{draft}/publish", {}),
        (f"/{published}/retire", {}),
    ):
        assert post(admin_a, page(towns.a, path), data, form_url=own_page).status_code == 404, path
    # And town B's own pages with town A's session: sent to town B's login, as every admin page does.
    for path in ("", f"/{draft}", f"/{published}/diff?against={draft}"):
        response = admin_a.http.get(page(towns.b, path))
        assert response.status_code == 303 and f"/{towns.b.slug}/login" in response.headers["Location"], path
    assert versions(db, towns.b) == before


@pytest.mark.commits  # threads, each with its own connection
def test_publishing_one_draft_twice_at_once_publishes_it_once(db: Database, backend: Any, towns: Towns) -> None:
    if not backend.is_postgres:
        pytest.skip("row locks: SQLite serialises writers by refusing the second (database is locked)")
    draft = make(db, towns.a)
    # Both requests have loaded the draft (as the page does) before either publishes: only the row lock decides.
    both_loaded = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def publish() -> None:
        try:
            with db.transaction(towns.a.id) as session:
                assert session.get(AllocationRuleSet, draft).status == "draft"
                both_loaded.wait()
                rule_sets.publish(session, towns.a.id, draft, actor=actor_of())
            outcomes.append("published")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "published"]
    assert [status for _, _, status, _ in versions(db, towns.a)] == ["published"]
    assert actions(db, towns.a).count("allocation_rule_set.published") == 1
