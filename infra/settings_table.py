"""Print the Markdown table of every ``MADOGUCHI_*`` setting, generated from ``madoguchi.config.Settings``.

    python infra/settings_table.py                          # print the table
    python infra/settings_table.py --write docs/operations.md  # replace the table between its markers

Each row comes from a ``Settings`` field: its environment variable, its type, its default and its ``#:`` doc
comment. docs/operations.md carries the output between ``<!-- settings-table:start -->`` and
``<!-- settings-table:end -->``; tests/infra/test_operations_doc.py fails when a field is missing there.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from madoguchi import config

START_MARKER = "<!-- settings-table:start -->"
END_MARKER = "<!-- settings-table:end -->"
_TYPE_NAMES = {"str": "text", "int": "integer", "float": "number", "bool": "boolean", "Path": "path"}


@dataclasses.dataclass(frozen=True)
class SettingRow:
    variable: str
    type_name: str
    default: str
    meaning: str


def env_name(field_name: str) -> str:
    return f"MADOGUCHI_{field_name.upper()}"


def _doc_comments() -> dict[str, str]:
    """The ``#:`` lines right above each field of ``Settings``, joined, by field name."""
    source = Path(config.__file__).read_text(encoding="utf-8")
    lines = source.splitlines()
    settings_class = next(
        node for node in ast.parse(source).body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    comments: dict[str, str] = {}
    for node in settings_class.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        collected: list[str] = []
        index = node.lineno - 2  # the line above the field (lineno is 1-based)
        while index >= 0 and lines[index].strip().startswith("#:"):
            collected.insert(0, lines[index].strip()[2:].strip())
            index -= 1
        comments[node.target.id] = " ".join(collected)
    return comments


def _render_default(field: dataclasses.Field[object]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
        from_factory = False
    else:
        # Computed at start-up (e.g. from the working directory): show it without this machine's paths.
        saved = os.environ.pop(env_name(field.name), None)
        try:
            value = field.default_factory()  # type: ignore[misc]
        finally:
            if saved is not None:
                os.environ[env_name(field.name)] = saved
        from_factory = True
    if isinstance(value, Path):
        if from_factory:
            return f"`{_relative(value, Path.cwd())}` (in the working directory)"
        return f"`{_relative(value, config._REPO_ROOT)}` (in the source tree)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "(empty)"
    return f"`{value}`"


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix() or "."
    except ValueError:
        return path.name


def _markdown(text: str) -> str:
    # reST literals (``x``) to Markdown ones; a pipe would end the table cell.
    return re.sub(r"``([^`]+)``", r"`\1`", text).replace("|", "\\|")


def rows() -> Iterator[SettingRow]:
    comments = _doc_comments()
    for field in dataclasses.fields(config.Settings):
        type_name = field.type if isinstance(field.type, str) else field.type.__name__
        yield SettingRow(
            variable=env_name(field.name),
            type_name=_TYPE_NAMES.get(type_name, type_name),
            default=_render_default(field),
            meaning=_markdown(comments.get(field.name, "")),
        )


def table() -> str:
    lines = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{row.variable}` | {row.type_name} | {row.default} | {row.meaning} |" for row in rows()]
    return "\n".join(lines) + "\n"


def replace_table(document: str, new_table: str) -> str:
    """``document`` with the text between the markers replaced by ``new_table``."""
    start, end = document.find(START_MARKER), document.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"the document lacks the markers {START_MARKER} ... {END_MARKER}")
    return document[: start + len(START_MARKER)] + "\n" + new_table + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", type=Path, metavar="FILE", help="replace the table between the markers in FILE")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(table())
        return 0
    try:
        args.write.write_text(replace_table(args.write.read_text(encoding="utf-8"), table()), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"{args.write}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.write}: settings table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
