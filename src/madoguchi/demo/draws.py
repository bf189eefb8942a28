"""The random draws the demo registries are made of: a municipality's towns, people's names, births, addresses,
occupations and Individual Numbers, all from one ``random.Random`` so a seed gives the same people."""

from __future__ import annotations

import random
from datetime import date, timedelta

from madoguchi.demo.population import (
    BUILDINGS,
    CHOME,
    COMMON_FAMILY_NAMES,
    DOMICILES_ELSEWHERE,
    ELSEWHERE,
    FAMILY_NAMES,
    FEMALE_NAMES,
    MALE_NAMES,
    TOWNS,
    TOWNS_PER_TENANT,
    DemoPerson,
    Name,
    block,
    digits_of,
    resident_code_prefix,
    years_before,
)
from madoguchi.demo.tax import ADULT_AGE
from madoguchi.jp import age_on, fiscal_year_of, individual_number_check_digit


class Draws:
    """One demo municipality's source of people and places; ``registries`` builds households from its draws."""

    def __init__(
        self,
        *,
        tenant_slug: str,
        prefecture_ja: str,
        municipality_ja: str,
        postal_prefix: str,
        seed: int,
        today: date,
    ) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.prefecture = prefecture_ja
        self.municipality = municipality_ja
        self.current_fy = fiscal_year_of(today)
        self.code_prefix = resident_code_prefix(tenant_slug)
        self.next_resident = 1
        self.individual_numbers: set[str] = set()
        # Towns of this municipality, each with its own postal code (as Japan Post assigns them).
        prefix = digits_of(postal_prefix)
        if not prefix.isdigit() or not 1 <= len(prefix) <= 5:
            raise ValueError(f"postal_prefix must be 1-5 digits, e.g. '123': {postal_prefix!r}")
        width = 7 - len(prefix)
        towns = self.rng.sample(TOWNS, TOWNS_PER_TENANT)
        suffixes = sorted(self.rng.sample(range(1, 10**width), TOWNS_PER_TENANT))
        self.towns: list[tuple[str, str, str, int]] = []  # (name, romanization, postal code, 丁目 count)
        for (name, roman), suffix in zip(towns, suffixes, strict=True):
            digits = f"{prefix}{suffix:0{width}d}"
            self.towns.append((name, roman, f"{digits[:3]}-{digits[3:]}", self.rng.choice((0, 2, 3, 4, 5))))

    # -- small draws ----------------------------------------------------------------------------

    def family_name(self) -> Name:
        weights = [3 if i < COMMON_FAMILY_NAMES else 1 for i in range(len(FAMILY_NAMES))]
        return self.rng.choices(FAMILY_NAMES, weights)[0]

    def given_name(self, sex: str, birth: date, taken: set[str]) -> Name:
        generation = 0 if birth.year < 1960 else 1 if birth.year < 2000 else 2
        pool = (MALE_NAMES if sex == "male" else FEMALE_NAMES)[generation]
        choices = [name for name in pool if name[0] not in taken]
        name = self.rng.choice(choices)
        taken.add(name[0])
        return name

    def birth_for_age(self, age: int) -> date:
        latest = years_before(self.today, age)
        earliest = years_before(self.today, age + 1) + timedelta(days=1)
        return earliest + timedelta(days=self.rng.randint(0, (latest - earliest).days))

    def town_address(self) -> tuple[str, str, str]:
        """Return (town with 丁目, its postal code, block) for a random place in the municipality."""
        name, _, postal_code, chome = self.rng.choice(self.towns)
        town = f"{name}{CHOME[self.rng.randrange(chome)]}丁目" if chome else name
        return town, postal_code, self.block()

    def block(self) -> str:
        return block(self.rng)

    def building(self) -> str:
        return f"{self.rng.choice(BUILDINGS)} {self.rng.randint(1, 8)}{self.rng.randint(1, 12):02d}号室"

    def elsewhere_address(self) -> str:
        town = self.rng.choice(TOWNS)[0]
        return f"{self.rng.choice(ELSEWHERE)}{town}{CHOME[self.rng.randrange(4)]}丁目{self.block()}"

    def domicile(self) -> str:
        if self.rng.random() < 0.4:
            return self.rng.choice(DOMICILES_ELSEWHERE)
        town, _, _ = self.town_address()
        return f"{self.prefecture}{self.municipality}{town}{self.rng.randint(1, 40)}番地"

    def individual_number(self, *, always: bool = False) -> str | None:
        if not always and self.rng.random() < 0.07:  # not everyone's number is on file
            return None
        while True:
            first = f"{self.rng.randrange(10**11):011d}"
            number = first + str(individual_number_check_digit(first))
            if number not in self.individual_numbers:
                self.individual_numbers.add(number)
                return number

    def occupation(self, role: str, age: int) -> tuple[str, int]:
        """Return an occupation and its base annual revenue (or business income) in yen."""
        rng = self.rng
        if age < ADULT_AGE:
            return "none", 0
        if age >= 65 and not (role == "earner" and age < 70 and rng.random() < 0.2):
            return "pension", rng.randrange(800, 2_800) * 1000
        if role == "young":
            return ("part_time", rng.randrange(600, 1_300) * 1000) if rng.random() < 0.4 else ("none", 0)
        draw = rng.random()
        if role == "earner":
            if draw < 0.8:
                return "salaried", min(11_000, 2_800 + (age - 22) * 120 + rng.randrange(-500, 1_500)) * 1000
            if draw < 0.92:
                return "business", rng.randrange(1_500, 6_000) * 1000
            return "none", 0
        # role == "spouse"
        if draw < 0.45:
            return "salaried", rng.randrange(2_600, 5_000) * 1000
        if draw < 0.75:
            return "part_time", rng.randrange(800, 1_600) * 1000
        return "none", 0

    def person(
        self,
        family_name: Name,
        sex: str,
        birth: date,
        relationship: str,
        role: str,
        koseki: tuple[str | None, str | None],
        taken: set[str],
    ) -> DemoPerson:
        occupation, base = self.occupation(role, age_on(birth, self.today))
        return DemoPerson(
            family_name=family_name,
            given_name=self.given_name(sex, birth, taken),
            sex=sex,
            birth=birth,
            relationship=relationship,
            occupation=occupation,
            domicile=koseki[0],
            domicile_head=koseki[1],
            base_income=base,
        )

    def koseki(self, family_name: Name, head_sex: str, head_birth: date, taken: set[str]) -> tuple[str, str]:
        """A family register (本籍, 筆頭者) headed by someone not (necessarily) in the household."""
        head = self.given_name(head_sex, head_birth, taken)
        return self.domicile(), f"{family_name[0]}\u3000{head[0]}"

    def children(
        self,
        family_name: Name,
        mother_age: int,
        koseki: tuple[str | None, str | None],
        taken: set[str],
        *,
        youngest_max: int,
    ) -> list[DemoPerson]:
        count = self.rng.choices((1, 2, 3), (40, 45, 15))[0]
        # Mothers are at least 20 at each birth, which also guarantees at least one child.
        age = self.rng.randint(0, min(youngest_max, mother_age - 20))
        kids: list[DemoPerson] = []
        while len(kids) < count and mother_age - age >= 20:
            sex = self.rng.choice(("male", "female"))
            role = "young" if age >= ADULT_AGE else "child"
            kids.append(self.person(family_name, sex, self.birth_for_age(age), "子", role, koseki, taken))
            age += self.rng.randint(1, 4)
        return kids
