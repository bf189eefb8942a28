"""Settings, read once from ``MADOGUCHI_*`` environment variables with documented defaults.

Every variable is listed in ``Settings`` with its default; ``docs/operations.md`` (later) and the README
point here. A test or the demo passes overrides to ``create_app(config)`` instead of editing the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[2]

#: The values of ``MADOGUCHI_ENV``.
DEVELOPMENT, PRODUCTION = "development", "production"


class ConfigurationError(RuntimeError):
    """The settings cannot run this process; the message is one line naming what is missing."""


def _default_data_dir() -> Path:
    return Path(os.environ.get("MADOGUCHI_DATA_DIR", "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field names map to ``MADOGUCHI_<NAME>`` environment variables."""

    #: ``development`` (the demo, tests, a laptop) or ``production`` (the container image sets it). In
    #: production the app (gunicorn) and ``madoguchi worker`` refuse to start, with one line, while a setting
    #: that would otherwise fall back to a per-process or on-disk default is missing: ``secret_key``,
    #: ``data_key``, a shared ``ratelimit_storage_url`` (not ``memory://``) and a ``signing_key_source``
    #: other than ``generated``. See docs/decisions/0015.
    env: str = DEVELOPMENT
    #: Where the embedded default keeps its SQLite file, local documents and generated demo data.
    data_dir: Path = field(default_factory=_default_data_dir)
    #: SQLAlchemy URL the app connects with. Default: SQLite at ``<data_dir>/madoguchi.db``.
    #: On PostgreSQL this must be a role that owns no table and lacks BYPASSRLS (see docs/decisions).
    database_url: str = ""
    #: URL migrations run with (the table owner). Default: ``database_url``.
    migration_database_url: str = ""
    #: URL of the backup role (``BYPASSRLS``, read-only) that ``madoguchi db backup`` dumps with; used by nothing
    #: else. See docs/operations.md, "Backup and restore".
    backup_database_url: str = ""
    #: Name of the PostgreSQL role the app connects as; migrations grant it table privileges.
    app_db_role: str = "madoguchi_app"
    #: Connection pool size per process (PostgreSQL only).
    db_pool_size: int = 5
    #: Connections a process may open beyond ``db_pool_size`` under a burst (PostgreSQL only).
    db_max_overflow: int = 2
    #: Seconds a request waits for a free pooled connection before it is answered 503 with Retry-After.
    db_pool_timeout_seconds: float = 3.0
    #: Seconds to wait for the database server to accept a new connection (PostgreSQL only).
    db_connect_timeout_seconds: int = 5
    #: Web requests: the longest one SQL statement may run (PostgreSQL ``statement_timeout``, set per
    #: transaction) before the request is answered 503. 0: no limit.
    db_statement_timeout_seconds: float = 10.0
    #: Web requests: the longest a statement waits for a row or table lock held by another transaction
    #: (``lock_timeout``) before the request is answered 503, so one tenant's contended rows never hold every
    #: request thread. 0: no limit.
    db_lock_timeout_seconds: float = 3.0
    #: Commands and the outbox worker: ``statement_timeout`` for their longer work (imports, exports, purges).
    #: 0: no limit.
    db_job_statement_timeout_seconds: float = 600.0
    #: Commands and the outbox worker: ``lock_timeout``. 0: no limit.
    db_job_lock_timeout_seconds: float = 30.0
    #: Seconds after which an Idempotency-Key claim committed while its request still ran is taken over by a retry.
    #: Only an earlier version committed such claims (decision 0004); today's claim lives in the request's own
    #: transaction and goes with it (decision 0025).
    idempotency_stale_seconds: float = 30.0
    #: Seconds a web process keeps a serving tenant it has read (by slug) before reading it again: how long another
    #: process may still serve a tenant after it was suspended or deleted (decision 0025). 0: read on every request.
    tenant_cache_seconds: float = 5.0
    #: The standard catalog: one folder per procedure.
    services_dir: Path = _REPO_ROOT / "services"
    #: Municipality configuration files.
    tenants_dir: Path = _REPO_ROOT / "tenants"
    #: Flask secret key (sessions, CSRF). The demo generates one into ``data_dir``.
    secret_key: str = ""
    #: Key (urlsafe base64, 32 bytes) that encrypts Individual Numbers at rest. The demo generates one.
    data_key: str = ""
    #: The audit key(s), held outside the database (a secret store): ``<key-id>:<urlsafe base64 of 32 bytes>``,
    #: comma-separated. The first MACs new audit records and signs checkpoints; the others only verify older
    #: records after a rotation. ``madoguchi audit new-key`` makes one; the demo generates one. Required.
    audit_key: str = ""
    #: Where signed audit checkpoints go: empty for ``<data_dir>/audit-checkpoints``, ``file:///absolute/folder``,
    #: or ``s3://bucket/prefix`` (a bucket with object lock; same endpoint and credentials as the document store).
    audit_checkpoint_url: str = ""
    #: Seconds between the checkpoints ``madoguchi worker`` writes for every tenant; 0 turns them off (then run
    #: ``madoguchi audit checkpoint --all`` from a scheduler).
    audit_checkpoint_seconds: int = 3600
    #: Seconds between outbox polls when the queue was empty.
    worker_poll_seconds: float = 2.0
    #: Emails and webhooks one worker process sends at once (threads).
    worker_concurrency: int = 8
    #: Of those, at most this many for one tenant: a tenant's slow receivers never take every slot.
    worker_tenant_concurrency: int = 4
    #: Of those, at most this many to one endpoint (a webhook's scheme, host and port; the SMTP relay).
    worker_endpoint_concurrency: int = 2
    #: Seconds a worker holds a claimed message before another worker may take it. Must be longer than the
    #: longest send (webhook connect + read timeout, SMTP timeout): a worker killed while sending leaves its
    #: in-flight messages to be sent again (same id) after this long.
    worker_lease_seconds: float = 60.0
    #: Seconds to connect to a webhook receiver (each of its addresses).
    webhook_connect_timeout_seconds: float = 3.0
    #: Seconds to wait for a webhook receiver's answer once the request is sent.
    webhook_read_timeout_seconds: float = 5.0
    #: Requests per caller (vendor app or account) and, separately, per IP address on the applications API.
    api_rate_limit: str = "300/minute"
    #: Flask-Limiter storage shared by all workers (e.g. redis://host:6379); memory:// is per process.
    ratelimit_storage_url: str = "memory://"
    #: Reverse proxies (load balancers) in front of the app whose ``X-Forwarded-For``/``-Proto`` entries are
    #: trusted for the client address and scheme (rate limits per IP, sessions). 0 trusts none; behind one ALB: 1.
    trusted_proxy_hops: int = 0
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
    #: S3 only: endpoint URL of an S3-compatible server (empty: AWS's regional endpoint). Credentials come
    #: from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
    storage_endpoint_url: str = ""
    #: S3 only: the bucket's region (empty: boto3's default, ``us-east-1`` when an endpoint URL is set).
    storage_region: str = ""
    #: S3 only: KMS key id or ARN for SSE-KMS (the tenant id goes into the encryption context). Empty: the
    #: bucket's default encryption.
    storage_kms_key_id: str = ""
    #: Lifetime in seconds of a presigned download URL (S3); downloads redirect to it.
    storage_presigned_seconds: int = 300
    #: Virus scanning of uploads: ``off`` (the default) or clamd's TCP address, ``clamav://host:3310``.
    virus_scanner_url: str = "off"
    #: Seconds to wait for the virus scanner (connect and answer) before the upload is refused with 503.
    virus_scanner_timeout_seconds: float = 30.0
    #: Largest request body the app reads at all (Flask ``MAX_CONTENT_LENGTH``); larger ones get 413.
    #: Each upload is further held to its procedure's per-document ``max_bytes``.
    max_request_bytes: int = 32 * 1024 * 1024

    # -- documents: certificates and signatures --------------------------------------------------------
    # (documents/certificates: settings go here)
    #: Where signing keys live: the platform CA certificate and ``tenants/<slug>/signing.{cert,key}.pem``.
    #: Empty: ``<data_dir>/signing``. See docs/certificates.md.
    signing_keys_dir: str = ""
    #: ``generated`` (embedded default: a platform CA and tenant keys are created there when missing),
    #: ``files`` (operator-provisioned; a missing file is an error) or ``kms`` (keys in AWS KMS, certificates
    #: as files).
    signing_key_source: str = "generated"
    #: KMS key of a tenant for ``kms``: id, ARN or alias; ``{tenant}`` is replaced by the tenant's slug.
    signing_kms_key_id: str = "alias/madoguchi-signing-{tenant}"
    #: AWS region of the KMS keys (empty: boto3's default chain).
    signing_kms_region: str = ""
    #: KMS endpoint URL override (a VPC endpoint; tests). Empty: AWS's.
    signing_kms_endpoint_url: str = ""
    #: TrueType font embedded (as a subset) in certificates. Empty: IPAmj Mincho, searched for in the standard
    #: font folders (Debian package ``fonts-ipamj-mincho``; decision 0030).
    certificate_font: str = ""
    #: The issuing official printed on certificates; ``{municipality}`` is replaced by the municipality's
    #: Japanese name (default: 桜ヶ丘市長, 緑川村長).
    certificate_official: str = "{municipality}長"

    # -- notifications: email ---------------------------------------------------------------------------
    # (notify/email: settings go here)
    #: How emails leave: ``log`` (the embedded default: template and reference go to the log, never the body),
    #: ``smtp``, ``ses`` (Amazon SES through boto3), or ``mailbox`` (``madoguchi demo``'s: nothing leaves; each
    #: email and identity letter is written to ``<data_dir>/mailbox``; not for production).
    email_backend: str = "log"
    #: The sender address; its domain also names the ``Message-ID`` of every email. The municipality's name is
    #: shown as the sender's display name.
    email_from: str = "no-reply@madoguchi.example"
    #: SMTP server host (``email_backend=smtp``).
    smtp_host: str = "localhost"
    #: SMTP server port (25, or 587 for submission with STARTTLS).
    smtp_port: int = 25
    #: SMTP login name; empty: no authentication.
    smtp_username: str = ""
    #: SMTP password (with ``smtp_username``). A secret: keep it in a secret store.
    smtp_password: str = ""
    #: Upgrade the SMTP connection with STARTTLS (required when it is on: a server without it is an error).
    smtp_starttls: bool = False
    #: Seconds for connecting to and talking with the SMTP server (each step), and with Amazon SES.
    smtp_timeout: float = 10.0
    #: AWS region of Amazon SES (``email_backend=ses``); credentials come from boto3's usual chain.
    ses_region: str = "ap-northeast-1"
    #: Optional SES endpoint URL (a VPC endpoint, or a test double); empty: the region's public endpoint.
    ses_endpoint_url: str = ""
    #: Optional SES configuration set (bounce and complaint tracking); empty: none.
    ses_configuration_set: str = ""

    # -- payments: the Stripe adapter (docs/decisions/0045) ----------------------------------------------
    #: Stripe secret API key (``sk_…``) of the platform's account. Empty: the ``stripe`` provider refuses every
    #: call (a tenant whose file names it cannot take online payments). A secret: keep it in a secret store.
    stripe_api_key: str = ""
    #: The signing secret (``whsec_…``) of the webhook endpoint registered at Stripe. Empty: every Stripe webhook
    #: is refused as unsigned. A secret.
    stripe_webhook_secret: str = ""
    #: Base URL of the Stripe API. Empty: Stripe itself; tests point it at localstripe on loopback.
    stripe_api_base: str = ""
    #: Publishable key (``pk_…``) of the same Stripe account, given to Stripe.js on the card payment page
    #: (``/<tenant>/payments/<intent>/stripe``). Not a secret. Empty: that page says card payment is unavailable.
    stripe_publishable_key: str = ""
    #: Where the card payment page loads Stripe.js from; that page alone lets this URL's origin in its
    #: Content-Security-Policy. Stripe asks that it be loaded from Stripe itself; tests and a laptop point it at
    #: localstripe's fake Stripe.js (``<localstripe>/js.stripe.com/v3/``).
    stripe_js_url: str = "https://js.stripe.com/v3/"
    #: Seconds between the payment jobs ``madoguchi worker`` runs for every tenant (poll intents stuck in
    #: ``processing``, expire unpaid ones); 0 turns them off (then run ``madoguchi payments poll`` and
    #: ``madoguchi payments expire`` from a scheduler).
    payment_jobs_seconds: int = 300
    #: Seconds between the worker's checks for an open-data month to publish: from the 5th (JST) it publishes the
    #: previous month of every municipality that publishes, then the country's aggregate (a month once published is
    #: kept, so later checks change nothing); 0 turns it off (then run ``madoguchi open-data publish --all``).
    open_data_publish_seconds: int = 3600

    # -- card sign-in: the マイナンバーカード's OpenID Connect provider (docs/decisions/0048) -----------------
    #: Issuer identifier of the provider (its discovery document is at ``<issuer>/.well-known/openid-configuration``).
    #: Empty: card sign-in is off everywhere. Must be https, except on a loopback address (tests, the demo).
    card_oidc_issuer: str = ""
    #: The platform's client at that provider, and its secret (``client_secret_basic``). The secret is a secret.
    card_oidc_client_id: str = ""
    card_oidc_client_secret: str = ""
    #: Scopes asked for: the card's 基本4情報 come as ``name``, ``birthdate``, ``gender`` and ``address``.
    card_oidc_scopes: str = "openid profile address"
    #: Seconds the discovery document and the provider's keys are cached (an unknown key id fetches them again).
    card_oidc_cache_seconds: int = 3600
    #: Seconds to wait for the provider (discovery, keys, token, userinfo).
    card_oidc_timeout: float = 5.0
    #: Base URL of this site as the provider sees it (the redirect URI is ``<base>/card/callback``). Empty: the
    #: request's own host.
    card_oidc_redirect_base: str = ""
    #: The provider's name as residents and staff read it on their pages (e.g. "マイナンバーカード認証"). Empty: the
    #: issuer's host name.
    card_oidc_provider_name: str = ""

    # -- tenant lifecycle -------------------------------------------------------------------------------
    # (platform/lifecycle: settings go here)
    #: Days a deleted (soft-deleted) tenant is kept before ``madoguchi tenants purge`` may remove its data.
    tenant_retention_days: int = 30
    #: Hours a tenant admin invitation link stays valid (single use).
    invitation_lifetime_hours: int = 72
    #: Days a platform API token (``madoguchi users create-platform-token``) is valid by default.
    platform_token_days: int = 90

    # -- tenant archives (export/import) ----------------------------------------------------------------
    # (platform/portability: settings go here)
    #: Ed25519 private key (urlsafe base64 of its 32 raw bytes) that signs tenant archives this installation
    #: exports (``madoguchi tenants export``). Empty: export is refused. ``madoguchi tenants archive-keys`` makes one.
    archive_signing_key: str = ""
    #: Ed25519 public keys (urlsafe base64, comma-separated) of the installations whose archives
    #: ``madoguchi tenants import`` accepts. This installation's own signing key is always trusted.
    archive_trusted_keys: str = ""
    #: Key shared by the exporting and the importing installation (urlsafe base64 of 64 bytes, AES-SIV) that
    #: carries Individual Numbers inside an archive. Empty: exports leave Individual Numbers out (and say so).
    archive_transfer_key: str = ""

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Build settings from the environment, then apply explicit overrides (tests, the demo)."""
        values: dict[str, Any] = {}
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

    def production_problems(self) -> list[str]:
        """What keeps these settings from running in production (empty: nothing, or not production)."""
        if self.env not in (DEVELOPMENT, PRODUCTION):
            return [f"MADOGUCHI_ENV is {self.env!r}, not {DEVELOPMENT} or {PRODUCTION}"]
        if self.env != PRODUCTION:
            return []
        problems = []
        if not self.secret_key:
            problems.append("MADOGUCHI_SECRET_KEY is not set (each process would make its own: sessions and CSRF fail)")
        if not self.data_key:
            problems.append("MADOGUCHI_DATA_KEY is not set (Individual Numbers could not be sealed)")
        if not self.audit_key:
            problems.append("MADOGUCHI_AUDIT_KEY is not set (no audit record could be written)")
        if self.ratelimit_storage_url.strip().lower().startswith("memory://"):
            problems.append(
                "MADOGUCHI_RATELIMIT_STORAGE_URL is memory:// (counts per process): set a shared store, e.g. rediss://"
            )
        if self.signing_key_source == "generated":
            problems.append(
                "MADOGUCHI_SIGNING_KEY_SOURCE is 'generated' (would mint a CA on this machine): set files or kms"
            )
        return problems

    def check_production(self) -> None:
        """Raise :class:`ConfigurationError`, one line naming every missing setting, if production lacks any."""
        problems = self.production_problems()
        if problems:
            raise ConfigurationError(f"madoguchi refuses to start in {self.env}: {'; '.join(problems)}")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'madoguchi.db'}"

    @property
    def effective_migration_url(self) -> str:
        return self.migration_database_url or self.effective_database_url

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith("postgresql")
