"""infra/Dockerfile and .dockerignore, read as Docker reads them (there is no Docker engine to build with here).

The builder stage is also replayed: the files it copies are copied into a temporary folder and its
``pip wheel`` is run there, proving the image builds the package the README installs (same pyproject).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.helpers import REPO

DOCKERFILE = REPO / "infra" / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage: comments dropped, backslash continuations joined (Docker's default escape)."""
    stages: list[Stage] = []
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), start)
        logical = ""
        if instruction.keyword == "FROM":
            parts = instruction.arguments.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(parts[0], name, []))
        elif not stages:
            assert instruction.keyword in ("ARG",), f"line {start}: {instruction.keyword} before FROM"
        else:
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(arguments: str) -> list[str]:
    """``["a", "b"]`` (JSON exec form) or a shell form split like a shell would."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_it_is_multi_stage_with_a_slim_python_runtime(stages: list[Stage]) -> None:
    assert [s.name for s in stages] == ["builder", "runtime"]
    for stage in stages:
        assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?", stage.image), stage.image


def test_builder_makes_a_wheel_of_this_repository_from_its_pyproject(stages: list[Stage]) -> None:
    builder = stages[0]
    copied = " ".join(i.arguments for i in builder.all("COPY"))
    for needed in ("pyproject.toml", "README.md", "src"):
        assert needed in copied
    assert any("pip wheel" in i.arguments and i.arguments.rstrip().endswith(" .") for i in builder.all("RUN"))


def test_builder_takes_the_dependencies_from_the_hash_checked_lock_and_the_package_without_resolving(
    stages: list[Stage],
) -> None:
    builder = stages[0]
    runs = [i.arguments for i in builder.all("RUN") if "pip wheel" in i.arguments]
    assert any("--require-hashes" in run and "-r requirements/app.txt" in run for run in runs), runs
    (package,) = [run for run in runs if run.rstrip().endswith(" .")]
    assert "--no-deps" in package


def test_runtime_installs_the_package_offline_from_the_builders_wheels(stages: list[Stage]) -> None:
    runtime = stages[1]
    (install,) = [i for i in runtime.all("RUN") if "pip install" in i.arguments]
    assert "from=builder" in install.arguments
    assert "--no-index" in install.arguments and install.arguments.rstrip().endswith("madoguchi")


def test_runtime_installs_the_certificate_fonts_and_nothing_recommended(stages: list[Stage]) -> None:
    (apt,) = [i for i in stages[1].all("RUN") if "apt-get install" in i.arguments]
    words = apt.arguments.split()
    assert {"fonts-ipamj-mincho", "fonts-hanazono", "fonts-ipaexfont-gothic", "fonts-ipaexfont-mincho"} <= set(words)
    assert "--no-install-recommends" in words
    assert "rm -rf /var/lib/apt/lists/*" in apt.arguments


def test_runtime_runs_as_a_non_root_user(stages: list[Stage]) -> None:
    users = stages[1].all("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].arguments.split(":")[0]
    assert user not in ("root", "0")
    # The last USER must come after every RUN (a later RUN would run as someone else).
    last_run = max(i.line for i in stages[1].all("RUN"))
    assert users[-1].line > last_run


def test_healthcheck_asks_healthz_with_python(stages: list[Stage]) -> None:
    (healthcheck,) = stages[1].all("HEALTHCHECK")
    command = exec_form(healthcheck.arguments[healthcheck.arguments.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    assert "/healthz" in command[-1]


def test_serves_gunicorn_with_the_repositorys_config(stages: list[Stage]) -> None:
    runtime = stages[1]
    (expose,) = runtime.all("EXPOSE")
    assert expose.arguments == "8000"
    (cmd,) = runtime.all("CMD")
    assert exec_form(cmd.arguments) == ["gunicorn", "-c", "infra/gunicorn.conf.py", "madoguchi:create_app()"]
    copies = [exec_form(i.arguments) for i in runtime.all("COPY") if "--from" not in i.arguments]
    assert ["infra/gunicorn.conf.py", "./infra/gunicorn.conf.py"] in copies
    # Catalog and municipality files are data outside the package: shipped and pointed at.
    env = " ".join(i.arguments for i in runtime.all("ENV"))
    assert "MADOGUCHI_SERVICES_DIR=/app/services" in env and "MADOGUCHI_TENANTS_DIR=/app/tenants" in env


SECRET_LOOKING_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(^|_)KEY($|_)|DATABASE_URL", re.I)


def test_no_secret_is_baked_into_the_image(stages: list[Stage]) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    names = []
    for stage in stages:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            names += re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", instruction.arguments)
    assert names, "expected some ENV"
    assert [n for n in names if SECRET_LOOKING_NAME.search(n)] == []
    assert "AKIA" not in text and "BEGIN PRIVATE KEY" not in text


# -- .dockerignore ----------------------------------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().lstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching (Go filepath.Match plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out.rstrip("/"))


def ignored(path: str, patterns: list[str]) -> bool:
    """True when Docker leaves ``path`` out of the build context (a folder's exclusion covers its contents)."""
    result = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            result = not negate
    return result


def test_dockerignore_matching_works_like_dockers() -> None:
    assert ignored("src/madoguchi/__pycache__/app.cpython-311.pyc", ["**/__pycache__"])
    assert ignored("instance/madoguchi.db", ["instance/"])
    assert not ignored("src/instance.py", ["instance/"])
    assert not ignored("keep.env", ["*.env", "!keep.env"])


def test_build_context_has_what_the_dockerfile_copies_and_no_local_state(stages: list[Stage]) -> None:
    patterns = dockerignore_patterns()
    sources = []
    for stage in stages:
        for instruction in stage.all("COPY"):
            if "--from" in instruction.arguments:
                continue
            sources += exec_form(instruction.arguments)[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for local_state in ("instance/madoguchi.db", ".git/config", "tests/conftest.py", ".env", "terraform/x.tfstate"):
        assert ignored(local_state, patterns), local_state
    assert not ignored("src/madoguchi/app.py", patterns)


# -- the builder stage, replayed ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_builder_stage_builds_the_readme_package_with_templates_and_migrations(
    stages: list[Stage], tmp_path: Path
) -> None:
    context = tmp_path / "build"
    context.mkdir()
    for instruction in stages[0].all("COPY"):
        *sources, _destination = exec_form(instruction.arguments)
        for source in sources:
            if (REPO / source).is_dir():
                shutil.copytree(
                    REPO / source, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
                )
            else:
                (context / source).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, context / source)
    wheels = tmp_path / "wheels"
    # The builder's command, with --no-deps: the dependencies' wheels would only be downloaded, not inspected.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = wheels.glob("madoguchi-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "madoguchi/app.py" in names
    assert any(n.startswith("madoguchi/migrations/versions/") and n.endswith(".py") for n in names)
    assert any(n.endswith(".html") and "/templates/" in n for n in names)
    assert any(n.endswith(".po") and "/translations/" in n for n in names)
    assert any(n.startswith("madoguchi/web/static/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "madoguchi = madoguchi.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
