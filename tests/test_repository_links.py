"""The README and the docs point only at what the repository holds (issue 11, point 7): every relative link and
every file name they mention exists, and no source file cites a design note that is not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
#: A markdown link target, or a bare file name such as ``docs/operations.md`` or ``DESIGN.md``.
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MARKDOWN_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def _targets(document: Path) -> set[str]:
    text = document.read_text(encoding="utf-8")
    links = {target for target in LINK.findall(text) if "://" not in target and not target.startswith("mailto:")}
    return links | set(MARKDOWN_FILE.findall(LINK.sub("]", text)))


def _exists(document: Path, target: str) -> bool:
    return any((base / target).exists() for base in (document.parent, REPO, REPO / "docs"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_file_a_document_links_or_names_is_in_the_repository(document: Path) -> None:
    missing = sorted(target for target in _targets(document) if not _exists(document, target))
    assert not missing, f"{document.relative_to(REPO)} points outside the repository: {missing}"


def test_no_source_or_test_cites_a_design_note_outside_the_repository() -> None:
    outside = ("DESIGN.md", "STYLE.md", "DOMAIN.md")
    citing = [
        f"{path.relative_to(REPO)}: {name}"
        for path in [*(REPO / "src").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
        if path != Path(__file__)
        for name in outside
        if name in path.read_text(encoding="utf-8") and not (REPO / name).exists()
    ]
    assert not citing, citing
