"""`madoguchi tenants export|import`: one tenant's data as a signed archive (commands on the `tenants` group)."""

from __future__ import annotations
