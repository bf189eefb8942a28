"""The console's page queries, now in the domain repositories, answer only for the municipality asked about:
another municipality's people and staff are not found by id."""

from __future__ import annotations

from madoguchi.db import Database
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.models import AccountKind
from madoguchi.registry import repository as registry_repository
from tests.factories import make_account, make_person, tenants


def test_people_and_staff_of_another_municipality_are_not_found_by_id(db: Database, seeded: None) -> None:
    a, b = tenants(db)[:2]
    with db.transaction(b.id) as session:
        theirs = make_person(session, b).id
        other_clerk = make_account(session, b, kind=AccountKind.STAFF, roles=["clerk"]).id
    with db.transaction(a.id) as session:
        mine = make_person(session, a, family_name="𠮷田", given_name="葛󠄀子")
        clerk = make_account(session, a, kind=AccountKind.STAFF, roles=["clerk"])

        assert registry_repository.find_person(session, a.id, mine.id) is mine
        assert registry_repository.find_person(session, a.id, theirs) is None
        assert registry_repository.full_names(session, a.id, {mine.id, theirs, None}) == {mine.id: "𠮷田　葛󠄀子"}
        assert identity_repository.display_names(session, a.id, {clerk.id, other_clerk}) == {clerk.id: "Test user"}
        assert [s.id for s in identity_repository.active_staff(session, a.id) if s.id in (clerk.id, other_clerk)] == [
            clerk.id
        ]
