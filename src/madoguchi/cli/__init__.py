"""The `madoguchi` command line: one click group per area, gathered here."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Madoguchi (窓口): run, seed and check the platform."""


def _register_commands() -> None:
    # Imported here so each area's commands live beside their area and `main` stays the only entry point.
    from madoguchi.cli import audit, catalog, db, demo, registry, tenants, worker

    main.add_command(audit.audit_group)
    main.add_command(catalog.catalog)
    main.add_command(db.db)
    main.add_command(demo.demo)
    main.add_command(registry.registry)
    main.add_command(tenants.tenants)
    main.add_command(worker.worker)


_register_commands()
