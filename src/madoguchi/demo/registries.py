"""Deterministic fictional registries for the demo tenants.

:func:`write_demo_csvs` writes ``residents.csv``, ``tax.csv`` and ``facilities.csv`` in the formats
of :mod:`madoguchi.registry.csv_formats` (they parse with zero errors). Everything comes from
``random.Random(seed)`` and the ``today`` date, so a seed and a day always give the same files.

What is in them:

* about 150 households (350-450 people): single people young and old, couples, families with
  children aged 0-5 (so childcare admission has applicants), single parents, three-generation
  households, parents with adult children; common family and given names of each generation with
  their katakana readings, and on purpose a few 外字 / variant names (髙橋, 山﨑, 𠮷田, 德永, 濵田,
  and 葛󠄀西 written with an ideographic variation sequence) so printing and search meet them;
* towns with 丁目, block numbers, buildings, move-in dates (most households long-standing, a
  few recent arrivals and moves within the municipality), previous addresses, 本籍 and 筆頭者,
  and valid Individual Numbers for most people;
* inhabitant tax assessments for the fiscal year of ``today`` and the two before, for every resident
  aged 18 or over on January 1 of that year who lived in the municipality then (a newcomer's earlier
  years were assessed by the previous municipality): salary, business and pension income, simple
  but consistent deductions, about 10% tax, and non-taxable rows for people with little income;
* 6-10 childcare facilities of the three kinds with capacities per age class;
* the register's rarer items (``register_examples``): a 旧氏, two 除票 (a death, a move out) and two foreign
  residents (a 中長期在留者, a 特別永住者 with a 通称).

**The demo family.** The first household's head has the resident code ending in ``000001``
(:func:`demo_resident_code` gives it without writing anything). He is a salaried parent in his
thirties living with his salaried wife, twins aged 4 and a child aged 0-2, all long-standing residents,
so a demo resident account linked to that code can try all three procedures: a residency certificate for
the household, tax certificates for three fiscal years, and childcare admission for a 3号 child or for
the twins (2号, wanting the same facility) with two employed guardians.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TypedDict

from madoguchi.demo.draws import Draws
from madoguchi.demo.facilities import facilities
from madoguchi.demo.population import (
    VARIANT_FAMILY_NAMES,
    DemoHousehold,
    DemoPerson,
    Name,
    demo_resident_code,
    years_before,
)
from madoguchi.demo.register_examples import add_register_examples
from madoguchi.demo.tax import ADULT_AGE, TAX_YEARS, assess
from madoguchi.jp import age_on
from madoguchi.registry.csv_formats import (
    FACILITY_COLUMNS,
    HEAD_OF_HOUSEHOLD,
    RESIDENT_COLUMNS,
    TAX_COLUMNS,
)

__all__ = ["DemoCsvs", "demo_resident_code", "write_demo_csvs"]


class DemoCsvs(TypedDict):
    """What :func:`write_demo_csvs` wrote, and the resident code of the demo family's head."""

    residents: Path
    tax: Path
    facilities: Path
    demo_resident_code: str


class _Generator(Draws):
    """Households: who lives together, where and since when."""

    # -- households ------------------------------------------------------------------------------

    def couple(
        self, family_name: Name, husband_age: int, taken: set[str], *, husband_head: bool = True
    ) -> tuple[DemoPerson, DemoPerson, tuple[str, str]]:
        wife_age = max(20, husband_age + self.rng.randint(-6, 2))
        husband_birth = self.birth_for_age(husband_age)
        husband_name = self.given_name("male", husband_birth, taken)
        koseki = (self.domicile(), f"{family_name[0]}\u3000{husband_name[0]}")
        head, spouse = (HEAD_OF_HOUSEHOLD, "妻") if husband_head else ("夫", HEAD_OF_HOUSEHOLD)
        occupation, base = self.occupation("earner" if husband_head else "spouse", husband_age)
        husband = DemoPerson(
            family_name, husband_name, "male", husband_birth, head, occupation, *koseki, base_income=base
        )
        wife_role = "spouse" if husband_head else "earner"
        wife = self.person(family_name, "female", self.birth_for_age(wife_age), spouse, wife_role, koseki, taken)
        return husband, wife, koseki

    def earning_head(self, family_name: Name, age: int, taken: set[str]) -> tuple[DemoPerson, tuple[str, str]]:
        """An earning head of household of either sex, in a family register headed by a parent's generation."""
        koseki = self.koseki(family_name, "male", self.birth_for_age(age + 30), set())
        sex = self.rng.choice(("male", "female"))
        return self.person(
            family_name, sex, self.birth_for_age(age), HEAD_OF_HOUSEHOLD, "earner", koseki, taken
        ), koseki

    def demo_family(self) -> list[DemoPerson]:
        taken: set[str] = set()
        family_name = self.family_name()
        husband, wife, koseki = self.couple(family_name, self.rng.randint(31, 38), taken)
        husband.occupation, husband.base_income = "salaried", self.rng.randrange(5_000, 6_500) * 1000
        wife.occupation, wife.base_income = "salaried", self.rng.randrange(3_200, 4_500) * 1000
        # Born 300-700 days ago: in a 0-2 age class (3号) this fiscal year and the next.
        child_birth = self.today - timedelta(days=self.rng.randint(300, 700))
        child = self.person(family_name, self.rng.choice(("male", "female")), child_birth, "子", "child", koseki, taken)
        # Twins aged 4 (a 2号 age class this fiscal year and the next), so the demo can apply for two children
        # who want the same facility; born on one day, a boy and a girl.
        twins_birth = self.today - timedelta(days=self.rng.randint(1_500, 1_800))
        twins = [self.person(family_name, sex, twins_birth, "子", "child", koseki, taken) for sex in ("male", "female")]
        return [husband, wife, *twins, child]

    def random_household(self, family_name: Name) -> list[DemoPerson]:
        rng = self.rng
        taken: set[str] = set()
        kind = rng.choices(
            ("single", "couple", "family", "single_parent", "three_generations", "adult_children", "siblings", "other"),
            (24, 20, 27, 6, 11, 8, 2, 2),
        )[0]
        if kind == "single":
            age = rng.randint(20, 39) if rng.random() < 0.55 else rng.randint(65, 92)
            sex = rng.choice(("male", "female"))
            birth = self.birth_for_age(age)
            # A young single person is still in the parents' register; an old one heads (or
            # outlived the head of) their own.
            if age < 40:
                koseki: tuple[str | None, str | None] = self.koseki(family_name, "male", years_before(birth, 30), set())
            else:
                koseki = (
                    self.koseki(family_name, "male", years_before(birth, 3), set()) if sex == "female" else (None, None)
                )
            person = self.person(family_name, sex, birth, HEAD_OF_HOUSEHOLD, "earner", koseki, taken)
            if person.domicile is None:
                person.domicile = self.domicile()
                person.domicile_head = f"{family_name[0]}\u3000{person.given_name[0]}"
            return [person]
        if kind == "couple":
            husband, wife, _ = self.couple(family_name, rng.randint(25, 85), taken, husband_head=rng.random() < 0.9)
            return [husband, wife] if husband.relationship == HEAD_OF_HOUSEHOLD else [wife, husband]
        if kind == "family":
            husband, wife, koseki = self.couple(family_name, rng.randint(27, 48), taken)
            mother_age = age_on(wife.birth, self.today)
            return [husband, wife, *self.children(family_name, mother_age, koseki, taken, youngest_max=5)]
        if kind == "single_parent":
            sex = "female" if rng.random() < 0.85 else "male"
            age = rng.randint(25, 48)
            birth = self.birth_for_age(age)
            koseki = (self.domicile(), None)
            parent = self.person(family_name, sex, birth, HEAD_OF_HOUSEHOLD, "earner", koseki, taken)
            if parent.occupation not in ("salaried", "business"):
                parent.occupation, parent.base_income = "part_time", rng.randrange(1_200, 2_200) * 1000
            parent.domicile_head = f"{family_name[0]}\u3000{parent.given_name[0]}"
            koseki = (parent.domicile, parent.domicile_head)
            return [parent, *self.children(family_name, age, koseki, taken, youngest_max=8)]
        if kind == "three_generations":
            if rng.random() < 0.5:
                # Head in the middle generation, living with their own or the wife's parents.
                head_age = rng.randint(30, 48)
                husband, wife, koseki = self.couple(family_name, head_age, taken)
                mother_age = age_on(wife.birth, self.today)
                kids = self.children(family_name, mother_age, koseki, taken, youngest_max=5)
                wifes_side = rng.random() < 0.25
                elder_name = self.family_name() if wifes_side else family_name
                elder_age = min(95, head_age + rng.randint(25, 33))
                grandfather, grandmother, _ = self.couple(elder_name, elder_age, taken)
                grandfather.relationship = "妻の父" if wifes_side else "父"
                grandmother.relationship = "妻の母" if wifes_side else "母"
                elders = [grandfather, grandmother] if rng.random() < 0.6 else [rng.choice((grandfather, grandmother))]
                return [husband, wife, *kids[: 6 - 2 - len(elders)], *elders]
            # Head in the eldest generation: son's family with grandchildren (孫).
            head_age = rng.randint(58, 75)
            grandfather, grandmother, _ = self.couple(family_name, head_age, taken)
            son_age = max(28, head_age - rng.randint(26, 32))
            son, daughter_in_law, koseki = self.couple(family_name, son_age, taken)
            son.relationship, daughter_in_law.relationship = "子", "子の妻"
            mother_age = age_on(daughter_in_law.birth, self.today)
            grandchildren = self.children(family_name, mother_age, koseki, taken, youngest_max=5)[:2]
            for grandchild in grandchildren:
                grandchild.relationship = "孫"
            return [grandfather, grandmother, son, daughter_in_law, *grandchildren]
        if kind == "adult_children":
            husband, wife, koseki = self.couple(family_name, rng.randint(50, 68), taken)
            mother_age = age_on(wife.birth, self.today)
            count = rng.choice((1, 2))
            ages = sorted({rng.randint(18, min(35, mother_age - 20)) for _ in range(count)})
            kids = [
                self.person(
                    family_name,
                    rng.choice(("male", "female")),
                    self.birth_for_age(a),
                    "子",
                    "young" if a < 23 else "earner",
                    koseki,
                    taken,
                )
                for a in ages
            ]
            return [husband, wife, *kids]
        if kind == "siblings":
            age = rng.randint(25, 45)
            head, koseki = self.earning_head(family_name, age, taken)
            younger = rng.random() < 0.5
            sibling_age = age - rng.randint(1, 5) if younger else age + rng.randint(1, 5)
            sex = rng.choice(("male", "female"))
            relationship = {
                (True, "male"): "弟",
                (True, "female"): "妹",
                (False, "male"): "兄",
                (False, "female"): "姉",
            }[(younger, sex)]
            sibling = self.person(
                family_name, sex, self.birth_for_age(max(18, sibling_age)), relationship, "earner", koseki, taken
            )
            return [head, sibling]
        # "other": a young adult with a grandparent, or two unrelated people sharing a home.
        age = rng.randint(20, 32)
        head, koseki = self.earning_head(family_name, age, taken)
        if rng.random() < 0.5:
            grand_age = rng.randint(78, 95)
            grandmother_koseki = self.koseki(family_name, "male", self.birth_for_age(grand_age + 3), set())
            return [
                head,
                self.person(
                    family_name, "female", self.birth_for_age(grand_age), "祖母", "elder", grandmother_koseki, taken
                ),
            ]
        lodger_name = self.family_name()
        lodger_age = rng.randint(20, 35)
        lodger_koseki = self.koseki(lodger_name, "male", self.birth_for_age(lodger_age + 30), set())
        lodger = self.person(
            lodger_name,
            rng.choice(("male", "female")),
            self.birth_for_age(lodger_age),
            "同居人",
            "earner",
            lodger_koseki,
            set(),
        )
        return [head, lodger]

    def place(self, index: int, members: list[DemoPerson], *, demo: bool = False) -> DemoHousehold:
        """Give a household its address, dates, codes and Individual Numbers.

        The demo family (``demo``) is long-standing, never moved within the municipality and has
        every Individual Number on file, so every procedure and certificate option works for it.
        """
        rng = self.rng
        town, postal_code, block = self.town_address()
        building = self.building() if rng.random() < 0.35 else None
        # The head and spouse moved in as adults (their children and parents may have come along).
        youngest_adult = max(p.birth for p in members if p.relationship in (HEAD_OF_HOUSEHOLD, "妻", "夫"))
        earliest = max(date(1975, 1, 1), years_before(youngest_adult, -ADULT_AGE))
        # Residents on January 1 of the oldest fiscal year shown have all three assessments here.
        oldest_jan1 = date(self.current_fy - TAX_YEARS + 1, 1, 1)
        latest = self.today - timedelta(days=14)
        recent = not demo and rng.random() < 0.08
        if recent or earliest >= oldest_jan1:
            moved_in = self._date_between(max(earliest, oldest_jan1 + timedelta(days=1)), latest)
        else:
            moved_in = self._date_between(earliest, oldest_jan1 - timedelta(days=1))
        previous_local: str | None = None
        address_set = moved_in
        if not demo and moved_in + timedelta(days=400) < latest and rng.random() < 0.15:
            address_set = self._date_between(moved_in + timedelta(days=365), latest)
            old_town, _, old_block = self.town_address()
            previous_local = f"{self.prefecture}{self.municipality}{old_town}{old_block}"
        household = DemoHousehold(
            code=f"H{self.code_prefix}{index:05d}",
            members=members,
            town=town,
            postal_code=postal_code,
            block=block,
            building=building,
            moved_in=moved_in,
            address_set=address_set,
            previous_address=self.elsewhere_address(),
            previous_local_address=previous_local,
        )
        household.address = f"{self.prefecture}{self.municipality}{town}{block}" + (f" {building}" if building else "")
        for person in members:
            person.resident_code = f"{self.code_prefix}{self.next_resident:06d}"
            self.next_resident += 1
            person.individual_number = self.individual_number(always=demo)
            person.became_resident_on = max(moved_in, person.birth)
            person.address_set_on = max(address_set, person.birth)
            born_here = person.birth >= address_set
            if born_here:
                person.previous_address = None
            elif previous_local is not None:
                person.previous_address = previous_local
            else:
                person.previous_address = None if person.birth >= moved_in else household.previous_address
            # 出生届 within 14 days, 転入届/転居届 within 14 days; some old records lack the date.
            event = person.address_set_on
            if event.year < 2000 and rng.random() < 0.3:
                person.notified_on = None
            else:
                person.notified_on = min(self.today, event + timedelta(days=rng.randint(0 if not born_here else 3, 14)))
        return household

    def _date_between(self, start: date, end: date) -> date:
        if end <= start:
            return start
        return start + timedelta(days=self.rng.randint(0, (end - start).days))


def _resident_row(household: DemoHousehold, person: DemoPerson, prefecture: str, municipality: str) -> list[str]:
    return [
        person.resident_code,
        household.code,
        person.family_name[0],
        person.given_name[0],
        person.family_name[1],
        person.given_name[1],
        person.birth.isoformat(),
        person.sex,
        person.relationship,
        household.postal_code,
        prefecture,
        municipality,
        household.town,
        household.block,
        household.building or "",
        person.became_resident_on.isoformat(),
        person.address_set_on.isoformat(),
        person.notified_on.isoformat() if person.notified_on else "",
        person.previous_address or "",
        person.domicile or "",
        person.domicile_head or "",
        person.individual_number or "",
        *_register_items(person),
    ]


def _register_items(person: DemoPerson) -> list[str]:
    """旧氏, 除票 and 外国人住民 columns, in the order of RESIDENT_COLUMNS."""
    foreign = person.foreign
    alias = foreign.alias if foreign else None
    ends_on = foreign.period_of_stay_ends_on if foreign else None
    return [
        person.former_surname[0] if person.former_surname else "",
        person.former_surname[1] if person.former_surname else "",
        person.removed_on.isoformat() if person.removed_on else "",
        person.removal_reason or "",
        person.moved_out_to or "",
        foreign.category if foreign else "",
        foreign.nationality if foreign else "",
        (foreign.residence_status if foreign else None) or "",
        (foreign.period_of_stay if foreign else None) or "",
        ends_on.isoformat() if ends_on else "",
        (foreign.residence_card_number if foreign else None) or "",
        alias[0] if alias else "",
        alias[1] if alias else "",
    ]


def _write(path: Path, columns: Sequence[str], rows: list[list[str]]) -> Path:
    assert all(len(row) == len(columns) for row in rows)
    # Fictional, but shaped like a resident register (Individual Numbers included): readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file left by an older demo keeps its mode through O_TRUNC
    with open(descriptor, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_demo_csvs(
    out_dir: Path,
    *,
    tenant_slug: str,
    prefecture_ja: str,
    municipality_ja: str,
    postal_prefix: str,
    seed: int,
    households: int = 150,
    today: date | None = None,
) -> DemoCsvs:
    """Write a fictional registry (residents.csv, tax.csv, facilities.csv) into ``out_dir``.

    ``postal_prefix`` gives the leading digits of the municipality's postal codes (``"123"`` gives
    ``123-NNNN``). ``today`` (default: the current date) anchors ages, dates and fiscal years;
    the same ``seed`` and ``today`` always produce byte-identical files. The result names the
    three files and the demo family head's resident code (see the module docstring).
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    today = today or date.today()
    generator = _Generator(
        tenant_slug=tenant_slug,
        prefecture_ja=prefecture_ja,
        municipality_ja=municipality_ja,
        postal_prefix=postal_prefix,
        seed=seed,
        today=today,
    )
    rng = generator.rng
    # Households (never the demo family) that get a 外字 / variant family name, one of each.
    slots = rng.sample(range(1, households), min(len(VARIANT_FAMILY_NAMES), households - 1))
    variant_slots = dict(zip(slots, VARIANT_FAMILY_NAMES[: len(slots)], strict=True))
    placed: list[DemoHousehold] = [generator.place(1, generator.demo_family(), demo=True)]
    for index in range(1, households):
        family_name = variant_slots.get(index) or generator.family_name()
        placed.append(generator.place(index + 1, generator.random_household(family_name)))
    add_register_examples(generator, placed, seed)

    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    resident_rows: list[list[str]] = []
    tax_rows = []
    for household in placed:
        resident_rows.extend(
            _resident_row(household, person, prefecture_ja, municipality_ja)
            for person in household.members + household.removed
        )
        assess(generator.rng, today, household)
        tax_rows.extend(household.tax_rows)
    facility_rows = facilities(generator.rng, generator.towns, prefecture_ja, municipality_ja)
    return DemoCsvs(
        residents=_write(out_dir / "residents.csv", RESIDENT_COLUMNS, resident_rows),
        tax=_write(out_dir / "tax.csv", TAX_COLUMNS, tax_rows),
        facilities=_write(out_dir / "facilities.csv", FACILITY_COLUMNS, facility_rows),
        demo_resident_code=demo_resident_code(tenant_slug),
    )
