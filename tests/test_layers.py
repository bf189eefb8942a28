"""The layer contract (.importlinter, docs/decisions/0016-layers.md) can fail: an upward import is reported.

CI runs ``lint-imports`` over the real tree (.ci/run, right after mypy). This test proves that the contract has
teeth: on a copy of the package where the foundation's ``db.py`` imports the API, the layers contract names
exactly that import. A contract edited so that it no longer forbids it (a layer moved, a wildcard ignore) fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs import-linter's Python API in a fresh interpreter, so the package it analyses is the copy on its path
#: (in this process ``madoguchi`` is already imported from src/, and grimp would find that one).
LINT = """
import sys
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=".importlinter", limit_to_contracts=("layers",), no_cache=True, no_logo=True))
"""


def _lint_copy(tmp_path: Path, upward_import: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(
        ROOT / "src" / "madoguchi", tmp_path / "src" / "madoguchi", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    db_module = tmp_path / "src" / "madoguchi" / "db.py"
    db_module.write_text(db_module.read_text(encoding="utf-8") + f"\n{upward_import}\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layer_contract_reports_the_foundation_importing_a_surface(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, "from madoguchi.api import API_PREFIX  # noqa: E402 - a deliberate upward import")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "madoguchi.db is not allowed to import madoguchi.api" in result.stdout
    assert "madoguchi.db -> madoguchi.api" in result.stdout
