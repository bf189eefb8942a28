"""Marshmallow schemas of the registry's input: a registry CSV sent from a page (what it holds, and the file)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from madoguchi.registry.csv_formats import KINDS


def _chosen(upload: Any) -> bool:
    """Whether a file was chosen: a form without one still sends the field, with an empty file name."""
    return bool(getattr(upload, "filename", None))


class RegistryImportSchema(Schema):
    """A registry import from the browser. The file stays a file (its stream is read by the page, within the upload
    limit, and parsed by ``csv_formats``): the schema only checks that one was chosen."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    file = fields.Raw(required=True, validate=_chosen)
