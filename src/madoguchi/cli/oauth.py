"""``madoguchi oauth``: register vendor apps (OAuth 2.0 clients) from the command line."""

from __future__ import annotations

import json
from typing import Any

import click

from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.db import bind_tenant
from madoguchi.errors import ValidationFailed
from madoguchi.oauth import operations, repository


@click.group("oauth")
def oauth_group() -> None:
    """Vendor apps (OAuth 2.0 clients)."""


@oauth_group.command("create-client")
@click.option("--tenant", "tenant_slug", required=True, help="the municipality that owns the app")
@click.option("--name", required=True, help="the app's name, shown to residents on the consent page")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="exact redirect URI (repeat for more)")
@click.option(
    "--scope", "scopes", multiple=True, help="a scope the app may request (repeat; default: all its grants allow)"
)
@click.option(
    "--grant",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
    help="grant type (repeat; default: authorization_code and refresh_token)",
)
@click.option("--public", is_flag=True, help="a public client (native/browser app): no secret, PKCE only")
@click.option("--homepage", "homepage_url", help="the vendor's https homepage, linked on the consent page")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def create_client(
    tenant_slug: str,
    name: str,
    redirect_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    grant_types: tuple[str, ...],
    public: bool,
    homepage_url: str | None,
    as_json: bool,
) -> None:
    """Register an app. Prints its client_id and client secret; the secret is shown only this once."""
    registration = operations.ClientRegistration(
        name=name,
        redirect_uris=list(redirect_uris),
        grant_types=list(grant_types),
        scopes=list(scopes),
        public=public,
        homepage_url=homepage_url,
    )
    with database(settings()) as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        bind_tenant(session, tenant.id)
        try:
            client, secret = operations.create_client(session, tenant.id, registration, actor="cli:oauth-create-client")
        except ValidationFailed as error:
            lines = [f"{field}: {message}" for field, messages in (error.errors or {}).items() for message in messages]
            raise click.ClickException("the app can't be registered:\n  " + "\n  ".join(lines)) from error
        result: dict[str, Any] = {
            "id": str(client.id),
            "tenant": tenant.slug,
            "client_id": client.client_id,
            "client_secret": secret,
            "name": client.name,
            "redirect_uris": client.redirect_uris,
            "grant_types": client.grant_types,
            "scopes": client.scopes,
            "public": client.is_public,
        }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(f"registered {result['name']} for {tenant_slug}")
    click.echo(f"client_id:     {result['client_id']}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("The secret is shown only now and stored only as a hash: keep it somewhere safe.")
    else:
        click.echo("public client: no secret; it must use PKCE (S256)")
    click.echo(f"grant types:   {' '.join(result['grant_types'])}")
    click.echo(f"scopes:        {' '.join(result['scopes'])}")
    for uri in result["redirect_uris"]:
        click.echo(f"redirect URI:  {uri}")


@oauth_group.command("list-clients")
@click.option("--tenant", "tenant_slug", required=True)
def list_clients(tenant_slug: str) -> None:
    """List a municipality's active apps (never their secrets)."""
    with database(settings()) as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        for client in repository.tenant_clients(session, tenant.id):
            kind = "public" if client.is_public else "confidential"
            click.echo(f"{client.client_id}  {kind:12}  {' '.join(client.grant_types):45}  {client.name}")
