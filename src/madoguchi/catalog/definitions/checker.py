"""The whole catalog at once: where its folders are, and every problem of every procedure and tenant file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from madoguchi.catalog.definitions.problems import WHOLE_FILE, Problem, display, unique
from madoguchi.catalog.definitions.services import Published, inspect_service, service_folders
from madoguchi.catalog.definitions.tenants import check_tenant_set, inspect_tenant, tenant_files

# --- The whole catalog ------------------------------------------------------------------------------------------------


def default_catalog_dirs() -> tuple[Path, Path]:
    """Where ``services/`` and ``tenants/`` are.

    ``$MADOGUCHI_SERVICES_DIR`` and ``$MADOGUCHI_TENANTS_DIR`` win; otherwise the folders at the repository root
    (``Path(madoguchi.__file__).resolve().parents[2]``, computed here from this module's own path). That holds
    for a source checkout and an editable install; an installed wheel has no catalog beside it and needs the
    variables.
    """
    repository = Path(__file__).resolve().parents[4]
    services = os.environ.get("MADOGUCHI_SERVICES_DIR") or repository / "services"
    tenants = os.environ.get("MADOGUCHI_TENANTS_DIR") or repository / "tenants"
    return Path(services), Path(tenants)


def check_catalog(services_dir: Path, tenants_dir: Path, published: Published | None = None) -> list[Problem]:
    """Every conformance problem of every procedure in ``services_dir`` and every tenant file in ``tenants_dir``.

    ``published`` holds the versions already published (from the database): a tenant pinned to one of them is
    checked against that version's definition, not against the folder's newer one.

    Never raises for bad content: unreadable files, wrong structure and broken references all become
    problems, in a stable order (services by folder name, then tenants by file name).
    """
    services_dir, tenants_dir = Path(services_dir), Path(tenants_dir)
    problems: list[Problem] = []
    # Keyed by folder, and ``None`` for an unreadable one, so a tenant is not told that a service it enables is
    # unknown when the service's own file is the problem (reported once, against that file).
    services: dict[str, dict[str, Any] | None] = {}
    if not services_dir.is_dir():
        problems.append(Problem(display(services_dir), WHOLE_FILE, "services directory not found"))
    for folder in service_folders(services_dir):
        service, found = inspect_service(folder)
        problems += found
        services[folder.name] = service
    if not tenants_dir.is_dir():
        problems.append(Problem(display(tenants_dir), WHOLE_FILE, "tenants directory not found"))
        return unique(problems)
    problems += check_tenant_set(tenants_dir)
    for path in tenant_files(tenants_dir):
        problems += inspect_tenant(path, services, published)[1]
    return unique(problems)
