"""requirements/*.txt (the locks) agree with pyproject.toml: every declared dependency is pinned, within
its range, with hashes. Refresh the locks with `bash .ci/lock` when this fails."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (REPO / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = match[2]
    return found


def declared(*extras: str) -> list[Requirement]:
    requirements = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in extras:
        requirements += [Requirement(r) for r in PYPROJECT["optional-dependencies"][extra]]
    return [r for r in requirements if canonicalize_name(r.name) != "madoguchi"]


@pytest.mark.parametrize(("lock", "extras"), [("app.txt", ()), ("dev.txt", ("test", "dev"))])
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    problems = []
    for requirement in declared(*extras):
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name}: not in requirements/{lock}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert problems == [], "run `bash .ci/lock`: " + "; ".join(problems)


@pytest.mark.parametrize("lock", ["app.txt", "dev.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (REPO / "requirements" / lock).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    without = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert without == []


def test_the_runtime_lock_is_the_dev_lock_restricted_to_the_app() -> None:
    """The demo and the image run exactly the versions the tests ran."""
    app, dev = pins("app.txt"), pins("dev.txt")
    assert {name: dev.get(name) for name in app} == app
