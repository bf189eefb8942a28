"""``madoguchi oauth create-client``: the secret once, stored hashed; bad input is one clear error."""

from __future__ import annotations

import json

from sqlalchemy import select

from madoguchi.cli import main
from madoguchi.oauth.models import OAuthClient, secret_hash
from tests.oauth.conftest import HTTPS, REDIRECT_URI


def _clients(db):
    with db.transaction() as session:
        return list(session.execute(select(OAuthClient)).scalars())


def test_create_client_prints_the_secret_once_and_stores_its_hash(runner, db, tenant_a) -> None:
    result = runner.invoke(
        main,
        [
            "oauth",
            "create-client",
            "--tenant",
            tenant_a.slug,
            "--name",
            "Kurashi Navi",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "applications:read",
            "--scope",
            "applications:write",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
        ],
    )
    assert result.exit_code == 0, result.output
    (client,) = _clients(db)
    assert f"client_id:     {client.client_id}" in result.output
    secret = next(line.split()[-1] for line in result.output.splitlines() if line.startswith("client_secret:"))
    assert client.client_secret_hash == secret_hash(secret)
    assert client.tenant_id == tenant_a.id
    assert client.scopes == ["applications:read", "applications:write"]
    assert client.redirect_uris == [REDIRECT_URI]

    listed = runner.invoke(main, ["oauth", "list-clients", "--tenant", tenant_a.slug])
    assert client.client_id in listed.output and secret not in listed.output


def test_create_client_as_json_for_scripts(runner, db, tenant_a) -> None:
    result = runner.invoke(
        main,
        [
            "oauth",
            "create-client",
            "--tenant",
            tenant_a.slug,
            "--name",
            "Relay",
            "--grant",
            "client_credentials",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["client_secret"] and body["grant_types"] == ["client_credentials"]
    assert body["scopes"] == ["applications:read", "catalog:read", "webhooks:manage"]


def test_a_cli_client_can_get_a_token(runner, app, db, tenant_a) -> None:
    body = json.loads(
        runner.invoke(
            main,
            [
                "oauth",
                "create-client",
                "--tenant",
                tenant_a.slug,
                "--name",
                "Relay",
                "--grant",
                "client_credentials",
                "--json",
            ],
        ).output
    )
    response = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": body["client_id"],
            "client_secret": body["client_secret"],
        },
        base_url=HTTPS,
    )
    assert response.status_code == 200 and response.json["access_token"]


def test_a_public_client_from_the_cli_has_no_secret(runner, db, tenant_a) -> None:
    result = runner.invoke(
        main,
        [
            "oauth",
            "create-client",
            "--tenant",
            tenant_a.slug,
            "--name",
            "Native",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:8765/callback",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "client_secret" not in result.output
    assert _clients(db)[0].client_secret_hash is None


def test_bad_input_is_one_clear_error_and_registers_nothing(runner, db, tenant_a) -> None:
    result = runner.invoke(
        main,
        [
            "oauth",
            "create-client",
            "--tenant",
            tenant_a.slug,
            "--name",
            "Bad",
            "--redirect-uri",
            "http://evil.example/cb",
            "--scope",
            "applications:process",
        ],
    )
    assert result.exit_code == 1
    assert "redirect_uris" in result.output and "https" in result.output
    assert "applications:process" in result.output
    assert "Traceback" not in result.output
    assert _clients(db) == []


def test_an_unknown_tenant_is_a_usage_error(runner, db, seeded) -> None:
    result = runner.invoke(
        main, ["oauth", "create-client", "--tenant", "atlantis", "--name", "X", "--redirect-uri", REDIRECT_URI]
    )
    assert result.exit_code == 2
    assert "unknown tenant 'atlantis'" in result.output
    assert _clients(db) == []


def test_client_ids_and_secrets_are_safe_on_a_command_line(db, tenant_a) -> None:
    # url-safe base64 could start with "-", which argparse and click then read as an option.
    from tests.oauth.conftest import register

    for _ in range(20):
        client = register(db, tenant_a)
        assert all(c in "0123456789abcdef" for c in client.client_id + client.secret)
