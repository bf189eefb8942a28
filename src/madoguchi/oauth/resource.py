"""Resource-server side of OAuth: turning a bearer token into a principal.

Placeholder until the authorization server lands: no token is valid yet.
"""

from __future__ import annotations

from madoguchi.identity.principal import Principal


def principal_from_bearer(token: str) -> Principal | None:
    return None
