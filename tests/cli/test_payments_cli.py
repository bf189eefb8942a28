"""``madoguchi payments import-settlement``: a report is matched and its mismatch list printed; a report with bad
lines names each by number, exits 1 and stores nothing; another municipality's payments are never matched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.payments.models import SettlementImport
from tests.payments.ledger import PROVIDER, Provider, paid_intent, provider, towns  # noqa: F401 - the fixtures

NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
HEADER = "provider_ref,kind,amount_jpy,settled_on\n"


def _imports(db: Database, tenant_id) -> list[SettlementImport]:
    with db.transaction(tenant_id) as session:
        return list(session.execute(select(SettlementImport)).scalars())


def test_a_report_is_imported_and_its_mismatch_list_printed(
    runner: CliRunner,
    db: Database,
    towns,  # noqa: F811
    provider: Provider,  # noqa: F811
    tmp_path: Path,
) -> None:
    city, town = towns["sakuragaoka-city"], towns["shiomi-town"]
    paid_intent(db, city, ref="pi_ok", at=NOON)
    paid_intent(db, city, ref="pi_missing", at=NOON)
    paid_intent(db, town, ref="pi_town", at=NOON)
    report = tmp_path / "settlement.csv"
    report.write_text(HEADER + "pi_ok,charge,300,2026-12-01\npi_town,charge,300,2026-12-01\n", encoding="utf-8")
    args = ["payments", "import-settlement", "--tenant", city.tenant.slug, "--provider", PROVIDER]
    result = runner.invoke(main, [*args, "--day", "2026-12-01", str(report)])
    assert result.exit_code == 0, result.output
    assert "1 matched, 2 to check" in result.output
    assert "extra: pi_town charge (line 3" in result.output  # shiomi-town's payment is not sakuragaoka's
    assert "missing: pi_missing charge (not in the report" in result.output
    assert len(_imports(db, city.tenant.id)) == 1
    assert _imports(db, town.tenant.id) == []


def test_a_report_with_bad_lines_names_them_and_imports_nothing(
    runner: CliRunner,
    db: Database,
    towns,  # noqa: F811
    provider: Provider,  # noqa: F811
    tmp_path: Path,
) -> None:
    city = towns["sakuragaoka-city"]
    paid_intent(db, city, ref="pi_ok", at=NOON)
    report = tmp_path / "settlement.csv"
    report.write_text(HEADER + "pi_ok,charge,300,2026-12-01\npi_x,charge,abc,2026-12-01\npi_y,fee,1,2026-12-01\n")
    args = ["payments", "import-settlement", "--tenant", city.tenant.slug, "--provider", PROVIDER, "--day"]
    result = runner.invoke(main, [*args, "2026-12-01", str(report)])
    assert result.exit_code == 1
    assert "settlement.csv: line 3: amount_jpy:" in result.output
    assert "settlement.csv: line 4: kind:" in result.output
    assert "nothing was imported" in result.output
    assert _imports(db, city.tenant.id) == []
    unknown = runner.invoke(main, [*args[:-3], "--provider", "paypal", "--day", "2026-12-01", str(report)])
    assert unknown.exit_code == 1 and "--provider:" in unknown.output
