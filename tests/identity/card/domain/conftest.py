"""Card sign-in test helpers: register persons at a known address, card identities built directly (the protocol is
tested on its own), pending authorizations as ``protocol.complete`` leaves them."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from madoguchi.db import Database, utcnow
from madoguchi.identity.card.models import CardAuthorization, CardPurpose
from madoguchi.identity.card.protocol import CardIdentity
from madoguchi.identity.models import Account
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_household, make_person

ISSUER = "https://card-idp.example.jp"
BIRTH = date(1985, 4, 2)
#: Where the register persons made here live, and how a card writes the same place.
TOWN, BLOCK, BUILDING = "中央二丁目", "12番3号", "メゾン・ド・ソレイユ 305号室"
CARD_STREET = "中央2丁目12-3　メゾン・ド・ソレイユ305号室"


@pytest.fixture(autouse=True)
def in_app(app: Flask) -> Iterator[None]:
    """The operations read the platform's settings (secret and data keys, public URL) from the app."""
    with app.app_context():
        yield


def prefecture_of(tenant: Tenant) -> str:
    return tenant.profile["prefecture"]["ja"]


def register_person(
    db: Database,
    tenant: Tenant,
    *,
    family: str = "髙橋",
    given: str = "一郎",
    birth: date = BIRTH,
    sex: str = "male",
    town: str = TOWN,
    block: str = BLOCK,
    building: str | None = BUILDING,
    **overrides: Any,
) -> Person:
    with db.transaction(tenant.id) as session:
        household = make_household(
            session,
            tenant,
            prefecture=prefecture_of(tenant),
            municipality=tenant.name_ja,
            town=town,
            block=block,
            building=building,
        )
        person = make_person(
            session, tenant, household, family_name=family, given_name=given, birth_date=birth, sex=sex, **overrides
        )
        person.household  # noqa: B018 - loaded for the address
        return person


def card_of(
    tenant: Tenant,
    name: str = "髙橋　一郎",
    *,
    birth: date = BIRTH,
    sex: str = "male",
    street: str = CARD_STREET,
    address: str | None = None,
    prefecture: str | None = None,
    municipality: str | None = None,
    subject: str | None = None,
) -> CardIdentity:
    """A card holder as the provider reports them; by default living at the register persons' address."""
    return CardIdentity(
        issuer=ISSUER,
        subject=subject or f"sub-{uuid.uuid4().hex}",
        name=name,
        birth_date=birth,
        sex=sex,
        address=address if address is not None else f"{prefecture_of(tenant)}{tenant.name_ja}{street}",
        prefecture=prefecture if prefecture is not None else prefecture_of(tenant),
        municipality=municipality if municipality is not None else tenant.name_ja,
        authenticated_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        acr="urn:example:card",
    )


def new_authorization(
    db: Database, tenant: Tenant, *, purpose: CardPurpose = CardPurpose.SIGN_IN, account: Account | None = None
) -> tuple[CardAuthorization, str]:
    """A request whose answer was just checked (``used_at`` set), and the browser's binding cookie value."""
    binding = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction(tenant.id) as session:
        authorization = CardAuthorization(
            tenant_id=tenant.id,
            state_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
            browser_binding_hash=hashlib.sha256(binding.encode()).hexdigest(),
            nonce=secrets.token_urlsafe(16),
            code_verifier=secrets.token_urlsafe(48),
            purpose=purpose.value,
            account_id=account.id if account else None,
            created_at=now - timedelta(seconds=30),
            expires_at=now + timedelta(minutes=10),
            used_at=now,
        )
        session.add(authorization)
        session.flush()
    return authorization, binding


def get_authorization(session, authorization: CardAuthorization) -> CardAuthorization:
    return session.execute(select(CardAuthorization).where(CardAuthorization.id == authorization.id)).scalar_one()


def get_account(session, account: Account) -> Account:
    return session.execute(select(Account).where(Account.id == account.id)).scalar_one()
