"""The satisfaction question on the resident's pages: optional, once per journey, the applicant's only, stored
apart from the application (decision 0049)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.errors import NotFound
from madoguchi.identity.actors import Actor
from madoguchi.satisfaction import operations as satisfaction
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant
from tests.factories import staff
from tests.identity.conftest import add_account, signed_in
from tests.portal.conftest import HTTPS, Town, Towns, csrf_in, url
from tests.world import RESIDENCY

#: Names a municipality's register holds in 外字 and with an IVS, and half-width katakana as some keyboards type it.
HARD_TEXT = "𠮷野さん、髙橋さん、山﨑さん、葛󠄀城さんに助けてもらいました。ｱﾘｶﾞﾄｳｺﾞｻﾞｲﾏｼﾀ"


def submitted_application(db: Database, town: Town) -> uuid.UUID:
    """A residency certificate request the town's resident has just submitted."""
    with db.transaction(town.tenant.id) as session:
        actor = Actor.of(town.resident)
        draft = operations.create_draft(session, town.tenant, actor, "residency-certificate", RESIDENCY)
        operations.submit(session, town.tenant, actor, draft.id)
        return draft.id


def decide(db: Database, tenant: Tenant, application_id: uuid.UUID) -> None:
    """A clerk reviews and approves it: the decision is recorded (``decided_at``)."""
    with db.transaction(tenant.id) as session:
        clerk = staff(session, tenant, "clerk")
        operations.transition(session, tenant, clerk, application_id, "start_review")
        operations.transition(session, tenant, clerk, application_id, "approve")


def answers(db: Database, tenant: Tenant) -> list[SatisfactionResponse]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(SatisfactionResponse)).scalars())


def submitted_page(town: Town, application_id: uuid.UUID) -> str:
    return url(town.tenant, f"/applications/{application_id}/submitted")


def post_answer(client: Any, tenant: Tenant, application_id: uuid.UUID, page: str, **fields: str) -> Any:
    token = csrf_in(client.get(page).get_data(as_text=True))
    return client.post(
        url(tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": token, **fields},
        headers={"Referer": f"{HTTPS}/"},
    )


def test_the_submitted_page_asks_the_optional_question(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    html = a.client.get(submitted_page(a, application_id)).get_data(as_text=True)
    assert 'id="satisfaction"' in html
    assert re.search(r"<fieldset[^>]*>\s*<legend>[^<]*任意", html)
    for label in ("とても満足", "満足", "どちらともいえない", "不満", "とても不満"):
        assert f">{label}</label>" in html
    assert 'name="comment"' in html
    assert "required" not in html.split('id="satisfaction"')[1].split("</form>")[0]
    assert 'value="skip"' in html


def test_a_score_and_a_comment_are_stored_apart_from_the_application(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = submitted_page(a, application_id)

    response = post_answer(a.client, a.tenant, application_id, page, journey="submitted", score="4", comment=HARD_TEXT)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/applications/{application_id}/submitted")
    [row] = answers(db, a.tenant)
    assert (row.service_key, row.journey, row.channel, row.score) == ("residency-certificate", "submitted", "online", 4)
    assert row.comment == HARD_TEXT
    assert re.fullmatch(r"[0-9a-f]{64}", row.journey_key)
    # Nothing in the row names the application or the resident.
    columns = {c.key for c in inspect(SatisfactionResponse).column_attrs}
    assert columns == {
        "id",
        "tenant_id",
        "service_key",
        "journey",
        "channel",
        "score",
        "comment",
        "answered_at",
        "journey_key",
    }
    stored = " ".join(str(getattr(row, c)) for c in columns)
    assert str(application_id) not in stored and str(a.resident.id) not in stored
    # The day it was answered, not the moment (a moment seconds after the submission would point at it).
    assert (row.answered_at.hour, row.answered_at.minute, row.answered_at.second) == (15, 0, 0)  # 00:00 JST
    thanked = a.client.get(page).get_data(as_text=True)
    assert "ご回答ありがとうございます" in thanked
    assert 'id="satisfaction-thanks"' in thanked and 'name="score"' not in thanked


def test_the_journey_key_is_keyed_by_the_platform_secret(towns: Towns, db: Database, app: Any) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    post_answer(a.client, a.tenant, application_id, submitted_page(a, application_id), journey="submitted", score="5")
    [row] = answers(db, a.tenant)
    with app.app_context():
        assert row.journey_key == satisfaction.journey_key(application_id, "submitted")
        assert row.journey_key != satisfaction.journey_key(application_id, "issued")
    assert row.journey_key != satisfaction.journey_key(application_id, "submitted", secret_key="another secret")
    import hashlib

    assert row.journey_key != hashlib.sha256(f"{application_id}\0submitted".encode()).hexdigest()


def test_a_comment_alone_is_an_answer_and_a_score_alone_too(towns: Towns, db: Database) -> None:
    a = towns.a
    first, second = submitted_application(db, a), submitted_application(db, a)
    post_answer(
        a.client, a.tenant, first, submitted_page(a, first), journey="submitted", comment="  わかりやすかった  "
    )
    post_answer(a.client, a.tenant, second, submitted_page(a, second), journey="submitted", score="1", comment="")
    rows = sorted(answers(db, a.tenant), key=lambda r: r.score or 0)
    assert [(r.score, r.comment) for r in rows] == [(None, "わかりやすかった"), (1, None)]


@pytest.mark.parametrize(
    "fields",
    [
        {"journey": "submitted", "action": "skip", "score": "5", "comment": "not sent"},
        {"journey": "submitted", "action": "send", "score": "", "comment": "   "},
    ],
    ids=["skip-button", "nothing-filled"],
)
def test_skipping_stores_nothing_and_the_question_stays(towns: Towns, db: Database, fields: dict[str, str]) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = submitted_page(a, application_id)
    response = post_answer(a.client, a.tenant, application_id, page, **fields)
    assert response.status_code == 303
    assert answers(db, a.tenant) == []
    html = a.client.get(page).get_data(as_text=True)
    assert "何も送信されていません" in html
    assert 'name="score"' in html


def test_a_comment_over_the_limit_is_refused_beside_the_field_and_nothing_is_stored(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = submitted_page(a, application_id)
    too_long = "𠮷" * (satisfaction.MAX_COMMENT_LENGTH + 1)

    response = post_answer(a.client, a.tenant, application_id, page, journey="submitted", score="3", comment=too_long)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="satisfaction-comment-error"' in html
    assert "1000文字以内" in html
    assert re.search(r'<div class="error-summary".*href="#satisfaction-comment"', html, re.S)
    assert too_long in html  # what was typed stays in the box
    assert re.search(r'id="satisfaction-score-3"[^>]*value="3" checked', html) or 'value="3" checked' in html
    assert answers(db, a.tenant) == []
    # Exactly the limit is fine.
    fits = "𠮷" * satisfaction.MAX_COMMENT_LENGTH
    assert post_answer(a.client, a.tenant, application_id, page, journey="submitted", comment=fits).status_code == 303
    assert [r.comment for r in answers(db, a.tenant)] == [fits]


def test_a_score_off_the_scale_is_refused_beside_the_field(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = submitted_page(a, application_id)
    response = post_answer(a.client, a.tenant, application_id, page, journey="submitted", score="6")
    assert response.status_code == 422
    assert 'id="satisfaction-score-error"' in response.get_data(as_text=True)
    assert answers(db, a.tenant) == []


def test_a_second_answer_to_the_same_journey_changes_nothing(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = submitted_page(a, application_id)
    post_answer(a.client, a.tenant, application_id, page, journey="submitted", score="5", comment="first")
    # The form as it was in another tab, posted again with a new token.
    again = post_answer(a.client, a.tenant, application_id, page, journey="submitted", score="1", comment="second")
    assert again.status_code == 303
    assert "既に回答" in a.client.get(page).get_data(as_text=True)
    assert [(r.score, r.comment) for r in answers(db, a.tenant)] == [(5, "first")]


def test_the_database_refuses_a_second_row_for_one_journey(towns: Towns, db: Database) -> None:
    a = towns.a
    key = "0" * 64
    with pytest.raises(IntegrityError), db.transaction(a.tenant.id) as session:
        for score in (5, 1):
            session.add(
                SatisfactionResponse(
                    tenant_id=a.tenant.id,
                    service_key="residency-certificate",
                    journey="submitted",
                    channel="online",
                    score=score,
                    journey_key=key,
                )
            )
        session.flush()
    assert answers(db, a.tenant) == []


def test_the_issued_question_is_on_the_application_page_once_decided(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    page = url(a.tenant, f"/applications/{application_id}")
    assert 'id="satisfaction"' not in a.client.get(page).get_data(as_text=True)
    # Not open yet: a forged post is not found and stores nothing.
    token = csrf_in(a.client.get(page).get_data(as_text=True))
    refused = a.client.post(
        url(a.tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": token, "journey": "issued", "score": "5"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert refused.status_code == 404

    decide(db, a.tenant, application_id)
    html = a.client.get(page).get_data(as_text=True)
    assert 'id="satisfaction"' in html and 'name="journey" value="issued"' in html
    response = post_answer(a.client, a.tenant, application_id, page, journey="issued", score="2", comment="遅かった")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/applications/{application_id}#satisfaction")
    # The submitted journey is its own question: both can be answered, once each.
    post_answer(a.client, a.tenant, application_id, submitted_page(a, application_id), journey="submitted", score="4")
    rows = sorted(answers(db, a.tenant), key=lambda r: r.journey)
    assert [(r.journey, r.score) for r in rows] == [("issued", 2), ("submitted", 4)]
    assert rows[0].journey_key != rows[1].journey_key


def test_a_comment_over_the_limit_on_the_application_page_is_shown_there(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    decide(db, a.tenant, application_id)
    page = url(a.tenant, f"/applications/{application_id}")
    too_long = "ｱ" * (satisfaction.MAX_COMMENT_LENGTH + 1)
    response = post_answer(a.client, a.tenant, application_id, page, journey="issued", comment=too_long)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="satisfaction-comment-error"' in html and a.tenant.name_ja in html
    assert answers(db, a.tenant) == []


def test_an_unknown_journey_is_not_found(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    response = post_answer(
        a.client, a.tenant, application_id, submitted_page(a, application_id), journey="started", score="5"
    )
    assert response.status_code == 404
    assert answers(db, a.tenant) == []


def test_another_residents_application_is_not_found(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    neighbour = signed_in(app, a.tenant, add_account(db, a.tenant))
    assert neighbour.get(submitted_page(a, application_id)).status_code == 404
    token = csrf_in(neighbour.get(url(a.tenant, "/applications/")).get_data(as_text=True))
    response = neighbour.post(
        url(a.tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": token, "journey": "submitted", "score": "1", "comment": "悪い"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert response.status_code == 404
    assert answers(db, a.tenant) == []


def test_an_application_of_another_municipality_is_not_found(towns: Towns, db: Database) -> None:
    a, b = towns.a, towns.b
    application_id = submitted_application(db, a)
    token = csrf_in(b.client.get(url(b.tenant, "/applications/")).get_data(as_text=True))
    response = b.client.post(
        url(b.tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": token, "journey": "submitted", "score": "1"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert response.status_code == 404
    # A's session on B's address is not signed in there.
    own_token = csrf_in(a.client.get(url(a.tenant, "/applications/")).get_data(as_text=True))
    at_b = a.client.post(
        url(b.tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": own_token, "journey": "submitted", "score": "1"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert at_b.status_code == 303 and "/login" in at_b.headers["Location"]
    assert answers(db, a.tenant) == [] and answers(db, b.tenant) == []


def test_a_post_without_the_csrf_token_is_refused(towns: Towns, db: Database) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    response = a.client.post(
        url(a.tenant, f"/applications/{application_id}/satisfaction"),
        data={"journey": "submitted", "score": "5"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert response.status_code == 400
    assert answers(db, a.tenant) == []


def test_the_question_reads_in_english_too(towns: Towns, db: Database) -> None:
    b = towns.b  # sakuragaoka-city offers English
    application_id = submitted_application(db, b)
    html = b.client.get(submitted_page(b, application_id) + "?lang=en").get_data(as_text=True)
    assert "Tell us how it went" in html and ">Very dissatisfied</label>" in html


def test_two_answers_at_the_same_moment_keep_the_first(
    towns: Towns, db: Database, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tabs posting at once both pass the "answered already?" check; the unique key refuses the second."""
    a = towns.a
    application_id = submitted_application(db, a)
    monkeypatch.setattr(satisfaction.repository, "exists", lambda *_args: False)
    with app.app_context(), db.transaction(a.tenant.id) as session:
        found = session.get(Application, application_id)
        assert found is not None
        actor = Actor.of(a.resident)
        satisfaction.answer(session, actor, found, "submitted", score=5, comment="first")
        with pytest.raises(satisfaction.AlreadyAnswered):
            satisfaction.answer(session, actor, found, "submitted", score=1, comment="second")
    assert [(r.score, r.comment) for r in answers(db, a.tenant)] == [(5, "first")]


def test_only_the_applicant_may_answer_even_through_the_operation(towns: Towns, db: Database, app: Any) -> None:
    a = towns.a
    application_id = submitted_application(db, a)
    with app.app_context(), db.transaction(a.tenant.id) as session:
        found = session.get(Application, application_id)
        assert found is not None
        clerk = staff(session, a.tenant, "clerk")
        with pytest.raises(NotFound):
            satisfaction.answer(session, clerk, found, "submitted", score=5, comment=None)
    assert answers(db, a.tenant) == []
