"""``Idempotency-Key`` for every POST of an API blueprint.

The same key with the same request returns the stored response (and creates nothing more); the same key
with a different request is 422; a key whose first request is still running is 409. Keys are scoped per
tenant and per caller (vendor client, or account).

How it stays correct under concurrency (decision 0025): the key is *claimed* inside the request's own
transaction, by one statement (``idempotency_keys.insert_unless_taken``): a second request with the key while the
first still runs answers 409 at once, and a request that ends without committing (a 5xx, an exception, a lost
database) takes its claim with it, so the client's retry runs at once. The response of a successful request is
stored in the same transaction, so it commits atomically with the work it describes; a 4xx answer is stored
separately (the work was rolled back, the answer stands).

Secrets are never stored: a view whose response carries one declares it with ``@withheld_on_replay``;
the stored copy lacks those fields, so a replay answers without them (decision 0004).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from madoguchi import idempotency_keys as keys
from madoguchi.context import current_tenant, database, db_session
from madoguchi.db import utcnow
from madoguchi.errors import (
    DATABASE_UNAVAILABLE_DETAIL,
    Conflict,
    ValidationFailed,
    first_line,
    is_database_unavailable,
    service_unavailable_response,
)
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
    """This request's hold on a key, in its transaction: the row to complete, or to insert again for a 4xx."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    caller: str
    key: str
    request_hash: str
    #: False when an abandoned in-flight row of an earlier version was taken over (it exists outside this request).
    inserted: bool = True


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
    session = db_session()
    key_id = keys.insert_unless_taken(session, tenant_id, caller, key, request_hash=fingerprint, status="in_flight")
    if key_id is not None:
        g.idempotency_claim = _Claim(key_id, tenant_id, caller, key, fingerprint)
        return None
    row = keys.find(session, caller, key)
    if row is None:
        # Not committed, and another transaction holds the key: its request is still running.
        raise Conflict(_IN_FLIGHT)
    return _answer_for_known_key(row, fingerprint, tenant_id)


_IN_FLIGHT = "A request with this Idempotency-Key is still being processed."


def _answer_for_known_key(row: keys.IdempotencyKey, fingerprint: str, tenant_id: uuid.UUID) -> Response | None:
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
    # A committed in-flight row: an earlier version's claim (decision 0004). Its request may still run for the
    # stale window; after it, the claimant died and this request takes the key over.
    session = db_session()
    if utcnow() - row.claimed_at < _stale_after() or not keys.try_lock(session, tenant_id, row.caller, row.key):
        raise Conflict(_IN_FLIGHT)
    if keys.take_over(session, row, fingerprint) is None:
        raise Conflict(_IN_FLIGHT)
    g.idempotency_claim = _Claim(row.id, tenant_id, row.caller, row.key, fingerprint, inserted=False)
    return None


def _store(response: Response) -> Response:
    claim: _Claim | None = g.pop("idempotency_claim", None)
    if claim is None or response.status_code >= 500:
        return response  # a 5xx: the app rolls the transaction back, and the claim with it
    values = {
        "response_status": response.status_code,
        "response_body": _storable_body(response),
        "response_headers": {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers},
    }
    try:
        if response.status_code < 400:
            # Same transaction as the work and the claim: all commit, or none.
            keys.complete(db_session(), claim.key_id, **values)
            return response
        # The work is rolled back, claim included (the app would do it after us; do it first so SQLite's single
        # writer is free), and the refusal is stored on its own: the answer stands for the retries. Should another
        # request have claimed the key in between, its answer is the one kept.
        db_session().rollback()
        with database().transaction(claim.tenant_id) as session:
            if claim.inserted:
                keys.insert_unless_taken(
                    session,
                    claim.tenant_id,
                    claim.caller,
                    claim.key,
                    request_hash=claim.request_hash,
                    status="completed",
                    **values,
                )
            else:
                keys.complete(session, claim.key_id, **values)
    except Exception as error:
        if not is_database_unavailable(error):
            raise
        # Nothing is committed (the claim neither): the caller gets 503 instead of the lost answer, and may retry.
        log.warning("could not store the response of an Idempotency-Key: %s", first_line(error))
        return service_unavailable_response(DATABASE_UNAVAILABLE_DETAIL)
    return response


def make_idempotent(blueprint: Blueprint) -> Blueprint:
    """Honour ``Idempotency-Key`` on the blueprint's POSTs. Register after ``require_authentication``."""
    blueprint.before_request(_claim)
    blueprint.after_request(_store)
    return blueprint


__all__ = ["HEADER", "IDEMPOTENCY_KEY_PARAMETER", "make_idempotent", "withheld_on_replay"]
