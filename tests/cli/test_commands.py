"""The `madoguchi` commands, each with its bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from madoguchi.catalog.models import TenantService
from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.demo import registries as demo_data
from madoguchi.registry.models import Facility, Person, TaxAssessment
from madoguchi.tenancy.models import Tenant
from tests.conftest import REPO
from tests.factories import tenants


def _count(db: Database, tenant_id, model) -> int:
    with db.transaction(tenant_id) as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    for command in ("audit", "catalog", "db", "demo", "payments", "registry", "tenants", "worker"):
        assert command in result.output


def test_db_upgrade_is_idempotent(runner: CliRunner, backend) -> None:
    first = runner.invoke(main, ["db", "upgrade"])
    second = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "password" not in first.output.lower() or "***" in first.output


def test_tenants_sync_creates_then_reports_unchanged(runner: CliRunner, db: Database) -> None:
    first = runner.invoke(main, ["tenants", "sync"])
    assert first.exit_code == 0, first.output
    assert "created:" in first.output and "published" in first.output
    second = runner.invoke(main, ["tenants", "sync"])
    assert second.exit_code == 0, second.output
    assert "created:" not in second.output and "published" not in second.output
    assert "unchanged:" in second.output
    with db.transaction() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == len(
            list((REPO / "tenants").glob("*.yaml"))
        )


def test_tenants_sync_applies_a_changed_override(runner: CliRunner, db: Database, tmp_path: Path) -> None:
    tenants_dir = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants_dir)
    assert runner.invoke(main, ["tenants", "sync", "--tenants", str(tenants_dir)]).exit_code == 0
    tenant_file = sorted(tenants_dir.glob("*.yaml"))[0]
    text = tenant_file.read_text(encoding="utf-8")
    import yaml

    spec = yaml.safe_load(text)
    spec["services"]["tax-certificate"] = {"overrides": {"fee": 350}}
    tenant_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(main, ["tenants", "sync", "--tenants", str(tenants_dir)])
    assert result.exit_code == 0, result.output
    assert f"updated: {spec['slug']}" in result.output
    tenant = next(t for t in tenants(db) if t.slug == spec["slug"])
    with db.transaction(tenant.id) as session:
        row = session.execute(
            sa.select(TenantService).where(TenantService.service_key == "tax-certificate")
        ).scalar_one()
    assert row.overrides == {"fee": 350}


def test_tenants_sync_refuses_a_broken_tenant_file_and_changes_nothing(
    runner: CliRunner, db: Database, tmp_path: Path
) -> None:
    tenants_dir = tmp_path / "tenants"
    shutil.copytree(REPO / "tenants", tenants_dir)
    tenant_file = sorted(tenants_dir.glob("*.yaml"))[0]
    code = __import__("yaml").safe_load(tenant_file.read_text(encoding="utf-8"))["local_government_code"]
    wrong = code[:5] + str((int(code[5]) + 1) % 10)
    tenant_file.write_text(tenant_file.read_text(encoding="utf-8").replace(code, wrong), encoding="utf-8")
    result = runner.invoke(main, ["tenants", "sync", "--tenants", str(tenants_dir)])
    assert result.exit_code == 1
    assert tenant_file.name in result.output and "local_government_code" in result.output
    with db.transaction() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 0


def _demo_csvs(tmp_path: Path, tenant: Tenant) -> dict:
    return demo_data.write_demo_csvs(
        tmp_path / "csv",
        tenant_slug=tenant.slug,
        prefecture_ja="東京都",
        municipality_ja=tenant.name_ja,
        postal_prefix="190",
        seed=7,
        households=12,
    )


def _paths(written) -> dict[str, Path]:
    return {
        kind: Path(getattr(written, kind) if hasattr(written, kind) else written[kind])
        for kind in ("residents", "tax", "facilities")
    }


def test_registry_import_loads_all_three_kinds(runner: CliRunner, db: Database, seeded, tmp_path: Path) -> None:
    tenant = tenants(db)[0]
    paths = _paths(_demo_csvs(tmp_path, tenant))
    for kind in ("residents", "tax", "facilities"):
        result = runner.invoke(main, ["registry", "import", "--tenant", tenant.slug, "--kind", kind, str(paths[kind])])
        assert result.exit_code == 0, result.output
        assert f"imported {kind}" in result.output
    assert _count(db, tenant.id, Person) > 12
    assert _count(db, tenant.id, TaxAssessment) > 0
    assert _count(db, tenant.id, Facility) > 0
    # The other tenant got nothing.
    assert _count(db, tenants(db)[1].id, Person) == 0
    # Importing the same file again changes nothing.
    again = runner.invoke(
        main, ["registry", "import", "--tenant", tenant.slug, "--kind", "residents", str(paths["residents"])]
    )
    assert "0 new, 0 updated" in again.output


def test_registry_import_reports_every_bad_row_and_imports_nothing(
    runner: CliRunner,
    db: Database,
    seeded,
    tmp_path: Path,
) -> None:
    tenant = tenants(db)[0]
    residents = _paths(_demo_csvs(tmp_path, tenant))["residents"]
    lines = residents.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    birth = header.index("birth_date")
    sex = header.index("sex")
    row3 = lines[2].split(",")
    row3[birth] = "1990-13-01"
    lines[2] = ",".join(row3)
    row5 = lines[4].split(",")
    row5[sex] = "unknown"
    lines[4] = ",".join(row5)
    residents.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["registry", "import", "--tenant", tenant.slug, "--kind", "residents", str(residents)])
    assert result.exit_code == 1
    assert "line 3: birth_date:" in result.output
    assert "line 5: sex:" in result.output
    assert "nothing was imported" in result.output
    assert _count(db, tenant.id, Person) == 0


def test_tax_rows_for_unknown_residents_fail_with_their_lines(
    runner: CliRunner,
    db: Database,
    seeded,
    tmp_path: Path,
) -> None:
    tenant = tenants(db)[0]
    tax = _paths(_demo_csvs(tmp_path, tenant))["tax"]
    result = runner.invoke(main, ["registry", "import", "--tenant", tenant.slug, "--kind", "tax", str(tax)])
    assert result.exit_code == 1
    assert "line 2: resident_code: no such person in the resident register" in result.output
    assert _count(db, tenant.id, TaxAssessment) == 0


def test_registry_import_rejects_unknown_tenant_and_kind(runner: CliRunner, seeded, tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    unknown_tenant = runner.invoke(
        main, ["registry", "import", "--tenant", "atlantis", "--kind", "facilities", str(csv)]
    )
    assert unknown_tenant.exit_code in (1, 2)
    bad_kind = runner.invoke(main, ["registry", "import", "--tenant", "x", "--kind", "pets", str(csv)])
    assert bad_kind.exit_code == 2 and "pets" in bad_kind.output
    missing = runner.invoke(main, ["registry", "import", "--tenant", "x", "--kind", "tax", str(tmp_path / "no.csv")])
    assert missing.exit_code == 2


def test_worker_once_delivers_due_messages(runner: CliRunner, db: Database, seeded) -> None:
    from madoguchi import outbox
    from madoguchi.outbox import OutboxMessage

    tenant = tenants(db)[0]
    with db.transaction(tenant.id) as session:
        outbox.enqueue(session, "notify.applicant", {"template": "application.submitted"})
    result = runner.invoke(main, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered 1 message" in result.output
    with db.transaction(tenant.id) as session:
        message = session.execute(sa.select(OutboxMessage)).scalar_one()
    assert message.processed_at is not None and message.attempts == 1


def test_worker_with_an_unknown_email_backend_stops_with_one_line(runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("MADOGUCHI_EMAIL_BACKEND", "pigeon")
    result = runner.invoke(main, ["worker", "--once"])
    assert result.exit_code == 1
    assert "MADOGUCHI_EMAIL_BACKEND must be one of log, smtp, ses" in result.output
    assert "Traceback" not in result.output


def test_worker_with_a_lease_shorter_than_a_send_stops_with_one_line(runner: CliRunner, monkeypatch) -> None:
    # Another worker would take a message still being sent, and send it twice.
    monkeypatch.setenv("MADOGUCHI_WORKER_LEASE_SECONDS", "5")
    result = runner.invoke(main, ["worker", "--once"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: MADOGUCHI_WORKER_LEASE_SECONDS (5) must be longer than the longest send "
        "(10 s: webhook connect + read timeout, or the SMTP timeout)"
    ]


def test_db_upgrade_to_an_unknown_revision_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade", "--revision", "nonsense"])
    assert result.exit_code == 1
    assert "Can't locate revision" in result.output and "Traceback" not in result.output


def test_unreachable_database_is_a_clear_error(runner: CliRunner, monkeypatch) -> None:
    monkeypatch.setenv("MADOGUCHI_DATABASE_URL", "postgresql+psycopg://nobody:x@127.0.0.1:1/nothing")
    result = runner.invoke(main, ["audit", "verify", "--tenant", "any"])
    assert result.exit_code == 1
    assert "cannot use the database" in result.output and "x@" not in result.output


def test_tenants_sync_from_a_missing_folder_names_it(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["tenants", "sync", "--tenants", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "tenants directory not found" in result.output


def test_demo_rejects_a_bad_port(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--port", "0"])
    assert result.exit_code == 2 and "--port" in result.output


def test_registry_import_reads_a_shift_jis_file_as_municipal_systems_write_it(
    runner: CliRunner,
    db: Database,
    seeded,
    tmp_path: Path,
) -> None:
    tenant = tenants(db)[0]
    residents = _paths(_demo_csvs(tmp_path, tenant))["residents"]
    lines = residents.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    # 髙 and 﨑 exist in CP932 only through the NEC/IBM extensions, not in JIS X 0208 Shift_JIS.
    row[header.index("family_name")] = "髙﨑"
    lines[1] = ",".join(row)
    # Characters CP932 cannot hold (𠮷, variation selectors) have no place in a Shift_JIS export.
    text = "\r\n".join(lines) + "\r\n"
    residents.write_bytes(text.encode("cp932", errors="replace"))
    result = runner.invoke(main, ["registry", "import", "--tenant", tenant.slug, "--kind", "residents", str(residents)])
    assert result.exit_code == 0, result.output
    assert "read as Shift_JIS (CP932)" in result.output
    with db.transaction(tenant.id) as session:
        names = set(session.execute(sa.select(Person.family_name)).scalars())
    assert "髙﨑" in names


def test_registry_import_refuses_a_file_in_no_known_encoding_in_one_line(
    runner: CliRunner,
    db: Database,
    seeded,
    tmp_path: Path,
) -> None:
    tenant = tenants(db)[0]
    binary = tmp_path / "residents.csv"
    binary.write_bytes(b"resident_code,family_name\n\x82\xa0\xff\x00\x01\n")  # CP932 decodes 0xFF, not NUL
    result = runner.invoke(main, ["registry", "import", "--tenant", tenant.slug, "--kind", "residents", str(binary)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: residents.csv: line 2: byte 0x00 is neither UTF-8 nor Shift_JIS (CP932) text; "
        "save the CSV as UTF-8 or Shift_JIS; nothing was imported."
    ]
    assert "Traceback" not in result.output and _count(db, tenant.id, Person) == 0
