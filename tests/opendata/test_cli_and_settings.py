"""``madoguchi open-data publish``, the worker's schedule, and the tenant file's ``open_data`` section."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from madoguchi.catalog import definitions
from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.opendata import publish
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from tests.factories import tenants
from tests.opendata.conftest import PERIOD, jst, random_facts, seed


def _count(db: Database, model: type) -> int:
    """Rows of ``model``; a tenant's rows read under its own binding (row-level security on PostgreSQL)."""
    if model is NationalKpiMonth:
        with db.transaction() as session:
            return session.execute(select(func.count()).select_from(model)).scalar_one()
    total = 0
    for tenant in tenants(db):
        with db.transaction(tenant.id) as session:
            total += session.execute(select(func.count()).select_from(model)).scalar_one()
    return total


def test_publish_then_publish_again_keeps_the_month(db: Database, towns, runner: CliRunner) -> None:
    facts, answers = random_facts(3, 80)
    with db.transaction(towns.a.id) as session:
        seed(session, towns.a, facts, answers)
    first = runner.invoke(main, ["open-data", "publish", "--tenant", "midorikawa-village", "--month", PERIOD])
    assert first.exit_code == 0, first.output
    assert "midorikawa-village 2025-11: published" in first.output and "national 2025-11: updated" in first.output
    again = runner.invoke(main, ["open-data", "publish", "--all", "--month", PERIOD])
    assert again.exit_code == 0, again.output
    assert "midorikawa-village 2025-11: kept" in again.output
    assert "sakuragaoka-city 2025-11: published" in again.output
    assert _count(db, NationalKpiMonth) == 3  # procedure-kpis, catalog-adoption, childcare-round-results, once each


def test_a_month_not_closed_is_refused_in_one_line_and_nothing_is_written(
    db: Database,
    towns,
    runner: CliRunner,
) -> None:
    result = runner.invoke(main, ["open-data", "publish", "--all", "--month", "2099-01"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: 2099-01 is not closed yet: a month can be published once it has ended in Japan"
        " (from 2099-02-01 00:00 JST)."
    ]
    assert _count(db, KpiMonth) == 0 and _count(db, NationalKpiMonth) == 0
    bad = runner.invoke(main, ["open-data", "publish", "--all", "--month", "2025-13"])
    assert bad.exit_code == 1 and "is not a month written YYYY-MM" in bad.output
    neither = runner.invoke(main, ["open-data", "publish"])
    assert neither.exit_code == 2 and "either --tenant SLUG or --all" in neither.output


def test_the_worker_publishes_the_previous_month_from_the_fifth() -> None:
    assert publish.due_period(jst(2026, 1, 4, 23, 59)) is None
    assert publish.due_period(jst(2026, 1, 5, 0, 0)) == "2025-12"
    assert publish.due_period(jst(2026, 3, 31, 12, 0)) == "2026-02"


def _tenant_file(tmp_path: Path, open_data: str) -> Path:
    source = Path(__file__).resolve().parents[2] / "tenants" / "shiomi-town.yaml"
    text = source.read_text(encoding="utf-8")
    start = text.index("open_data:")
    end = text.index("\nservices:")
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "seals").mkdir()
    seal = source.parent / "seals" / "shiomi-town.png"
    (folder / "seals" / "shiomi-town.png").write_bytes(seal.read_bytes())
    path = folder / "shiomi-town.yaml"
    path.write_text(text[:start] + open_data + text[end:], encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ("open_data:\n  license: MIT\n", "open_data.license", "is not one of"),
        ("open_data:\n  population: 0\n", "open_data.population", "less than the minimum of 1"),
        ("open_data:\n  publish: maybe\n", "open_data.publish", ""),
        ("open_data:\n  publish_lowest_placed_score: 3\n", "open_data.publish_lowest_placed_score", ""),
        (
            "open_data:\n  cost_per_transaction_jpy: {passport: 500}\n",
            "open_data.cost_per_transaction_jpy.passport",
            "is not one of this municipality's services",
        ),
    ],
)
def test_the_tenant_files_open_data_section_is_checked(tmp_path: Path, section: str, field: str, message: str) -> None:
    path = _tenant_file(tmp_path, section)
    services = definitions.load_services(Path(__file__).resolve().parents[2] / "services")
    problems = definitions.check_tenant(path, services)
    assert any(p.field == field and message in p.message for p in problems), problems


def test_the_lowest_placed_score_opt_in_is_accepted(tmp_path: Path) -> None:
    path = _tenant_file(tmp_path, "open_data:\n  publish_lowest_placed_score: true\n")
    services = definitions.load_services(Path(__file__).resolve().parents[2] / "services")
    assert definitions.check_tenant(path, services) == []


def test_the_shipped_tenant_files_pass_with_their_open_data(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    services = definitions.load_services(repo / "services")
    for path in sorted((repo / "tenants").glob("*.yaml")):
        assert definitions.check_tenant(path, services) == []
        assert "population" in definitions.load_tenant(path, services)["open_data"]


def test_the_workers_job_publishes_the_previous_month_once_due(
    db: Database,
    towns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from madoguchi.cli import open_data as open_data_cli

    facts, answers = random_facts(5, 60)
    with db.transaction(towns.b.id) as session:
        seed(session, towns.b, facts, answers)
    monkeypatch.setattr("madoguchi.jp.now", lambda: jst(2025, 12, 4, 23, 59))
    open_data_cli.publish_due(db)
    assert _count(db, KpiMonth) == 0
    monkeypatch.setattr("madoguchi.jp.now", lambda: jst(2025, 12, 5, 0, 0))
    open_data_cli.publish_due(db)
    months = []
    for tenant in tenants(db):
        with db.transaction(tenant.id) as session:
            months += session.execute(select(KpiMonth.period, KpiMonth.dataset)).all()
    datasets = ("procedure-kpis", "catalog-adoption", "childcare-round-results")
    assert set(months) == {(PERIOD, dataset) for dataset in datasets} and len(months) == 9
    open_data_cli.publish_due(db)  # later checks change nothing
    assert _count(db, KpiMonth) == 9 and _count(db, NationalKpiMonth) == 3
