"""The two seeded towns of the tenant admin tests."""

from tests.tenant_admin.conftest import cheap_password_hashing, towns  # noqa: F401 - fixtures
