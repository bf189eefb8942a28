"""The settings a municipality types on its procedure pages are normalized once, by the catalog's schema."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from madoguchi.catalog.schemas import ProcedureSettingsSchema


@pytest.mark.parametrize(("typed", "number"), [("１，５００", 1500), (" 350 ", 350), ("-3", -3), ("48", 48)])
def test_a_whole_number_typed_full_width_or_with_separators_loads_as_the_number(typed: str, number: int) -> None:
    assert ProcedureSettingsSchema().load({"fee": typed}) == {"fee": number}


@pytest.mark.parametrize("typed", ["たくさん", "3.5", "1_000", "٣", ""])
def test_anything_but_a_whole_number_is_refused_for_the_field(typed: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProcedureSettingsSchema().load({"sla_days": typed})
    assert list(refused.value.normalized_messages()) == ["sla_days"]


def test_auto_issue_loads_the_pages_yes_and_no_and_the_apis_booleans() -> None:
    schema = ProcedureSettingsSchema()
    assert schema.load({"auto_issue": "yes"}) == {"auto_issue": True}
    assert schema.load({"auto_issue": "no"}) == {"auto_issue": False}
    assert schema.load({"auto_issue": True}) == {"auto_issue": True}
