"""Small-count suppression of the published KPI tables: primary (counts 1..9 empty, rates with a denominator below
10 empty) and secondary, so that no suppressed cell can be worked out from what is published.

Secondary suppression is decided by the same question an attacker would ask: the published cells of a table obey
linear equations (``submitted_total = online + api + counter`` in every row, every count of the ``_total`` row is
the sum of the procedures' rows, the digital take-up times the total is ``online + api``, the country's figure is
the sum of the municipalities'). A suppressed cell is *recoverable* when it is determined by those equations with
the published cells filled in, i.e. when its unit vector lies in the row space of the equations restricted to the
unknown cells. That is checked exactly, over the rationals (``fractions.Fraction``), and while some suppressed
cell is recoverable one more published cell is suppressed: the smallest of the cells that share an equation with
it and whose suppression makes it unrecoverable (the spec's "next-smallest"), else the smallest that shares one.

The checks are linear only. Bounds (every primarily suppressed count is 1..9, counts are whole and not negative)
narrow a hidden cell further in some tables; the spec asks for linear combinations and that is what is proved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from madoguchi.opendata.columns import SUPPRESSION_THRESHOLD

#: One linear equation over cells: ``Σ coefficient × cell = constant`` (the constant does not matter for whether
#: a cell is determined, so it is not kept).
Equation = Mapping[Any, int | Fraction]


def is_small(count: int | None) -> bool:
    """A count published empty: 1..9 (zero is published: it reveals no one)."""
    return count is not None and 0 < count < SUPPRESSION_THRESHOLD


def _reduced(unknown: set[Any], equations: Iterable[Equation]) -> list[dict[Any, Fraction]]:
    """The equations restricted to the unknown cells, in reduced row echelon form (exact; sparse rows, since each
    equation names a handful of cells)."""
    rows: list[dict[Any, Fraction]] = []
    for equation in equations:
        row: dict[Any, Fraction] = {}
        for cell, coefficient in equation.items():
            if cell in unknown and coefficient:
                row[cell] = row.get(cell, Fraction(0)) + Fraction(coefficient)
        row = {cell: value for cell, value in row.items() if value != 0}
        if row:
            rows.append(row)
    reduced: list[dict[Any, Fraction]] = []
    for column in sorted(unknown, key=repr):
        pivot = next((row for row in rows if column in row), None)
        if pivot is None:
            continue
        rows.remove(pivot)
        lead = pivot[column]
        pivot = {cell: value / lead for cell, value in pivot.items()}
        for group in (rows, reduced):
            for i, row in enumerate(group):
                factor = row.get(column)
                if factor:
                    updated = dict(row)
                    for cell, value in pivot.items():
                        updated[cell] = updated.get(cell, Fraction(0)) - factor * value
                    group[i] = {cell: value for cell, value in updated.items() if value != 0}
        rows = [row for row in rows if row]
        reduced.append(pivot)
    return reduced


def recoverable(unknown: set[Any], equations: Sequence[Equation]) -> set[Any]:
    """The unknown cells whose value the equations determine once every other cell is known.

    In reduced row echelon form a cell's unit vector is in the row space exactly when some row has its only
    non-zero entry in that cell's column. The equations are split into groups that share no unknown first (the
    channels of a row hang together, each other count only with its column): small systems, solved one by one."""
    found: set[Any] = set()
    for cells, group in _components(unknown, equations):
        for row in _reduced(cells, group):
            if len(row) == 1:
                found.update(row)
    return found


def _components(unknown: set[Any], equations: Sequence[Equation]) -> list[tuple[set[Any], list[Equation]]]:
    parent: dict[Any, Any] = {cell: cell for cell in unknown}

    def root(cell: Any) -> Any:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    touching: list[tuple[Equation, list[Any]]] = []
    for equation in equations:
        cells = [cell for cell, coefficient in equation.items() if coefficient and cell in parent]
        if not cells:
            continue
        touching.append((equation, cells))
        first = root(cells[0])
        for cell in cells[1:]:
            parent[root(cell)] = first
    groups: dict[Any, tuple[set[Any], list[Equation]]] = {}
    for equation, cells in touching:
        groups.setdefault(root(cells[0]), (set(), []))[1].append(equation)
    for cell in unknown:
        groups.setdefault(root(cell), (set(), []))[0].add(cell)
    return list(groups.values())


def _smallest(values: Mapping[Any, int]) -> Callable[[Any], tuple[bool, int, str]]:
    return lambda cell: (values.get(cell, 0) == 0, values.get(cell, 0), repr(cell))


def secondary(
    values: Mapping[Any, int],
    suppressed: set[Any],
    equations_for: Callable[[set[Any]], Sequence[Equation]],
    may_suppress: set[Any],
    *,
    watched: set[Any] | None = None,
) -> set[Any]:
    """Grow ``suppressed`` until none of the ``watched`` cells (default: the suppressed ones) is recoverable.

    ``equations_for(suppressed)`` gives the published equations for a suppression state (a rate drops out once its
    denominator is hidden); ``may_suppress`` are the cells this table may still hide (the country's table may not
    hide a municipality's cell: that is published already). Raises ``RuntimeError`` if no cell can be hidden.
    """
    hidden = set(suppressed)

    def still_hidden(cells: set[Any]) -> set[Any]:
        """Which of ``cells`` stay unrecoverable once ``hidden | cells`` are hidden."""
        trial = hidden | cells
        return cells - recoverable(trial, equations_for(trial))

    # Cells determined even with every cell of this table hidden (the country's sum of cells every municipality
    # shows): hiding one protects nothing, so they are never chosen as complements.
    everything = hidden | set(may_suppress)
    hopeless = recoverable(everything, equations_for(everything)) & set(may_suppress)
    while True:
        equations = equations_for(hidden)
        exposed = sorted(recoverable(hidden, equations) & (watched or hidden) & hidden, key=repr)
        if not exposed:
            return hidden
        target = exposed[0]
        near = {cell for eq in equations if eq.get(target) for cell in eq if eq[cell]} - hidden
        candidates = sorted((near & may_suppress) - hopeless, key=_smallest(values))
        # the smallest beside it that protects it and stays hidden itself, else one that protects it
        choice = next((cell for cell in candidates if still_hidden({target, cell}) == {target, cell}), None)
        if choice is None:
            choice = next((cell for cell in candidates if target in still_hidden({target, cell})), None)
        if choice is None:
            # No single cell protects it (a rectangle of rows and columns is needed): hide the smallest beside it and
            # look again; the loop ends since every round hides one more cell.
            touching = {cell for eq in equations if any(eq.get(h) for h in hidden) for cell in eq if eq[cell]}
            rest = sorted((touching - hidden) & may_suppress - hopeless, key=_smallest(values))
            if not candidates and not rest:
                raise RuntimeError(f"cannot protect suppressed cell {target!r}")
            choice = candidates[0] if candidates else rest[0]
        hidden.add(choice)
