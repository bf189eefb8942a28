"""Rule-set bodies: the shipped default is valid, and every kind of mistake is named by its pointer and line."""

from __future__ import annotations

import copy
import json

import pytest

from madoguchi.catalog.definitions.checker import default_catalog_dirs
from madoguchi.childcare import rules as rulebook

DEFAULT = rulebook.default_rules()


def assert_found(edit, expected: tuple[str, str]) -> None:
    """The edited default has a problem at ``expected[0]`` whose message contains ``expected[1]``."""
    body = copy.deepcopy(DEFAULT)
    edit(body)
    found = [(problem.pointer, problem.message) for problem in rulebook.check(body)]
    assert any(where == expected[0] and expected[1] in message for where, message in found), found
    with pytest.raises(rulebook.RulesInvalid):
        rulebook.validated(body)


def changed(**edits) -> dict:
    body = copy.deepcopy(DEFAULT)
    body.update(edits)
    return body


def test_the_default_is_read_from_the_catalog_and_is_valid():
    text = (default_catalog_dirs()[0] / rulebook.DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    assert json.loads(text) == DEFAULT
    assert rulebook.check(DEFAULT) == []
    assert rulebook.warnings(DEFAULT) == []
    assert DEFAULT["tie_breakers"][-1] == rulebook.LOTTERY
    # Every need reason of the form but 育休中 has a row (育休中 alone is no need for a new place).
    covered = {row["reason"] for row in DEFAULT["base_points"]}
    assert set(rulebook.REASONS) - covered == {"childcare_leave"}


def test_default_rules_returns_a_copy():
    rulebook.default_rules()["base_points"].clear()
    assert rulebook.default_rules()["base_points"]


def test_rank_tiebreak_defaults_to_false_and_is_warned_when_on():
    body = copy.deepcopy(DEFAULT)
    del body["rank_tiebreak"]
    assert rulebook.validated(body)["rank_tiebreak"] is False
    assert [(w.pointer, w.code) for w in rulebook.warnings(changed(rank_tiebreak=True))] == [
        ("/rank_tiebreak", "rank_tiebreak")
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda b: b.update(household_rule="average"), ("/household_rule", "'average' is not one of")),
        (lambda b: b.pop("sibling_key"), ("/sibling_key", "required")),
        (lambda b: b.update(max_preferences=31), ("/max_preferences", "31 is greater than the maximum of 30")),
        (lambda b: b.update(colour="red"), ("/colour", "unknown key")),
        (lambda b: b["base_points"][2].update(points="8"), ("/base_points/2/points", "'8' is not of type")),
        (lambda b: b["base_points"][0].update(reason="gardening"), ("/base_points/0/reason", "'gardening'")),
        (lambda b: b["reason_rank"].update(gardening=3), ("/reason_rank/gardening", "unknown reason")),
        (lambda b: b["adjustments"][0].pop("scope"), ("/adjustments/0/scope", "required")),
        (lambda b: b["adjustments"][6].update(tier=2), ("/adjustments/6/tier", "2 is not one of")),
        (lambda b: b["adjustments"].append({"code": "VIP", "points": 5, "scope": "household",
                                            "label": {"ja": "x", "en": "x"}}),
         ("/adjustments/9/code", "'VIP' is not one of")),
        (lambda b: b["tie_breakers"].insert(0, "SHOE_SIZE_ASC"), ("/tie_breakers/0", "'SHOE_SIZE_ASC'")),
    ],
)  # fmt: skip
def test_schema_mistakes_are_named_by_pointer(edit, expected):
    assert_found(edit, expected)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda b: b["base_points"][1].update(code="EMP160"), ("/base_points/1/code", "duplicate code 'EMP160'")),
        (lambda b: b["adjustments"][0].update(code="RETURN"), ("/adjustments/1/code", "duplicate code 'RETURN'")),
        (lambda b: b.update(tie_breakers=["LOTTERY_ASC", "BASE_TOTAL_DESC"]), ("/tie_breakers/0", "must be last")),
        (lambda b: b.update(tie_breakers=["BASE_TOTAL_DESC"]), ("/tie_breakers", "LOTTERY_ASC must be present")),
        (lambda b: b.update(tie_breakers=["BASE_TOTAL_DESC", "BASE_TOTAL_DESC", "LOTTERY_ASC"]),
         ("/tie_breakers/1", "listed twice")),
        (lambda b: b["reason_rank"].pop("pregnancy"), ("/base_points/10/reason", "'pregnancy' has no rank")),
        (lambda b: b["base_points"].insert(1, {"code": "EMP100", "reason": "employed", "min_monthly_hours": 100,
                                               "points": 7, "label": {"ja": "x", "en": "x"}}),
         ("/base_points/2", "never matches: /base_points/1")),
        (lambda b: b["base_points"][10].update(min_monthly_hours=10), ("/base_points/10/min_monthly_hours",
                                                                       "applies only to")),
        (lambda b: b["adjustments"][0].update(scope="facility"), ("/adjustments/0/scope", "only SIB_ENROLLED")),
        (lambda b: b.update(base_points=[r for r in b["base_points"] if r["code"] != "ABSENT"]),
         ("/base_points", "absent_guardian")),
    ],
)  # fmt: skip
def test_what_the_schema_cannot_say_is_checked_too(edit, expected):
    assert_found(edit, expected)


def test_problems_in_text_carry_the_line_of_the_value():
    text = rulebook.pretty(DEFAULT)
    lines = text.splitlines()
    broken = text.replace('"max_preferences": 10', '"max_preferences": 0').replace(
        '"household_rule": "sum"', '"household_rule": 1'
    )
    body, problems = rulebook.check_text(broken)
    assert body is None
    found = {problem.pointer: problem.line for problem in problems}
    assert lines[found["/max_preferences"] - 1].strip() == '"max_preferences": 10'
    assert lines[found["/household_rule"] - 1].strip() == '"household_rule": "sum",'
    # What only the semantic checks find (after the schema holds) has its line too.
    _, problems = rulebook.check_text(text.replace('"PREG"', '"EMP160"'))
    assert [(p.pointer, '"PREG"' in lines[p.line - 1]) for p in problems] == [("/base_points/10/code", True)]
    assert all(str(problem).startswith(f"line {problem.line}: /") for problem in problems)


def test_a_missing_key_is_placed_on_the_line_of_its_object():
    body = copy.deepcopy(DEFAULT)
    del body["adjustments"][3]["scope"]
    text = rulebook.pretty(body)
    _, problems = rulebook.check_text(text)
    assert [(p.pointer, p.message) for p in problems] == [("/adjustments/3/scope", "required")]
    assert text.splitlines()[problems[0].line - 1].strip() == "{"
    assert '"SIB_APPLY"' in text.splitlines()[problems[0].line]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{\n  "household_rule": "sum",\n  "x": }', "not valid JSON", 3),
        ('{"household_rule": "sum", "household_rule": "min_rank"}', "duplicate key 'household_rule'", None),
        ("[1, 2]", "is not of type 'object'", 1),
    ],
)
def test_text_that_is_not_a_rule_set_object_is_refused_with_its_position(text, message, line):
    body, problems = rulebook.check_text(text)
    assert body is None
    assert message in problems[0].message
    assert problems[0].line == line


def test_equal_bodies_hash_equal_whatever_the_key_order():
    reordered = dict(reversed(list(DEFAULT.items())))
    assert rulebook.body_sha256(reordered) == rulebook.body_sha256(DEFAULT)
    assert rulebook.body_sha256(changed(max_preferences=9)) != rulebook.body_sha256(DEFAULT)


def test_labels_come_from_the_body():
    assert rulebook.label(DEFAULT, "ABSENT")["ja"] == "保護者不存在（ひとり親）"
    assert rulebook.label(DEFAULT, "UNKNOWN") == {"ja": "UNKNOWN", "en": "UNKNOWN"}
    assert set(rulebook.TIE_BREAKER_LABELS) == set(rulebook.TIE_BREAKERS)
