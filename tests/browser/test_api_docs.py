"""The API reference at /api/v1/docs renders the OpenAPI 3.1 document in Chromium (issue 11, point 7): Swagger UI
lists the operations, says nothing like "Unable to render this definition", and loads nothing from elsewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.browser.conftest import DemoServer


def test_the_api_reference_renders_every_operation_from_this_server_only(
    desktop_page: Any, demo_server: DemoServer, snap: Any
) -> None:
    hosts: set[str] = set()
    desktop_page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    response = desktop_page.goto(demo_server.url("/api/v1/docs"))
    assert response.status == 200
    operations = desktop_page.locator(".opblock")
    operations.first.wait_for(state="visible")
    spec = desktop_page.evaluate("() => fetch('/api/v1/openapi.json').then(r => r.json())")
    assert spec["openapi"].startswith("3.1")
    expected = sum(
        1 for item in spec["paths"].values() for method in item if method in ("get", "post", "put", "patch", "delete")
    )
    assert operations.count() == expected
    text = desktop_page.locator("body").inner_text()
    assert "Unable to render" not in text and "Madoguchi API" in text
    desktop_page.get_by_text("/api/v1/t/{tenant}/procedures/{key}", exact=True).first.wait_for(state="visible")
    assert hosts == {urlsplit(demo_server.base_url).netloc}
    snap(desktop_page, "api-docs")
