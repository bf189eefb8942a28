"""HTTP adapters live in the surfaces and every one of them is registered (decision record 0017)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import madoguchi

PACKAGE_ROOT = Path(madoguchi.__file__).parent
#: Packages that may speak HTTP; every other package of madoguchi is a domain or foundation package.
SURFACE_PACKAGES = {"api", "accounts", "portal", "console", "tenant_admin", "admin", "web", "health", "demo", "cli"}
BLUEPRINT_LISTS = {"API_BLUEPRINTS", "WEB_BLUEPRINTS"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parsed_modules():
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _creates_blueprint(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Blueprint"
        for node in ast.walk(tree)
    )


def _assigned_names(tree: ast.Module) -> set[str]:
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_no_domain_package_creates_a_blueprint() -> None:
    in_domains = [
        _module_name(path)
        for path, tree in _parsed_modules()
        if len(path.relative_to(PACKAGE_ROOT).parts) > 1
        and path.relative_to(PACKAGE_ROOT).parts[0] not in SURFACE_PACKAGES
        and _creates_blueprint(tree)
    ]
    assert in_domains == []


def test_every_listed_blueprint_is_registered_by_create_app(app) -> None:
    listing = [_module_name(path) for path, tree in _parsed_modules() if _assigned_names(tree) & BLUEPRINT_LISTS]
    assert "madoguchi.api.applications" in listing and "madoguchi.accounts.views" in listing
    unregistered = [
        f"{module_name}:{blueprint.name}"
        for module_name in listing
        for name in BLUEPRINT_LISTS
        for blueprint in getattr(importlib.import_module(module_name), name, ())
        if app.blueprints.get(blueprint.name) is not blueprint
    ]
    assert unregistered == []


def test_no_blueprint_is_found_by_a_module_name_string() -> None:
    registries = [PACKAGE_ROOT / "app.py", PACKAGE_ROOT / "api" / "__init__.py", PACKAGE_ROOT / "web" / "__init__.py"]
    assert [path.name for path in registries if "importlib" in path.read_text(encoding="utf-8")] == []
