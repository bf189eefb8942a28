"""Imports every model module so that ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from madoguchi import idempotency_keys as idempotency_models
from madoguchi import outbox as outbox_models
from madoguchi.applications import models as applications_models
from madoguchi.audit import models as audit_models
from madoguchi.catalog import models as catalog_models
from madoguchi.childcare import round_models as childcare_round_models
from madoguchi.childcare import rule_set_models as childcare_rule_set_models
from madoguchi.documents import models as documents_models
from madoguchi.identity import models as identity_models
from madoguchi.identity.card import models as identity_card_models
from madoguchi.notify import models as notify_models
from madoguchi.oauth import models as oauth_models
from madoguchi.opendata import models as opendata_models
from madoguchi.payments import models as payments_models
from madoguchi.payments.providers import fake_models as payments_fake_models
from madoguchi.registry import models as registry_models
from madoguchi.satisfaction import models as satisfaction_models
from madoguchi.tenancy import models as tenancy_models

__all__ = [
    "applications_models",
    "audit_models",
    "catalog_models",
    "childcare_round_models",
    "childcare_rule_set_models",
    "documents_models",
    "idempotency_models",
    "identity_card_models",
    "identity_models",
    "notify_models",
    "oauth_models",
    "opendata_models",
    "outbox_models",
    "payments_fake_models",
    "payments_models",
    "registry_models",
    "satisfaction_models",
    "tenancy_models",
]
