"""The demo's card sign-in: the checkout's demo OpenID Connect provider (``infra/card-idp``: oidc-provider on node,
with fictional card holders and the PIN 1234) started beside the demo on a loopback port, and the holders' persons
put in the demo registers so the card matches someone (decision 0048).

Only from a checkout, with node (and npm, the first time, to install the provider's packages): otherwise the demo
says why card sign-in is off and goes on without it. Nothing here runs in production.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import RSAKey
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.registry import operations as registry
from madoguchi.registry.csv_formats import RESIDENT_COLUMNS, parse_registry_csv
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

HOST = "127.0.0.1"
CLIENT_ID = "madoguchi-demo"
PIN = "1234"
STATE_FILE = "card-idp.json"
START_TIMEOUT_SECONDS = 30.0
#: The holder the demo suggests at each municipality: one whose card matches a resident exactly.
SUGGESTED = {"shiomi-town": "card-holder-0001-katsuragi", "sakuragaoka-city": "card-holder-0003-yoshida"}
#: When a demo resident became one (the register's 住民となった年月日) if born before.
_RESIDENT_SINCE = date(2012, 4, 1)


def provider_dir() -> Path | None:
    """``infra/card-idp`` of the checkout this package runs from, or None (an installed package has none)."""
    candidate = Path(__file__).resolve().parents[3] / "infra" / "card-idp"
    return candidate if (candidate / "server.js").is_file() and (candidate / "holders.json").is_file() else None


def holders() -> list[dict[str, Any]]:
    """The provider's fictional card holders (``holders.json``), or none without the checkout's provider."""
    folder = provider_dir()
    if folder is None:
        return []
    data: dict[str, Any] = json.loads((folder / "holders.json").read_text(encoding="utf-8"))
    return list(data["holders"])


def unavailable_reason() -> str | None:
    """Why the demo cannot run the provider here, or None."""
    folder = provider_dir()
    if folder is None:
        return "the demo provider (infra/card-idp) is not here: run the demo from a checkout of the repository"
    if shutil.which("node") is None:
        return "node is not installed (the demo card provider runs on Node.js 20 or later)"
    if not (folder / "node_modules" / "oidc-provider").is_dir() and shutil.which("npm") is None:
        return "npm is not installed to install the demo card provider's packages (npm ci in infra/card-idp)"
    return None


# -- the register ------------------------------------------------------------------------------------------------


def ensure_holder_persons(db: Database, settings: Settings, tenant: Tenant) -> int:
    """Put in ``tenant``'s register the persons the card holders need there (holders.json's ``register``), through
    the registry's own CSV import, unless they are there already. Returns how many were added."""
    entries = [row for holder in holders() for row in holder["register"] if row["tenant"] == tenant.slug]
    if not entries:
        return 0
    with db.transaction(tenant.id) as session:
        codes = [row["resident_code"] for row in entries]
        present = set(session.execute(select(Person.resident_code).where(Person.resident_code.in_(codes))).scalars())
        missing = [row for row in entries if row["resident_code"] not in present]
        if not missing:
            return 0
        stream = io.StringIO()
        writer = csv.DictWriter(stream, fieldnames=RESIDENT_COLUMNS, restval="")
        writer.writeheader()
        for row in missing:
            since = max(date.fromisoformat(row["birth_date"]), _RESIDENT_SINCE).isoformat()
            writer.writerow(
                {
                    **{k: row[k] for k in RESIDENT_COLUMNS if row.get(k) is not None},
                    "became_resident_on": since,
                    "address_set_on": since,
                    "domicile": f"{row['prefecture']}{row['municipality']}{row['town']}",
                    "domicile_head": f"{row['family_name']}\u3000{row['given_name']}",
                }
            )
        stream.seek(0)
        parsed = parse_registry_csv("residents", stream)
        if parsed.errors:
            raise RuntimeError(f"the card holders' register rows are invalid: {parsed.errors[0]}")
        report = registry.import_rows(
            session, tenant.id, "residents", parsed.rows, parsed.lines, sealer=Sealer(settings.data_key),
            actor="system:demo",
        )  # fmt: skip
        if not report.ok:
            raise RuntimeError(f"the card holders' register rows did not import: {report.errors[0]}")
    return len(missing)


# -- the provider ------------------------------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoCardProvider:
    """The running provider: its issuer and client, and the process to stop at exit."""

    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[bytes]
    owner_pid: int

    def configure(self, settings: Settings) -> Settings:
        return replace(
            settings,
            card_oidc_issuer=self.issuer,
            card_oidc_client_id=self.client_id,
            card_oidc_client_secret=self.client_secret,
        )

    def stop(self) -> None:
        """Stop the provider (only from the process that started it, never from a forked server worker)."""
        if os.getpid() != self.owner_pid or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _state(data_dir: Path) -> dict[str, Any]:
    """The provider's port, client secret and signing keys, made once per demo folder (0600), so a card linked
    in one run is the same card (same issuer) in the next."""
    path = data_dir / STATE_FILE
    state: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    if not {"port", "client_secret", "jwks"} <= set(state):
        key = RSAKey.generate_key(
            2048, parameters={"kid": f"demo-{secrets.token_hex(8)}", "use": "sig", "alg": "RS256"}
        )
        state = {
            "port": state.get("port") or _free_port(),
            "client_secret": state.get("client_secret") or secrets.token_urlsafe(32),
            "jwks": state.get("jwks") or {"keys": [key.as_dict(private=True)]},
        }
        temporary = path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
            stream.write(json.dumps(state))
        temporary.replace(path)
    return state


def start(data_dir: Path) -> tuple[DemoCardProvider | None, str | None]:
    """Start the demo provider (``npm ci`` first if its packages are missing): (the provider, None), or (None,
    why card sign-in is off)."""
    reason = unavailable_reason()
    if reason:
        return None, reason
    folder = provider_dir()
    assert folder is not None
    if not (folder / "node_modules" / "oidc-provider").is_dir():
        npm = shutil.which("npm")
        assert npm is not None
        installed = subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments: install from the lock file
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(folder)], capture_output=True, text=True, check=False
        )
        if installed.returncode != 0:
            return None, f"npm ci in infra/card-idp failed: {(installed.stderr or installed.stdout).strip()[-500:]}"
    state = _state(data_dir)
    port = int(state["port"]) if _port_is_free(int(state["port"])) else _free_port()
    issuer = f"http://{HOST}:{port}"
    jwks_file = data_dir / "card-idp-jwks.json"
    with os.fdopen(os.open(jwks_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as stream:
        stream.write(json.dumps(state["jwks"]))
    node = shutil.which("node")
    assert node is not None
    log = (data_dir / "card-idp.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - node from PATH, the checkout's script
        [
            node, str(folder / "server.js"), "--port", str(port), "--issuer", issuer, "--client-id", CLIENT_ID,
            "--client-secret", state["client_secret"], "--jwks", str(jwks_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )  # fmt: skip
    log.close()
    provider = DemoCardProvider(issuer, CLIENT_ID, state["client_secret"], process, os.getpid())
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                return provider, None
        except requests.RequestException:
            pass
        time.sleep(0.2)
    provider.stop()
    return None, f"the demo card provider did not start (see {data_dir / 'card-idp.log'})"


def suggested_holder(tenant_slug: str) -> dict[str, Any] | None:
    sub = SUGGESTED.get(tenant_slug)
    return next((h for h in holders() if h["sub"] == sub), None)
