"""Load and check the standard catalog (``services/``) and the tenant files (``tenants/``).

The catalog is data, not code. Each procedure is a folder holding ``service.yaml`` (settings, workflow,
required documents, prefill mapping) and ``form.json`` (the JSON Schema 2020-12 of its application form);
each municipality is one ``tenants/<slug>.yaml`` that switches procedures on and overrides only the
settings the standard lets it change. This module

- reads those files (:func:`load_service`, :func:`load_services`, :func:`load_tenant`, :func:`load_tenants`),
- checks that they conform (:func:`check_service`, :func:`check_tenant`, :func:`check_catalog`): every problem
  becomes a :class:`Problem` naming the file and the field, and checking never stops at the first one,
- computes what a tenant actually runs (:func:`effective_service`).

It is pure Python on purpose (no database, no Flask) so that ``madoguchi catalog check`` runs anywhere and
the application applies exactly the rules the checker enforces. ``docs/catalog-format.md`` describes the
formats for people writing a procedure or a tenant file.

The package, one concern per module: ``vocabulary`` (what the files may say), ``problems`` and ``reading``,
``file_schemas`` (the files' structure), ``forms``, ``workflows``, ``services``, ``tenants``, ``overrides``
(and the effective service) and ``checker`` (the whole catalog). The names below are its public face.
"""

from madoguchi.catalog.definitions.checker import check_catalog, default_catalog_dirs
from madoguchi.catalog.definitions.overrides import check_overrides, effective_service, fee_by_channel
from madoguchi.catalog.definitions.problems import CatalogError, Problem, field_path
from madoguchi.catalog.definitions.services import (
    Published,
    check_service,
    load_service,
    load_services,
    service_folders,
)
from madoguchi.catalog.definitions.tenants import check_tenant, load_tenant, load_tenants, tenant_files
from madoguchi.catalog.definitions.vocabulary import (
    KNOWN_ACTIONS,
    KNOWN_GUARDS,
    KNOWN_ROLES,
    OVERRIDABLE_SETTINGS,
    REGISTRY_FIELDS,
)

__all__ = [
    "KNOWN_ACTIONS",
    "KNOWN_GUARDS",
    "KNOWN_ROLES",
    "OVERRIDABLE_SETTINGS",
    "REGISTRY_FIELDS",
    "CatalogError",
    "Problem",
    "Published",
    "check_catalog",
    "check_overrides",
    "check_service",
    "check_tenant",
    "default_catalog_dirs",
    "effective_service",
    "fee_by_channel",
    "field_path",
    "load_service",
    "load_services",
    "load_tenant",
    "load_tenants",
    "service_folders",
    "tenant_files",
]
