"""Problems found in catalog files: each names the file and the field; checking never stops at the first one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Field used in a :class:`Problem` about a whole file rather than one of its fields.
WHOLE_FILE = "(file)"


# --- Problems ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One conformance problem: which file, which field in it, and what is wrong."""

    file: str
    field: str
    message: str
    #: The line of ``field`` in the file (1-based), where the check gives it: ``file:line: field: message``.
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class CatalogError(Exception):
    """A catalog or tenant file could not be loaded because it does not conform; ``problems`` says why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems) or "invalid catalog")


def field_path(parts: Iterable[str | int]) -> str:
    """Render a path inside a document the way people read it: ``workflow.transitions[2].to``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or WHOLE_FILE


def display(path: Path) -> str:
    """The file name as the user should see it: relative to the working directory when it is inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path.as_posix()


def unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
