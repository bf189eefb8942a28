"""The problem+json shape: field errors are always a flat map of field -> messages."""

from __future__ import annotations

from madoguchi.errors import _flatten_webargs_messages


def test_nested_validation_messages_become_slash_separated_fields() -> None:
    messages = {
        "json": {
            "email": ["Not a valid email address."],
            "roles": {"0": ["Must be one of: clerk."]},
            "guardians": {"1": {"name": ["Missing data for required field."]}},
        },
        "query": {"limit": ["Must be between 1 and 100."]},
    }
    assert _flatten_webargs_messages(messages) == {
        "email": ["Not a valid email address."],
        "roles/0": ["Must be one of: clerk."],
        "guardians/1/name": ["Missing data for required field."],
        "limit": ["Must be between 1 and 100."],
    }
