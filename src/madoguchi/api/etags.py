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


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", "Send If-Match with the version you read"


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint whose ETags are versions the views name (see the module's docstring)."""

    #: Where a view decorated with ``@blp.etag`` checks an If-Match it was sent (flask-smorest's PUT, PATCH and
    #: DELETE, and POST actions).
    METHODS_NEEDING_CHECK_ETAG = ["POST", "PUT", "PATCH", "DELETE"]  # noqa: RUF012 - flask-smorest's class setting
    #: Where the answer carries the ETag: flask-smorest's, and a DELETE that answers what it changed (the platform
    #: admin's soft delete of a municipality answers the municipality, still readable).
    METHODS_ALLOWING_SET_ETAG = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]  # noqa: RUF012 - as above

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

    def check_etag(self, etag_data: Any, etag_schema: Any = None, *, required: bool = False) -> None:
        """412 unless If-Match names the current ETag; 428 when it is missing and ``required``. Without If-Match
        (and not required) the change applies to whatever version is current."""
        sent = request.if_match
        if not sent:
            if required:
                raise PreconditionRequired()
            return
        if self.etag_format is not None and not sent.star_tag:
            tags = sent.as_set(include_weak=True)
            if not all(self.etag_format.fullmatch(tag) for tag in tags):
                raise ValidationFailed(errors={"If-Match": ['must be an ETag this API sent, e.g. "3"']})
        try:
            super().check_etag(etag_data, etag_schema)
        except SmorestPreconditionFailed:
            raise PreconditionFailed(
                f'It changed since you read it (its ETag is now "{self._generate_etag(etag_data)}"): read it again.'
            ) from None
