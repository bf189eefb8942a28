"""``Idempotency-Key`` for every POST of an API blueprint.

The same key with the same request returns the stored response (and creates nothing more); the same key
with a different request is 422; a key whose first request is still running is 409. Keys are scoped per
tenant and per caller (vendor client, or account).

How it stays correct under concurrency: the key is *claimed* in its own short transaction before the
request runs (a unique constraint lets exactly one claimant win). The response of a successful request
is stored through the request's own session, so it commits atomically with the work it describes; a
4xx answer is stored separately (the work was rolled back, the answer stands).

A request that ends without committing for any other reason (a 5xx, an exception, a commit that failed
because the database went away) releases its claim at teardown, in a fresh connection, so the client's
retry runs at once. If the database cannot be reached for that either, the release is retried in the
background until it succeeds; only a claim whose process died outright waits out the stale window
(``Settings.idempotency_stale_seconds``), after which a retry takes it over.

Secrets are never stored: a view whose response carries one declares it with ``@withheld_on_replay``;
the stored copy lacks those fields, so a replay answers without them (decision 0004).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from madoguchi.context import current_tenant, database, db_session, request_committed
from madoguchi.db import Database, utcnow
from madoguchi.errors import (
    DATABASE_UNAVAILABLE_DETAIL,
    Conflict,
    ValidationFailed,
    first_line,
    is_database_unavailable,
    service_unavailable_response,
)
from madoguchi.idempotency_keys import IdempotencyKey
from madoguchi.identity.principal import current_principal

HEADER = "Idempotency-Key"
#: OpenAPI description of the header, for ``@blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])`` on each POST.
IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Any unique string. A retry with the same key and body returns the first response "
    "(header Idempotent-Replayed: true); another body is 422; a request still running is 409.",
}
MAX_KEY_LENGTH = 255
log = logging.getLogger(__name__)
#: Response headers worth replaying.
_KEPT_HEADERS = ("Content-Type", "ETag", "Location")


def _caller() -> str:
    principal = current_principal()
    if principal.client_id is not None:
        return f"client:{principal.client_id}"
    return f"account:{principal.account.id if principal.account else 'anonymous'}"


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), *_body_parts()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _body_parts() -> list[bytes]:
    """What the body says. A multipart upload is sent with a fresh random boundary on every try (HTTP client
    libraries generate one per request), so its raw bytes differ between a request and its retry: hash the
    fields, and each file's name, type and content, instead."""
    if request.mimetype != "multipart/form-data":
        return [request.get_data(cache=True)]
    parts = [f"field:{name}={value}".encode() for name, value in sorted(request.form.items(multi=True))]
    for name, upload in sorted(request.files.items(multi=True), key=lambda item: (item[0], item[1].filename or "")):
        content = hashlib.sha256()
        for chunk in iter(lambda: upload.stream.read(65536), b""):  # noqa: B023 - consumed within the iteration
            content.update(chunk)
        upload.stream.seek(0)
        parts.append(f"file:{name}={upload.filename}|{upload.mimetype}|{content.hexdigest()}".encode())
    return parts


@dataclass(frozen=True)
class _Claim:
    """This request's hold on a key: released (deleted) unless the request committed or stored a 4xx."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    claimed_at: datetime


def _stale_after() -> timedelta:
    return timedelta(seconds=current_app.config["MADOGUCHI"].idempotency_stale_seconds)


def withheld_on_replay(*fields: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a POST view whose response carries a secret in ``fields`` (top-level JSON members).

    The stored response lacks them, so a retry with the same key gets the first answer without the secret,
    which was shown once (decision 0004: secrets are never stored in readable form).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.idempotency_withheld = fields
            return view(*args, **kwargs)

        # A marker on the view function, read back by the OpenAPI walk in tests/api/test_idempotency_secrets.py.
        wrapper.idempotency_withheld = fields  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _storable_body(response: Response) -> str:
    body = response.get_data(as_text=True)
    withheld = g.get("idempotency_withheld")
    if not withheld or response.status_code >= 400:
        return body
    document = json.loads(body)
    for name in withheld:
        document.pop(name, None)
    return json.dumps(document, ensure_ascii=False)


def _claim() -> Response | None:
    if request.method != "POST":
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(errors={HEADER: [f"must be 1 to {MAX_KEY_LENGTH} characters"]})
    tenant_id, caller, fingerprint = current_tenant.id, _caller(), _request_hash()
    replay = None
    # End the request's transaction (it has only read, to authenticate) so that the claim below, in its own
    # transaction, does not wait for a lock this very request holds (SQLite takes it up front for writes).
    db_session().commit()
    with database().transaction(tenant_id) as session:
        row = session.execute(
            select(IdempotencyKey).where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
        ).scalar_one_or_none()
        if row is None:
            row = IdempotencyKey(caller=caller, key=key, request_hash=fingerprint, status="in_flight")
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                # Someone claimed it between our read and our insert: they are in flight.
                raise Conflict("A request with this Idempotency-Key is still being processed.") from None
            g.idempotency_claim = _Claim(row.id, tenant_id, row.claimed_at)
        else:
            replay = _answer_for_known_key(row, fingerprint, tenant_id)
    return replay


def _answer_for_known_key(row: IdempotencyKey, fingerprint: str, tenant_id: uuid.UUID) -> Response | None:
    """The stored response, or an error; None when an abandoned claim is taken over."""
    if row.request_hash != fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was used with a different request.",
            errors={HEADER: ["was already used with a different request"]},
        )
    if row.status == "completed":
        response = Response(row.response_body, status=row.response_status)
        for name, value in (row.response_headers or {}).items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if utcnow() - row.claimed_at < _stale_after():
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    row.claimed_at = utcnow()  # the first claimant died: take it over
    g.idempotency_claim = _Claim(row.id, tenant_id, row.claimed_at)
    return None


def _store(response: Response) -> Response:
    claim: _Claim | None = g.get("idempotency_claim")
    if claim is None or response.status_code >= 500:
        return response  # a 5xx: nothing is stored and teardown releases the claim
    values = {
        "status": "completed",
        "response_status": response.status_code,
        "response_body": _storable_body(response),
        "response_headers": {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers},
    }
    try:
        if response.status_code < 400:
            # Same transaction as the work: both commit, or neither (a failed commit releases the claim).
            db_session().execute(update(IdempotencyKey).where(IdempotencyKey.id == claim.key_id).values(**values))
            return response
        # The work is rolled back (the app would do it after us; do it first so SQLite's single writer is
        # free), and the refusal is stored on its own: the answer stands for the retries.
        db_session().rollback()
        with database().transaction(claim.tenant_id) as session:
            session.execute(update(IdempotencyKey).where(IdempotencyKey.id == claim.key_id).values(**values))
        g.pop("idempotency_claim")
    except Exception as error:
        if not is_database_unavailable(error):
            raise
        # The claim stays in g: teardown releases it, and the caller gets 503 instead of the lost answer.
        log.warning("could not store the response of an Idempotency-Key: %s", first_line(error))
        return service_unavailable_response(DATABASE_UNAVAILABLE_DETAIL)
    return response


def _release_unless_committed(_exc: BaseException | None) -> None:
    claim: _Claim | None = g.pop("idempotency_claim", None)
    if claim is None or request_committed():
        return
    db = database()
    if not _release(db, claim):
        _background_releases.add(db, claim, deadline=time.monotonic() + _stale_after().total_seconds())


def _release(db: Database, claim: _Claim) -> bool:
    """Delete the claim if it is still ours and in flight; False when the database cannot be reached (try later)."""
    try:
        with db.transaction(claim.tenant_id) as session:
            session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.id == claim.key_id,
                    IdempotencyKey.status == "in_flight",
                    IdempotencyKey.claimed_at == claim.claimed_at,  # not a newer claimant's, after a takeover
                )
            )
    except Exception as error:
        if is_database_unavailable(error):
            return False
        # Not a blip: retrying would not help. The claim waits out the stale window.
        log.exception("could not release an Idempotency-Key claim")
    return True


class _BackgroundReleases:
    """Claims whose release met a lost database, retried from one thread per process until it is back."""

    RETRY_SECONDS = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Database, _Claim, float]] = []
        self._thread: threading.Thread | None = None

    def add(self, db: Database, claim: _Claim, *, deadline: float) -> None:
        with self._lock:
            self._pending.append((db, claim, deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="idempotency-release", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.RETRY_SECONDS)
            with self._lock:
                pending, self._pending = self._pending, []
            still = [
                (db, claim, deadline)
                for db, claim, deadline in pending
                if time.monotonic() < deadline and not _release(db, claim)
            ]
            with self._lock:
                self._pending.extend(still)
                if not self._pending:
                    self._thread = None
                    return

    def wait_idle(self, seconds: float) -> bool:
        """Whether every pending release is done within ``seconds`` (tests)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending and self._thread is None:
                    return True
            time.sleep(0.05)
        return False


_background_releases = _BackgroundReleases()


def make_idempotent(blueprint: Blueprint) -> Blueprint:
    """Honour ``Idempotency-Key`` on the blueprint's POSTs. Register after ``require_authentication``."""
    blueprint.before_request(_claim)
    blueprint.after_request(_store)
    blueprint.teardown_request(_release_unless_committed)
    return blueprint


__all__ = ["HEADER", "IDEMPOTENCY_KEY_PARAMETER", "make_idempotent", "withheld_on_replay"]
