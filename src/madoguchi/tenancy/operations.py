"""Temporary alias of ``madoguchi.platform.provisioning`` for ``tests/factories.py`` only.

Provisioning moved to ``madoguchi.platform`` (issue 14); ``tests/factories.py`` belongs to another engineer this
round and still imports this path. Delete this module once that import reads ``madoguchi.platform.provisioning``.
"""

from madoguchi.platform.provisioning import sync_tenants

__all__ = ["sync_tenants"]
