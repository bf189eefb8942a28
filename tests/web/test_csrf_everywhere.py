"""Every HTML form is protected: a POST to any page route without its CSRF token is refused, changing nothing.

The routes are read from the app's URL map, so a form added later is covered without editing this test.
Only the JSON API and the OAuth protocol endpoints are exempt (they take bearer tokens or client
credentials, never a browser's ambient cookie with a form body).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from madoguchi.db import Database
from madoguchi.extensions import csrf
from tests.factories import tenants


def _form_routes(app):
    exempt_blueprints = {  # Flask-WTF keeps the exemptions here (blueprints or their names, by version)
        getattr(b, "name", b) for b in csrf._exempt_blueprints
    }
    exempt_views = csrf._exempt_views
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()):
            continue
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        view = app.view_functions[rule.endpoint]
        if blueprint in exempt_blueprints or f"{view.__module__}.{view.__name__}" in exempt_views:
            continue
        yield rule


def _url(rule, slug: str) -> str:
    values = {}
    for argument in rule.arguments:
        converter = type(rule._converters[argument]).__name__
        values[argument] = {
            "UUIDConverter": str(uuid.uuid4()),
            "IntegerConverter": "1",
            "IsoDateConverter": "2099-06-10",
        }.get(converter, slug)
    values["tenant"] = slug
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
        for converter in ("uuid", "int", "string", "path", "date"):
            path = path.replace(f"<{converter}:{name}>", value)
    return f"https://localhost{path}"


def _row_count(db: Database) -> int:
    # Through a session, so it sees what the test's transaction holds (docs/decisions/0022).
    with db.transaction() as session:
        return int(
            sum(
                session.execute(text(f"select count(*) from {table}")).scalar_one()
                for table in ("accounts", "applications", "application_events", "web_sessions", "audit_records")
            )
        )


def test_every_form_route_refuses_a_post_without_its_csrf_token(app, db: Database) -> None:
    slug = tenants(db)[1].slug
    client = app.test_client()
    routes = list(_form_routes(app))
    assert len(routes) >= 5, "the HTML forms were not found in the URL map"
    before = _row_count(db)
    refused = {}
    for rule in routes:
        response = client.post(
            _url(rule, slug), data={"anything": "x"}, headers={"Referer": "https://localhost/", "Accept": "text/html"}
        )
        refused[rule.rule] = response.status_code
    assert {path: status for path, status in refused.items() if status != 400} == {}
    assert _row_count(db) == before
