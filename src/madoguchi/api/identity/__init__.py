"""The identity API under ``/api/v1/t/<tenant>/``: sign-up, sessions, your account, staff, identity assurance.

Two blueprints: ``identity_public`` (sign-up, address verification, sign-in/out: reachable without
credentials, rate-limited per IP) and ``identity`` (everything else, through ``require_authentication``).
Account management works with a browser session only: an OAuth token (a vendor app) may read ``/me``
but never manages passwords, second factors, staff or identities.
"""

from madoguchi.api.identity import accounts, staff
from madoguchi.api.identity.common import blp, public_blp

__all__ = ["API_BLUEPRINTS", "accounts", "blp", "public_blp", "staff"]

API_BLUEPRINTS = [public_blp, blp]
