"""Childcare facilities of the demo registries, with capacities per age class."""

from __future__ import annotations

import random
from collections.abc import Sequence

from madoguchi.demo.population import CHOME, Name, block
from madoguchi.registry.csv_formats import SMALL_SCALE_MAX_CAPACITY

# --- Facilities ------------------------------------------------------------------------------

_FACILITY_NAMES: tuple[Name, ...] = (
    ("さくら", "Sakura"), ("ひまわり", "Himawari"), ("たんぽぽ", "Tanpopo"), ("すみれ", "Sumire"),
    ("あおぞら", "Aozora"), ("どんぐり", "Donguri"), ("ひよこ", "Hiyoko"), ("こすもす", "Cosmos"),
    ("つくし", "Tsukushi"), ("わかば", "Wakaba"), ("なかよし", "Nakayoshi"), ("にじいろ", "Nijiiro"),
)  # fmt: skip
_FACILITY_CODE_PREFIX = {"nursery": "NS", "certified_center": "CC", "small_scale": "SS"}


def facilities(
    rng: random.Random, towns: Sequence[tuple[str, str, str, int]], prefecture: str, municipality: str
) -> list[list[str]]:
    """Rows of facilities.csv: 6-10 childcare facilities of the three kinds in ``towns``."""
    count = rng.randint(6, 10)
    kinds = ["nursery", "certified_center", "small_scale"]
    kinds += rng.choices(("nursery", "certified_center", "small_scale"), (50, 25, 25), k=count - len(kinds))
    names = rng.sample(_FACILITY_NAMES, count)
    rows = []
    for number, (kind, (name_ja, name_en)) in enumerate(zip(kinds, names, strict=True), start=1):
        town_name, roman, postal_code, chome = rng.choice(towns)
        town = f"{town_name}{CHOME[rng.randrange(chome)]}丁目" if chome else town_name
        if kind == "nursery" and number == 1:  # one public nursery (市立/町立保育所) per municipality
            title_ja, title_en = f"{municipality}立{town_name}保育所", f"Municipal {roman} Nursery School"
        elif kind == "nursery":
            title_ja, title_en = f"{name_ja}保育園", f"{name_en} Nursery School"
        elif kind == "certified_center":
            title_ja, title_en = f"認定こども園{name_ja}", f"{name_en} Certified Center for ECEC"
        else:
            title_ja, title_en = f"小規模保育事業所{name_ja}ルーム", f"{name_en} Room Small-scale Childcare"
        capacities = _capacities(rng, kind)
        rows.append(
            [
                f"{_FACILITY_CODE_PREFIX[kind]}-{number:03d}",
                title_ja,
                title_en,
                kind,
                postal_code,
                f"{prefecture}{municipality}{town}{block(rng)}",
                *(str(c) for c in capacities),
                "true" if rng.random() < 0.8 else "false",
            ]
        )
    return rows


def _capacities(rng: random.Random, kind: str) -> list[int]:
    if kind == "small_scale":
        capacities = [rng.randint(3, 6), rng.randint(4, 7), rng.randint(4, 6), 0, 0, 0]
        assert sum(capacities) <= SMALL_SCALE_MAX_CAPACITY
        return capacities
    if kind == "certified_center":
        older = rng.randint(15, 35)
        return [rng.choice((0, 3, 6)), rng.randint(6, 12), rng.randint(6, 15), older, older, older]
    older = rng.randint(10, 25)
    return [rng.randint(3, 9), rng.randint(6, 15), rng.randint(8, 18), older, older + rng.randint(0, 3), older]
