"""`madoguchi tenants create|go-live|suspend|resume|invite|delete|purge` and `users create-platform-token`: what they
print, what they change, and one clear line with exit status 1 when refused (nothing changed then)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from madoguchi.audit.models import AuditRecord
from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.identity.models import PlatformAdmin, PlatformApiToken
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant, TenantInvitation
from tests.factories import make_household, make_person, tenants

CREATE = [
    "tenants",
    "create",
    "--slug",
    "hanamizuki-town",
    "--name-ja",
    "花水木町",
    "--name-en",
    "Hanamizuki Town",
    "--code",
    "131016",
    "--service",
    "residency-certificate",
]


def _tenant(db: Database, slug: str) -> Tenant | None:
    with db.transaction() as session:
        return session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()


def _refused(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_create_with_a_wrong_check_digit_is_one_line_and_creates_nothing(
    runner: CliRunner, db: Database, seeded: None
) -> None:
    result = runner.invoke(main, [*CREATE[:-4], "--code", "131017"])
    _refused(result, "local_government_code", "check digit")
    assert _tenant(db, "hanamizuki-town") is None
    taken = runner.invoke(main, [*CREATE[:2], "--slug", "admin", *CREATE[4:]])
    _refused(taken, "slug")


def test_the_lifecycle_from_the_command_line(runner: CliRunner, db: Database, seeded: None) -> None:
    created = runner.invoke(main, CREATE)
    assert created.exit_code == 0, created.output
    assert "created hanamizuki-town" in created.output and "on trial" in created.output
    tenant = _tenant(db, "hanamizuki-town")
    assert tenant is not None and tenant.status == "trial" and tenant.prefecture_code == "13"

    for command, status in (("go-live", "live"), ("suspend", "suspended"), ("resume", "live")):
        result = runner.invoke(main, ["tenants", command, "hanamizuki-town"])
        assert result.exit_code == 0, result.output
        assert _tenant(db, "hanamizuki-town").status == status
    _refused(runner.invoke(main, ["tenants", "go-live", "hanamizuki-town"]), "Only a municipality on trial")
    _refused(runner.invoke(main, ["tenants", "resume", "hanamizuki-town"]), "not suspended")
    _refused(runner.invoke(main, ["tenants", "suspend", "no-such-town"]), "unknown tenant 'no-such-town'")

    invited = runner.invoke(main, ["tenants", "invite", "hanamizuki-town", "--email", "chief@hanamizuki.example.jp"])
    assert invited.exit_code == 0, invited.output
    link = invited.output.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/hanamizuki-town/invitation/")
    with db.transaction(tenant.id) as session:
        stored = session.execute(sa.select(TenantInvitation.token_hash)).scalar_one()
    assert link.rsplit("/", 1)[1] not in stored
    _refused(runner.invoke(main, ["tenants", "invite", "hanamizuki-town", "--email", "nope"]), "not an email")

    kept = runner.invoke(main, ["tenants", "delete", "hanamizuki-town"], input="n\n")
    assert kept.exit_code == 1 and _tenant(db, "hanamizuki-town").status == "live"
    deleted = runner.invoke(main, ["tenants", "delete", "hanamizuki-town", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert "deleted" in deleted.output and _tenant(db, "hanamizuki-town").status == "deleted"
    _refused(runner.invoke(main, ["tenants", "suspend", "hanamizuki-town"]), "deleted")

    with db.transaction(tenant.id) as session:
        audit = list(session.execute(sa.select(AuditRecord.actor, AuditRecord.action).order_by(AuditRecord.seq)))
    assert [action for _, action in audit] == [
        "tenant.create",
        "tenant.go_live",
        "tenant.suspend",
        "tenant.resume",
        "tenant.admin_invited",
        "tenant.delete",
    ]
    assert {actor for actor, _ in audit} == {"cli"}


def test_purge_waits_for_the_retention_period_then_keeps_a_verifiable_audit_chain(
    runner: CliRunner, db: Database, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = tenants(db)[1]
    other = tenants(db)[0]
    for town in (tenant, other):
        with db.transaction(town.id) as session:
            make_person(session, town, make_household(session, town))
    _refused(runner.invoke(main, ["tenants", "purge", tenant.slug]), "delete it first")
    _refused(runner.invoke(main, ["tenants", "purge"]), "name one municipality")
    assert runner.invoke(main, ["tenants", "delete", tenant.slug, "--yes"]).exit_code == 0
    _refused(runner.invoke(main, ["tenants", "purge", tenant.slug]), "kept until")
    assert runner.invoke(main, ["tenants", "purge", "--all-due"]).output.strip() == "nothing to purge"

    monkeypatch.setenv("MADOGUCHI_TENANT_RETENTION_DAYS", "0")
    purged = runner.invoke(main, ["tenants", "purge", "--all-due"])
    assert purged.exit_code == 0, purged.output
    assert purged.output.startswith(f"{tenant.slug}: purged (") and "audit chain kept" in purged.output
    with db.transaction(tenant.id) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Person)).scalar_one() == 0
    with db.transaction(other.id) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Person)).scalar_one() == 1
    verified = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output
    assert runner.invoke(main, ["tenants", "purge", "--all-due"]).output.strip() == "nothing to purge"


def test_a_platform_token_is_printed_once_and_stored_hashed(runner: CliRunner, db: Database, seeded: None) -> None:
    missing = runner.invoke(main, ["users", "create-platform-token", "--email", "ops@example.jp"])
    _refused(missing, "no enabled platform admin ops@example.jp")
    with db.transaction() as session:
        session.add(PlatformAdmin(email="ops@example.jp", display_name="Ops", password_hash=None))
    result = runner.invoke(main, ["users", "create-platform-token", "--email", "ops@example.jp", "--days", "7"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("mdgp_")
    with db.transaction() as session:
        row = session.execute(sa.select(PlatformApiToken)).scalar_one()
    assert token not in row.token_hash and (row.expires_at - row.created_at).days == 7


def test_sync_leaves_the_lifecycle_status_alone_and_skips_deleted_tenants(
    runner: CliRunner, db: Database, seeded: None
) -> None:
    """The files say trial/live; a suspension, going live or a deletion made since is not undone by a sync."""
    on_trial, live = tenants(db)[0], tenants(db)[1]  # midorikawa-village (trial), sakuragaoka-city (live)
    assert runner.invoke(main, ["tenants", "go-live", on_trial.slug]).exit_code == 0
    assert runner.invoke(main, ["tenants", "suspend", live.slug]).exit_code == 0
    third = tenants(db)[2]
    assert runner.invoke(main, ["tenants", "delete", third.slug, "--yes"]).exit_code == 0

    result = runner.invoke(main, ["tenants", "sync"])
    assert result.exit_code == 0, result.output
    assert f"skipped: {third.slug}" in result.output
    statuses = {t.slug: t.status for t in tenants(db)}
    assert statuses == {on_trial.slug: "live", live.slug: "suspended", third.slug: "deleted"}
