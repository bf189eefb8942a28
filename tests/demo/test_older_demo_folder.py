"""A demo folder made by an older checkout, whose shipped procedures have since changed, says what to do."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from madoguchi.demo import demo_settings, seed
from madoguchi.errors import Conflict

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_demo_folder_from_before_a_procedure_changed_is_refused_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MADOGUCHI_DATABASE_URL", "MADOGUCHI_DATA_DIR", "MADOGUCHI_SERVICES_DIR", "MADOGUCHI_TENANTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    services = tmp_path / "services"
    shutil.copytree(REPO / "services", services)
    settings = replace(demo_settings(tmp_path / "instance"), services_dir=services, tenants_dir=REPO / "tenants")
    seed(settings)

    form_file = services / "residency-certificate" / "form.json"
    form = json.loads(form_file.read_text(encoding="utf-8"))
    form["x-description"]["ja"] = "住民票の写しの交付を請求します（様式を改めました）。"
    form_file.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")

    with pytest.raises(Conflict) as refusal:
        seed(settings)
    message = str(refusal.value.detail)
    assert "already published with different content" in message
    assert str(settings.data_dir) in message and "delete it" in message
