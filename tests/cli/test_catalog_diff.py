"""``madoguchi catalog diff KEY V1 V2``: the difference between two published versions, as the upgrade API and the
tenant admin page show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from madoguchi.catalog.upgrades import Change, describe
from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from tests.catalog.test_upgrades import EXPECTED_CHANGES, KEY, NEW_VERSION, OLD_VERSION, publish_second_version
from tests.factories import tenants
from tests.tenant_admin.conftest import HTTPS, signed_in


@pytest.fixture
def published(db: Database, seeded: None, tmp_path: Path) -> None:
    publish_second_version(db, tmp_path)


def test_it_prints_each_change_grouped_by_area(runner: CliRunner, published: None) -> None:
    result = runner.invoke(main, ["catalog", "diff", KEY, OLD_VERSION, NEW_VERSION])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{KEY} 2.2.0 → 2.3.0: 6 changes"
    assert lines[1:] == [
        "fields",
        f"  {describe(EXPECTED_CHANGES[0])}",
        "workflow",
        '  added workflow.states.on_hold: {"name": "on_hold", "title": {"en": "On hold", "ja": "保留中"}}',
        f"  {describe(EXPECTED_CHANGES[2])}",
        f"  {describe(EXPECTED_CHANGES[3])}",
        "fees",
        "  changed fee.max: 450 → 350",
        "  changed fee.min: 200 → 250",
    ]


def test_it_prints_the_same_difference_the_tenant_admin_gets_from_the_api(
    app: Any, db: Database, runner: CliRunner, published: None
) -> None:
    city = tenants(db)[1]
    admin = signed_in(app, db, city, StaffRole.TENANT_ADMIN)
    api_changes = admin.http.get(f"{HTTPS}/api/v1/t/{city.slug}/procedures/{KEY}/upgrade").json["changes"]

    as_text = runner.invoke(main, ["catalog", "diff", KEY, OLD_VERSION, NEW_VERSION])
    as_json = runner.invoke(main, ["catalog", "diff", KEY, OLD_VERSION, NEW_VERSION, "--json"])

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == api_changes
    printed = [line.strip() for line in as_text.output.splitlines() if line.startswith("  ")]
    assert printed == [describe(Change(**change)) for change in api_changes]


def test_the_same_version_twice_has_no_changes(runner: CliRunner, published: None) -> None:
    result = runner.invoke(main, ["catalog", "diff", KEY, NEW_VERSION, NEW_VERSION])

    assert result.exit_code == 0
    assert result.output == f"{KEY} 2.3.0 → 2.3.0: no changes\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([KEY, OLD_VERSION, "9.9.9"], f"Error: '{KEY}' has no version 9.9.9 (published: 2.2.0, 2.3.0)."),
        (["no-such-procedure", "2.0.0", "2.1.0"], "Error: No procedure 'no-such-procedure' is published."),
    ],
)
def test_an_unknown_key_or_version_exits_1_with_one_clear_line(
    runner: CliRunner, published: None, arguments: list[str], message: str
) -> None:
    result = runner.invoke(main, ["catalog", "diff", *arguments])

    assert result.exit_code == 1
    assert result.output.splitlines() == [message]
    assert "Traceback" not in result.output
