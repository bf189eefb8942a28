"""Hostile uploads to the public certificate check (issue 12, point 1): a decompression bomb or a deeply nested
PDF is refused with a 422 in well under a second, and the process that serves the request does not grow; a
certificate as issued is answered from its SHA-256 without being parsed at all."""

from __future__ import annotations

import time
from io import BytesIO

import pytest

from madoguchi.documents import signature_check
from tests.documents.certificate_fixtures import HTTPS, World, download, only_document, submit, world
from tests.documents.hostile_pdfs import (
    MiB,
    deeply_nested,
    object_stream_bomb,
    peak_memory_growth,
    xref_stream_bomb,
)

__all__ = ["world"]

API = f"{HTTPS}/api/v1/verifications"
VERIFY = f"{HTTPS}/verify/"
#: Wall time a refusal may take in the serving process (the first sandboxed parse also starts the forkserver,
#: so each test warms it up first), and how far that process's peak memory may rise meanwhile.
TIME_BOUND = 1.0
MEMORY_BOUND = 40 * MiB

HOSTILE = {
    "xref stream inflating to 21 MiB": xref_stream_bomb,
    "object stream inflating to 48 MiB": object_stream_bomb,
    "array nested 100,000 deep": deeply_nested,
}


def _upload_api(client, data: bytes):
    return client.post(API, data={"file": (BytesIO(data), "certificate.pdf")}, content_type="multipart/form-data")


def _warm_up(client) -> None:
    assert _upload_api(client, deeply_nested(10)).status_code == 200  # starts the forkserver


@pytest.mark.parametrize("build", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_pdf_is_refused_quickly_without_the_worker_growing(world: World, client, build) -> None:
    _warm_up(client)
    hostile = build()
    assert len(hostile) < 250_000  # small on the wire: the cost is all in the parsing
    started = time.monotonic()
    response, growth = peak_memory_growth(lambda: _upload_api(client, hostile))
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == {"file": ["cannot be read as a certificate"]}
    assert elapsed < TIME_BOUND, f"took {elapsed:.2f} s"
    assert growth < MEMORY_BOUND, f"the serving process grew by {growth // MiB} MiB"


def test_the_verify_page_explains_a_refused_pdf_beside_the_field(world: World, client) -> None:
    from tests.documents.test_verify import _upload_page

    page = _upload_page(client, xref_stream_bomb())
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'id="file-error"' in html and "証明書として読み取れません" in html


def test_a_certificate_as_issued_is_answered_without_parsing_it(world: World, client, monkeypatch) -> None:
    document = only_document(world.a, submit(world.a)["id"])
    data = download(world.a, document["id"])
    parsed: list[bytes] = []
    real_check = signature_check.check
    monkeypatch.setattr(signature_check, "check", lambda pdf, root: parsed.append(pdf) or real_check(pdf, root))
    result = _upload_api(client, data).json
    assert result["status"] == "valid" and result["certificate"]["serial"] == document["serial"]
    assert result["intact"] and result["trusted"] and result["covers_whole_file"] and result["signer"]
    assert parsed == []
    assert _upload_api(client, data + b"\n").json["status"] == "altered"  # anything else is parsed
    assert len(parsed) == 1


def test_the_sandbox_stops_a_parse_over_its_wall_cpu_or_memory_limit() -> None:
    """The sandbox's own limits, the layer beneath pyHanko's decode limits: whatever spins, sleeps or grabs
    memory in the child is stopped there, and the caller learns which limit it was."""
    sandbox = signature_check.sandbox
    assert sandbox.run(len, b"fine") == 4  # and the forkserver is running
    started = time.monotonic()
    with pytest.raises(sandbox.LimitExceeded) as slept:
        sandbox.run(time.sleep, 5, limits=sandbox.Limits(wall_seconds=0.5))
    assert slept.value.reason == "time" and time.monotonic() - started < 1.5
    with pytest.raises(sandbox.LimitExceeded) as spun:
        sandbox.run(sum, range(10**12), limits=sandbox.Limits(cpu_seconds=1, wall_seconds=60))
    assert spun.value.reason == "killed"
    with pytest.raises(sandbox.LimitExceeded) as grabbed:
        sandbox.run(bytearray, 512 * MiB)
    assert grabbed.value.reason == "memory"
