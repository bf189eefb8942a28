"""``madoguchi users``: staff accounts of a municipality and platform admins, from the command line.

Passwords are read from stdin (``--password-stdin``), never from an option (it would stay in the shell
history and the process list); without one, a one-time password is generated and printed once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from sqlalchemy import select

from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.crypto import Sealer
from madoguchi.errors import ValidationFailed
from madoguchi.identity import operations
from madoguchi.identity.models import Account, AccountKind, StaffRole

ROLES = [role.value for role in StaffRole]


def _email(value: str) -> str:
    try:
        return operations.normalize_email(value)
    except ValueError:
        raise click.BadParameter(f"not an email address: {value!r}", param_hint="--email") from None


def _password_from_stdin(enabled: bool) -> str | None:
    if not enabled:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("--password-stdin: no password on standard input")
    return password


@contextmanager
def _explained() -> Iterator[None]:
    """A refused value says which field and why (the generic handler would only print the title)."""
    try:
        yield
    except ValidationFailed as error:
        fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in (error.errors or {}).items())
        raise click.ClickException(fields or str(error)) from error


@click.group()
def users() -> None:
    """Staff accounts and platform admins."""


@users.command("create")
@click.option("--tenant", "tenant_slug", required=True, help="the municipality's slug")
@click.option("--email", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="repeat for several")
@click.option("--display-name", default=None, help="default: the part of the address before @")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def create(
    tenant_slug: str, email: str, roles: tuple[str, ...], display_name: str | None, password_stdin: bool
) -> None:
    """Create a staff account of a municipality."""
    email = _email(email)
    password = _password_from_stdin(password_stdin)
    with database() as db, _explained():
        with db.transaction() as session:
            tenant = find_tenant(session, tenant_slug)
        with db.transaction(tenant.id) as session:
            account, generated = operations.create_staff(
                session,
                tenant.id,
                email=email,
                display_name=display_name or email.split("@", 1)[0],
                roles=list(roles),
                password=password,
                actor="cli",
            )
    click.echo(f"created staff account {account.email} ({', '.join(account.roles)}) in {tenant_slug}: {account.id}")
    if generated:
        click.echo(f"one-time password (shown once): {generated}")
    click.echo("staff set up an authenticator app (TOTP) at the first sign-in")


@users.command("reset-totp")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
def reset_totp(tenant_slug: str, email: str) -> None:
    """Remove a staff member's authenticator app (a lost phone); their sessions end."""
    email = _email(email)
    with database() as db:
        with db.transaction() as session:
            tenant = find_tenant(session, tenant_slug)
        with db.transaction(tenant.id) as session:
            account = session.execute(
                select(Account).where(Account.email == email, Account.kind == AccountKind.STAFF.value)
            ).scalar_one_or_none()
            if account is None:
                raise click.ClickException(f"no staff account {email} in {tenant_slug}")
            operations.reset_totp(session, account, actor="cli")
    click.echo(f"authenticator removed for {email}; set up again at the next sign-in")


@users.command("create-platform-admin")
@click.option("--email", required=True)
@click.option("--display-name", default=None, help="default: the part of the address before @")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--totp", "with_totp", is_flag=True, help="also set up an authenticator app (prints its key once)")
def create_platform_admin(email: str, display_name: str | None, password_stdin: bool, with_totp: bool) -> None:
    """Create a platform admin (signs in at /admin/login)."""
    email = _email(email)
    password = _password_from_stdin(password_stdin)
    config = settings()
    with database(config) as db, _explained(), db.transaction() as session:
        admin, generated = operations.create_platform_admin(
            session, email=email, display_name=display_name or email.split("@", 1)[0], password=password
        )
        totp = None
        if with_totp:
            if not config.data_key:
                raise click.ClickException("--totp needs MADOGUCHI_DATA_KEY (the key that seals the secret)")
            totp = operations.enable_platform_totp(session, admin, sealer=Sealer(config.data_key), issuer="Madoguchi")
    click.echo(f"created platform admin {admin.email}: {admin.id}")
    if generated:
        click.echo(f"one-time password (shown once): {generated}")
    if totp:
        click.echo(f"authenticator key (shown once): {totp[0]}")
        click.echo(f"authenticator URI: {totp[1]}")
    else:
        click.echo("the platform admin sets up an authenticator app (TOTP) at the first sign-in")


@users.command("create-platform-token")
@click.option("--email", required=True, help="the platform admin the token acts as")
@click.option("--name", default="api", show_default=True, help="what the token is for")
@click.option("--days", type=click.IntRange(1, 366), default=None, help="default: settings")
def create_platform_token(email: str, name: str, days: int | None) -> None:
    """Create a bearer token for the platform admin API (/api/v1/admin). Printed once; stored hashed."""
    email = _email(email)
    config = settings()
    with database(config) as db, db.transaction() as session:
        admin = operations.find_platform_admin(session, email)
        if admin is None or admin.disabled:
            raise click.ClickException(f"no enabled platform admin {email}")
        row, token = operations.create_platform_token(
            session, admin, name=name, lifetime=timedelta(days=days or config.platform_token_days)
        )
        expires = row.expires_at
    click.echo(f"platform API token for {email} (shown once, valid until {expires:%Y-%m-%d} UTC):")
    click.echo(token)
