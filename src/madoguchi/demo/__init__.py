"""Seeding the embedded demo: schema, catalog, tenants, demo registries and demo accounts.

Idempotent: running it again on the same data directory keeps every row already there (the demo's data
survives restarts) and only fills what is missing. Staff and the platform admin pass a second factor: the demo
sets up their authenticator (TOTP) keys when it creates them and prints the keys on every start. Secrets for
the demo (Flask secret key, the data key
that encrypts Individual Numbers) are generated once into ``<data_dir>/demo-secrets.json``.

The package is composition, not runtime code: ``registries`` writes the fictional registries (from ``draws``,
``population``, ``tax`` and ``facilities``) that the seed loads through the registry's own CSV import.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from madoguchi import migrate
from madoguchi.app import create_app
from madoguchi.audit.keys import generate_key
from madoguchi.catalog import definitions
from madoguchi.catalog import operations as catalog
from madoguchi.config import PRODUCTION, Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.demo import card_idp as demo_card_idp
from madoguchi.demo import mailbox_views
from madoguchi.demo import registries as demo_data
from madoguchi.documents import signing
from madoguchi.errors import Conflict
from madoguchi.identity import operations as identity
from madoguchi.identity import totp
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance, PlatformAdmin, StaffRole
from madoguchi.identity.passwords import hash_password
from madoguchi.platform import provisioning as tenancy
from madoguchi.registry import operations as registry
from madoguchi.registry.csv_formats import parse_registry_csv
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

DEMO_PASSWORD = "madoguchi-demo"  # noqa: S105 - printed on purpose: these are demo accounts
#: The demo's platform admin: signs in at /admin/login (with the TOTP key the demo prints).
DEMO_PLATFORM_ADMIN = "platform-admin@example.jp"


@dataclass
class DemoAccount:
    tenant: str
    email: str
    role: str
    #: The authenticator (TOTP) key of a staff account or platform admin, printed so a newcomer can sign in;
    #: None for residents, and for one whose authenticator was reset (it sets one up at the next sign-in).
    totp_secret: str | None = None


def _enrol(owner: Account | PlatformAdmin, sealer: Sealer) -> str:
    """Give a new demo staff account (or platform admin) an authenticator key, in force at once."""
    secret = totp.new_secret()
    owner.totp_secret_encrypted = sealer.seal(owner.id, secret)
    owner.totp_enabled_at = utcnow()
    return secret


def _key_of(owner: Account | PlatformAdmin, sealer: Sealer) -> str | None:
    """The demo account's key, to print it again on every start (None once reset: enrol at sign-in)."""
    if owner.totp_enabled_at is None or not owner.totp_secret_encrypted:
        return None
    try:
        return sealer.open(owner.id, owner.totp_secret_encrypted)
    except ValueError:
        return None


@dataclass
class DemoSummary:
    tenants: list[Tenant] = field(default_factory=list)
    accounts: list[DemoAccount] = field(default_factory=list)


DEMO_SECRETS_FILE = "demo-secrets.json"


def with_demo_secrets(settings: Settings) -> Settings:
    """``settings`` with the secrets a demo generated into its data directory, where the environment sets none.

    So a command run beside ``madoguchi demo`` (``madoguchi users create``, ``oauth create-client``, ``audit
    verify``) uses the keys the demo's data was written with, as the README's steps expect. Never in production,
    and never creates the file."""
    secrets_file = settings.data_dir / DEMO_SECRETS_FILE
    if settings.env == PRODUCTION or not secrets_file.is_file():
        return settings
    stored = json.loads(secrets_file.read_text())
    return replace(
        settings,
        secret_key=settings.secret_key or stored.get("secret_key", ""),
        data_key=settings.data_key or stored.get("data_key", ""),
        audit_key=settings.audit_key or stored.get("audit_key", ""),
    )


def demo_settings(data_dir: Path, base: Settings | None = None, *, public_url: str | None = None) -> Settings:
    """Settings for the demo: the data directory's SQLite file and the demo's generated secrets.

    The demo also lets webhooks reach loopback addresses, so a vendor can try them on the same machine;
    production keeps that off. Its mail goes to the mailbox (``<data_dir>/mailbox``, shown at ``/demo/mailbox``)
    unless ``MADOGUCHI_EMAIL_BACKEND`` names a real backend."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Secrets, keys, the database and registry files live here: the owner's alone, an older demo's folder too.
    os.chmod(data_dir, 0o700)
    secrets_file = data_dir / DEMO_SECRETS_FILE
    stored = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    generated = {
        "secret_key": secrets.token_urlsafe(32),
        "data_key": Sealer.generate_key(),
        "audit_key": generate_key(),
    }
    if set(generated) - set(stored):
        # An instance made before a secret existed gets just the missing one; the others stay as they were.
        stored = {**generated, **stored}
        # Written private, never world-readable for a moment between writing and a chmod.
        temporary = secrets_file.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
            stream.write(json.dumps(stored))
        temporary.replace(secrets_file)
    os.chmod(secrets_file, 0o600)
    base = base or Settings.from_env()
    return replace(
        base,
        data_dir=data_dir,
        secret_key=base.secret_key or stored["secret_key"],
        data_key=base.data_key or stored["data_key"],
        audit_key=base.audit_key or stored["audit_key"],
        public_url=public_url or base.public_url,
        webhooks_allow_private=True,
        email_backend="mailbox" if base.email_backend == "log" else base.email_backend,
    )


def create_demo_app(settings: Settings) -> Flask:
    """The app as the demo serves it: with the mailbox page when mail goes to the mailbox (never elsewhere)."""
    app = create_app(settings)
    if settings.email_backend == "mailbox":
        app.register_blueprint(mailbox_views.bp)
    return app


def _postal_prefix(code: str) -> str:
    return f"{int(code[:3]) % 900 + 100:03d}"


def _load_demo_registries(db: Database, settings: Settings, tenant: Tenant) -> str:
    """Generate and import the tenant's demo CSVs; returns the demo resident's code."""
    out_dir = settings.data_dir / "demo-data" / tenant.slug
    for folder in (out_dir.parent, out_dir):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    written = demo_data.write_demo_csvs(
        out_dir,
        tenant_slug=tenant.slug,
        prefecture_ja=(tenant.profile.get("prefecture") or {}).get("ja", ""),
        municipality_ja=tenant.name_ja,
        postal_prefix=_postal_prefix(tenant.local_government_code),
        seed=int(tenant.local_government_code),
    )
    sealer = Sealer(settings.data_key)
    with db.transaction(tenant.id) as session:
        for kind in ("residents", "tax", "facilities"):
            with Path(written[kind]).open(encoding="utf-8-sig", newline="") as stream:
                parsed = parse_registry_csv(kind, stream)
            if parsed.errors:
                raise RuntimeError(f"demo {kind} data is invalid: {parsed.errors[0]}")
            report = registry.import_rows(
                session, tenant.id, kind, parsed.rows, parsed.lines, sealer=sealer, actor="system:demo"
            )
            if not report.ok:
                raise RuntimeError(f"demo {kind} import failed: {report.errors[0]}")
    return str(written["demo_resident_code"])


def _ensure_accounts(db: Database, tenant: Tenant, resident_code: str | None, sealer: Sealer) -> list[DemoAccount]:
    domain = f"{tenant.slug}.example.jp"
    wanted = [
        ("resident", AccountKind.RESIDENT, [], True),
        ("newcomer", AccountKind.RESIDENT, [], False),
        ("clerk", AccountKind.STAFF, [StaffRole.CLERK], False),
        ("supervisor", AccountKind.STAFF, [StaffRole.CLERK, StaffRole.SUPERVISOR], False),
        ("admin", AccountKind.STAFF, [StaffRole.TENANT_ADMIN], False),
    ]
    accounts = []
    with db.transaction(tenant.id) as session:
        person = None
        if resident_code:
            person = session.execute(select(Person).where(Person.resident_code == resident_code)).scalar_one()
        existing = {account.email: account for account in session.execute(select(Account)).scalars()}
        password_hash = None
        for local, kind, roles, linked in wanted:
            email = f"{local}@{domain}"
            role = ",".join(roles) or ("resident (verified)" if linked else "resident")
            account = existing.get(email)
            if account is not None:
                key = _key_of(account, sealer) if kind == AccountKind.STAFF else None
                accounts.append(DemoAccount(tenant.slug, email, role, key))
                continue
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            account = Account(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                email=email,
                display_name=person.full_name if linked and person else local.capitalize(),
                kind=kind,
                roles=[str(r) for r in roles],
                identity_assurance=(IdentityAssurance.VERIFIED if linked and person else IdentityAssurance.EMAIL),
                person_id=person.id if linked and person else None,
                password_hash=password_hash,
            )
            # Staff pass a second factor: the demo sets up their authenticators and prints the keys.
            key = _enrol(account, sealer) if kind == AccountKind.STAFF else None
            session.add(account)
            accounts.append(DemoAccount(tenant.slug, email, role, key))
    return accounts


def _ensure_platform_admin(db: Database, sealer: Sealer) -> DemoAccount:
    with db.transaction() as session:
        admin = identity.find_platform_admin(session, DEMO_PLATFORM_ADMIN)
        if admin is None:
            # Hashed directly, like the tenants' demo accounts: the demo password is shorter than the policy asks.
            admin = PlatformAdmin(
                id=uuid.uuid4(),
                email=DEMO_PLATFORM_ADMIN,
                display_name="Platform admin",
                password_hash=hash_password(DEMO_PASSWORD),
            )
            key: str | None = _enrol(admin, sealer)
            session.add(admin)
        else:
            key = _key_of(admin, sealer)
    return DemoAccount("(platform)", DEMO_PLATFORM_ADMIN, "platform admin: /admin/login", key)


def seed(settings: Settings) -> DemoSummary:
    """Bring the demo database to a fully seeded state (idempotent)."""
    migrate.upgrade(settings)
    db = Database.for_jobs(settings)
    sealer = Sealer(settings.data_key)
    summary = DemoSummary()
    try:
        with db.transaction() as session:
            for _key, service in sorted(definitions.load_services(settings.services_dir).items()):
                try:
                    catalog.publish_service(session, service)
                except Conflict as changed:
                    # A demo folder made by an older checkout whose shipped procedures have since changed.
                    raise Conflict(
                        f"{changed.detail} This demo's data folder ({settings.data_dir}) was made by an older "
                        "version of Madoguchi: delete it (it holds only demo data) and run the demo again."
                    ) from changed
            tenancy.sync_tenants(session, definitions.load_tenants(settings.tenants_dir))
            tenants = list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())
        for tenant in tenants:
            with db.transaction(tenant.id) as session:
                has_register = session.execute(select(func.count()).select_from(Person)).scalar_one() > 0
                demo_person = session.execute(
                    select(Account.person_id).where(Account.email == f"resident@{tenant.slug}.example.jp")
                ).scalar_one_or_none()
            resident_code = None if has_register else _load_demo_registries(db, settings, tenant)
            if has_register and demo_person is None:
                resident_code = demo_data.demo_resident_code(tenant_slug=tenant.slug)
            summary.accounts += _ensure_accounts(db, tenant, resident_code, sealer)
            # The demo card provider's holders (infra/card-idp/holders.json) need their persons in the register.
            demo_card_idp.ensure_holder_persons(db, settings, tenant)
            summary.tenants.append(tenant)
        summary.accounts.append(_ensure_platform_admin(db, sealer))
        _ensure_signing_keys(settings, tenants)
    finally:
        db.dispose()
    return summary


def _ensure_signing_keys(settings: Settings, tenants: list[Tenant]) -> None:
    """The demo's platform CA and each municipality's signing key, in ``<data_dir>/signing`` (made once)."""
    if settings.signing_key_source != "generated":
        return  # keys provided by the operator (files or KMS): nothing to make
    keys = signing.KeyStore(settings)
    for tenant in tenants:
        keys.signer_for(tenant.slug, tenant.name_ja)
