"""Madoguchi vendor quickstart: file an application for a resident and receive the signed webhook.

Run it against `madoguchi demo` (see docs/vendor-guide.md):

    pip install authlib requests
    python docs/examples/vendor_quickstart.py --tenant shiomi-town \
        --client-id CLIENT_ID --client-secret CLIENT_SECRET \
        --base-url http://127.0.0.1:8000 --callback-port 8765

`--base-url` is where Madoguchi serves (default: $VENDOR_BASE_URL, else http://127.0.0.1:8000, the demo's
default); `--callback-port` is the local port for the OAuth redirect and the webhooks (default:
$VENDOR_CALLBACK_PORT, else 8765). The app's redirect URI must be http://127.0.0.1:<callback port>/callback.

What it does, step by step:
1. listens on http://127.0.0.1:<callback port> for the OAuth redirect and for webhooks;
2. gets a client-credentials token (scope webhooks:manage) and subscribes to application.submitted;
3. sends the resident to the consent page (authorization code + PKCE S256) and exchanges the code;
4. files a residency-certificate application for the resident (Idempotency-Key) and submits it;
5. waits for the application.submitted webhook and verifies its signature (Standard Webhooks).

`--consent-as EMAIL:PASSWORD` plays the resident's part in the browser for you (for trying it alone
against the demo); without it, open the printed URL in a browser, sign in as the resident and allow.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import re
import secrets
import sys
import threading
import time
import uuid
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urljoin

import requests
from authlib.integrations.requests_client import OAuth2Session

LISTEN_HOST = "127.0.0.1"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_CALLBACK_PORT = 8765


# --------------------------------------------------------------------------- 1. a tiny local listener


class Listener(BaseHTTPRequestHandler):
    callbacks: queue.Queue[str] = queue.Queue()
    webhooks: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def do_GET(self) -> None:  # the OAuth redirect
        if self.path.startswith("/callback"):
            host, port = self.server.server_address[:2]
            self.callbacks.put(f"http://{host}:{port}{self.path}")
            self._answer(200, "Madoguchi: authorization received. You can close this tab.")
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:  # webhooks
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/webhook":
            self.webhooks.put(({k.lower(): v for k, v in self.headers.items()}, body))
            self._answer(204, "")
        else:
            self._answer(404, "not found")

    def _answer(self, status: int, text: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args: object) -> None:
        pass


# ----------------------------------------------------------------------- 5. verifying a webhook


def verify_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance_seconds: int = 300) -> dict:
    """Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the base64 key after "whsec_"."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        raise ValueError("webhook timestamp too old or in the future")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return json.loads(body)
    raise ValueError("webhook signature does not match")


# ------------------------------------------------------- the resident's part, automated for the demo


def consent_as(authorize_url: str, email: str, password: str) -> None:
    """Do in code what the resident does in the browser: sign in, then press "Allow".

    Cookies are handled by hand because the demo serves plain http on 127.0.0.1, where browsers accept
    the service's Secure cookies but `requests` does not send them.
    """
    cookies: dict[str, str] = {}

    def call(method: str, url: str, **kwargs: object) -> requests.Response:
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        response = requests.request(
            method, url, headers={"Cookie": header}, allow_redirects=False, timeout=10, **kwargs
        )  # type: ignore[arg-type]
        for cookie in response.raw.headers.getlist("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            cookies[name] = rest.split(";", 1)[0]
        return response

    def csrf(html: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]

    page = call("GET", authorize_url)
    if page.status_code in (302, 303):  # not signed in: the consent page sends us to the login page
        login_url = urljoin(authorize_url, page.headers["Location"])
        form = call("GET", login_url)
        signed_in = call("POST", login_url, data={"csrf_token": csrf(form.text), "email": email, "password": password})
        if signed_in.status_code not in (302, 303):
            raise SystemExit("the resident could not sign in: check --consent-as")
        page = call("GET", authorize_url)
    if page.status_code in (302, 303):  # consent remembered: redirected to us already
        requests.get(urljoin(authorize_url, page.headers["Location"]), timeout=10)
        return
    decided = call("POST", authorize_url, data={"csrf_token": csrf(page.text), "decision": "approve"})
    requests.get(decided.headers["Location"], timeout=10)  # the browser would follow it to our listener


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--base-url",
        default=os.environ.get("VENDOR_BASE_URL", DEFAULT_BASE_URL),
        help=f"where Madoguchi serves (default: $VENDOR_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--callback-port",
        type=int,
        default=int(os.environ.get("VENDOR_CALLBACK_PORT", DEFAULT_CALLBACK_PORT)),
        help=f"local port for the redirect and webhooks (default: $VENDOR_CALLBACK_PORT, else {DEFAULT_CALLBACK_PORT})",
    )
    parser.add_argument("--tenant", required=True, help="municipality slug, e.g. shiomi-town")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--consent-as", metavar="EMAIL:PASSWORD", help="play the resident (demo only)")
    args = parser.parse_args()
    base, api = args.base_url.rstrip("/"), f"{args.base_url.rstrip('/')}/api/v1/t/{args.tenant}"
    metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()

    server = ThreadingHTTPServer((LISTEN_HOST, args.callback_port), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    redirect_uri = f"http://{LISTEN_HOST}:{args.callback_port}/callback"
    webhook_url = f"http://{LISTEN_HOST}:{args.callback_port}/webhook"

    # 2. Client credentials: act for the app itself, to subscribe to webhooks.
    app_session = OAuth2Session(args.client_id, args.client_secret, scope="webhooks:manage")
    app_session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    subscription = app_session.post(
        f"{api}/webhooks",
        json={"url": webhook_url, "events": ["application.submitted"], "description": "vendor quickstart"},
    )
    subscription.raise_for_status()
    webhook_secret = subscription.json()["secret"]
    print(f"subscribed to application.submitted -> {webhook_url}")

    # 3. Authorization code with PKCE (S256): act for a resident who consents.
    resident = OAuth2Session(
        args.client_id,
        args.client_secret,
        scope="applications:read applications:write",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(64)
    authorize_url, _state = resident.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier
    )
    if args.consent_as:
        email, _, password = args.consent_as.partition(":")
        consent_as(authorize_url, email, password)
    else:
        print(f"\nOpen this in a browser, sign in as the resident and allow:\n\n  {authorize_url}\n")
        webbrowser.open(authorize_url)
    callback = Listener.callbacks.get(timeout=300)
    resident.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    print("the resident consented; access token received")

    # 4. File an application for the resident. What the register knows is prefilled by Madoguchi.
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    draft = resident.post(
        f"{api}/applications/",
        headers=headers,
        json={
            "procedure": "residency-certificate",
            "data": {
                "requester": {"relationship": "self"},
                "scope": "self",
                "purpose": "bank_procedure",
                "copies": 1,
                "delivery": "electronic",
            },
        },
    )
    draft.raise_for_status()
    application = draft.json()
    print(
        f"draft {application['reference']}: applicant {application['data']['applicant']['name']} "
        f"(prefilled from: {sorted({s['source'] for s in application['prefill_sources'].values()})})"
    )
    submitted = resident.post(
        f"{api}/applications/{application['id']}/submit", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    submitted.raise_for_status()
    print(f"submitted: state {submitted.json()['state']}")

    # 5. The webhook arrives signed; verify before trusting it.
    webhook_headers, body = Listener.webhooks.get(timeout=60)
    event = verify_webhook(webhook_secret, webhook_headers, body)
    print(f"webhook verified: {event['type']} for {event['data']['reference']} (id {webhook_headers['webhook-id']})")
    server.shutdown()
    if event["data"]["application_id"] != application["id"]:
        sys.exit("the webhook was about another application")


if __name__ == "__main__":
    main()
