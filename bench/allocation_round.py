"""Benchmark: a whole allocation round through the database (issue 17, acceptance; decision 0040).

    python bench/allocation_round.py [--children 20000] [--facilities 500] [--backend both|sqlite|postgresql]

On each backend (a migrated SQLite file; a throwaway PostgreSQL as the app role, row-level security on) it seeds
the shipped catalog and tenants, registers ``--facilities`` facilities with six age classes, and files certified
childcare applications in bulk (form 2.0.0 answers and the clerk's certification, as the database holds them)
until there are ``--children`` children: skewed popularity (a few facilities most wanted), 12 % households with
two children applying together (every sibling mode), 5 % transfers, 10 preferences each. Filing is set-up, not
timed. Then it times the round as a municipality runs it, each step one transaction as a request would be:

- create the round (seats from the facilities' capacities);
- freeze: read the applications, score every child under the rule set, draw the lottery, write the entries,
  sibling groups and hashes;
- compute: read the snapshot back, check its hash, run the engine and its checker, write every result with its
  explanation and the numbers per class.

The target is freeze + compute ≤ 30 s on each backend. It prints each step's seconds and the counts.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from harness import migrated
from sqlalchemy import insert

from madoguchi import migrate
from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.audit.keys import generate_key
from madoguchi.childcare import rounds
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.identity.actors import Actor
from madoguchi.registry.models import Facility
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, seed_catalog_and_tenants, staff
from tests.factories import tenants as seeded_tenants
from tests.support.postgres import ThrowawayPostgres

INTAKE = "2027-04"
FISCAL_YEAR = 2027
#: Share of children per age class (1- and 2-year-olds are most of the demand).
AGE_WEIGHTS = (0.18, 0.34, 0.22, 0.1, 0.09, 0.07)
CAPACITY = {"0": 3, "1": 6, "2": 7, "3": 8, "4": 8, "5": 8}
SIBLING_MODES = ("same_facility_required", "all_or_none", "partial_ok", "independent")
PREFERENCES = 10


def _birth(rng: random.Random, age_class: int) -> str:
    # Class a in fiscal 2027: born April 2 of 2026 - a to April 1 of 2027 - a (class 0: before the intake).
    start = date(FISCAL_YEAR - age_class - 1, 4, 2)
    span = 240 if age_class == 0 else 364
    return (start + timedelta(days=rng.randrange(span))).isoformat()


def _preferences(rng: random.Random, codes: list[str], weights: list[float]) -> list[str]:
    chosen: dict[str, None] = {}
    while len(chosen) < PREFERENCES:
        for code in rng.choices(codes, weights, k=PREFERENCES * 2):
            chosen.setdefault(code)
            if len(chosen) == PREFERENCES:
                break
    return list(chosen)


def _household(rng: random.Random, codes: list[str], weights: list[float], children: int) -> dict[str, Any]:
    kids = []
    for _ in range(children):
        age = rng.choices(range(6), AGE_WEIGHTS)[0]
        preferences = _preferences(rng, codes, weights)
        kid = {
            "name": "子",
            "name_kana": "コ",
            "birth_date": _birth(rng, age),
            "sex": "female",
            "desired_category": "3" if age < 3 else "2",
            "care_time": "standard",
            "desired_facilities": preferences,
            "health": {"allergies": "", "medical_care": False, "disability": False, "notes": ""},
        }
        if rng.random() < 0.05:
            kid["current_facility"] = rng.choice([c for c in codes if c not in preferences])
        kids.append(kid)
    single = rng.random() < 0.1
    guardians = [
        {"name": "保護者", "relationship": "mother", "need_reason": "employed", "monthly_hours": rng.randrange(64, 200)}
        for _ in range(1 if single else 2)
    ]
    return {
        "applicant": {"name": "保護者", "name_kana": "ホゴシャ", "birth_date": "1990-05-01"},
        "children": kids,
        "guardians": guardians,
        "household": {
            "single_parent": single,
            "cohabiting_relatives": [],
            "siblings_enrolled": [{"name": "兄", "facility_code": rng.choice(codes)}] if rng.random() < 0.05 else [],
            "returning_from_leave": rng.random() < 0.2,
            "unlicensed_care_in_use": rng.random() < 0.1,
            "welfare_recipient": False,
            "disability_in_household": False,
        },
        "sibling_mode": rng.choice(SIBLING_MODES) if children > 1 else "independent",
        "desired_start_month": INTAKE,
        "accept_leave_extension": rng.random() < 0.05,
        "tax_lookup_consent": False,
    }


def _certification(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "certified_on": "2026-12-01",
        "children": [
            {
                "index": i,
                "category": kid["desired_category"],
                "care_time": "standard",
                "valid_from": "2027-04-01",
                "valid_to": "2033-03-31",
            }
            for i, kid in enumerate(data["children"])
        ],
    }


def seed(db: Database, tenant: Tenant, *, children: int, facilities: int, rng: random.Random) -> int:
    """Facilities and certified applications, in bulk; returns the number of applications."""
    codes = [f"F{n:04d}" for n in range(1, facilities + 1)]
    weights = [1 / (rank**0.9) for rank in range(1, facilities + 1)]  # a few popular, a long tail
    with db.transaction(tenant.id) as session:
        session.execute(
            insert(Facility),
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "facility_code": code,
                    "name_ja": f"保育園{code}",
                    "name_en": f"Nursery {code}",
                    "kind": "nursery",
                    "postal_code": "100-0001",
                    "address": "本町1番地",
                    "capacity_by_age": CAPACITY,
                    "accepts_short_hours": True,
                }
                for code in codes
            ],
        )
        parent = make_person(session, tenant, make_household(session, tenant))
        template = operations.create_draft(
            session, tenant, Actor.of(make_account(session, tenant, person=parent)), "childcare-admission", {}
        )
        rows, filed, n = [], 0, 0
        now = utcnow()
        while filed < children:
            count = 2 if rng.random() < 0.12 and children - filed >= 2 else 1
            data = _household(rng, codes, weights, count)
            filed += count
            n += 1
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "reference": f"CC-B{n:07d}",
                    "service_key": "childcare-admission",
                    "service_version_id": template.service_version_id,
                    "state": "certified",
                    "channel": "online",
                    "data": data,
                    "prefill_sources": {},
                    "settings_snapshot_hash": template.settings_snapshot_hash,
                    "decision": {"certification": _certification(data)},
                    "created_at": now,
                    "updated_at": now,
                    "submitted_at": now,
                    "lock_version": 1,
                }
            )
        for start in range(0, len(rows), 2000):
            session.execute(insert(Application), rows[start : start + 2000])
    return len(rows)


def run_round(db: Database, tenant: Tenant, clerk: Actor) -> dict[str, float]:
    took: dict[str, float] = {}
    began = time.perf_counter()
    with db.transaction(tenant.id) as session:
        round_id = rounds.create_round(
            session,
            session.merge(tenant),
            clerk,
            label_ja="令和9年4月一次",
            label_en="April 2027, first round",
            intake_month=INTAKE,
            kind="first",
        ).id
    took["create"] = time.perf_counter() - began
    for step in ("freeze", "compute"):
        began = time.perf_counter()
        with db.transaction(tenant.id) as session:
            done = getattr(rounds, step)(session, session.merge(tenant), clerk, round_id)
            stats = dict(done.stats)
        took[step] = time.perf_counter() - began
    with db.transaction(tenant.id) as session:
        round_ = rounds.get_round(session, tenant.id, round_id)
        results = len(rounds.results_of(session, round_))
        classes = len(rounds.class_stats_of(session, round_))
    print(
        f"  entries {stats['entries']:,}: placed {stats['placed']:,}, stays {stats['stays']:,}, "
        f"waitlisted {stats['waitlisted']:,}, ineligible {stats['ineligible']:,}; "
        f"residual sibling envy {len(stats['residual_sibling_envy'])}, checker findings {len(stats['violations'])}; "
        f"{results:,} results and {classes:,} class rows stored"
    )
    return took


def bench(db: Database, settings: Settings, name: str, args: argparse.Namespace) -> float:
    seed_catalog_and_tenants(db, settings)
    tenant = seeded_tenants(db)[0]
    began = time.perf_counter()
    applications = seed(db, tenant, children=args.children, facilities=args.facilities, rng=random.Random(17))
    print(
        f"{name}: filed {applications:,} applications ({args.children:,} children) in "
        f"{time.perf_counter() - began:.1f} s (set-up, not timed)"
    )
    with db.transaction(tenant.id) as session:
        clerk = staff(session, tenant, "clerk")
    took = run_round(db, tenant, clerk)
    total = took["freeze"] + took["compute"]
    print(
        f"  create {took['create']:.2f} s, freeze {took['freeze']:.2f} s, compute + persist {took['compute']:.2f} s: "
        f"freeze → compute → persist {total:.2f} s (target ≤ 30 s)"
    )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--facilities", type=int, default=500)
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    totals = {}
    if args.backend in ("both", "sqlite"):
        with tempfile.TemporaryDirectory(prefix="madoguchi-round-") as folder:
            settings = Settings(
                data_dir=Path(folder),
                database_url=f"sqlite:///{folder}/bench.db",
                secret_key="bench-secret",  # noqa: S106 - a throwaway app's
                data_key=Sealer.generate_key(),
                audit_key=generate_key("bench-1"),
            )
            migrate.upgrade(settings)
            db = Database(settings.database_url, audit_key=settings.audit_key)
            totals["sqlite"] = bench(db, settings, "SQLite", args)
            db.dispose()
    if args.backend in ("both", "postgresql"):
        reason = ThrowawayPostgres.unavailable_reason()
        if reason:
            raise SystemExit(f"cannot start PostgreSQL: {reason}")
        with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory(prefix="madoguchi-round-") as folder:
            settings, db = migrated(pg, folder)
            totals["postgresql"] = bench(db, settings, "PostgreSQL (app role, row-level security)", args)
            db.dispose()
    if any(total > 30 for total in totals.values()):
        raise SystemExit(f"over the 30 s target: {totals}")


if __name__ == "__main__":
    main()
