"""Which adapter serves a provider name: ``register`` (each adapter module, when imported) and ``provider_for``.

An adapter is built per use, for one tenant and the app's settings: the fake provider derives its webhook secret
from both, Stripe reads its keys from the settings. The fake provider keeps its payments in a table of ours (it
stands in for a provider's own store), so it is built with the caller's session; adapters registered without
``uses_session`` never see one. Decision 0044.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from madoguchi.errors import Conflict
from madoguchi.payments.providers.base import PaymentProvider

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from madoguchi.config import Settings
    from madoguchi.tenancy.models import Tenant

#: ``factory(tenant=..., settings=...)`` (and ``session=...`` when registered with ``uses_session``).
ProviderFactory = Callable[..., PaymentProvider]


@dataclass(frozen=True)
class _Registered:
    factory: ProviderFactory
    uses_session: bool


_providers: dict[str, _Registered] = {}


def register(name: str, factory: ProviderFactory, *, uses_session: bool = False) -> None:
    """Make ``factory`` build the adapter of ``name`` (the tenant file's ``payments.provider``)."""
    _providers[name] = _Registered(factory, uses_session)


def registered() -> tuple[str, ...]:
    return tuple(sorted(_providers))


def provider_for(name: str, *, tenant: Tenant, settings: Settings, session: Session | None = None) -> PaymentProvider:
    """The adapter of ``name`` for ``tenant``; an unknown name is refused (409), never guessed."""
    entry = _providers.get(name)
    if entry is None:
        raise Conflict(f"Payments through '{name}' are not available.", provider=name)
    kwargs: dict[str, Any] = {"tenant": tenant, "settings": settings}
    if entry.uses_session:
        kwargs["session"] = session
    return entry.factory(**kwargs)
