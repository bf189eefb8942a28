"""Checks of a procedure's workflow: states and transitions, reachability, four eyes, optional steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from madoguchi.catalog.definitions.problems import Problem, field_path, unique
from madoguchi.catalog.definitions.vocabulary import KNOWN_ACTIONS, KNOWN_DOCUMENT_KINDS, KNOWN_GUARDS, KNOWN_ROLES

# --- Workflows --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A state or transition together with where it is written in service.yaml (for problem messages)."""

    item: dict[str, Any]
    path: tuple[str | int, ...]
    step: str | None = None


def apply_steps(workflow: Mapping[str, Any], steps: Sequence[str]) -> tuple[list[Entry], list[Entry]]:
    """The states and transitions of ``workflow`` with the named optional steps applied, in declaration order.

    A step's transitions take the place of the first transition it replaces; its states go just before the
    state that transition led to (so ``awaiting_approval`` sits before ``approved``).
    """
    states = [Entry(item, ("workflow", "states", i)) for i, item in enumerate(workflow.get("states") or [])]
    transitions = [
        Entry(item, ("workflow", "transitions", i)) for i, item in enumerate(workflow.get("transitions") or [])
    ]
    for step_name, step in (workflow.get("optional_steps") or {}).items():
        if step_name not in steps:
            continue
        base = ("workflow", "optional_steps", step_name)
        replaced = set(step.get("replaces") or [])
        replaced_positions = [i for i, entry in enumerate(transitions) if entry.item.get("name") in replaced]
        insert_at = replaced_positions[0] if replaced_positions else len(transitions)
        anchor_state = transitions[insert_at].item.get("to") if replaced_positions else None
        kept_before = [entry for entry in transitions[:insert_at] if entry.item.get("name") not in replaced]
        kept_after = [entry for entry in transitions[insert_at:] if entry.item.get("name") not in replaced]
        added = [
            Entry(item, (*base, "transitions", i), step_name) for i, item in enumerate(step.get("transitions") or [])
        ]
        transitions = [*kept_before, *added, *kept_after]

        new_states = [Entry(item, (*base, "states", i), step_name) for i, item in enumerate(step.get("states") or [])]
        names = [entry.item.get("name") for entry in states]
        if anchor_state in names:
            position = names.index(anchor_state)
        else:
            terminal = [i for i, entry in enumerate(states) if entry.item.get("terminal")]
            position = terminal[0] if terminal else len(states)
        states[position:position] = new_states
    return states, transitions


def _check_workflow_graph(
    initial: Any, states: list[Entry], transitions: list[Entry], file: str, context: str = ""
) -> list[Problem]:
    """Check a (possibly step-extended) workflow: names, references, vocabularies, reachability, dead ends."""
    problems: list[Problem] = []
    by_name: dict[str, Entry] = {}
    for entry in states:
        name = entry.item["name"]
        if name in by_name:
            problems.append(Problem(file, field_path((*entry.path, "name")), f"duplicate state {name!r}{context}"))
        else:
            by_name[name] = entry
    terminal = {name for name, entry in by_name.items() if entry.item.get("terminal")}
    if initial not in by_name:
        problems.append(Problem(file, "workflow.initial", f"unknown state {initial!r}"))
    elif initial in terminal:
        problems.append(Problem(file, "workflow.initial", "the initial state cannot be terminal"))
    if not terminal:
        problems.append(Problem(file, "workflow.states", "no terminal state: mark at least one with terminal: true"))

    seen_transitions: set[str] = set()
    for entry in transitions:
        transition, path = entry.item, entry.path
        if transition["name"] in seen_transitions:
            problems.append(
                Problem(file, field_path((*path, "name")), f"duplicate transition {transition['name']!r}{context}")
            )
        seen_transitions.add(transition["name"])
        for index, source in enumerate(transition["from"]):
            if source not in by_name:
                problems.append(Problem(file, field_path((*path, "from", index)), f"unknown state {source!r}"))
            elif source in terminal:
                problems.append(
                    Problem(file, field_path((*path, "from", index)), f"{source!r} is terminal: nothing may leave it")
                )
        if transition["to"] not in by_name:
            problems.append(Problem(file, field_path((*path, "to")), f"unknown state {transition['to']!r}"))
        for key, known, noun in (
            ("roles", KNOWN_ROLES, "role"),
            ("guards", KNOWN_GUARDS, "guard"),
            ("actions", KNOWN_ACTIONS, "action"),
        ):
            for index, value in enumerate(transition.get(key) or []):
                if value not in known:
                    message = f"unknown {noun} {value!r} (known: {', '.join(known)})"
                    problems.append(Problem(file, field_path((*path, key, index)), message))

    for entry in transitions:
        document = entry.item.get("document")
        if document is not None:
            where = field_path((*entry.path, "document"))
            if document not in KNOWN_DOCUMENT_KINDS:
                message = f"unknown document {document!r} (known: {', '.join(KNOWN_DOCUMENT_KINDS)})"
                problems.append(Problem(file, where, message))
            if "issue_document" not in (entry.item.get("actions") or []):
                problems.append(Problem(file, where, "a document is issued only with the action issue_document"))
        for index, name in enumerate(entry.item.get("actor_differs_from") or []):
            if name not in seen_transitions:
                where = field_path((*entry.path, "actor_differs_from", index))
                problems.append(Problem(file, where, f"unknown transition {name!r}{context}"))
            elif name == entry.item["name"]:
                where = field_path((*entry.path, "actor_differs_from", index))
                problems.append(Problem(file, where, "a transition cannot be separate from itself"))

    if initial in by_name:
        reached = _reachable(initial, [entry.item for entry in transitions])
        for name, entry in by_name.items():
            if name not in reached:
                message = f"state {name!r} cannot be reached from {initial!r}{context}"
                problems.append(Problem(file, field_path((*entry.path, "name")), message))
    leaving = {source for entry in transitions for source in entry.item["from"]}
    for name, entry in by_name.items():
        if name not in terminal and name not in leaving:
            message = f"state {name!r} is not terminal but no transition leaves it{context}"
            problems.append(Problem(file, field_path((*entry.path, "name")), message))
    return problems


def _reachable(initial: str, transitions: Sequence[Mapping[str, Any]]) -> set[str]:
    reached, frontier = {initial}, [initial]
    while frontier:
        state = frontier.pop()
        for transition in transitions:
            if state in transition["from"] and transition["to"] not in reached:
                reached.add(transition["to"])
                frontier.append(transition["to"])
    return reached


def system_can_issue(initial: str, transitions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether, once submitted, the ``system`` role alone can carry an application to an ``issue_document`` action.

    Auto-issue means exactly that: a verified resident's request is issued without a person deciding.
    """
    submitted = {t["to"] for t in transitions if initial in t["from"]}
    reached, frontier = set(submitted), list(submitted)
    while frontier:
        state = frontier.pop()
        for transition in transitions:
            usable = "system" in transition["roles"] and "comment_present" not in (transition.get("guards") or [])
            if state not in transition["from"] or not usable:
                continue
            if "issue_document" in (transition.get("actions") or []):
                return True
            if transition["to"] not in reached:
                reached.add(transition["to"])
                frontier.append(transition["to"])
    return False


def _check_four_eyes(
    step_name: str, step: Mapping[str, Any], base_transitions: Mapping[str, Mapping[str, Any]], file: str
) -> list[Problem]:
    """An approval step (上長決裁) means four eyes: a decision taken from a state the step adds must name, in
    ``actor_differs_from``, every transition into that state, so the recommender cannot also approve.

    The rule is structural, so a new catalog version cannot drop it for any procedure that has such a step,
    and tenants cannot reach it (they only switch steps on; ``actor_differs_from`` is not an override).
    """
    problems: list[Problem] = []
    added_states = {state.get("name") for state in step.get("states") or []}
    candidates = [*(step.get("transitions") or []), *base_transitions.values()]
    for index, decision in enumerate(step.get("transitions") or []):
        if "record_decision" not in (decision.get("actions") or []):
            continue
        sources = [state for state in decision.get("from") or [] if state in added_states]
        into = sorted({t["name"] for t in candidates if t.get("to") in sources and t is not decision})
        missing = [name for name in into if name not in (decision.get("actor_differs_from") or [])]
        if missing:
            where = field_path(("workflow", "optional_steps", step_name, "transitions", index, "actor_differs_from"))
            message = (
                f"four eyes: {decision['name']!r} decides what {', '.join(map(repr, missing))} recommended, so it "
                f"must list {'them' if len(missing) > 1 else 'it'} here (whoever recommended cannot also approve)"
            )
            problems.append(Problem(file, where, message))
    return problems


def check_workflow(service: dict[str, Any], file: str) -> list[Problem]:
    """The base workflow, each optional step's own rules, and the workflow with each step (and all) applied."""
    workflow = service["workflow"]
    states, transitions = apply_steps(workflow, [])
    problems = _check_workflow_graph(workflow["initial"], states, transitions, file)
    base_names = {t["name"]: t for t in workflow["transitions"]}
    steps = workflow.get("optional_steps") or {}
    for step_name, step in steps.items():
        for index, name in enumerate(step.get("replaces") or []):
            where = field_path(("workflow", "optional_steps", step_name, "replaces", index))
            if name not in base_names:
                problems.append(Problem(file, where, f"unknown transition {name!r}"))
            elif base_names[name].get("required_by_law"):
                problems.append(Problem(file, where, f"transition {name!r} is required by law and cannot be replaced"))
    for step_name, step in steps.items():
        problems += _check_four_eyes(step_name, step, base_names, file)
    if problems:
        return problems  # combinations of a broken base would only repeat its problems
    combinations = [[name] for name in steps]
    if len(steps) > 1:
        combinations.append(list(steps))
    for combination in combinations:
        states, transitions = apply_steps(workflow, combination)
        context = f" (with optional step{'s' if len(combination) > 1 else ''} {', '.join(combination)})"
        problems += _check_workflow_graph(workflow["initial"], states, transitions, file, context)
    return unique(problems)
