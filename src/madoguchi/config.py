"""Settings, read once from ``MADOGUCHI_*`` environment variables with documented defaults.

Every variable is listed in ``Settings`` with its default; ``docs/operations.md`` (later) and the README
point here. A test or the demo passes overrides to ``create_app(config)`` instead of editing the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    return Path(os.environ.get("MADOGUCHI_DATA_DIR", "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field names map to ``MADOGUCHI_<NAME>`` environment variables."""

    #: Where the embedded default keeps its SQLite file, local documents and generated demo data.
    data_dir: Path = field(default_factory=_default_data_dir)
    #: SQLAlchemy URL the app connects with. Default: SQLite at ``<data_dir>/madoguchi.db``.
    #: On PostgreSQL this must be a role that owns no table and lacks BYPASSRLS (see docs/decisions).
    database_url: str = ""
    #: URL migrations run with (the table owner). Default: ``database_url``.
    migration_database_url: str = ""
    #: Name of the PostgreSQL role the app connects as; migrations grant it table privileges.
    app_db_role: str = "madoguchi_app"
    #: Connection pool size per process (PostgreSQL only).
    db_pool_size: int = 5
    #: The standard catalog: one folder per procedure.
    services_dir: Path = _REPO_ROOT / "services"
    #: Municipality configuration files.
    tenants_dir: Path = _REPO_ROOT / "tenants"
    #: Flask secret key (sessions, CSRF). The demo generates one into ``data_dir``.
    secret_key: str = ""
    #: Key (urlsafe base64, 32 bytes) that encrypts Individual Numbers at rest. The demo generates one.
    data_key: str = ""
    #: Seconds between outbox polls when the queue was empty.
    worker_poll_seconds: float = 2.0
    #: Requests per caller (vendor app or account) and, separately, per IP address on the applications API.
    api_rate_limit: str = "300/minute"
    #: Flask-Limiter storage shared by all workers (e.g. redis://host:6379); memory:// is per process.
    ratelimit_storage_url: str = "memory://"
    #: Public base URL (scheme and host) used in links sent by email and as the OAuth issuer.
    public_url: str = "http://127.0.0.1:8000"
    #: Lifetime of an OAuth access token, in seconds.
    oauth_access_token_seconds: int = 3600
    #: Absolute lifetime of an OAuth refresh token family (rotation keeps the first expiry), in days.
    oauth_refresh_token_days: int = 30
    #: Requests to /oauth/token per client and, separately, per IP address (429 + Retry-After beyond).
    oauth_token_rate_limit: str = "60/minute"  # noqa: S105 - a rate, not a secret
    #: Allow webhook targets on loopback/private addresses and plain http (tests, local demos only). Link-local
    #: (cloud metadata) stays blocked regardless.
    webhooks_allow_private: bool = False

    # -- documents: storage of attachments and issued certificates ------------------------------------
    #: Where files go: empty for the local folder ``<data_dir>/documents`` (the embedded default),
    #: ``file:///absolute/folder``, or ``s3://bucket/prefix``.
    storage_url: str = ""
    # (documents/storage: more storage settings go here)

    # -- documents: certificates and signatures --------------------------------------------------------
    # (documents/certificates: settings go here)

    # -- notifications: email ---------------------------------------------------------------------------
    # (notify/email: settings go here)

    # -- tenant lifecycle -------------------------------------------------------------------------------
    # (tenancy/lifecycle: settings go here)

    # -- tenant archives (export/import) ----------------------------------------------------------------
    # (tenancy/portability: settings go here)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from the environment, then apply explicit overrides (tests, the demo)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"MADOGUCHI_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in ("Path", Path):
                values[f.name] = Path(raw).resolve()
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                values[f.name] = raw
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'madoguchi.db'}"

    @property
    def effective_migration_url(self) -> str:
        return self.migration_database_url or self.effective_database_url

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith("postgresql")
