"""The receiver printed in docs/webhooks.md works against real deliveries (the doc cannot drift)."""

from __future__ import annotations

import re
import threading
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.notify import webhooks
from madoguchi.notify.models import WebhookDelivery
from tests.notify.conftest import HTTPS, drain, submit_application, subscribe

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_receiver() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    (source,) = [b for b in blocks if "class Receiver" in b]
    namespace: dict[str, Any] = {"__name__": "documented_receiver"}
    exec(compile(source, str(DOC), "exec"), namespace)  # noqa: S102 - the code of our own documentation
    namespace["Receiver"].log_message = lambda *args: None
    return namespace


def _delivery(db, town) -> WebhookDelivery:
    with db.transaction(town.tenant.id) as session:
        return session.execute(select(WebhookDelivery)).scalar_one()


def test_the_documented_receiver_verifies_and_deduplicates_real_deliveries(
    db, towns, sign_in, allow_private, capsys
) -> None:
    town, _ = towns
    documented = _documented_receiver()
    server = HTTPServer(("127.0.0.1", 0), documented["Receiver"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        admin = sign_in(town.admin)
        created = subscribe(admin, town, f"http://127.0.0.1:{server.server_address[1]}/madoguchi")
        documented["SECRET"] = created["secret"]  # what the vendor pastes into the example
        submit_application(db, town)
        drain(db, allow_private)
        delivery = _delivery(db, town)
        assert (delivery.status, delivery.last_status_code) == ("delivered", 204)
        printed = capsys.readouterr().out.splitlines()
        assert len(printed) == 1 and printed[0].startswith("application.submitted RC-")
        assert printed[0].endswith(" submitted")

        replay = f"{town.hooks}/{created['id']}/deliveries/{delivery.id}/replay"
        assert admin.post(replay, base_url=HTTPS).status_code == 202
        drain(db, allow_private)
        assert _delivery(db, town).last_status_code == 204
        assert capsys.readouterr().out == ""  # the same webhook-id: recognised, not processed twice
        assert documented["seen_ids"] == {str(delivery.message_id)}

        documented["SECRET"] = webhooks.new_secret()  # a signature made with another secret is refused
        assert admin.post(replay, base_url=HTTPS).status_code == 202
        drain(db, allow_private)
        refused = _delivery(db, town)
        assert (refused.status, refused.last_status_code) == ("pending", 400)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
