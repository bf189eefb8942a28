"""A stateful fake of the Stripe API for the Stripe adapter's tests: ``localstripe`` (test extras) on loopback.

localstripe's own entry point listens on every interface (``::``) and pickles its store into a fixed file after
every write; this runs its aiohttp app instead on ``127.0.0.1`` and a free port, with the store kept in memory,
so parallel test workers each have their own server and nothing is written outside the process. ``LocalStripe``
waits until the server answers, and stops it at the end.

localstripe implements PaymentIntents, payment methods (test card numbers: 4242… pays, 4000000000000341 is
declined on charging), refunds and balance transactions, and sends webhooks signed as Stripe does to URLs
registered with ``register_webhook`` (``POST /_config/webhooks/<id>``, url, secret, events); it has no Checkout
Sessions. Decision 0045.

Run ``python -m tests.support.localstripe`` for a server in the foreground (it prints the settings to use).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.loopback import HOST, LoopbackServer, free_port

START_TIMEOUT_SECONDS = 20.0
#: Any ``sk_…`` key: localstripe checks only the prefix.
API_KEY = "sk_test_madoguchi"

#: Runs localstripe's app on loopback with an in-memory store (argument: the port).
_LAUNCHER = """
import sys
from aiohttp import web
from localstripe import server
server.store.dump_to_disk = lambda: None  # keep the store in this process: no shared file
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def unavailable_reason() -> str | None:
    """Why localstripe cannot run here (the package is missing), or None."""
    if importlib.util.find_spec("localstripe") is None:
        return "the localstripe package is not installed (test extras)"
    return None


class LocalStripe(LoopbackServer):
    """``with LocalStripe() as server:`` a running localstripe; ``server.api_base`` is its URL."""

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def js_url(self) -> str:
        """localstripe's fake Stripe.js (the card payment page's ``stripe_js_url`` in tests)."""
        return f"{self.api_base}/js.stripe.com/v3/"

    def client_secret(self, payment_intent: str) -> str:
        """The PaymentIntent's client secret as the API answers it."""
        answer = requests.get(f"{self.api_base}/v1/payment_intents/{payment_intent}", auth=(API_KEY, ""), timeout=10)
        answer.raise_for_status()
        return str(answer.json()["client_secret"])

    def start(self) -> LocalStripe:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self._log = tempfile.NamedTemporaryFile(prefix="madoguchi-localstripe-", suffix=".log")  # noqa: SIM115
        for _attempt in range(3):
            self.port = free_port()  # another process may take it before localstripe binds: then try another
            self._process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(self.port)], stdout=self._log, stderr=subprocess.STDOUT
            )
            if self._wait_until_ready():
                return self
            self._stop_process()
        output = Path(self._log.name).read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"localstripe did not start:\n{output}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                requests.get(f"{self.api_base}/v1/balance", auth=(API_KEY, ""), timeout=1).raise_for_status()
                return True
            except requests.RequestException:
                time.sleep(0.1)
        return False

    # -- what a test does on Stripe's side ---------------------------------------------------------------

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]]) -> dict[str, Any]:
        """A form POST to the API as Stripe.js or the dashboard would make it; the JSON answer."""
        answer = requests.post(f"{self.api_base}{path}", data=data, auth=(API_KEY, ""), timeout=10)
        body: dict[str, Any] = answer.json()
        return body

    def register_webhook(self, webhook_id: str, *, url: str, secret: str, events: list[str] | None = None) -> None:
        """Have localstripe POST its events, signed with ``secret``, to ``url``."""
        data: list[tuple[str, str]] = [("url", url), ("secret", secret)]
        data += [("events[]", event) for event in events or []]
        requests.post(f"{self.api_base}/_config/webhooks/{webhook_id}", data=data, timeout=10).raise_for_status()

    def pay(self, payment_intent: str, card_number: str = "4242424242424242") -> dict[str, Any]:
        """What the resident does on the pay page: a card (kept at Stripe), attached to the intent, confirmed.
        Answers the confirmed intent, or the error body of a declined card."""
        method = self.post(
            "/v1/payment_methods",
            {"type": "card", "card[number]": card_number, "card[exp_month]": "12", "card[exp_year]": "2034",
             "card[cvc]": "123"},
        )  # fmt: skip
        self.post(f"/v1/payment_intents/{payment_intent}", {"payment_method": method["id"]})
        return self.post(f"/v1/payment_intents/{payment_intent}/confirm", {})

    def stop(self) -> None:
        self._stop_process()
        if self._log is not None:
            self._log.close()
            self._log = None


def required() -> bool:
    """Whether the Stripe tests must fail, not skip, when localstripe cannot start (CI sets it)."""
    return os.environ.get("MADOGUCHI_REQUIRE_STRIPE") == "1"


def main() -> int:
    with LocalStripe() as server:
        print(
            f"MADOGUCHI_STRIPE_API_BASE={server.api_base} MADOGUCHI_STRIPE_API_KEY={API_KEY}  (Ctrl-C stops)",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
