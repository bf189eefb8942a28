"""Allocation results as the round's publication writes them into ``application.decision["allocation"]`` (the
brief's shared shapes), for the tests of the explanations, the notices and the portal."""

from __future__ import annotations

from typing import Any

SAKURA = {"ja": "さくら保育園", "en": "Sakura"}
MINATO = {"ja": "みなと保育園", "en": "Minato"}
NAMES = {"F-SAKURA": SAKURA, "F-MINATO": MINATO}


def explanation_item(facility: str, rank: int, decided_by: str, **more: Any) -> dict[str, Any]:
    """One ``ExplanationItem`` as a dict with its ``facility_name``: by default a full age-1 class of 2 whose lowest
    admitted score, 20, is the child's own."""
    item = {
        "facility": facility,
        "facility_name": NAMES[facility],
        "age_class": 1,
        "rank": rank,
        "seats": 2,
        "placed_count": 2,
        "your_score": 20,
        "lowest_placed_score": 20,
        "decided_by": decided_by,
        "your_value": None,
        "border_value": None,
        "waiting_position": None,
    }
    return {**item, **more}
