"""Answering the satisfaction question: which journeys are open to a resident, and storing one answer per journey.

The answer is stored apart from the application (decision 0049): the row carries the procedure, the journey, the
channel the application came by, the score and the text, and a keyed hash of (application, journey) that lets the
database refuse a second answer to the same journey. It carries no account id, no application id and no audit
record (an audit record names its actor, which would tie the text to the resident). ``answered_at`` is the start of
the day in Japan the answer was given, not the moment: a moment seconds after the submission would point at the
application as surely as its id.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
import uuid
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.satisfaction import repository
from madoguchi.satisfaction.models import Journey, SatisfactionResponse

if TYPE_CHECKING:
    from madoguchi.applications.models import Application
    from madoguchi.config import Settings
    from madoguchi.identity.actors import Actor

#: The scale, 1 (very dissatisfied) to 5 (very satisfied).
SCORES = (5, 4, 3, 2, 1)
#: Scores counted as satisfied in the KPIs (満足, とても満足).
SATISFIED_SCORES = frozenset({4, 5})
#: The longest comment, in characters as the resident typed them.
MAX_COMMENT_LENGTH = 1000
#: The state of a withdrawn application: the resident stopped the journey, nothing was issued or decided for them.
WITHDRAWN = "withdrawn"

_JOURNEY_KEY_LABEL = b"madoguchi satisfaction journey key v1"


class AlreadyAnswered(Conflict):
    """This journey was answered before: the first answer stands."""


def journey_key(application_id: uuid.UUID, journey: str, *, secret_key: str | None = None) -> str:
    """The keyed hash (HMAC-SHA256, key derived from the platform secret) that stands for one application's journey.

    Keyed, not a plain hash: staff know application ids (they are in every console URL), and with a plain hash they
    could recompute it and find the answer of an application they have open."""
    secret = secret_key if secret_key is not None else _settings().secret_key
    if not secret:
        raise RuntimeError("the platform's secret_key is not set: satisfaction answers cannot be keyed")
    key = hmac.new(secret.encode(), _JOURNEY_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{application_id}\0{journey}".encode(), hashlib.sha256).hexdigest()


def _settings() -> Settings:
    settings: Settings = current_app.config["MADOGUCHI"]
    return settings


def open_journeys(application: Application) -> list[str]:
    """The journeys of this application the resident may tell us about: ``submitted`` once it was sent, ``issued``
    once a decision was recorded (issued, approved or refused; not a withdrawal, which decides nothing)."""
    journeys = []
    if application.submitted_at is not None:
        journeys.append(Journey.SUBMITTED.value)
    if application.decided_at is not None and application.state != WITHDRAWN:
        journeys.append(Journey.ISSUED.value)
    return journeys


def has_answered(session: Session, application: Application, journey: str) -> bool:
    return repository.exists(session, application.tenant_id, journey_key(application.id, journey))


def clean_comment(text: str | None) -> str | None:
    """The comment as stored: line breaks as ``\\n``, control characters (which no keyboard types) dropped, outer
    blanks trimmed; ``None`` when nothing is left. Characters are kept as typed: 外字, IVS and half-width kana too."""
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return kept.strip() or None


def check_answer(score: str | int | None, comment: str | None) -> tuple[int | None, str | None]:
    """The score and comment as stored, or ``ValidationFailed`` with an error per field (``score``, ``comment``)."""
    errors: dict[str, list[str]] = {}
    value: int | None = None
    if score not in (None, ""):
        try:
            value = int(score)
        except (TypeError, ValueError):
            value = None
        if value not in SCORES:
            errors["score"] = ["must be one of 1, 2, 3, 4, 5"]
    cleaned = clean_comment(comment)
    if cleaned is not None and len(cleaned) > MAX_COMMENT_LENGTH:
        errors["comment"] = [f"is longer than {MAX_COMMENT_LENGTH} characters"]
    if errors:
        raise ValidationFailed("The answer could not be saved.", errors=errors)
    return value, cleaned


def answer(
    session: Session,
    actor: Actor,
    application: Application,
    journey: str,
    *,
    score: str | int | None,
    comment: str | None,
) -> SatisfactionResponse | None:
    """Store the applicant's answer to one journey of their application; ``None`` when there is nothing to store
    (no score and no text: the resident skipped). ``AlreadyAnswered`` when the journey has an answer (the first
    stands), ``NotFound`` for anyone but the applicant or a journey that is not open, ``ValidationFailed`` for a
    score off the scale or a comment over ``MAX_COMMENT_LENGTH``."""
    if actor.account_id is None or actor.account_id != application.applicant_account_id:
        raise NotFound("No such application.")
    if journey not in open_journeys(application):
        raise NotFound("This question is not asked for this application.")
    value, cleaned = check_answer(score, comment)
    key = journey_key(application.id, journey)
    if repository.exists(session, application.tenant_id, key):
        raise AlreadyAnswered("This journey has been answered already.")
    if value is None and cleaned is None:
        return None
    response = SatisfactionResponse(
        tenant_id=application.tenant_id,
        service_key=application.service_key,
        journey=journey,
        channel=application.channel,
        score=value,
        comment=cleaned,
        answered_at=_day_started(jp.now()),
        journey_key=key,
    )
    try:
        with session.begin_nested():
            repository.add(session, response)
    except IntegrityError as error:  # the same journey answered at the same time in another tab
        raise AlreadyAnswered("This journey has been answered already.") from error
    return response


def _day_started(moment: datetime) -> datetime:
    """The start of ``moment``'s day in Japan: the month it counts in is the same, the moment is gone."""
    local = moment.astimezone(jp.JAPAN)
    return datetime.combine(local.date(), time(0), tzinfo=jp.JAPAN).astimezone(UTC)
