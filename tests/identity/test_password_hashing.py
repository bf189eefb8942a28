"""Passwords are hashed at the production Argon2id cost, and a hash of another cost is upgraded at sign-in.

Every other test hashes at the lowest cost (``cheap_password_hashing`` in tests/conftest.py); these ask for the
production one (``production_password_hashing``), so the parameters the product ships with stay tested.
"""

from __future__ import annotations

from madoguchi.db import Database
from madoguchi.identity import passwords
from madoguchi.identity.operations import common
from madoguchi.identity.passwords import hash_password, needs_rehash, verify_password
from tests.conftest import TEST_PASSWORD_HASHER
from tests.identity.conftest import PASSWORD, Towns, add_account, load_account, login

#: RFC 9106's second recommended option (low memory): Argon2id, 64 MiB, 3 passes, 4 lanes.
PRODUCTION_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_passwords_are_hashed_with_argon2id_at_the_rfc_9106_low_memory_cost(production_password_hashing) -> None:
    hashed = hash_password("𠮷野 髙橋 﨑 correct horse")
    assert hashed.startswith(PRODUCTION_PREFIX)
    assert verify_password(hashed, "𠮷野 髙橋 﨑 correct horse")
    assert not verify_password(hashed, "𠮷野 高橋 崎 correct horse")
    assert not needs_rehash(hashed)


def test_a_hash_at_the_tests_cost_is_not_taken_for_a_production_one(production_password_hashing) -> None:
    cheap = TEST_PASSWORD_HASHER.hash(PASSWORD)
    assert not cheap.startswith(PRODUCTION_PREFIX)
    assert verify_password(cheap, PASSWORD)
    assert needs_rehash(cheap)


def test_a_hash_of_a_lower_cost_is_upgraded_to_the_production_cost_at_sign_in(
    client, db: Database, towns: Towns, production_password_hashing
) -> None:
    account = add_account(db, towns.a)
    with db.transaction(towns.a.id) as session:
        session.merge(account).password_hash = TEST_PASSWORD_HASHER.hash(PASSWORD)

    assert login(client, towns.a, account.email, "wrong password entirely").status_code == 401
    assert not load_account(db, account).password_hash.startswith(PRODUCTION_PREFIX)  # only a good password upgrades

    assert login(client, towns.a, account.email).status_code == 201
    upgraded = load_account(db, account).password_hash
    assert upgraded.startswith(PRODUCTION_PREFIX)
    assert verify_password(upgraded, PASSWORD)


def test_the_dummy_check_for_unknown_accounts_costs_a_production_hash(production_password_hashing) -> None:
    common.spend_a_hash(PASSWORD)  # the dummy hash is made on first use, at the cost current then
    assert common._dummy_hash().startswith(PRODUCTION_PREFIX)
    assert passwords._hasher is production_password_hashing
