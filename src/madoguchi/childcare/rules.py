"""利用調整基準: the rule-set body a tenant edits, its JSON Schema, its checks, and the standard default.

A rule set says how a household's points (指数) are computed (``points``): one 基準指数 row per guardian, picked
from ``base_points`` (the first matching row wins), summed (``sum``, 大田区) or the worst taken (``min_rank``,
横浜市), plus 調整指数 ``adjustments`` (household- or facility-scoped points, or a tier ±1), and how equal scores are
ordered (``tie_breakers``). Adjustment codes and tie-breakers come from closed vocabularies: each is a fact the code
reads from the application, so a tenant chooses and orders them but cannot invent one nothing would ever produce.

:func:`check` returns every problem at once, each named by its JSON pointer; :func:`check_text` also parses the
text an administrator typed and gives each problem its line. The standard default ships with the catalog as
``services/childcare-admission/allocation-rules.json`` (:func:`default_rules`). Decision 0038.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from madoguchi.catalog.definitions.checker import default_catalog_dirs
from madoguchi.catalog.definitions.reading import DuplicateJSONKeyError, reject_duplicate_json_keys

#: Where the standard default lives, inside the catalog's ``services/`` folder.
DEFAULT_RULES_FILE = Path("childcare-admission") / "allocation-rules.json"

#: The form's need reasons (``/guardians/*/need_reason``), plus the missing guardian of a single-parent household.
NEED_REASONS = (
    "employed",
    "self_employed",
    "pregnancy",
    "illness",
    "disability",
    "caregiving",
    "disaster",
    "job_seeking",
    "student",
    "abuse_dv",
    "childcare_leave",
    "other",
)
ABSENT_REASON = "absent_guardian"
REASONS = (*NEED_REASONS, ABSENT_REASON)
#: Reasons whose rows may ask for monthly hours (the form asks hours for these only).
HOURS_REASONS = ("employed", "self_employed", "student")
#: Reasons the minimum monthly work hours applies to (保育の必要性: 就労 below the minimum is no need).
WORK_REASONS = ("employed", "self_employed")

#: Adjustment codes: each is one fact of the application (``points.facts_from_form``).
ADJUSTMENT_CODES = (
    "SINGLE",  # ひとり親
    "RETURN",  # 育休・産休からの復職
    "UNLIC",  # 認可外・認証保育等を利用中
    "SIB_APPLY",  # きょうだい同時申込
    "SIB_ENROLLED",  # きょうだい在園 (at the sibling's facility)
    "GRANDPARENT",  # 同居の65歳未満の祖父母等が保育可能
    "OUTSIDE",  # 市外在住・転入予定なし
    "EXTENSION_OK",  # 育休延長を許容
    "WELFARE_FIRST",  # 生活保護世帯を点数によらず優先 (稲沢市)
    "WELFARE",  # 生活保護世帯の加点 (台東区)
    "DISABILITY_HOUSEHOLD",  # 世帯に障害のある方
)
#: The only adjustment whose fact names a facility.
FACILITY_CODES = ("SIB_ENROLLED",)

#: The tie-breakers: named comparators implemented in ``points.priority``; LOTTERY_ASC is always last.
TIE_BREAKERS = (
    "NEW_BEFORE_TRANSFER",
    "BASE_TOTAL_DESC",
    "SINGLE_PARENT_FIRST",
    "REASON_RANK_ASC",
    "CHILDREN_DESC",
    "INCOME_LEVY_ASC",
    "LOTTERY_ASC",
)
LOTTERY = "LOTTERY_ASC"
#: How notices and admin pages name each tie-breaker (the vocabulary is closed, so the labels live in code).
TIE_BREAKER_LABELS: dict[str, dict[str, str]] = {
    "NEW_BEFORE_TRANSFER": {"ja": "新規入所を転園より優先", "en": "New admission before transfer"},
    "BASE_TOTAL_DESC": {"ja": "基準指数（調整指数を除く）の高い順", "en": "Higher base points (without adjustments)"},
    "SINGLE_PARENT_FIRST": {"ja": "ひとり親世帯を優先", "en": "Single-parent household first"},
    "REASON_RANK_ASC": {"ja": "保育を必要とする事由の優先順位の高い順", "en": "Higher-priority reason for care"},
    "CHILDREN_DESC": {"ja": "児童数の多い順", "en": "More children"},
    "INCOME_LEVY_ASC": {
        "ja": "市区町村民税所得割額の低い順",
        "en": "Lower municipal income levy",
    },
    "LOTTERY_ASC": {"ja": "抽選", "en": "Lottery"},
}

_CODE = {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,29}$"}
_LABEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ja", "en"],
    "properties": {
        "ja": {"type": "string", "minLength": 1, "maxLength": 100},
        "en": {"type": "string", "minLength": 1, "maxLength": 100},
    },
}
_POINTS = {"type": "integer", "minimum": -100, "maximum": 1000}
_ADJUSTMENT_COMMON = {"code": {"enum": list(ADJUSTMENT_CODES)}, "label": _LABEL}

#: The JSON Schema of a rule-set body (spec §1.2).
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "allocation rule set (利用調整基準)",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "household_rule",
        "min_monthly_work_hours",
        "base_points",
        "reason_rank",
        "adjustments",
        "tie_breakers",
        "sibling_key",
        "max_preferences",
    ],
    "properties": {
        "household_rule": {"enum": ["sum", "min_rank"]},
        "min_monthly_work_hours": {"type": "integer", "minimum": 1, "maximum": 200},
        "base_points": {
            "type": "array",
            "minItems": 1,
            "maxItems": 200,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "reason", "points", "label"],
                "properties": {
                    "code": _CODE,
                    "reason": {"enum": list(REASONS)},
                    "detail": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
                    "min_monthly_hours": {"type": "integer", "minimum": 1, "maximum": 744},
                    "points": _POINTS,
                    "label": _LABEL,
                },
            },
        },
        "reason_rank": {
            "type": "object",
            "propertyNames": {"enum": list(NEED_REASONS)},
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 99},
        },
        "adjustments": {
            "type": "array",
            "maxItems": len(ADJUSTMENT_CODES),
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "points", "scope", "label"],
                        "properties": {
                            **_ADJUSTMENT_COMMON,
                            "points": _POINTS,
                            "scope": {"enum": ["household", "facility"]},
                        },
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "tier", "label"],
                        "properties": {**_ADJUSTMENT_COMMON, "tier": {"enum": [-1, 1]}},
                    },
                ]
            },
        },
        "tie_breakers": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": list(TIE_BREAKERS)},
        },
        "sibling_key": {"enum": ["min", "average", "max"]},
        "rank_tiebreak": {"type": "boolean", "default": False},
        "max_preferences": {"type": "integer", "minimum": 1, "maximum": 30},
    },
}
_VALIDATOR = Draft202012Validator(SCHEMA)


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a rule set: where (a JSON pointer, and the line in the text when known) and what."""

    pointer: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.pointer or '/'}: {self.message}"


@dataclass(frozen=True)
class RuleWarning:
    """Allowed but worth saying (the admin page shows these beside the rule set)."""

    pointer: str
    code: str


class RulesInvalid(ValueError):
    """A rule-set body does not conform; ``problems`` lists every reason."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems) or "invalid rule set")


def pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901 JSON pointer of a path."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def check(body: Any) -> list[RuleProblem]:
    """Every problem of a rule-set body: the JSON Schema first, then what a schema cannot say."""
    problems = [_schema_problem(error) for error in _VALIDATOR.iter_errors(body)]
    if problems:
        return sorted(set(problems), key=_order)
    return _semantic_problems(body)


def _schema_problem(error: Any) -> RuleProblem:
    path = list(error.absolute_path)
    if error.validator == "oneOf" and error.context:
        # An adjustment is either points+scope or tier: name the branch the entry was closest to.
        wants_tier = isinstance(error.instance, dict) and "tier" in error.instance
        branch = [sub for sub in error.context if sub.relative_schema_path[0] == (1 if wants_tier else 0)]
        if branch:
            return _schema_problem(branch[0])
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return RuleProblem(pointer([*path, missing[0]]), "required")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = [name for name in error.instance if name not in known]
        if unknown:
            return RuleProblem(pointer([*path, unknown[0]]), f"unknown key (expected one of: {', '.join(known)})")
    if "propertyNames" in error.absolute_schema_path:
        return RuleProblem(pointer([*path, error.instance]), f"unknown reason {error.instance!r}")
    return RuleProblem(pointer(path), error.message)


def _order(problem: RuleProblem) -> tuple[tuple[tuple[int, int | str], ...], str]:
    # Document order: /base_points/2 before /base_points/10.
    parts = problem.pointer.split("/")[1:]
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts), problem.message


def _semantic_problems(body: dict[str, Any]) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    seen: dict[str, str] = {}
    rows = body["base_points"]
    for section in ("base_points", "adjustments"):
        for index, entry in enumerate(body[section]):
            where = pointer([section, index, "code"])
            if entry["code"] in seen:
                problems.append(RuleProblem(where, f"duplicate code {entry['code']!r} (also at {seen[entry['code']]})"))
            else:
                seen[entry["code"]] = where
    for index, row in enumerate(rows):
        if "min_monthly_hours" in row and row["reason"] not in HOURS_REASONS:
            message = f"min_monthly_hours applies only to {', '.join(HOURS_REASONS)}"
            problems.append(RuleProblem(pointer(["base_points", index, "min_monthly_hours"]), message))
        if row["reason"] not in body["reason_rank"] and row["reason"] != ABSENT_REASON:
            message = f"reason {row['reason']!r} has no rank in /reason_rank"
            problems.append(RuleProblem(pointer(["base_points", index, "reason"]), message))
        shadow = next((earlier for earlier in range(index) if _covers(rows[earlier], row)), None)
        if shadow is not None:
            message = f"never matches: /base_points/{shadow} already matches every guardian it would"
            problems.append(RuleProblem(pointer(["base_points", index]), message))
    if not any(row["reason"] == ABSENT_REASON for row in rows):
        message = f"a row with reason {ABSENT_REASON!r} is needed (the missing guardian of a single-parent household)"
        problems.append(RuleProblem("/base_points", message))
    for index, entry in enumerate(body["adjustments"]):
        if entry.get("scope") == "facility" and entry["code"] not in FACILITY_CODES:
            message = f"only {', '.join(FACILITY_CODES)} names a facility; use scope household"
            problems.append(RuleProblem(pointer(["adjustments", index, "scope"]), message))
    ties = body["tie_breakers"]
    for index, name in enumerate(ties):
        if name in ties[:index]:
            problems.append(RuleProblem(pointer(["tie_breakers", index]), f"{name} is listed twice"))
    if LOTTERY not in ties:
        problems.append(RuleProblem("/tie_breakers", f"{LOTTERY} must be present (it makes every key strict)"))
    elif ties[-1] != LOTTERY:
        problems.append(RuleProblem(pointer(["tie_breakers", ties.index(LOTTERY)]), f"{LOTTERY} must be last"))
    return problems


def _covers(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    """Whether every guardian matching ``later`` already matches ``earlier`` (first match wins)."""
    if earlier["reason"] != later["reason"]:
        return False
    if "detail" in earlier and earlier.get("detail") != later.get("detail"):
        return False
    return earlier.get("min_monthly_hours", 0) <= later.get("min_monthly_hours", 0)


def warnings(body: dict[str, Any]) -> list[RuleWarning]:
    """What a valid rule set allows but an administrator should see said (spec §1.3: options not default)."""
    found: list[RuleWarning] = []
    if body.get("rank_tiebreak", False):
        # 大阪市-style 希望順位 tie-break: honest listing can lose (多摩市 removed it in FY2022).
        found.append(RuleWarning("/rank_tiebreak", "rank_tiebreak"))
    if body["household_rule"] == "min_rank":
        values = sorted({row["points"] for row in body["base_points"]})
        step = min((b - a for a, b in itertools.pairwise(values)), default=None)
        lift = sum(abs(entry.get("points", 0)) for entry in body["adjustments"])
        if step is not None and lift >= step:
            # Adjustments order households within a rank; this large, they can move one across ranks.
            found.append(RuleWarning("/adjustments", "adjustments_cross_ranks"))
    return found


def validated(body: Any) -> dict[str, Any]:
    """The body with its defaults filled in (``rank_tiebreak``), or :class:`RulesInvalid`."""
    problems = check(body)
    if problems:
        raise RulesInvalid(problems)
    return {**body, "rank_tiebreak": body.get("rank_tiebreak", False)}


def canonical(body: dict[str, Any]) -> str:
    """The stored text of a body: sorted keys, no insignificant space, so equal rule sets hash equal."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def body_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def pretty(body: dict[str, Any]) -> str:
    """The text an administrator edits: two-space indented, keys in their written order."""
    return json.dumps(body, ensure_ascii=False, indent=2)


# --- Text with line numbers -------------------------------------------------------------------------------------------


def check_text(text: str) -> tuple[dict[str, Any] | None, list[RuleProblem]]:
    """Parse and check the text of a rule set: the valid body (defaults filled) or the problems, each with its line."""
    try:
        body = json.loads(text, object_pairs_hook=reject_duplicate_json_keys)
    except json.JSONDecodeError as exc:
        return None, [RuleProblem("", f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno)]
    except DuplicateJSONKeyError as exc:
        return None, [RuleProblem("", f"duplicate key {exc.args[0]!r}", None)]
    problems = check(body)
    if problems:
        lines = _value_lines(text)
        return None, [RuleProblem(p.pointer, p.message, _line_of(lines, p.pointer)) for p in problems]
    return validated(body), []


def _line_of(lines: dict[str, int], where: str) -> int | None:
    # A missing key has no line of its own: name the line of the object it is missing from.
    while where not in lines and where:
        where = where.rsplit("/", 1)[0]
    return lines.get(where)


def _value_lines(text: str) -> dict[str, int]:
    """The line (1-based) where each value of a valid JSON text starts, by JSON pointer."""
    decoder = json.JSONDecoder()
    lines: dict[str, int] = {}

    def skip(at: int) -> int:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        return at

    def value(at: int, where: str) -> int:
        at = skip(at)
        lines[where] = text.count("\n", 0, at) + 1
        if text[at] == "{":
            at = skip(at + 1)
            while text[at] != "}":
                key, at = decoder.raw_decode(text, at)
                at = skip(skip(at) + 1)  # past the colon
                at = skip(value(at, where + pointer([key])))
                if text[at] == ",":
                    at = skip(at + 1)
            return at + 1
        if text[at] == "[":
            at, index = skip(at + 1), 0
            while text[at] != "]":
                at = skip(value(at, where + pointer([index])))
                index += 1
                if text[at] == ",":
                    at = skip(at + 1)
            return at + 1
        return int(decoder.raw_decode(text, at)[1])

    value(0, "")
    return lines


# --- The standard default ---------------------------------------------------------------------------------------------


def default_rules(services_dir: Path | None = None) -> dict[str, Any]:
    """The standard rule set shipped with the catalog (a copy: callers may change it)."""
    folder = services_dir if services_dir is not None else default_catalog_dirs()[0]
    return copy.deepcopy(_read_default(Path(folder) / DEFAULT_RULES_FILE))


@lru_cache(maxsize=4)
def _read_default(path: Path) -> dict[str, Any]:
    return validated(json.loads(path.read_text(encoding="utf-8")))


def label(body: dict[str, Any], code: str) -> dict[str, str]:
    """The ja/en label of a base-points row or adjustment code (the code itself when the body has none)."""
    for entry in (*body["base_points"], *body["adjustments"]):
        if entry["code"] == code:
            return dict(entry["label"])
    return {"ja": code, "en": code}
