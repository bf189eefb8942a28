"""``Idempotency-Key`` for every POST of an API blueprint.

The same key with the same request returns the stored response (and creates nothing more); the same key
with a different request is 422; a key whose first request is still running is 409. Keys are scoped per
tenant and per caller (vendor client, or account).

How it stays correct under concurrency: the key is *claimed* in its own short transaction before the
request runs (a unique constraint lets exactly one claimant win). The response of a successful request
is stored through the request's own session, so it commits atomically with the work it describes; a
4xx answer is stored separately (the work was rolled back, the answer stands); a 5xx releases the key so
the client can retry. A claim abandoned by a crashed process is taken over after ``STALE_CLAIM``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint, Response, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from madoguchi.api.models import IdempotencyKey
from madoguchi.context import current_tenant, database, db_session
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, ValidationFailed
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
STALE_CLAIM = timedelta(minutes=2)
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
            g.idempotency_key_id = row.id
        else:
            replay = _answer_for_known_key(row, fingerprint)
    return replay


def _answer_for_known_key(row: IdempotencyKey, fingerprint: str) -> Response | None:
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
    if utcnow() - row.claimed_at < STALE_CLAIM:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    row.claimed_at = utcnow()  # the first claimant died: take it over
    g.idempotency_key_id = row.id
    return None


def _store(response: Response) -> Response:
    key_id = g.pop("idempotency_key_id", None)
    if key_id is None:
        return response
    values = {
        "status": "completed",
        "response_status": response.status_code,
        "response_body": response.get_data(as_text=True),
        "response_headers": {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers},
    }
    if response.status_code < 400:
        # Same transaction as the work: both commit, or neither.
        db_session().execute(update(IdempotencyKey).where(IdempotencyKey.id == key_id).values(**values))
        return response
    # The work is rolled back (the app would do it after us; do it first so SQLite's single writer is free).
    # Read the tenant id first: after the rollback, touching the expired tenant would begin a new transaction.
    tenant_id = current_tenant.id
    db_session().rollback()
    with database().transaction(tenant_id) as session:
        if response.status_code >= 500:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == key_id))
        else:
            session.execute(update(IdempotencyKey).where(IdempotencyKey.id == key_id).values(**values))
    return response


def make_idempotent(blueprint: Blueprint) -> Blueprint:
    """Honour ``Idempotency-Key`` on the blueprint's POSTs. Register after ``require_authentication``."""
    blueprint.before_request(_claim)
    blueprint.after_request(_store)
    return blueprint


__all__ = ["HEADER", "IDEMPOTENCY_KEY_PARAMETER", "make_idempotent"]
