"""Who is calling: the principal of a request, from a session cookie, a bearer token, or nobody.

Every authenticated blueprint resolves the principal in a ``before_request`` hook (``api.auth``), and
views and operations only ever see ``current_principal()``. The principal names its tenant; a credential
of tenant A used on a URL of tenant B is answered 404, exactly as if the thing did not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import g

from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind, StaffRole

# OAuth scopes (identity issue §2). Sessions carry the scopes their account kind allows.
CATALOG_READ = "catalog:read"
APPLICATIONS_READ = "applications:read"
APPLICATIONS_WRITE = "applications:write"
APPLICATIONS_PROCESS = "applications:process"
WEBHOOKS_MANAGE = "webhooks:manage"
ALL_SCOPES = (CATALOG_READ, APPLICATIONS_READ, APPLICATIONS_WRITE, APPLICATIONS_PROCESS, WEBHOOKS_MANAGE)

#: What each scope lets a vendor do, in plain words for the consent page.
SCOPE_DESCRIPTIONS = {
    CATALOG_READ: {"ja": "手続の一覧と内容を見る", "en": "See the procedures and their details"},
    APPLICATIONS_READ: {"ja": "あなたの申請とその状況を見る", "en": "See your applications and their status"},
    APPLICATIONS_WRITE: {
        "ja": "あなたに代わって申請を作成・提出・取下げする",
        "en": "Create, submit and withdraw applications on your behalf",
    },
    APPLICATIONS_PROCESS: {"ja": "職員として申請を処理する", "en": "Process applications as staff"},
    WEBHOOKS_MANAGE: {"ja": "通知の送信先を管理する", "en": "Manage where event notifications are sent"},
}

RESIDENT_SCOPES = frozenset({CATALOG_READ, APPLICATIONS_READ, APPLICATIONS_WRITE})
STAFF_SCOPES = frozenset({CATALOG_READ, APPLICATIONS_READ, APPLICATIONS_WRITE, APPLICATIONS_PROCESS})
#: Scopes a client may obtain with client credentials (acting for the municipality, not for a resident).
CLIENT_CREDENTIALS_SCOPES = frozenset({CATALOG_READ, APPLICATIONS_READ, WEBHOOKS_MANAGE})


def session_scopes(account: Account) -> frozenset[str]:
    if account.kind == AccountKind.STAFF:
        extra = {WEBHOOKS_MANAGE} if StaffRole.TENANT_ADMIN in (account.roles or []) else set()
        return STAFF_SCOPES | extra
    return RESIDENT_SCOPES


@dataclass(frozen=True)
class Principal:
    #: "session" (a browser), "token" (OAuth bearer), "platform" (a platform admin session)
    method: str
    tenant_id: uuid.UUID | None
    #: The resident or staff member acting (for a client-credentials token: None).
    account: Account | None = None
    #: The OAuth client (vendor app) the token was issued to, if any.
    client_id: uuid.UUID | None = None
    client_name: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: Opaque id of the credential (session or token row), for audit and revocation.
    credential_id: uuid.UUID | None = None

    @property
    def actor(self) -> Actor:
        if self.account is not None:
            actor = Actor.of(self.account)
            if self.client_id is not None:
                # Audit shows both: the resident, and the vendor app acting for them.
                return Actor(**{**actor.__dict__, "label": f"{actor.label} via client:{self.client_id}"})
            return actor
        return Actor(kind="client", label=f"client:{self.client_id}")

    @property
    def is_staff(self) -> bool:
        return self.account is not None and self.account.kind == AccountKind.STAFF

    @property
    def is_resident(self) -> bool:
        return self.account is not None and self.account.kind == AccountKind.RESIDENT

    @property
    def is_tenant_admin(self) -> bool:
        """Staff holding ``tenant_admin`` (whatever the credential: callers that want a browser session check
        ``method`` too)."""
        return self.is_staff and self.account is not None and StaffRole.TENANT_ADMIN in (self.account.roles or [])

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise RuntimeError("no authenticated principal: is the blueprint registered with authentication?")
    return principal


def set_principal(principal: Principal) -> None:
    g.principal = principal
