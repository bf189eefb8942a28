"""Benchmark: the childcare allocation engine on a generated round (issue 17, spec §1.5 point 14; decision 0037).

    python bench/allocation.py [--children 20000] [--facilities 500] [--seed 1] [--rounds 3]

Generates a round with ``madoguchi.childcare.synthetic.generate_round`` (six age classes, Zipf-like popularity,
12% of children with siblings, 5% transfers, 10 preferences, enrolled-sibling bonuses), then times
``allocation.compute`` and ``allocation.verify`` on it, ``--rounds`` times each: the best round is the figure
(other processes on the machine only ever slow a round down). Both the wall-clock time and the process's CPU time
are printed: on a shared machine the CPU time is the closer figure for "one core". Peak RSS is the whole
process's (the generated input included). Targets: compute ≤ 2 s, verify ≤ 1 s, ≤ 512 MB; the script exits 1 when
one is missed, or when verify finds a violation, or when two runs disagree on the result.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from madoguchi.childcare import allocation
from madoguchi.childcare.engine_types import RoundOutcome
from madoguchi.childcare.synthetic import generate_round

T = TypeVar("T")
COMPUTE_SECONDS = 2.0
VERIFY_SECONDS = 1.0
RSS_MB = 512


def timed(rounds: int, run: Callable[[], T]) -> tuple[T, float, float]:
    """The result, the best wall-clock and the best CPU seconds over ``rounds`` runs."""
    walls, cpus = [], []
    result = None
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert result is not None
    return result, min(walls), min(cpus)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--facilities", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    round_input = generate_round(args.children, args.facilities, seed=args.seed)
    generated = time.perf_counter() - started
    siblings = sum(len(g.members) for g in round_input.groups)
    transfers = sum(1 for e in round_input.entries if e.current_facility is not None)
    bonuses = sum(1 for e in round_input.entries if e.priority.facility_bonus)
    print(
        f"round: {len(round_input.entries)} children, {args.facilities} facilities, {len(round_input.seats)} classes, "
        f"{sum(n for _, n in round_input.seats)} seats; {len(round_input.groups)} sibling groups ({siblings} "
        f"children, modes {dict(Counter(g.mode for g in round_input.groups))}), {transfers} transfers, "
        f"{bonuses} with a facility bonus; generated in {generated:.2f} s"
    )
    print(f"input_sha256 {allocation.input_sha256(round_input)}")

    outcomes: list[RoundOutcome] = []

    def run_compute() -> RoundOutcome:
        outcomes.append(allocation.compute(round_input))
        return outcomes[-1]

    outcome, compute_wall, compute_cpu = timed(args.rounds, run_compute)
    hashes = {allocation.result_sha256(each) for each in outcomes}
    del outcomes[:-1]
    report, verify_wall, verify_cpu = timed(args.rounds, lambda: allocation.verify(round_input, outcome))
    rss = peak_rss_mb()

    counts = Counter(p.outcome for p in outcome.placements)
    print(
        f"outcome: {dict(counts)}; residual sibling envy {len(outcome.residual_sibling_envy)} of "
        f"{outcome.extra['sibling_units']} sibling units; evictions {outcome.extra['evictions']}, "
        f"stabilisation passes {outcome.extra['stabilisation_passes']}"
    )
    print(f"result_sha256 {allocation.result_sha256(outcome)} ({len(hashes)} distinct over the runs)")
    print(f"compute  {compute_cpu:6.2f} s CPU  {compute_wall:6.2f} s wall   (target ≤ {COMPUTE_SECONDS} s)")
    print(f"verify   {verify_cpu:6.2f} s CPU  {verify_wall:6.2f} s wall   (target ≤ {VERIFY_SECONDS} s)")
    print(f"peak RSS {rss:6.0f} MB                      (target ≤ {RSS_MB} MB)")
    if report.violations:
        print(f"verify found {len(report.violations)} violations, the first: {report.violations[:3]}")
    failed = (
        bool(report.violations)
        or len(hashes) != 1
        or compute_cpu > COMPUTE_SECONDS
        or verify_cpu > VERIFY_SECONDS
        or rss > RSS_MB
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
