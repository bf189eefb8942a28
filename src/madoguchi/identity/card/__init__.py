"""Signing in with the マイナンバーカード through an OpenID Connect provider (decision 0048).

The platform is one OpenID Connect relying party of the card's provider (the national card authentication service,
or a prefecture's shared identity provider), configured by platform settings (``card_oidc_*``) and switched on per
tenant (``card_sign_in`` in the tenant file). The parts:

- ``models``: pending authorizations (state, nonce, PKCE verifier; single use), the card linked to an account
  (issuer and a keyed hash of the subject, never the card's data), the evidence that verified an account, and the
  variant-name matches a clerk must confirm.
- ``protocol``: discovery, JWKS with key rotation, the authorization request and the checked ID token and
  userinfo, giving a ``CardIdentity`` (authlib's client and JOSE).
- ``matching``: the card's 基本4情報 against the tenant's resident register.
- ``operations``: sign in, link, unlink, create an account, and the clerk's confirmation.
"""
