"""The workflow engine: a procedure's state machine, as the tenant runs it.

A workflow comes from the effective settings of a procedure (the standard's states and transitions, with
the optional steps the tenant switched on). It answers four questions: which transitions exist from a
state, which role an actor plays for one of them, whether separation of duties bars the actor from one
(four eyes: 上長決裁 by someone other than the recommender), and the shortest path of system-permitted steps
to a goal (used by auto-issue). Guards and actions are applied by ``operations``; this module holds no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from madoguchi.errors import InvalidTransition
from madoguchi.identity.actors import APPLICANT_ROLE, SYSTEM_ROLE, Actor

#: The state in which staff wait for the applicant's answer; the applicant may edit again meanwhile.
MORE_INFO_REQUESTED = "more_info_requested"


@dataclass(frozen=True)
class Transition:
    name: str
    from_states: tuple[str, ...]
    to: str
    roles: frozenset[str]
    guards: tuple[str, ...]
    actions: tuple[str, ...]
    title: dict[str, str]
    #: Four eyes: the actor must not be whoever last took one of these transitions on the same application.
    actor_differs_from: tuple[str, ...] = ()
    #: The document kind its ``issue_document`` action issues, when not the procedure's ``output_document`` (the
    #: 支給認定証 on ``certify``, the 保留通知書 on ``waitlist``).
    document: str | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Transition:
        return cls(
            name=spec["name"],
            from_states=tuple(spec["from"]),
            to=spec["to"],
            roles=frozenset(spec.get("roles", ())),
            guards=tuple(spec.get("guards", ())),
            actions=tuple(spec.get("actions", ())),
            title=spec.get("title") or {"ja": spec["name"], "en": spec["name"]},
            actor_differs_from=tuple(spec.get("actor_differs_from", ())),
            document=spec.get("document"),
        )


class Workflow:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.initial: str = spec["initial"]
        self.states: dict[str, dict[str, Any]] = {s["name"]: s for s in spec["states"]}
        self.transitions: list[Transition] = [Transition.from_spec(t) for t in spec["transitions"]]

    def is_terminal(self, state: str) -> bool:
        return bool(self.states.get(state, {}).get("terminal"))

    def from_state(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.from_states]

    def get(self, name: str, state: str) -> Transition:
        for transition in self.transitions:
            if transition.name == name and state in transition.from_states:
                return transition
        known = {t.name for t in self.transitions}
        if name not in known:
            raise InvalidTransition(f"This procedure has no action '{name}'.", state=state)
        raise InvalidTransition(f"'{name}' is not possible while the application is '{state}'.", state=state)

    def role_for(self, actor: Actor, transition: Transition, *, applicant_account_id: Any) -> str | None:
        """The role in which ``actor`` may take ``transition``, or None if none of theirs is allowed."""
        if actor.kind == SYSTEM_ROLE:
            return SYSTEM_ROLE if SYSTEM_ROLE in transition.roles else None
        if (
            APPLICANT_ROLE in transition.roles
            and actor.account_id is not None
            and actor.account_id == applicant_account_id
        ):
            return APPLICANT_ROLE
        for role in sorted(actor.staff_roles & transition.roles):
            return role
        return None

    @staticmethod
    def barred_by(actor: Actor, transition: Transition, last_actors: Mapping[str, Any]) -> str | None:
        """The transition whose actor ``actor`` was, if that bars them from ``transition`` (else None).

        ``last_actors`` maps a transition name to the account that took it most recently on this application
        (see ``repository.last_actors``). The most recent one counts: after a return to review, the
        recommendation being decided on is the new one. The system account has no person to separate.
        """
        if actor.account_id is None:
            return None
        for name in transition.actor_differs_from:
            if last_actors.get(name) == actor.account_id:
                return name
        return None

    def available_to(
        self,
        actor: Actor,
        state: str,
        *,
        applicant_account_id: Any,
        last_actors: Mapping[str, Any] | None = None,
    ) -> list[Transition]:
        """What ``actor`` may do from ``state``; with ``last_actors``, less what separation of duties bars."""
        return [
            t
            for t in self.from_state(state)
            if self.role_for(actor, t, applicant_account_id=applicant_account_id) is not None
            and (last_actors is None or self.barred_by(actor, t, last_actors) is None)
        ]

    def barred_from(
        self, actor: Actor, state: str, *, applicant_account_id: Any, last_actors: Mapping[str, Any]
    ) -> list[tuple[Transition, str]]:
        """Transitions ``actor``'s role allows from ``state`` but separation of duties bars, each with the
        transition that bars it (the console says why the button is absent)."""
        barred = []
        for t in self.from_state(state):
            if self.role_for(actor, t, applicant_account_id=applicant_account_id) is None:
                continue
            if (cause := self.barred_by(actor, t, last_actors)) is not None:
                barred.append((t, cause))
        return barred

    def separation_applies(self, state: str) -> bool:
        """Whether any transition from ``state`` depends on who took earlier ones (so history must be read)."""
        return any(t.actor_differs_from for t in self.from_state(state))

    def unattended_path(self, start: str, goal_action: str) -> list[Transition] | None:
        """Shortest chain of transitions from ``start`` through one carrying ``goal_action``.

        Only transitions the catalog lets the ``system`` role take qualify, and of those none that needs a
        human comment, none into a terminal state other than through the goal itself (no automatic
        rejection or withdrawal).
        """
        queue: deque[tuple[str, list[Transition]]] = deque([(start, [])])
        seen = {start}
        while queue:
            state, path = queue.popleft()
            for t in self.from_state(state):
                if SYSTEM_ROLE not in t.roles or "comment_present" in t.guards:
                    continue
                if goal_action in t.actions:
                    return [*path, t]
                if self.is_terminal(t.to) or t.to in seen:
                    continue
                seen.add(t.to)
                queue.append((t.to, [*path, t]))
        return None
