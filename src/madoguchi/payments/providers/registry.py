"""Which adapter serves a provider name: ``register(name, factory)`` when an adapter module is imported,
``provider_for(name, tenant=…, settings=…)`` when a flow needs one (the intent's ``provider``).

The flows part owns this module (decision 0044); refunds call ``provider_for`` to reach the provider that took
the payment. An unknown name is a ``ProviderError``: nothing is changed on our side.
"""

from __future__ import annotations

from collections.abc import Callable

from madoguchi.config import Settings
from madoguchi.payments.providers.base import PaymentProvider, ProviderError
from madoguchi.tenancy.models import Tenant

#: ``factory(tenant=…, settings=…)`` builds the adapter for one tenant (its keys and secrets).
ProviderFactory = Callable[..., PaymentProvider]
_factories: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    """Make ``name`` (an intent's ``provider``) served by ``factory``."""
    _factories[name] = factory


def provider_for(name: str, *, tenant: Tenant, settings: Settings) -> PaymentProvider:
    """The adapter of ``name`` for ``tenant``."""
    factory = _factories.get(name)
    if factory is None:
        raise ProviderError(f"no payment provider {name!r} is registered")
    return factory(tenant=tenant, settings=settings)
