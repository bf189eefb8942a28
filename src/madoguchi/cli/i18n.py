"""``madoguchi i18n missing``: the page messages that still lack a Japanese translation."""

from __future__ import annotations

import click

from madoguchi.web.i18n import missing_entries


@click.group("i18n")
def i18n_group() -> None:
    """Translations of the web pages (gettext catalogs per area)."""


@i18n_group.command("missing")
@click.argument("areas", nargs=-1)
def missing(areas: tuple[str, ...]) -> None:
    """Print untranslated messages as .po entries (of AREAS, e.g. portal console; default all); exit 1 if any."""
    text = missing_entries(areas)
    if text:
        click.echo(text)
        raise SystemExit(1)
    click.echo("ok: every message has a Japanese translation")
