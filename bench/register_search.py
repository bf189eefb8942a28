"""Benchmark: the counter's register search over a register of 100,000 people (issue 16, point 7; decision 0035).

    python bench/register_search.py [--persons 100000] [--runs 50]

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates it, seeds the shipped catalog and tenants, and
imports ``--persons`` residents into one municipality (and a tenth as many into another) through the registry's
own path: a CSV parsed by ``parse_registry_csv`` and written by ``registry.operations.import_rows``, so the
search keys are computed as an import computes them. Names are two-kanji family names from a grid of readings,
one in five written with a variant (髙, 𠮷, 﨑, 齋, 濵, 邊, 葛 + U+E0100 …), and a given name from a list.

Then each search a clerk makes runs ``--runs`` times through ``registry.repository.search_people`` as the app role
(row-level security on), the kinds taking turns: a common family name (高橋: about 1% of the register), a full
name, a variant typed as the common form (吉田 for 𠮷田), a reading in hiragana and in half-width kana, a name with
a date of birth, a name nobody has. It prints p50 and p95 per search (the whole call: SQL, rows, ORM), the
database's own time from ``EXPLAIN ANALYZE`` with the index it used (a sequential scan of ``persons`` stops the
run), and, for comparison, the old query (a substring of family + given name, folded nowhere) on the same data.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import signal
import sys
import tempfile
import time
from datetime import date, timedelta
from typing import Any

from harness import migrated, percentile
from sqlalchemy import func, select, text

from madoguchi import jp
from madoguchi.registry import operations, repository
from madoguchi.registry.csv_formats import RESIDENT_COLUMNS, parse_registry_csv
from madoguchi.registry.models import Person
from tests.factories import seed_catalog_and_tenants
from tests.factories import tenants as seeded_tenants
from tests.registry.test_csv_formats import csv_text, resident
from tests.support.postgres import ThrowawayPostgres

IVS = "\U000e0100"
#: Family names are a first and a second kanji with their readings; one time in five the register writes a letter
#: as one of its variants (jp.NAME_VARIANTS; 葛 as 葛 + U+E0100).
FIRST = (
    "高タカ 吉ヨシ 山ヤマ 斎サイ 浜ハマ 葛カツ 渡ワタ 佐サ 鈴スズ 田タ 中ナカ 小コ 加カ 松マツ 井イ"
    " 木キ 林ハヤシ 清キヨ 森モリ 池イケ"
)
SECOND = (
    "橋ハシ 田ダ 崎サキ 藤トウ 辺ナベ 西ニシ 本モト 川カワ 村ムラ 野ノ 沢サワ 島ジマ 口グチ 原ハラ 山ヤマ"
    " 谷タニ 井イ 上カミ 部ベ"
)
GIVEN = "一郎イチロウ 花子ハナコ 美咲ミサキ 陽葵ヒマリ 蓮レン 結衣ユイ 大翔ヒロト 悠真ユウマ 凛リン 健太ケンタ"
VARIANTS = {letter: [v for v, common in jp.NAME_VARIANTS.items() if common == letter] for letter in FIRST + SECOND}
VARIANTS["葛"] = [f"葛{IVS}"]


def _letters(text: str) -> list[tuple[str, str]]:
    """``高タカ 吉ヨシ`` -> [(高, タカ), (吉, ヨシ)]: the kanji, then its reading in katakana."""
    return [(match.group(1), match.group(2)) for match in re.finditer(r"([^ァ-ヺー\s]+)([ァ-ヺー]+)", text)]


#: (what is asked, how the clerk types it): the searches timed.
SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("common family name 高橋", {"name": "高橋"}),
    ("full name 高橋一郎", {"name": "高橋 一郎"}),
    ("variant typed common 吉田 (𠮷田)", {"name": "吉田"}),
    ("IVS typed plain 葛西 (葛󠄀西)", {"name": "葛西"}),
    ("reading in hiragana たかはし", {"name_kana": "たかはし"}),
    ("reading half-width ﾀｶﾊｼ ｲﾁﾛｳ", {"name_kana": "ﾀｶﾊｼ ｲﾁﾛｳ"}),
    ("name + date of birth", {"name": "山田", "birth_date": date(1980, 4, 2)}),
    ("nobody 無名", {"name": "無名"}),
]


def _written(letter: str, rng: random.Random) -> str:
    variants = VARIANTS.get(letter)
    return rng.choice(variants) if variants and rng.random() < 0.2 else letter


def register_rows(count: int, start: int, rng: random.Random) -> list[dict[str, str]]:
    first_letters, second_letters, given_names = _letters(FIRST), _letters(SECOND), _letters(GIVEN)
    rows = []
    for n in range(start, start + count):
        (first, first_kana), (second, second_kana) = rng.choice(first_letters), rng.choice(second_letters)
        given, given_kana = rng.choice(given_names)
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(28_800))  # before 2010, when each moved in
        rows.append(
            resident(
                n,
                family_name=_written(first, rng) + _written(second, rng),
                given_name=given,
                family_name_kana=first_kana + second_kana,
                given_name_kana=given_kana,
                birth_date=born.isoformat(),
            )
        )
    return rows


def import_register(db: Any, tenant: Any, rows: list[dict[str, str]]) -> float:
    began = time.perf_counter()
    parsed = parse_registry_csv("residents", io.StringIO(csv_text(RESIDENT_COLUMNS, rows), newline=""))
    assert parsed.ok, parsed.errors[:5]
    with db.transaction(tenant.id) as session:
        report = operations.import_rows(session, tenant.id, "residents", parsed.rows, parsed.lines)
        assert report.ok, report.errors[:5]
    return time.perf_counter() - began


def explain(db: Any, tenant: Any, criteria: dict[str, Any]) -> tuple[float, str]:
    """The database's own time of the search (ms) and the first index its plan uses."""
    with db.transaction(tenant.id) as session:
        stmt = repository.search_statement(tenant.id, limit=50, **criteria)
        compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN (ANALYZE, FORMAT TEXT) {compiled}")).scalars().all()
    if any("Seq Scan on persons" in line for line in plan):
        raise SystemExit("a sequential scan of persons:\n" + "\n".join(plan))
    used = next((line.split(" using ")[1].split()[0] for line in plan if " using " in line), plan[0].strip())
    took = float(next(line for line in plan if line.startswith("Execution Time")).split()[2])
    return took, used


def old_query_ms(db: Any, tenant: Any, name: str, runs: int) -> float:
    """The search before decision 0035: a substring of family + given name, nothing folded (p50, ms)."""
    times = []
    for _ in range(runs):
        with db.transaction(tenant.id) as session:
            began = time.perf_counter()
            stmt = (
                select(Person)
                .where(Person.tenant_id == tenant.id, (Person.family_name + Person.given_name).contains(name))
                .order_by(Person.family_name_kana, Person.given_name_kana, Person.birth_date, Person.id)
                .limit(50)
            )
            session.execute(stmt).scalars().all()
            times.append((time.perf_counter() - began) * 1000)
    return percentile(times, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000, help="people in the searched register (100000)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each search (default 50)")
    args = parser.parse_args()
    reason = ThrowawayPostgres.unavailable_reason()
    if reason:
        raise SystemExit(f"cannot start PostgreSQL: {reason}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    rng = random.Random(16)
    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory(prefix="madoguchi-search-") as folder:
        settings, db = migrated(pg, folder)
        seed_catalog_and_tenants(db, settings)
        town, other = seeded_tenants(db)[:2]
        took = import_register(db, town, register_rows(args.persons, 1, rng))
        print(f"imported {args.persons:,} people in {took:.1f} s ({args.persons / took:,.0f}/s, keys included)")
        import_register(db, other, register_rows(args.persons // 10, args.persons + 1, rng))
        with db.transaction(town.id) as session:
            session.execute(text("ANALYZE persons"))
            count = session.execute(select(func.count()).select_from(Person)).scalar_one()
        print(f"register of {town.slug}: {count:,} people; another municipality: {args.persons // 10:,}\n")
        timings: dict[str, list[float]] = {label: [] for label, _criteria in SEARCHES}
        found: dict[str, int] = {}
        for _ in range(args.runs):
            for label, criteria in SEARCHES:  # the kinds take turns: noise on the shared machine hits them alike
                with db.transaction(town.id) as session:
                    began = time.perf_counter()
                    people = repository.search_people(session, town.id, limit=50, **criteria)
                    timings[label].append((time.perf_counter() - began) * 1000)
                    found[label] = len(people)
        print(f"{'search':38} {'found':>5} {'p50 ms':>7} {'p95 ms':>7} {'db ms':>6}  index")
        for label, criteria in SEARCHES:
            database_ms, used = explain(db, town, criteria)
            p50, p95 = percentile(timings[label], 50), percentile(timings[label], 95)
            print(f"{label:38} {found[label]:>5} {p50:7.2f} {p95:7.2f} {database_ms:6.2f}  {used}")
        print(f"\nbefore (substring, nothing folded): 高橋 p50 {old_query_ms(db, town, '高橋', args.runs):.2f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
