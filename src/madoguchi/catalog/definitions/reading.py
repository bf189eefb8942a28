"""Reading catalog files strictly: YAML and JSON with duplicate keys refused, each failure a Problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from madoguchi.catalog.definitions.problems import WHOLE_FILE, Problem, field_path

# --- Reading files ----------------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys, which plain YAML silently resolves to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let the base class report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class DuplicateJSONKeyError(ValueError):
    """A JSON object names a key twice (``json`` would silently keep the last); ``args[0]`` is the key."""


def reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads`` that refuses duplicate keys."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateJSONKeyError(key)
        result[key] = value
    return result


def _read_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    try:
        return path.read_text(encoding="utf-8-sig"), []
    except FileNotFoundError:
        return None, [Problem(file, WHOLE_FILE, "file not found")]
    except UnicodeDecodeError:
        return None, [Problem(file, WHOLE_FILE, "not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(file, WHOLE_FILE, f"cannot read: {exc.strerror or exc}")]


def read_yaml(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Parse a YAML file; on failure return ``None`` and a problem that gives the line and column."""
    text, problems = _read_text(path, file)
    if text is None:
        return None, problems
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- _UniqueKeyLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(file, WHOLE_FILE, f"invalid YAML{where}: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid YAML: {exc}")]
    if data is None:
        return None, [Problem(file, WHOLE_FILE, "file is empty")]
    if not isinstance(data, dict):
        return None, [Problem(file, WHOLE_FILE, "must be a mapping of key: value at the top level")]
    return data, []


def yaml_lines(path: Path) -> dict[str, int]:
    """Each field of a YAML file that parses, by its path as problems name it (``childcare_fees.brackets[2].below``),
    with the 1-based line it is written on; empty when the file cannot be read or parsed."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, parts: tuple[str | int, ...]) -> None:
        if parts:
            lines.setdefault(field_path(parts), node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault(field_path((*parts, key.value)), key.start_mark.line + 1)
                    walk(value, (*parts, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*parts, index))

    if root is not None:
        walk(root, ())
    return lines


def read_json(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Parse a JSON file that must hold an object; on failure return ``None`` and a problem with the position."""
    text, problems = _read_text(path, file)
    if text is None:
        return None, problems
    try:
        data = json.loads(text, object_pairs_hook=reject_duplicate_json_keys)
    except json.JSONDecodeError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    except DuplicateJSONKeyError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid JSON: duplicate key {exc.args[0]!r}")]
    if not isinstance(data, dict):
        return None, [Problem(file, WHOLE_FILE, "must be a JSON object at the top level")]
    return data, []
