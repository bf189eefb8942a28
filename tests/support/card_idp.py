"""The card's OpenID Connect provider for tests: ``infra/card-idp`` (``oidc-provider`` from npm, run by node) on a
free loopback port, with the fictional card holders of ``infra/card-idp/holders.json`` (decision 0048).

``CardIdp`` starts it (running ``npm ci`` in infra/card-idp first when its ``node_modules`` is missing, so the
README's plain ``pytest`` works on a machine with node and npm), waits until its discovery document answers, and
stops it at the end. Its signing keys come from a JWKS file this module writes (``generate_jwks``), so a test can
rotate them: ``rotate()`` restarts the provider on the same port (the same issuer) with a new key first.

``drive_card_login`` plays the browser on the provider's side with ``requests``: from the authorization URL the
relying party made, through the card reader page (pick a holder, the PIN), to the callback's query parameters,
without requesting the callback itself (the app need not be listening). The web and browser tests reuse it.

Without node (or npm to install the provider's packages) the tests that need it skip, unless
``MADOGUCHI_REQUIRE_CARD_IDP=1`` (CI), which makes them fail.

Run ``python -m tests.support.card_idp`` for a provider in the foreground (it prints the settings to use).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_household, make_person
from tests.support.loopback import HOST, LoopbackServer, free_port

REPO = Path(__file__).resolve().parents[2]
IDP_DIR = REPO / "infra" / "card-idp"
HOLDERS_FILE = IDP_DIR / "holders.json"
CLIENT_ID = "madoguchi-test"
CLIENT_SECRET = "madoguchi-test-card-secret"
#: Every fictional card's PIN.
PIN = "1234"
START_TIMEOUT_SECONDS = 30.0
NPM_TIMEOUT_SECONDS = 600


class CardLoginRefused(Exception):
    """The provider's card reader page did not let the holder through (a wrong PIN, an unknown holder)."""


# -- availability ------------------------------------------------------------------------------------------------


def _node() -> str | None:
    return shutil.which("node")


def unavailable_reason() -> str | None:
    """Why the provider cannot run here (node missing, or its packages missing with no npm to install them)."""
    if _node() is None:
        return "node is not installed (the card's test provider, infra/card-idp, runs on Node.js)"
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir() and shutil.which("npm") is None:
        return "infra/card-idp/node_modules is missing and npm is not installed to run `npm ci` there"
    return None


def required() -> bool:
    """Whether the card tests must fail, not skip, when the provider cannot run (CI sets it)."""
    return os.environ.get("MADOGUCHI_REQUIRE_CARD_IDP") == "1"


def ensure_installed() -> None:
    """``npm ci`` in infra/card-idp when its packages are missing; one process at a time (xdist workers)."""
    if (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    lock_path = Path(tempfile.gettempdir()) / "madoguchi-card-idp-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            return  # another worker installed them while this one waited
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: cannot install infra/card-idp's packages")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(IDP_DIR)],
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in infra/card-idp failed:\n{done.stdout}\n{done.stderr}")


# -- keys and holders --------------------------------------------------------------------------------------------


def generate_key(kid: str | None = None) -> dict[str, Any]:
    """A new RSA private key as a JWK (RS256, with a ``kid``)."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid or f"test-{uuid.uuid4()}", "use": "sig", "alg": "RS256"})
    return key.as_dict(private=True)


def generate_jwks(count: int = 1) -> dict[str, Any]:
    """A JWKS of ``count`` new private keys (the provider signs with the first)."""
    return {"keys": [generate_key() for _ in range(count)]}


def holders() -> list[dict[str, Any]]:
    """The fictional card holders (``holders.json``): ``sub``, ``card`` (the claims), ``register``, ``expect``."""
    data: dict[str, Any] = json.loads(HOLDERS_FILE.read_text(encoding="utf-8"))
    return list(data["holders"])


def holder(sub: str) -> dict[str, Any]:
    return next(h for h in holders() if h["sub"] == sub)


#: The holders by what they are for (``holders.json``'s ``sub``).
SHIOMI_EXACT = "card-holder-0001-katsuragi"  # 葛󠄀城 美咲 (IVS), exact at shiomi-town
SHIOMI_VARIANT = "card-holder-0002-takahashi"  # card 高橋, register 髙橋: a clerk confirms
SAKURAGAOKA_EXACT = "card-holder-0003-yoshida"  # 𠮷田 翔太 of sakuragaoka-city: another municipality at shiomi-town
SHIOMI_NOT_REGISTERED = "card-holder-0004-okamoto"  # a shiomi-town address, no register person
SHIOMI_TWO_MATCHES = "card-holder-0005-sato"  # two identical register persons


def seed_register(session: Session, tenant: Tenant, subs: Iterable[str] | None = None) -> dict[str, list[Person]]:
    """Put in ``tenant``'s register the persons ``holders.json`` lists for it (the card holders' register
    entries, the duplicate of the two-match holder included), or only those of ``subs``; by holder."""
    wanted = set(subs) if subs is not None else None
    seeded: dict[str, list[Person]] = {}
    for entry in holders():
        if wanted is not None and entry["sub"] not in wanted:
            continue
        for row in entry["register"]:
            if row["tenant"] != tenant.slug:
                continue
            household = make_household(
                session,
                tenant,
                household_code=row["household_code"],
                postal_code=row["postal_code"],
                prefecture=row["prefecture"],
                municipality=row["municipality"],
                town=row["town"],
                block=row["block"],
                building=row["building"],
            )
            person = make_person(
                session,
                tenant,
                household,
                resident_code=row["resident_code"],
                family_name=row["family_name"],
                given_name=row["given_name"],
                family_name_kana=row["family_name_kana"],
                given_name_kana=row["given_name_kana"],
                birth_date=date.fromisoformat(row["birth_date"]),
                sex=row["sex"],
                relation_to_head=row["relationship"],
                domicile=f"{row['prefecture']}{row['municipality']}{row['town']}",
                domicile_head=f"{row['family_name']}\u3000{row['given_name']}",
            )
            seeded.setdefault(entry["sub"], []).append(person)
    return seeded


# -- the provider ------------------------------------------------------------------------------------------------


class CardIdp(LoopbackServer):
    """``with CardIdp() as idp:`` a running provider; ``idp.issuer``, ``idp.jwks`` (its private keys)."""

    def __init__(
        self,
        *,
        jwks: dict[str, Any] | None = None,
        id_token_ttl: int = 300,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ) -> None:
        self.port = 0
        self.jwks = jwks or generate_jwks()
        self.id_token_ttl = id_token_ttl
        self.client_id = client_id
        self.client_secret = client_secret
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def signing_key(self) -> RSAKey:
        """The key the provider signs ID tokens with (the JWKS's first)."""
        return RSAKey.import_key(self.jwks["keys"][0])

    def start(self) -> CardIdp:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        ensure_installed()
        self._folder = tempfile.TemporaryDirectory(prefix="madoguchi-card-idp-")
        for _attempt in range(3):
            self.port = free_port()  # another process may take it before node binds: then try another
            if self._launch():
                return self
        output = self._output()
        self.stop()
        raise RuntimeError(f"the card's test provider did not start:\n{output}")

    def restart(self, jwks: dict[str, Any] | None = None) -> None:
        """Stop and start again on the same port (the same issuer), with ``jwks`` if given. Everything the
        provider held (sessions, codes, tokens) is gone, as after a real provider's restart."""
        if jwks is not None:
            self.jwks = jwks
        self._stop_process()
        if not self._launch():
            raise RuntimeError(f"the card's test provider did not restart:\n{self._output()}")

    def rotate(self, *, keep_old: bool = True) -> dict[str, Any]:
        """Restart with a new signing key first (the old ones after it, or dropped); returns the new key."""
        new = generate_key()
        self.restart({"keys": [new, *(self.jwks["keys"] if keep_old else [])]})
        return new

    def _launch(self) -> bool:
        assert self._folder is not None
        folder = Path(self._folder.name)
        jwks_file = folder / "jwks.json"
        jwks_file.write_text(json.dumps(self.jwks))
        jwks_file.chmod(0o600)
        node = _node()
        assert node is not None
        with (folder / "provider.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    node, str(IDP_DIR / "server.js"), "--port", str(self.port), "--issuer", self.issuer,
                    "--client-id", self.client_id, "--client-secret", self.client_secret,
                    "--jwks", str(jwks_file), "--id-token-ttl", str(self.id_token_ttl),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=IDP_DIR,
            )  # fmt: skip
        if self._wait_until_ready():
            return True
        self._stop_process()
        return False

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                answer = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                if answer.ok and answer.json().get("issuer") == self.issuer:
                    return True
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        return False

    def _output(self) -> str:
        if self._folder is None:
            return ""
        log = Path(self._folder.name) / "provider.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        self._stop_process()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def with_card_idp(settings: Settings, idp: CardIdp) -> Settings:
    """``settings`` with card sign-in pointed at ``idp`` (the tenant files switch it on per municipality)."""
    return replace(
        settings,
        card_oidc_issuer=idp.issuer,
        card_oidc_client_id=idp.client_id,
        card_oidc_client_secret=idp.client_secret,
    )


# -- the browser on the provider's side --------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The ``action`` of each form on the card reader page, by the form's id."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and values.get("id") and values.get("action"):
            self.actions[str(values["id"])] = str(values["action"])


def _callback_params(http: requests.Session, answer: requests.Response) -> dict[str, str]:
    """Follow the provider's redirects until one leaves for the relying party's callback: its query."""
    for _hop in range(10):
        if answer.status_code not in (302, 303):
            raise CardLoginRefused(f"the provider answered {answer.status_code}: {answer.text[:500]}")
        location = urljoin(answer.url, answer.headers["Location"])
        if urlsplit(location).path.endswith("/card/callback"):
            return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
        answer = http.get(location, allow_redirects=False, timeout=10)
    raise CardLoginRefused("too many redirects at the provider")


def _reader_page(http: requests.Session, authorization_url: str) -> tuple[requests.Response, dict[str, str]]:
    answer = http.get(authorization_url, allow_redirects=False, timeout=10)
    for _hop in range(5):
        if answer.status_code not in (302, 303):
            break
        location = urljoin(answer.url, answer.headers["Location"])
        if urlsplit(location).path.endswith("/card/callback"):
            # The provider refused the request outright (an unknown client, a redirect URI it does not allow...).
            raise CardLoginRefused(f"the provider answered at once: {location}")
        answer = http.get(location, allow_redirects=False, timeout=10)
    if answer.status_code != 200:
        raise CardLoginRefused(f"the provider answered {answer.status_code}: {answer.text[:500]}")
    forms = _Forms()
    forms.feed(answer.text)
    return answer, forms.actions


def drive_card_login(
    authorization_url: str, holder_sub: str, pin: str = PIN, *, http: requests.Session | None = None
) -> dict[str, str]:
    """Sign in at the provider as ``holder_sub`` with ``pin``: the callback's query parameters (``code``,
    ``state``, ``iss``). Raises ``CardLoginRefused`` when the provider does not let the holder through (a wrong
    PIN: the page says so, and the error is the page's message)."""
    http = http or requests.Session()
    page, actions = _reader_page(http, authorization_url)
    answer = http.post(
        urljoin(page.url, actions["card-form"]),
        data={"holder": holder_sub, "pin": pin},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code == 400:
        message = re.search(r'id="pin-error"[^>]*>([^<]*)<', answer.text)
        raise CardLoginRefused(message.group(1) if message else answer.text[:500])
    return _callback_params(http, answer)


def cancel_card_login(authorization_url: str, *, http: requests.Session | None = None) -> dict[str, str]:
    """The holder presses "cancel" on the provider's page: the callback's query (``error=access_denied``)."""
    http = http or requests.Session()
    page, actions = _reader_page(http, authorization_url)
    answer = http.post(urljoin(page.url, actions["cancel-form"]), allow_redirects=False, timeout=10)
    return _callback_params(http, answer)


def main() -> int:
    with CardIdp() as idp:
        print(
            f"MADOGUCHI_CARD_OIDC_ISSUER={idp.issuer} MADOGUCHI_CARD_OIDC_CLIENT_ID={idp.client_id} "
            f"MADOGUCHI_CARD_OIDC_CLIENT_SECRET={idp.client_secret}  (PIN {PIN}; Ctrl-C stops)",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
