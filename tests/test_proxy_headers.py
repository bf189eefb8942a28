"""Behind a load balancer the client address and scheme come from X-Forwarded-*, only as far as configured."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import jsonify, request

from madoguchi import create_app
from madoguchi.config import Settings
from madoguchi.security import mark_public_endpoint


def _app(tmp_path, hops: int):
    app = create_app(replace(Settings(data_dir=tmp_path, secret_key="test"), trusted_proxy_hops=hops))

    def probe():
        return jsonify(address=request.remote_addr, scheme=request.scheme)

    app.add_url_rule("/_probe", "probe", probe)
    mark_public_endpoint(app, "probe")
    return app


@pytest.mark.parametrize(
    ("hops", "address", "scheme"),
    [(0, "10.0.0.5", "http"), (1, "203.0.113.7", "https")],
)
def test_forwarded_headers_are_trusted_only_for_the_configured_hops(tmp_path, hops, address, scheme) -> None:
    client = _app(tmp_path, hops).test_client()
    response = client.get(
        "/_probe",
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    # With one trusted hop only the entry the load balancer appended counts; what the client sent is ignored.
    assert response.json == {"address": address, "scheme": scheme}
