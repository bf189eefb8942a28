"""Public verification: /verify/<code> and the upload-a-PDF check report valid, revoked, altered or unknown,
and show nothing personal."""

from __future__ import annotations

import re
from io import BytesIO

from reportlab.pdfgen.canvas import Canvas

from tests.documents.certificate_fixtures import (
    HTTPS,
    World,
    download,
    flip_one_byte,
    issue_by_clerk,
    only_document,
    submit,
    world,
)

__all__ = ["world"]

VERIFY = f"{HTTPS}/verify/"
API = f"{HTTPS}/api/v1/verifications"


def _issued(world: World) -> tuple[dict, bytes]:
    document = only_document(world.a, submit(world.a)["id"])
    return document, download(world.a, document["id"])


def _csrf(client) -> str:
    html = client.get(VERIFY).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _upload_page(client, data: bytes, name: str = "certificate.pdf"):
    return client.post(
        VERIFY,
        data={"csrf_token": _csrf(client), "file": (BytesIO(data), name)},
        content_type="multipart/form-data",
        headers={"Referer": VERIFY},
    )


def _upload_api(client, data: bytes):
    return client.post(API, data={"file": (BytesIO(data), "certificate.pdf")}, content_type="multipart/form-data")


def _signed_byte_positions(data: bytes) -> list[int]:
    """Offsets inside the signed byte range: the page content, the signature dictionary, the trailer."""
    byte_range = [int(n) for n in re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", data).groups()]
    _, first, second, length = byte_range
    return [len(data) // 3, first - 200, second + 10, second + length - 40]


def test_the_code_page_says_valid_and_shows_no_personal_data(world: World, client) -> None:
    document, _ = _issued(world)
    code = document["verification_code"]
    page = client.get(f"{VERIFY}{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "有効" in html and "桜ヶ丘市" in html and document["serial"] in html and "住民票の写し" in html
    assert "髙橋" not in html and "美咲" not in html and "中央一丁目" not in html
    english = client.get(f"{VERIFY}{code}?lang=en").get_data(as_text=True)
    assert "Valid" in english and "Sakuragaoka City" in english


def test_the_code_may_be_typed_as_printed(world: World, client) -> None:
    document, _ = _issued(world)
    code = document["verification_code"]
    typed = f"{code[:4].lower()}-{code[4:8]} {code[8:]}".translate(str.maketrans("ABCDEFGH", "ＡＢＣＤＥＦＧＨ"))
    response = client.get(VERIFY, query_string={"code": typed})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/verify/{code}")
    api = client.get(f"{API}/{code[:4]}-{code[4:8]}-{code[8:]}")
    assert api.status_code == 200 and api.json["status"] == "valid" and "name" not in api.json


def test_an_unknown_or_malformed_code_is_unknown_and_a_bad_form_entry_is_explained(world: World, client) -> None:
    unknown = client.get(f"{VERIFY}ZZZZ-ZZZZ-ZZZZ").get_data(as_text=True)
    assert "不明" in unknown
    assert client.get(f"{API}/ZZZZZZZZZZZZ").json["status"] == "unknown"
    assert client.get(f"{API}/not-a-code").json["status"] == "unknown"
    form = client.get(VERIFY, query_string={"code": "12345"})
    html = form.get_data(as_text=True)
    assert form.status_code == 422
    assert 'id="code-error"' in html and "12文字" in html


def test_uploading_the_issued_file_is_valid(world: World, client) -> None:
    document, data = _issued(world)
    result = _upload_api(client, data).json
    assert result["status"] == "valid"
    assert result["intact"] and result["trusted"] and result["covers_whole_file"]
    assert result["certificate"]["serial"] == document["serial"]
    assert result["sha256"] == document["pdf_sha256"]
    page = _upload_page(client, data)
    assert page.status_code == 200 and "有効" in page.get_data(as_text=True)


def test_flipping_one_byte_anywhere_it_is_signed_reports_altered(world: World, client) -> None:
    _, data = _issued(world)
    for position in _signed_byte_positions(data):
        result = _upload_api(client, flip_one_byte(data, position)).json
        assert result["status"] == "altered", (position, result)
    page = _upload_page(client, flip_one_byte(data, len(data) // 2))
    assert page.status_code == 200 and "改ざん" in page.get_data(as_text=True)


def test_a_byte_appended_after_the_signature_is_altered(world: World, client) -> None:
    _, data = _issued(world)
    result = _upload_api(client, data + b"\n%extra\n").json
    assert result["status"] == "altered"


def test_a_revoked_certificate_is_reported_revoked(world: World, client) -> None:
    document, data = _issued(world)
    revoke = world.a.clerk.post(world.a.api(f"/documents/{document['id']}/revocation"), json={"reason": "再発行"})
    assert revoke.status_code == 200
    assert _upload_api(client, data).json["status"] == "revoked"
    page = client.get(f"{VERIFY}{document['verification_code']}").get_data(as_text=True)
    assert "取り消" in page and "再発行" not in page  # the date, not the internal reason


def test_a_pdf_not_issued_here_is_unknown_and_a_non_pdf_is_refused(world: World, client) -> None:
    out = BytesIO()
    canvas = Canvas(out)
    canvas.drawString(100, 700, "A certificate of something")
    canvas.save()
    assert _upload_api(client, out.getvalue()).json["status"] == "unknown"
    refused = _upload_api(client, b"GIF89a not a pdf")
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    missing = client.post(API, data={}, content_type="multipart/form-data")
    assert missing.status_code == 422
    page = _upload_page(client, b"just text", "notes.txt")
    assert page.status_code == 422 and 'id="file-error"' in page.get_data(as_text=True)


def test_verification_finds_certificates_of_every_municipality(world: World, client) -> None:
    issued = issue_by_clerk(world.b)
    document = only_document(world.b, issued["id"])
    data = download(world.b, document["id"])
    result = _upload_api(client, data).json
    assert result["status"] == "valid" and result["certificate"]["municipality"] == "緑川村"
