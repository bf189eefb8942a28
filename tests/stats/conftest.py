"""The two seeded towns of the tenant admin tests."""

from tests.tenant_admin.conftest import towns  # noqa: F401 - fixtures
