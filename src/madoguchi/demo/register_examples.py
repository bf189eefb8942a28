"""The rarer items of the resident register, put into the demo registries so certificates show them.

* the demo family: the wife has a 旧氏 (her surname before marriage), and the head's father, who lived with them,
  died before the oldest fiscal year assessed: his record is a 除票 (死亡) the family can ask a copy of;
* a grown child of another household moved out to another municipality: a 除票 (転出) with its 転出先;
* two people living alone are foreign residents: a 中長期在留者 with a 在留資格 and 在留期間 (永住者 when older),
  and a 特別永住者 registered with a 通称.

Applied after the households are drawn, with a ``random.Random`` of its own, so the rest of the demo data (names,
incomes, tax) is exactly what the seed made it without them. Removed persons left before the oldest fiscal year
shown, so they need no tax assessment.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from madoguchi.demo.draws import Draws
from madoguchi.demo.population import (
    ELSEWHERE,
    FAMILY_NAMES,
    MALE_NAMES,
    TOWNS,
    VARIANT_FAMILY_NAMES,
    DemoHousehold,
    DemoPerson,
    ForeignItems,
    block,
    years_before,
)
from madoguchi.demo.tax import ADULT_AGE, TAX_YEARS
from madoguchi.jp import age_on, individual_number_check_digit
from madoguchi.registry.csv_formats import HEAD_OF_HOUSEHOLD

#: (family name, given names by sex) of the two foreign residents, with the special permanent resident's 通称.
MID_TO_LONG_TERM_NAMES = (
    ("NGUYEN", "グエン"),
    {"male": ("VAN AN", "ヴァン　アン"), "female": ("THI MAI", "ティ　マイ")},
)
SPECIAL_PERMANENT_NAMES = (("金", "キム"), {"male": ("英洙", "ヨンス"), "female": ("英姫", "ヨンヒ")})
ALIASES = {"male": ("金田　英夫", "カネダ　ヒデオ"), "female": ("金田　英子", "カネダ　エイコ")}
CARD_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


class _Examples:
    def __init__(self, generator: Draws, seed: int) -> None:
        self.generator = generator
        self.rng = random.Random(f"register-examples-{seed}")
        # Residents on January 1 of the oldest fiscal year shown are assessed; the removed left before it.
        self.oldest_jan1 = date(generator.current_fy - TAX_YEARS + 1, 1, 1)

    def resident_code(self) -> str:
        code = f"{self.generator.code_prefix}{self.generator.next_resident:06d}"
        self.generator.next_resident += 1
        return code

    def individual_number(self) -> str:
        while True:
            first = f"{self.rng.randrange(10**11):011d}"
            number = first + str(individual_number_check_digit(first))
            if number not in self.generator.individual_numbers:
                self.generator.individual_numbers.add(number)
                return number

    def card_number(self) -> str:
        letters = "".join(self.rng.choice(CARD_LETTERS) for _ in range(4))
        return f"{letters[:2]}{self.rng.randrange(10**8):08d}{letters[2:]}"

    def removed_before_oldest_year(self, since: date) -> date | None:
        latest = self.oldest_jan1 - timedelta(days=30)
        if latest <= since:
            return None
        return since + timedelta(days=self.rng.randint(1, (latest - since).days))

    def former_member(
        self, household: DemoHousehold, person: DemoPerson, since: date, removed_on: date, reason: str
    ) -> DemoPerson:
        person.resident_code = self.resident_code()
        person.individual_number = self.individual_number()
        person.became_resident_on = person.address_set_on = since
        person.notified_on = min(removed_on, since + timedelta(days=7 if since > person.birth else 10))
        person.previous_address = household.previous_address if since > person.birth else None
        person.removed_on, person.removal_reason = removed_on, reason
        household.removed.append(person)
        return person

    def father_who_died(self, family: DemoHousehold) -> None:
        head = next(p for p in family.members if p.relationship == HEAD_OF_HOUSEHOLD)
        birth = years_before(head.birth, self.rng.randint(27, 34))
        since = max(family.moved_in, birth)
        removed_on = self.removed_before_oldest_year(since)
        if removed_on is None:
            return
        name = self.rng.choice(MALE_NAMES[0])
        father = DemoPerson(
            head.family_name,
            name,
            "male",
            birth,
            "父",
            "pension",
            head.domicile,
            f"{head.family_name[0]}\u3000{name[0]}",
        )
        self.former_member(family, father, since, removed_on, "死亡")

    def wife_with_former_surname(self, family: DemoHousehold) -> None:
        wife = next((p for p in family.members if p.relationship == "妻"), None)
        if wife is not None:
            wife.former_surname = self.rng.choice([n for n in FAMILY_NAMES if n != wife.family_name])

    def child_who_moved_out(self, households: list[DemoHousehold]) -> None:
        for household in households:
            head = next(p for p in household.members if p.relationship == HEAD_OF_HOUSEHOLD)
            if len(household.members) > 5 or age_on(head.birth, self.generator.today) < 55:
                continue
            birth = years_before(head.birth, -self.rng.randint(25, 32))
            since = max(household.moved_in, birth)
            removed_on = self.removed_before_oldest_year(max(since, years_before(birth, -ADULT_AGE)))
            if removed_on is None:
                continue
            sex = self.rng.choice(("male", "female"))
            name = self.rng.choice(MALE_NAMES[1]) if sex == "male" else ("美穂", "ミホ")
            child = DemoPerson(head.family_name, name, sex, birth, "子", "none", head.domicile, head.domicile_head)
            self.former_member(household, child, since, removed_on, "転出")
            child.moved_out_to = f"{self.rng.choice(ELSEWHERE)}{self.rng.choice(TOWNS)[0]}{block(self.rng)}"
            return

    def foreign_residents(self, households: list[DemoHousehold]) -> None:
        alone = [
            h.members[0]
            for h in households
            if len(h.members) == 1 and h.members[0].family_name not in VARIANT_FAMILY_NAMES
        ]
        if len(alone) < 2:
            return
        worker, special = alone[-1], alone[-2]
        today = self.generator.today
        family, given = MID_TO_LONG_TERM_NAMES
        worker.family_name, worker.given_name = family, given[worker.sex]
        permanent = age_on(worker.birth, today) >= 60
        worker.foreign = ForeignItems(
            category="中長期在留者",
            nationality="ベトナム",
            residence_status="永住者" if permanent else "技術・人文知識・国際業務",
            period_of_stay="無期限" if permanent else "5年",
            period_of_stay_ends_on=None if permanent else today + timedelta(days=self.rng.randint(200, 1500)),
            residence_card_number=self.card_number(),
        )
        family, given = SPECIAL_PERMANENT_NAMES
        special.family_name, special.given_name = family, given[special.sex]
        special.foreign = ForeignItems(
            category="特別永住者",
            nationality="韓国",
            residence_card_number=self.card_number(),
            alias=ALIASES[special.sex],
        )
        for person in (worker, special):
            person.domicile = person.domicile_head = None  # a foreign resident has no 本籍


def add_register_examples(generator: Draws, households: list[DemoHousehold], seed: int) -> None:
    """Give the drawn ``households`` (the demo family first) the examples the module docstring lists."""
    examples = _Examples(generator, seed)
    family, others = households[0], households[1:]
    examples.wife_with_former_surname(family)
    examples.father_who_died(family)
    examples.child_who_moved_out(others)
    examples.foreign_residents(others)
