"""Which adapter serves a provider name: each adapter module registers a factory with ``register`` when imported,
and ``provider_for`` builds the adapter for a tenant with the process's settings.

A factory is called as ``factory(tenant=…, settings=…)``; adapters are cheap to build (no connection is opened until
a call), so one is made per use rather than cached, and settings changed by a test take effect at once.
"""

from __future__ import annotations

from collections.abc import Callable

from madoguchi.config import Settings
from madoguchi.payments.providers.base import PaymentProvider
from madoguchi.tenancy.models import Tenant

#: Called with the keywords ``tenant`` and ``settings``.
Factory = Callable[..., PaymentProvider]

_factories: dict[str, Factory] = {}


class UnknownProvider(LookupError):
    """No adapter is registered under this name."""


def register(name: str, factory: Factory) -> None:
    """Make ``provider_for(name, …)`` build adapters with ``factory`` (the last registration wins)."""
    _factories[name] = factory


def names() -> tuple[str, ...]:
    """The registered provider names, sorted."""
    return tuple(sorted(_factories))


def provider_for(name: str, *, tenant: Tenant, settings: Settings) -> PaymentProvider:
    """The adapter of provider ``name`` for ``tenant``; ``UnknownProvider`` when none is registered."""
    factory = _factories.get(name)
    if factory is None:
        raise UnknownProvider(f"no payment provider {name!r} (known: {', '.join(names()) or 'none'})")
    return factory(tenant=tenant, settings=settings)
