"""Every JSON request body is read once, before any view, within limits: a body nested too deeply or holding a
number too long to convert is a 400 problem, never a ``RecursionError`` or ``ValueError`` deep inside webargs,
marshmallow or jsonschema (a 500).

One app-wide hook rather than a parser per blueprint: webargs (under flask-smorest), Flask's ``get_json`` and
anything added later all read the same body, and the hook runs before any of them. Python's decoder itself
refuses integers of more than 4,300 digits (``sys.get_int_max_str_digits``) and recursion past about 1,000
levels; the depth check here stops far earlier, at what no Madoguchi payload comes near, so that later
recursive code (schema validation of application data) never meets a body that overflows its stack.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request

from madoguchi.errors import DomainError

#: Objects and arrays inside one another. Application data (forms.json) goes about six deep.
MAX_DEPTH = 32


class MalformedBody(DomainError):
    status, slug, title = 400, "malformed-body", "The request body is not acceptable JSON"


def depth_of(value: Any) -> int:
    """How many objects and arrays are nested in ``value`` (iteratively: no recursion on hostile input)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest


def check_json_body() -> None:
    if not request.is_json:
        return
    # Read whether or not a length was declared (a chunked body has none); MAX_CONTENT_LENGTH still caps it.
    data = request.get_data(cache=True)
    if not data:
        return
    try:
        body = json.loads(data)
    except RecursionError:
        raise _too_deep() from None
    except UnicodeDecodeError:
        raise MalformedBody("The body is not UTF-8.", errors={"body": ["is not UTF-8"]}) from None
    except json.JSONDecodeError as error:
        message = f"is not valid JSON (line {error.lineno}, column {error.colno})"
        raise MalformedBody("The body is not valid JSON.", errors={"body": [message]}) from None
    except ValueError:  # the decoder refuses to convert an integer with more digits than Python allows
        raise MalformedBody("A number in the body is too long.", errors={"body": ["holds a number too long"]}) from None
    if depth_of(body) > MAX_DEPTH:
        raise _too_deep()


def _too_deep() -> MalformedBody:
    return MalformedBody(
        f"The body nests objects or arrays more than {MAX_DEPTH} deep.",
        errors={"body": [f"is nested more than {MAX_DEPTH} levels deep"]},
    )


def init_app(app: Flask) -> None:
    app.before_request(check_json_body)
