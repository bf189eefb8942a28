"""The level an application needs and the ways to it (decision 0048), as the guard, the API and the portal use them."""

from __future__ import annotations

from madoguchi.applications.assurance import raising_conditions, required_assurance, ways_to

SETTINGS = {
    "identity_assurance": "email",
    "identity_assurance_when": [
        {"field": "/include/domicile", "equals": True, "level": "verified"},
        {"field": "/include/individual_number", "equals": True, "level": "card"},
        {"field": "/requester/relationship", "equals": "agent", "level": "verified"},
    ],
}


def test_the_highest_level_of_the_conditions_met_counts_whatever_their_order() -> None:
    both = {"include": {"domicile": True, "individual_number": True}}
    assert required_assurance(SETTINGS, both) == "card"
    reordered = {**SETTINGS, "identity_assurance_when": list(reversed(SETTINGS["identity_assurance_when"]))}
    assert required_assurance(reordered, both) == "card"
    assert required_assurance(SETTINGS, {"requester": {"relationship": "agent"}}) == "verified"
    assert [c["field"] for c in raising_conditions(SETTINGS, both)] == [
        "/include/domicile",
        "/include/individual_number",
    ]


def test_an_answer_that_is_missing_or_of_another_type_raises_nothing() -> None:
    assert required_assurance(SETTINGS, {}) == "email"
    assert required_assurance(SETTINGS, None) == "email"
    assert required_assurance(SETTINGS, {"include": {"individual_number": "true"}}) == "email"
    assert required_assurance(SETTINGS, {"include": "individual_number"}) == "email"


def test_a_procedure_without_a_level_needs_nothing_unless_an_answer_raises_it() -> None:
    assert required_assurance({}, {"include": {"individual_number": True}}) is None
    raised = {"identity_assurance_when": SETTINGS["identity_assurance_when"]}
    assert required_assurance(raised, {"include": {"individual_number": True}}) == "card"


def test_the_card_is_offered_only_where_the_municipality_has_it_and_is_the_only_way_to_the_card_level() -> None:
    assert ways_to("verified", card_available=True) == ["card", "letter", "counter"]
    assert ways_to("verified", card_available=False) == ["letter", "counter"]
    assert ways_to("card", card_available=True) == ["card"]
    assert ways_to("card", card_available=False) == []
    assert ways_to("email", card_available=True) == []
