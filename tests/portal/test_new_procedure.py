"""A new procedure needs no portal code (issue 14): its form.json's ``x-pages`` gives the pages in order and their
titles, ``x-page`` puts each question on its page, and the written order survives storage on both backends
(decision 0020)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from madoguchi.cli import main
from madoguchi.db import Database
from tests.catalog.test_catalog_check_cli import set_in_yaml
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, start, submit

REPO = Path(__file__).resolve().parents[2]
KEY = "dog-registration"  # 畜犬登録: not in the shipped catalog, so no code anywhere knows it
TEMPLATE = "tax-certificate"


def _text(ja: str, en: str) -> dict[str, str]:
    return {"ja": ja, "en": en}


def _field(ja: str, en: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": 50, "title": ja, "x-title": _text(ja, en), **schema}


def _dog_form() -> dict[str, Any]:
    """The taxpayer's applicant and requester, plus a dog whose questions are written in an order JSONB would
    not keep (longest name first), on a page that comes first although its field is written last."""
    shipped = json.loads((REPO / "services" / TEMPLATE / "form.json").read_text(encoding="utf-8"))
    dog = {
        "type": "object",
        "title": "登録する犬",
        "x-title": _text("登録する犬", "The dog"),
        "additionalProperties": False,
        "required": ["registration_area", "breed", "name"],
        "properties": {
            "registration_area": _field("飼育場所", "Where it lives"),
            "breed": _field("犬種", "Breed"),
            "name": _field("犬の名前", "Dog's name"),
        },
    }
    return {
        "$schema": shipped["$schema"],
        "type": "object",
        "title": "畜犬登録申請書",
        "x-title": _text("畜犬登録申請書", "Dog registration"),
        "x-pages": [
            {"name": "dog", "title": _text("犬について", "About the dog")},
            {"name": "owner", "title": _text("飼い主", "The owner")},
        ],
        "additionalProperties": False,
        "required": ["applicant", "requester", "dog"],
        "properties": {
            "applicant": {**shipped["properties"]["applicant"], "x-page": "owner"},
            "requester": {**shipped["properties"]["requester"], "x-page": "owner"},
            "dog": {**dog, "x-page": "dog"},
        },
    }


def _catalog_with_a_new_procedure(root: Path, tenant_slug: str) -> tuple[Path, Path]:
    services, tenants_dir = root / "services", root / "tenants"
    shutil.copytree(REPO / "services", services)
    shutil.copytree(REPO / "tenants", tenants_dir)
    folder = services / KEY
    folder.mkdir()
    definition = (REPO / "services" / TEMPLATE / "service.yaml").read_text(encoding="utf-8")
    (folder / "service.yaml").write_text(definition.replace(f"key: {TEMPLATE}", f"key: {KEY}"), encoding="utf-8")
    (folder / "form.json").write_text(json.dumps(_dog_form(), ensure_ascii=False, indent=2), encoding="utf-8")
    set_in_yaml(tenants_dir / f"{tenant_slug}.yaml", ["services", KEY], {})
    return services, tenants_dir


def _next(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return HTTPS + response.headers["Location"]


def test_a_procedure_added_as_data_is_walked_page_by_page_as_its_x_pages_say(
    towns: Towns, db: Database, runner: CliRunner, tmp_path: Path
) -> None:
    a = towns.a
    services, tenants_dir = _catalog_with_a_new_procedure(tmp_path, a.tenant.slug)
    for command in (["catalog", "check"], ["tenants", "sync"]):
        result = runner.invoke(main, [*command, "--services", str(services), "--tenants", str(tenants_dir)])
        assert result.exit_code == 0, result.output

    first = start(a.client, a.tenant, KEY)
    html = a.client.get(first).get_data(as_text=True)
    assert "<h1>犬について</h1>" in html
    asked = [html.index(f'name="/dog/{name}"') for name in ("registration_area", "breed", "name")]
    assert asked == sorted(asked), "the questions come in the order form.json wrote them"
    assert 'name="/requester/relationship"' not in html

    owner = _next(
        submit(
            a.client,
            first,
            {"/dog/registration_area": "自宅", "/dog/breed": "柴犬", "/dog/name": "𠮷丸", "action": "continue"},
        )
    )
    html = a.client.get(owner).get_data(as_text=True)
    assert "<h1>飼い主</h1>" in html
    assert 'name="/requester/relationship"' in html
    review = _next(submit(a.client, owner, {"/requester/relationship": "self", "action": "continue"}))

    html = a.client.get(review).get_data(as_text=True)
    assert html.index("犬について") < html.index("飼い主")
    confirmation = _next(submit(a.client, review, {}))
    application = load(db, a.tenant, application_id_of(confirmation))
    assert application.state == "submitted"
    assert application.data["dog"] == {"registration_area": "自宅", "breed": "柴犬", "name": "𠮷丸"}
    stored = application.settings_snapshot["form"]["properties"]["dog"]["properties"]
    assert list(stored) == ["registration_area", "breed", "name"]
