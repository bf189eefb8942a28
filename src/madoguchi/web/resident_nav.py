"""The portal's navigation as every resident-facing page shows it, the municipality's landing page included.

It lives in the web toolkit because the landing page (``web.views``) and the portal's pages both render it, and
a toolkit never imports a surface (docs/decisions/0016-layers.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from madoguchi.context import current_tenant, db_session
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.notify import notices as inbox

if TYPE_CHECKING:  # annotations only
    from madoguchi.identity.models import Account


def signed_in_resident() -> Account | None:
    """The resident signed in to this municipality, if any (for public pages such as the landing page)."""
    principal = principal_from_session_cookie()
    if principal is None or principal.tenant_id != current_tenant.id or not principal.is_resident:
        return None
    return principal.account


def unread_notices(account: Account) -> int:
    return inbox.unread_count(db_session(), account.tenant_id, account.id)


def nav_context(account: Account | None, active: str = "") -> dict[str, Any]:
    """What the portal navigation needs: shown only to a signed-in resident."""
    if account is None:
        return {"resident": None, "active": active}
    return {"resident": account, "unread": unread_notices(account), "active": active}
