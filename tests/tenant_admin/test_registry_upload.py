"""Registry CSV upload: all rows or none, a per-row report of every problem, a size limit."""

from __future__ import annotations

import io
import re
from typing import Any

from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from madoguchi.db import Database
from madoguchi.registry.csv_formats import FACILITY_COLUMNS
from madoguchi.registry.models import Facility
from madoguchi.tenancy.models import Tenant
from madoguchi.tenant_admin.views.registry import MAX_CSV_BYTES
from tests.registry.test_csv_formats import csv_text, facility
from tests.tenant_admin.conftest import (
    HTTPS,
    Person,
    Towns,
    admin_url,
    csrf_of,
    error_summary_links,
    field_error,
)


def _facilities(db: Database, tenant: Tenant) -> int:
    with db.transaction(tenant.id) as session:
        return session.execute(select(func.count()).select_from(Facility)).scalar_one()


def _upload(person: Person, content: bytes, *, kind: str = "facilities", lang: str = "en") -> Any:
    url = admin_url(person.tenant, f"/registry?lang={lang}")
    token = csrf_of(person.http.get(url).get_data(as_text=True))
    upload = FileStorage(io.BytesIO(content), filename="facilities.csv", content_type="text/csv")
    data = {"csrf_token": token, "kind": kind, "file": upload}
    # Encoded in memory: for a large body the test client would spool to a temporary file it never closes.
    stream, _length, boundary = stream_encode_multipart(data, use_tempfile=False)
    return person.http.post(
        url,
        data=stream.getvalue(),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Referer": f"{HTTPS}/"},
    )


def _report(html: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<table class="admin-table row-errors".*?</table>', html, re.S)
    assert table, "no error report"
    rows = re.findall(r"<tr><td[^>]*>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table.group(0))
    return [(line, column, message) for line, column, message in rows]


def test_a_valid_file_is_imported_and_summarized(db: Database, admin_b: Person, towns: Towns) -> None:
    content = csv_text(FACILITY_COLUMNS, [facility(1), facility(2, name_ja="ひまわり保育園")]).encode()
    response = _upload(admin_b, content)
    assert response.status_code == 303
    assert _facilities(db, towns.b) == 2
    page = admin_b.http.get(response.headers["Location"]).get_data(as_text=True)
    assert "Childcare facilities: 2 rows imported (2 new, 0 updated, 0 unchanged)." in page
    assert _facilities(db, towns.a) == 0  # only the admin's own municipality


def test_a_file_with_bad_rows_imports_nothing_and_lists_each_line(db: Database, admin_b: Person, towns: Towns) -> None:
    rows = [facility(1), facility(2, kind="castle"), facility(3), facility(4, postal_code="12")]
    response = _upload(admin_b, csv_text(FACILITY_COLUMNS, rows).encode())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert [(line, column) for line, column, _message in _report(html)] == [("3", "kind"), ("5", "postal_code")]
    assert (
        field_error(html, "file") == "The file has 2 problem(s): nothing was imported. Correct the rows listed below."
    )
    assert error_summary_links(html) == ["file"]
    assert _facilities(db, towns.b) == 0


def test_a_wrong_header_is_reported_on_line_1(db: Database, admin_b: Person, towns: Towns) -> None:
    response = _upload(admin_b, b"name,address\nx,y\n", lang="ja")
    assert response.status_code == 422
    report = _report(response.get_data(as_text=True))
    assert report and all(line == "1" for line, _column, _message in report)
    assert "何も取り込んでいません" in (field_error(response.get_data(as_text=True), "file") or "")


def test_a_file_over_5_mb_is_refused_beside_the_field(db: Database, admin_b: Person, towns: Towns) -> None:
    header = ",".join(FACILITY_COLUMNS) + "\n"
    response = _upload(admin_b, (header + " " * MAX_CSV_BYTES).encode())
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "file") == "The file is larger than 5 MB."
    assert _facilities(db, towns.b) == 0


def test_no_file_or_kind_and_a_file_in_no_known_encoding_are_refused(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    url = admin_url(towns.b, "/registry?lang=en")
    token = csrf_of(admin_b.http.get(url).get_data(as_text=True))
    response = admin_b.http.post(url, data={"csrf_token": token}, headers={"Referer": f"{HTTPS}/"})
    assert response.status_code == 422
    assert error_summary_links(response.get_data(as_text=True)) == ["kind", "file"]
    response = _upload(admin_b, b"facility_code,\x82\xa0\x00\x81\n")  # neither UTF-8 nor Shift_JIS
    assert response.status_code == 422
    message = "The file must be a CSV file saved as UTF-8 or Shift_JIS text: line 1 is neither."
    assert field_error(response.get_data(as_text=True), "file") == message


def test_an_upload_without_csrf_token_is_refused(db: Database, admin_b: Person, towns: Towns) -> None:
    content = csv_text(FACILITY_COLUMNS, [facility(1)]).encode()
    response = admin_b.http.post(
        admin_url(towns.b, "/registry"),
        data={"kind": "facilities", "file": (io.BytesIO(content), "f.csv")},
        headers={"Referer": f"{HTTPS}/"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert _facilities(db, towns.b) == 0
