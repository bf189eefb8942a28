"""The card's OpenID Connect relying party (identity/card/protocol.py) against the real provider (infra/card-idp,
oidc-provider on loopback) and the real database: the authorization request, the checked answer, the ID token,
key rotation, replay and the provider being away.

The ID token cases the provider will not produce (another issuer or audience, an expired token, a token signed by a
key it does not have) are tokens these tests sign themselves — with the provider's own signing key where the
signature must be good, so only the claim under test is wrong — checked by ``protocol.validate_id_token``, the one
function ``complete`` checks every ID token with, against the real provider's discovery document and JWKS. The
expired case also runs through the whole flow with the clock moved past the real token's ``exp``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select

from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.identity.card import protocol
from madoguchi.identity.card.models import CardAuthorization
from madoguchi.identity.card.protocol import CardIdentity, CardSignInFailed
from madoguchi.tenancy.models import Tenant
from tests.identity.card.conftest import REDIRECT_URI
from tests.support.card_idp import (
    PIN,
    SAKURAGAOKA_EXACT,
    SHIOMI_EXACT,
    CardIdp,
    CardLoginRefused,
    cancel_card_login,
    drive_card_login,
    generate_key,
    holder,
    with_card_idp,
)
from tests.support.loopback import HOST, free_port

# -- helpers ---------------------------------------------------------------------------------------------------


def start(db: Database, tenant: Tenant, *, purpose: str = "sign_in") -> tuple[str, str]:
    """``protocol.begin`` in its own transaction: (the authorization URL, the binding cookie's value)."""
    with db.transaction(tenant.id) as session:
        return protocol.begin(
            session, tenant, purpose=purpose, account_id=None, return_to=None, redirect_uri=REDIRECT_URI
        )


def finish(
    db: Database, tenant: Tenant, params: dict[str, str], binding: str | None
) -> tuple[CardAuthorization, CardIdentity] | CardSignInFailed:
    """``protocol.complete`` in its own transaction, committed even when it refuses the answer (as the callback
    view does, so a request it marked used stays used): the result, or the refusal."""
    with db.transaction(tenant.id) as session:
        try:
            return protocol.complete(session, tenant, params=params, browser_binding=binding, redirect_uri=REDIRECT_URI)
        except CardSignInFailed as refused:
            return refused


def refused(outcome: object) -> str:
    assert isinstance(outcome, CardSignInFailed), f"expected a refusal, got {outcome!r}"
    return outcome.reason


def authorizations(db: Database, tenant: Tenant) -> list[CardAuthorization]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(CardAuthorization)).scalars())


def sign_in_at_provider(db: Database, tenant: Tenant, sub: str = SHIOMI_EXACT) -> tuple[dict[str, str], str]:
    url, binding = start(db, tenant)
    return drive_card_login(url, sub), binding


def sign_token(key: Any, claims: dict[str, Any], *, alg: str = "RS256", kid: str | None = None) -> str:
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims, key, algorithms=[alg])


def id_claims(idp: CardIdp, nonce: str = "the-nonce", **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "sub": SHIOMI_EXACT,
        "aud": idp.client_id,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": nonce,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def check(app: Flask, token: str, nonce: str = "the-nonce") -> dict[str, Any]:
    settings: Settings = app.config["MADOGUCHI"]
    provider = protocol.provider_metadata(settings)
    return protocol.validate_id_token(token, settings=settings, provider=provider, nonce=nonce)


def with_settings(app: Flask, **changes: Any) -> None:
    app.config["MADOGUCHI"] = replace(app.config["MADOGUCHI"], **changes)


# -- the happy path --------------------------------------------------------------------------------------------


def test_a_card_holder_signs_in_and_the_card_s_basic_information_comes_back_exactly(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    url, binding = start(db, shiomi)

    query = parse_qs(urlsplit(url).query)
    state = query["state"][0]
    assert state.startswith("shiomi-town.")
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert set(query["scope"][0].split()) == {"openid", "profile", "address"}
    [stored] = authorizations(db, shiomi)
    # Only hashes of the state and the binding cookie are kept; the nonce and verifier are needed to check.
    assert stored.state_hash == hashlib.sha256(state.encode()).hexdigest()
    assert stored.browser_binding_hash == hashlib.sha256(binding.encode()).hexdigest()
    assert state not in {stored.nonce, stored.code_verifier} and binding not in {stored.nonce, stored.code_verifier}
    assert query["nonce"] == [stored.nonce]
    assert stored.expires_at - stored.created_at == timedelta(minutes=10)
    assert stored.used_at is None

    params = drive_card_login(url, SHIOMI_EXACT)
    outcome = finish(db, shiomi, params, binding)

    assert not isinstance(outcome, CardSignInFailed), outcome.reason
    authorization, identity = outcome
    assert authorization.id == stored.id and authorization.used_at is not None
    card = holder(SHIOMI_EXACT)["card"]
    assert identity.name == "葛\U000e0100城\u3000美咲"  # the variation selector kept, code point for code point
    assert identity == CardIdentity(
        issuer=in_app.config["MADOGUCHI"].card_oidc_issuer,
        subject=SHIOMI_EXACT,
        name=card["name"],
        birth_date=date(1988, 6, 14),
        sex="female",
        address="高知県汐見町港町二丁目3番5号",
        prefecture="高知県",
        municipality="汐見町",
        authenticated_at=identity.authenticated_at,
        acr=identity.acr,
    )
    assert identity.authenticated_at is not None and abs(identity.authenticated_at - utcnow()) < timedelta(minutes=1)


def test_an_outside_character_name_and_an_address_with_a_building_come_back_as_on_the_card(
    in_app: Flask, db: Database, sakuragaoka: Tenant
) -> None:
    params, binding = sign_in_at_provider(db, sakuragaoka, SAKURAGAOKA_EXACT)
    outcome = finish(db, sakuragaoka, params, binding)
    assert not isinstance(outcome, CardSignInFailed), outcome.reason
    _, identity = outcome
    assert identity.name == "\U00020bb7田\u3000翔太"  # 𠮷 (U+20BB7), outside the BMP
    assert identity.birth_date == date(1992, 2, 29)
    assert identity.address == "長野県桜ヶ丘市桜台二丁目14番3号 コーポ桜 203号室"
    assert (identity.prefecture, identity.municipality, identity.sex) == ("長野県", "桜ヶ丘市", "male")


def test_a_wrong_pin_is_refused_by_the_provider_and_the_right_one_then_goes_through(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    url, binding = start(db, shiomi)
    with pytest.raises(CardLoginRefused, match="暗証番号が違います"):
        drive_card_login(url, SHIOMI_EXACT, pin="0000")
    params = drive_card_login(url, SHIOMI_EXACT, pin=PIN)
    assert not isinstance(finish(db, shiomi, params, binding), CardSignInFailed)


def test_the_provider_sends_the_browser_only_to_the_platform_s_callback_on_loopback(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    url, _ = start(db, shiomi)
    for elsewhere in ("http://evil.example/card/callback", "http://127.0.0.1:5000/other/callback"):
        answer = requests.get(url.replace("127.0.0.1%3A5000%2Fcard%2Fcallback", elsewhere), timeout=10)
        assert answer.status_code == 400 and "redirect_uri" in answer.text
    allowed = url.replace("127.0.0.1%3A5000", "localhost%3A8123")
    assert requests.get(allowed, timeout=10, allow_redirects=False).status_code == 303


# -- the answer: state, binding, expiry, replay ------------------------------------------------------------------


def test_the_same_answer_twice_is_refused_as_a_replay(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    assert not isinstance(finish(db, shiomi, params, binding), CardSignInFailed)
    assert refused(finish(db, shiomi, params, binding)) == "replay"


def test_an_answer_refused_after_its_request_was_marked_used_cannot_be_tried_again(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    """The request is spent before the code is exchanged: a failed exchange does not reopen it."""
    params, binding = sign_in_at_provider(db, shiomi)
    assert refused(finish(db, shiomi, {**params, "code": "not-the-code"}, binding)) == "token"
    assert refused(finish(db, shiomi, params, binding)) == "replay"


def test_an_unknown_or_missing_state_is_refused_and_changes_nothing(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    for state in (
        "shiomi-town.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "",
        "no-dot-at-all",
        params["state"] + "x",
    ):
        assert refused(finish(db, shiomi, {**params, "state": state}, binding)) == "state"
    assert [a.used_at for a in authorizations(db, shiomi)] == [None]
    assert not isinstance(finish(db, shiomi, params, binding), CardSignInFailed)


def test_the_answer_to_another_municipality_s_request_is_refused_here(
    in_app: Flask, db: Database, shiomi: Tenant, sakuragaoka: Tenant
) -> None:
    params, binding = sign_in_at_provider(db, sakuragaoka, SAKURAGAOKA_EXACT)
    assert refused(finish(db, shiomi, params, binding)) == "state"
    # Its slug rewritten to this tenant's: no such request here either.
    forged = {**params, "state": "shiomi-town." + params["state"].partition(".")[2]}
    assert refused(finish(db, shiomi, forged, binding)) == "state"
    # Still good where it was started.
    assert not isinstance(finish(db, sakuragaoka, params, binding), CardSignInFailed)


def test_an_answer_carried_to_another_browser_is_refused(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    assert refused(finish(db, shiomi, params, None)) == "binding"
    assert refused(finish(db, shiomi, params, "")) == "binding"
    assert refused(finish(db, shiomi, params, binding[:-1] + ("A" if binding[-1] != "A" else "B"))) == "binding"
    # The browser that started it can still finish.
    assert not isinstance(finish(db, shiomi, params, binding), CardSignInFailed)


def test_an_answer_after_ten_minutes_is_refused(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    with db.transaction(shiomi.id) as session:
        session.execute(select(CardAuthorization)).scalar_one().expires_at = utcnow() - timedelta(seconds=1)
    assert refused(finish(db, shiomi, params, binding)) == "expired_request"


def test_an_error_from_the_provider_is_refused_and_spends_the_request(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    url, binding = start(db, shiomi)
    params = cancel_card_login(url)
    assert params["error"] == "access_denied"
    outcome = finish(db, shiomi, params, binding)
    assert refused(outcome) == "provider_error"
    assert "access_denied" in str(outcome)
    assert all(a.used_at is not None for a in authorizations(db, shiomi))


def test_an_answer_naming_another_issuer_is_refused(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    assert refused(finish(db, shiomi, {**params, "iss": "https://idp.invalid"}, binding)) == "issuer"


def test_a_tampered_nonce_is_refused(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    """The provider's ID token carries the nonce sent; the request's stored nonce no longer matches it."""
    params, binding = sign_in_at_provider(db, shiomi)
    with db.transaction(shiomi.id) as session:
        session.execute(select(CardAuthorization)).scalar_one().nonce = "another-nonce"
    assert refused(finish(db, shiomi, params, binding)) == "nonce"


def test_the_provider_s_real_id_token_is_refused_once_expired(
    in_app: Flask, db: Database, shiomi: Tenant, card_idp: CardIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    later = time.time() + card_idp.id_token_ttl + protocol.CLOCK_LEEWAY_SECONDS + 5
    monkeypatch.setattr(protocol, "wall", lambda: later)
    assert refused(finish(db, shiomi, params, binding)) == "expired_token"


# -- the ID token's claims and signature ------------------------------------------------------------------------


def test_a_token_signed_by_the_provider_with_the_right_claims_passes(in_app: Flask, card_idp: CardIdp) -> None:
    """The control for the cases below: only the one claim under test differs."""
    key = card_idp.signing_key
    claims = check(in_app, sign_token(key, id_claims(card_idp), kid=key.kid))
    assert claims["sub"] == SHIOMI_EXACT
    several = id_claims(card_idp, aud=[card_idp.client_id, "another-client"], azp=card_idp.client_id)
    assert check(in_app, sign_token(key, several, kid=key.kid))["azp"] == card_idp.client_id


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://another-provider.example"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"aud": "another-client"}, "audience"),
        ({"aud": ["another-client", "a-third"]}, "audience"),
        ({"aud": ["madoguchi-test", "another-client"]}, "audience"),  # several audiences and no azp
        ({"aud": ["madoguchi-test", "another-client"], "azp": "another-client"}, "audience"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3900}, "expired_token"),
        ({"exp": None}, "claims"),
        ({"iat": int(time.time()) + 3600}, "claims"),
        ({"nonce": "not-the-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"sub": None}, "claims"),
    ],
)
def test_a_token_with_a_wrong_claim_is_refused(
    in_app: Flask, card_idp: CardIdp, changes: dict[str, Any], reason: str
) -> None:
    key = card_idp.signing_key
    token = sign_token(key, id_claims(card_idp, **changes), kid=key.kid)
    with pytest.raises(CardSignInFailed) as refusal:
        check(in_app, token)
    assert refusal.value.reason == reason


def test_a_token_signed_by_a_key_the_provider_does_not_have_is_refused(in_app: Flask, card_idp: CardIdp) -> None:
    stranger = RSAKey.import_key(generate_key())
    with pytest.raises(CardSignInFailed) as unknown_kid:
        check(in_app, sign_token(stranger, id_claims(card_idp), kid=stranger.kid))
    assert unknown_kid.value.reason == "signature"
    # Claiming the provider's key id does not help: the signature does not verify with that key.
    with pytest.raises(CardSignInFailed) as borrowed_kid:
        check(in_app, sign_token(stranger, id_claims(card_idp), kid=card_idp.signing_key.kid))
    assert borrowed_kid.value.reason == "signature"


def test_a_token_signed_with_the_client_secret_or_unsigned_is_refused(in_app: Flask, card_idp: CardIdp) -> None:
    secret = OctKey.import_key(card_idp.client_secret.encode())
    hs256 = sign_token(secret, id_claims(card_idp), alg="HS256", kid=card_idp.signing_key.kid)
    with pytest.raises(CardSignInFailed) as symmetric:
        check(in_app, hs256)
    assert symmetric.value.reason in {"signature", "token"}
    good = sign_token(card_idp.signing_key, id_claims(card_idp), kid=card_idp.signing_key.kid)
    header, payload, _ = good.split(".")
    for forged in (f"{header}.{payload}.", "not-a-token", f"{header}.{payload}"):
        with pytest.raises(CardSignInFailed) as unsigned:
            check(in_app, forged)
        assert unsigned.value.reason in {"signature", "token"}


# -- discovery and keys ----------------------------------------------------------------------------------------


def test_a_provider_calling_itself_by_another_issuer_is_refused(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    with_settings(in_app, card_oidc_issuer=in_app.config["MADOGUCHI"].card_oidc_issuer + "/")
    with pytest.raises(CardSignInFailed) as refusal:
        start(db, shiomi)
    assert refusal.value.reason == "issuer"
    assert authorizations(db, shiomi) == []


def test_an_unreachable_provider_starts_nothing(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    with_settings(in_app, card_oidc_issuer=f"http://{HOST}:{free_port()}", card_oidc_timeout=2.0)
    with pytest.raises(CardSignInFailed) as refusal:
        start(db, shiomi)
    assert refusal.value.reason == "unavailable"
    assert authorizations(db, shiomi) == []


def test_a_plain_http_provider_off_loopback_is_never_asked(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    with_settings(in_app, card_oidc_issuer="http://idp.example")
    with pytest.raises(CardSignInFailed) as refusal:
        start(db, shiomi)
    assert refusal.value.reason == "unavailable"
    assert authorizations(db, shiomi) == []


def test_the_discovery_document_and_keys_are_fetched_once_while_cached(in_app: Flask, card_idp: CardIdp) -> None:
    settings = in_app.config["MADOGUCHI"]
    first = protocol.provider_metadata(settings)
    assert protocol.provider_metadata(settings) is first
    assert first.issuer == card_idp.issuer
    assert [k.kid for k in first.keys.keys] == [k["kid"] for k in card_idp.jwks["keys"]]
    assert protocol.provider_metadata(replace(settings, card_oidc_cache_seconds=0)) is not first


@pytest.fixture
def own_idp(in_app: Flask) -> Any:
    """A provider of this test's own (it is restarted with other keys), the app pointed at it."""
    with CardIdp() as idp:
        in_app.config["MADOGUCHI"] = with_card_idp(in_app.config["MADOGUCHI"], idp)
        yield idp


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def test_a_rotated_signing_key_is_fetched_at_most_once_a_minute_and_then_signs_in(
    in_app: Flask, db: Database, shiomi: Tenant, own_idp: CardIdp, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(protocol, "monotonic", clock)
    params, binding = sign_in_at_provider(db, shiomi)
    assert not isinstance(finish(db, shiomi, params, binding), CardSignInFailed)
    old_kid = own_idp.signing_key.kid

    # The provider rotates: a new key signs, the old one is gone. Our cached set has only the old one.
    new = own_idp.rotate(keep_old=False)
    params, binding = sign_in_at_provider(db, shiomi)
    clock.now += 30  # the keys were fetched 30 s ago: too soon to fetch them again for an unknown key id
    assert refused(finish(db, shiomi, params, binding)) == "signature"

    clock.now += 31  # a minute on: the unknown key id fetches the keys again, and the sign-in goes through
    params, binding = sign_in_at_provider(db, shiomi)
    outcome = finish(db, shiomi, params, binding)
    assert not isinstance(outcome, CardSignInFailed), outcome.reason
    cached = protocol.provider_metadata(in_app.config["MADOGUCHI"])
    assert [k.kid for k in cached.keys.keys] == [new["kid"]] != [old_kid]

    # A token signed by a key in neither set fails (and fetches nothing: a minute has not passed).
    stranger = RSAKey.import_key(generate_key())
    fetched_at = cached.keys_fetched_at
    with pytest.raises(CardSignInFailed) as refusal:
        check(in_app, sign_token(stranger, id_claims(own_idp), kid=stranger.kid))
    assert refusal.value.reason == "signature"
    assert cached.keys_fetched_at == fetched_at


def test_a_provider_that_went_away_after_the_holder_signed_in_is_unavailable(
    in_app: Flask, db: Database, shiomi: Tenant, own_idp: CardIdp
) -> None:
    params, binding = sign_in_at_provider(db, shiomi)
    own_idp.stop()
    outcome = finish(db, shiomi, params, binding)
    assert refused(outcome) == "unavailable"


# -- switched on per tenant; the subject's hash; the identity as JSON -------------------------------------------


def test_card_sign_in_is_off_where_the_tenant_file_does_not_switch_it_on(in_app: Flask, db: Database) -> None:
    from tests.identity.card.conftest import by_slug

    village = by_slug(db, "midorikawa-village")
    assert not protocol.is_enabled_for(village)
    with pytest.raises(CardSignInFailed) as refusal:
        start(db, village)
    assert refusal.value.reason == "disabled"
    assert authorizations(db, village) == []


def test_card_sign_in_is_off_everywhere_without_a_configured_provider(
    in_app: Flask, db: Database, shiomi: Tenant
) -> None:
    assert protocol.is_configured() and protocol.is_enabled_for(shiomi)
    with_settings(in_app, card_oidc_client_secret="")
    assert not protocol.is_configured() and not protocol.is_enabled_for(shiomi)


def test_the_subject_is_stored_only_as_a_keyed_hash_of_issuer_and_subject(in_app: Flask) -> None:
    digest = protocol.subject_hash("https://idp.example", "subject-1")
    assert len(digest) == 64 and "subject-1" not in digest
    assert digest == protocol.subject_hash("https://idp.example", "subject-1")
    assert digest != protocol.subject_hash("https://idp2.example", "subject-1")
    assert digest != protocol.subject_hash("https://idp.example", "subject-2")
    assert digest != hashlib.sha256(b"https://idp.example\0subject-1").hexdigest()
    with_settings(in_app, secret_key="another-platform-secret")
    assert digest != protocol.subject_hash("https://idp.example", "subject-1")


def test_the_identity_survives_json() -> None:
    identity = CardIdentity(
        issuer="https://idp.example",
        subject="s",
        name="髙橋\u3000一郎",
        birth_date=date(1985, 4, 2),
        sex="male",
        address="高知県汐見町浜通り1番",
        prefecture="高知県",
        municipality="汐見町",
        authenticated_at=utcnow().replace(microsecond=0),
        acr=None,
    )
    assert CardIdentity.from_json(identity.to_json()) == identity
    assert CardIdentity.from_json({**identity.to_json(), "authenticated_at": None}).authenticated_at is None


@pytest.mark.parametrize(
    ("state", "slug"),
    [
        ("shiomi-town.abcdefghijklmnopqrstuvwxyz", "shiomi-town"),
        ("shiomi-town", None),
        (".abcdefghijklmnopqrstuvwxyz", None),
        ("shiomi-town.short", None),
        ("汐見.abcdefghijklmnopqrstuvwxyz", None),
        ("", None),
    ],
)
def test_the_state_names_its_tenant(state: str, slug: str | None) -> None:
    assert protocol.tenant_slug_of_state(state) == slug


def test_a_started_request_keeps_no_state_or_cookie_in_the_clear(in_app: Flask, db: Database, shiomi: Tenant) -> None:
    url, binding = start(db, shiomi)
    state = parse_qs(urlsplit(url).query)["state"][0]
    with db.transaction(shiomi.id) as session:
        count = session.execute(select(func.count()).select_from(CardAuthorization)).scalar_one()
        row = session.execute(select(CardAuthorization)).scalar_one()
        values = [str(getattr(row, column.key)) for column in CardAuthorization.__table__.columns]
    assert count == 1
    assert not any(state in value or binding in value for value in values)
