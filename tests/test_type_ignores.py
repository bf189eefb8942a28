"""The `# type: ignore` comments left in src/ stay few and explained.

mypy (pyproject.toml [tool.mypy], run by .ci/run) already refuses an ignore that is not needed
(warn_unused_ignores) or that names no error code (ignore-without-code). What it cannot check is the
house rule that each one says why, on its line or on the comment line just above.
"""

from __future__ import annotations

from pathlib import Path

import madoguchi

SRC = Path(madoguchi.__file__).parent
MARKER = "# type: ignore"


def unexplained_ignores(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if MARKER not in line:
                continue
            reason_after = "#" in line.split(MARKER, 1)[1]
            reason_above = number > 1 and lines[number - 2].lstrip().startswith("#")
            if not (reason_after or reason_above):
                found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_every_type_ignore_in_src_says_why() -> None:
    assert unexplained_ignores(SRC) == []


def test_a_bare_type_ignore_is_reported(tmp_path: Path) -> None:
    tmp_path.joinpath("bare.py").write_text('x: int = "1"  # type: ignore[assignment]\n', encoding="utf-8")
    tmp_path.joinpath("beside.py").write_text('x: int = "1"  # type: ignore[assignment]  # why\n', encoding="utf-8")
    tmp_path.joinpath("above.py").write_text('# why\nx: int = "1"  # type: ignore[assignment]\n', encoding="utf-8")
    assert unexplained_ignores(tmp_path) == ["bare.py:1"]


def test_tests_carry_no_type_ignore_since_mypy_does_not_read_them() -> None:
    """mypy checks src/ only: an ignore in tests/ silences nothing and only hides the code (issue 11)."""
    tests_dir = Path(__file__).parent
    found = [
        f"{path.relative_to(tests_dir)}:{number}"
        for path in sorted(tests_dir.rglob("*.py"))
        if path.name != Path(__file__).name and "node_modules" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if MARKER in line
    ]
    assert found == []
