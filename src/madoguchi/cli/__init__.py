"""The `madoguchi` command line: one click group per area, gathered here.

Expected failures (a database that can't be reached, a refused domain rule, a bad migration revision)
end with one clear line and exit status 1, never a traceback; ``MADOGUCHI_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from alembic.util import CommandError
from sqlalchemy.exc import OperationalError

from madoguchi.audit.keys import AuditKeyError
from madoguchi.catalog.definitions import CatalogError
from madoguchi.cli import (
    audit,
    catalog,
    db,
    demo,
    registry,
    tenant_archive,  # noqa: F401 - adds export/import to the tenants group
    tenants,
    users,
    worker,
)
from madoguchi.cli import i18n as i18n_cli
from madoguchi.cli import oauth as oauth_cli
from madoguchi.cli import open_data as open_data_cli
from madoguchi.cli import payments as payments_cli
from madoguchi.errors import DomainError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except OperationalError as error:
            if os.environ.get("MADOGUCHI_DEBUG") == "1":
                raise
            reason = str(error.orig).splitlines()[0] if error.orig else str(error)
            raise click.ClickException(f"cannot use the database: {reason}") from error
        except CatalogError as error:
            raise click.ClickException("\n".join(str(p) for p in error.problems)) from error
        except (DomainError, CommandError, AuditKeyError) as error:
            if os.environ.get("MADOGUCHI_DEBUG") == "1":
                raise
            raise click.ClickException(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Madoguchi (窓口): run, seed and check the platform."""


def _register_commands() -> None:
    # Each area's commands live beside their area (madoguchi.cli.<area>); `main` stays the only entry point.
    main.add_command(audit.audit_group)
    main.add_command(catalog.catalog)
    main.add_command(db.db)
    main.add_command(demo.demo)
    main.add_command(registry.registry)
    main.add_command(tenants.tenants)
    main.add_command(users.users)
    main.add_command(worker.worker)
    main.add_command(i18n_cli.i18n_group)
    main.add_command(oauth_cli.oauth_group)
    main.add_command(payments_cli.payments_group)
    main.add_command(open_data_cli.open_data_group)


_register_commands()
