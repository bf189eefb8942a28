"""Who issues: the tenant file names the 市町村長 and the seal image; the sync carries them into the tenant's profile
(the seal as data, so no worker needs the tenants folder), and certificates print them."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from madoguchi.catalog.definitions.tenants import inspect_tenant, load_tenant
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents import certificates
from tests.factories import tenants

TENANTS = Path(__file__).parents[2] / "tenants"


def test_the_tenant_file_names_the_mayor_and_reads_the_seal_in() -> None:
    issuer = load_tenant(TENANTS / "shiomi-town.yaml")["issuer"]
    assert (issuer["title"], issuer["name"]) == ("汐見町長", "浜田　誠一")
    assert base64.b64decode(issuer["seal_png"]) == (TENANTS / "seals" / "shiomi-town.png").read_bytes()


@pytest.mark.parametrize(
    ("seal", "content", "message"),
    [
        ("seals/absent.png", None, "no file seals/absent.png"),
        ("seals/fake.png", b"GIF89a not a png", "not a PNG image"),
        ("seals/huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 70_000, "at most 65,536"),
        ("../outside.png", None, "must be a .png file in the tenants folder"),
    ],
)
def test_a_wrong_seal_is_a_problem_of_the_tenant_file(tmp_path: Path, seal: str, content: bytes | None, message: str):
    folder = tmp_path / "tenants"
    (folder / "seals").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes((TENANTS / "seals" / "shiomi-town.png").read_bytes())
    if content is not None:
        (folder / seal).write_bytes(content)
    text = (TENANTS / "shiomi-town.yaml").read_text(encoding="utf-8").replace("seals/shiomi-town.png", seal)
    (folder / "shiomi-town.yaml").write_text(text, encoding="utf-8")
    _tenant, problems = inspect_tenant(folder / "shiomi-town.yaml", None)
    assert [p.field for p in problems] == ["issuer.seal"]
    assert message in problems[0].message


def test_a_tenant_file_without_an_issuer_is_valid(tmp_path: Path) -> None:
    text = (TENANTS / "shiomi-town.yaml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith(("issuer:", "  title:", "  name:", "  seal:"))]
    (tmp_path / "shiomi-town.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    assert "issuer" not in load_tenant(tmp_path / "shiomi-town.yaml")


def test_synced_tenants_carry_their_issuer(db: Database, seeded: None) -> None:
    shiomi = next(t for t in tenants(db) if t.slug == "shiomi-town")
    assert shiomi.profile["issuer"]["name"] == "浜田　誠一"
    assert base64.b64decode(shiomi.profile["issuer"]["seal_png"]).startswith(b"\x89PNG")


def test_the_issuer_printed_is_the_tenant_files_else_the_setting(settings: Settings, tmp_path: Path) -> None:
    made = certificates.Certificates(replace(settings, data_dir=tmp_path))
    seal = (TENANTS / "seals" / "shiomi-town.png").read_bytes()
    profile = {
        "contact": {"department": {"ja": "住民福祉課"}},
        "issuer": {"title": "汐見町長", "name": "浜田　誠一", "seal_png": base64.b64encode(seal).decode()},
    }
    issuer = made.issuer_of(SimpleNamespace(name_ja="汐見町", profile=profile))
    assert (issuer.line, issuer.department, issuer.seal) == ("汐見町長　浜田　誠一", "住民福祉課", seal)
    plain = made.issuer_of(SimpleNamespace(name_ja="緑川村", profile={}))
    assert (plain.line, plain.seal) == ("緑川村長", None)
