"""Registry CSVs as municipal systems write them (decision 0035): Shift_JIS (CP932) imported like UTF-8, with or
without a BOM; a bad row of a Shift_JIS file listed on its line; a user-defined 外字 refused on its line, saying that
only UTF-8 carries it. Nothing is imported from a refused file."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.registry.csv_formats import RESIDENT_COLUMNS
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.registry.test_csv_formats import csv_text, resident
from tests.tenant_admin.conftest import Person as Admin
from tests.tenant_admin.conftest import Towns, field_error
from tests.tenant_admin.test_registry_upload import _report, _upload

ROWS = [
    resident(1, family_name="髙橋", given_name="一郎", family_name_kana="ﾀｶﾊｼ"),
    resident(2, family_name="山﨑", given_name="花子", family_name_kana="ヤマサキ", given_name_kana="ハナコ"),
]


def _people(db: Database, tenant: Tenant) -> dict[str, tuple[str, str]]:
    with db.transaction(tenant.id) as session:
        rows = session.execute(select(Person.resident_code, Person.family_name, Person.family_name_kana)).all()
    return {code: (name, kana) for code, name, kana in rows}


def test_a_shift_jis_file_is_imported_with_its_names_exactly(db: Database, admin_b: Admin, towns: Towns) -> None:
    # csv_text writes CRLF line ends, as Excel on Windows does.
    content = csv_text(RESIDENT_COLUMNS, ROWS).encode("cp932")
    response = _upload(admin_b, content, kind="residents")
    assert response.status_code == 303, field_error(response.get_data(as_text=True), "file")
    assert _people(db, towns.b) == {f"{1:011d}": ("髙橋", "タカハシ"), f"{2:011d}": ("山﨑", "ヤマサキ")}
    assert _people(db, towns.a) == {}


def test_utf8_with_a_bom_is_imported_too(db: Database, admin_b: Admin, towns: Towns) -> None:
    row = resident(3, family_name="𠮷田", family_name_kana="ヨシダ")  # beyond Shift_JIS: only UTF-8 has it
    response = _upload(admin_b, "\ufeff".encode() + csv_text(RESIDENT_COLUMNS, [row]).encode(), kind="residents")
    assert response.status_code == 303
    assert _people(db, towns.b) == {f"{3:011d}": ("𠮷田", "ヨシダ")}


def test_a_bad_row_of_a_shift_jis_file_is_listed_on_its_line(db: Database, admin_b: Admin, towns: Towns) -> None:
    rows = [*ROWS, resident(3, family_name_kana="Sato"), resident(4, birth_date="令和元年4月31日")]
    response = _upload(admin_b, csv_text(RESIDENT_COLUMNS, rows).encode("cp932"), kind="residents")
    assert response.status_code == 422
    report = _report(response.get_data(as_text=True))
    assert [(line, column) for line, column, _message in report] == [("4", "family_name_kana"), ("5", "birth_date")]
    assert "全角カタカナ" in report[0][2]
    assert _people(db, towns.b) == {}


def test_a_user_defined_gaiji_is_refused_on_its_line_saying_only_utf8_carries_it(
    db: Database, admin_b: Admin, towns: Towns
) -> None:
    content = csv_text(RESIDENT_COLUMNS, ROWS).encode("cp932")
    # The exporting system's own 外字 for 髙 sits in CP932's user-defined area (0xF040 and on): line 2.
    content = content.replace("髙".encode("cp932"), b"\xf0\x40")
    response = _upload(admin_b, content, kind="residents", lang="ja")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "file") == (
        "2行目に、Shift_JISでは表せない外字（利用者定義文字）があります。外字を含む氏名を取り込むには、UTF-8で保存してください。"
    )
    assert _people(db, towns.b) == {}
    english = _upload(admin_b, content, kind="residents")
    assert "Line 2 has a user-defined character (外字)" in (field_error(english.get_data(as_text=True), "file") or "")
