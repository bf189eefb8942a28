"""ETag and If-Match for the API, through flask-smorest's ETag support (``@blp.etag``, ``set_etag``, ``check_etag``).

flask-smorest hashes the response into the ETag and requires If-Match on every PUT, PATCH and DELETE before the
view runs. This API's contract (docs/decisions/0018) differs in three ways, kept here in one Blueprint subclass:

* the ETag is what the view names, not a hash of the body: an application's ``lock_version`` (``"3"``, also its
  ``version`` field). ``_generate_etag`` is the hook flask-smorest's maintainers left for this (their PR #394);
* If-Match is honoured wherever a client changes something it read, POST actions too (submit, a transition,
  go-live), and optional unless the view asks for it (``check_etag(..., required=True)``: replacing an
  application's data), where a missing one is 428;
* the view checks after it found the object, so another caller's object is 404 whatever the headers say, and
  refusals are this API's problems (``precondition-failed``, ``precondition-required``, 422 for a tag that
  cannot be one of this blueprint's ETags).
"""

from __future__ import annotations

import re
from typing import Any

import flask_smorest
from flask import request
from flask_smorest.exceptions import PreconditionFailed as SmorestPreconditionFailed

from madoguchi.errors import DomainError, PreconditionFailed, ValidationFailed

#: An ETag that is a row's version counter.
VERSION_ETAG = re.compile(r"[0-9]{1,18}")

#: The If-Match header as documented: optional, since views that require it say so (and document their 428).
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you read: the change is refused (412) when the resource changed since",
    "schema": {"type": "string"},
}


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", "Send If-Match with the version you read"


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint whose ETags are versions the views name (see the module's docstring)."""

    #: Where the answer carries the ETag: flask-smorest's, and a DELETE that answers what it changed (the platform
    #: admin's soft delete of a municipality answers the municipality, still readable).
    METHODS_ALLOWING_SET_ETAG = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]  # noqa: RUF012 - flask-smorest's

    def __init__(self, *args: Any, etag_format: re.Pattern[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: What this blueprint's ETags look like; an If-Match tag of another shape is a client error (422).
        self.etag_format = etag_format

    @staticmethod
    def _generate_etag(etag_data: Any, extra_data: Any = None) -> str:
        return str(etag_data)

    def _check_precondition(self) -> None:
        """flask-smorest refuses a missing If-Match before the view runs; here the view decides (``required``)."""

    def _verify_check_etag(self) -> None:
        # Warn the developer only when an If-Match arrived and the view never compared it.
        if request.if_match:
            super()._verify_check_etag()

    def _prepare_etag_doc(self, doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The view's own 412 and 428 (with their problem+json schema) stand; a 428 it does not document never comes:
        # If-Match is optional unless the view requires it.
        own = {code: answer for code, answer in doc.get("responses", {}).items() if str(code) in ("412", "428")}
        doc = super()._prepare_etag_doc(doc, doc_info, **kwargs)
        doc["parameters"] = [IF_MATCH if p == "IF_MATCH" else p for p in doc.get("parameters", [])]
        responses = doc.get("responses", {})
        if not any(str(code) == "428" for code in own):
            responses.pop(428, None)
        responses.update(own)
        return doc

    def check_etag(self, etag_data: Any, etag_schema: Any = None, *, required: bool = False) -> None:
        """412 unless If-Match names the current ETag; 428 when it is missing and ``required``. Without If-Match
        (and not required) the change applies to whatever version is current."""
        sent = request.if_match
        if not sent:
            if required:
                raise PreconditionRequired()
            return
        tags = sent.as_set(include_weak=True)
        if self.etag_format is not None and not all(self.etag_format.fullmatch(tag) for tag in tags):
            raise ValidationFailed(errors={"If-Match": ['must be an ETag this API sent, e.g. "3"']})
        current = self._generate_etag(etag_data)
        try:
            if request.method in self.METHODS_NEEDING_CHECK_ETAG:
                super().check_etag(etag_data, etag_schema)
            elif current not in sent:  # a POST action (flask-smorest compares on PUT, PATCH and DELETE only)
                raise SmorestPreconditionFailed
        except SmorestPreconditionFailed:
            detail = f'It changed since you read it (its ETag is now "{current}"): read it again.'
            raise PreconditionFailed(detail) from None
