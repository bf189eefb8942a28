"""Publishing the standard catalog, computing what a tenant actually runs, and changing a tenant's overrides."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from copy import deepcopy
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.catalog import definitions, repository
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.catalog.presenters import procedure_view
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.readonly import freeze


def content_hash(definition: dict[str, Any], form: dict[str, Any]) -> str:
    canonical = json.dumps({"definition": definition, "form": form}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def publish_service(session: Session, service: dict[str, Any]) -> tuple[ServiceVersion, bool]:
    """Store one loaded service (service.yaml + its form) as a published version.

    Idempotent: publishing the same content again returns the existing row (and ``False``). Publishing
    different content under a version that exists is refused: a published version never changes.
    """
    definition = {k: v for k, v in service.items() if k != "form"}
    form = service["form"]
    digest = content_hash(definition, form)
    existing = repository.find_version(session, service["key"], str(service["version"]))
    if existing is not None:
        if existing.content_sha256 != digest:
            raise Conflict(
                f"{service['key']} {service['version']} is already published with different content; "
                "give the changed procedure a new version number."
            )
        return existing, False
    row = ServiceVersion(
        key=service["key"],
        version=str(service["version"]),
        definition=definition,
        form_schema=form,
        content_sha256=digest,
    )
    session.add(row)
    session.flush()
    return row, True


def latest_version(session: Session, key: str) -> ServiceVersion:
    versions = repository.versions_of(session, key)
    if not versions:
        raise NotFound(f"No version of '{key}' is published.")
    return max(versions, key=lambda v: _sort_key(v.version))


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


#: Orders version numbers (semantic versions by their meaning; anything else before them, alphabetically).
version_sort_key = _sort_key


def version_for_sync(
    session: Session, key: str, pinned: str | None, current: ServiceVersion | None
) -> ServiceVersion | None:
    """The version ``tenants sync`` gives a tenant's procedure: the pinned one (``None`` if it is not published);
    else the one the tenant runs already, because a newer version waits for its tenant admin to adopt it
    (``madoguchi.catalog.upgrades``); else, for a procedure switched on now, the latest."""
    if pinned:
        return repository.find_version(session, key, str(pinned))
    return current if current is not None else latest_version(session, key)


#: Checked, merged settings by (published content hash, overrides as canonical JSON), per process, frozen
#: (``madoguchi.readonly``), with the procedure's public view beside them. A published version never
#: changes (``publish_service`` refuses new content under an old number), so the key determines the value; the
#: bound only keeps memory flat (cleared whole when full: a few hundred entries cover a platform).
_SETTINGS_CACHE: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
_SETTINGS_CACHE_SIZE = 1024
_settings_cache_lock = threading.Lock()


def _cached(tenant_service: TenantService, version: ServiceVersion) -> tuple[dict[str, Any], dict[str, Any]]:
    """(effective settings, procedure view), both read-only and shared; computed once per process."""
    overrides = tenant_service.overrides or {}
    key = (version.content_sha256, json.dumps(overrides, sort_keys=True, ensure_ascii=False))
    found = _SETTINGS_CACHE.get(key) if version.content_sha256 else None
    if found is None:
        merged = freeze(_merge(version, overrides))
        found = (merged, freeze(procedure_view(merged, version)))
        if version.content_sha256:  # else not a stored version (built in memory): nothing identifies its content
            with _settings_cache_lock:
                if len(_SETTINGS_CACHE) >= _SETTINGS_CACHE_SIZE:
                    _SETTINGS_CACHE.clear()
                _SETTINGS_CACHE[key] = found
    return found


def effective_settings(tenant_service: TenantService, version: ServiceVersion) -> dict[str, Any]:
    """What the tenant runs: the published standard with the tenant's overrides applied, as a copy of one's own
    (to store in an application's snapshot, or to change). To only read it, ``shared_effective_settings``.

    Computed once per process for each (published content, overrides): the check and merge cost about a
    millisecond, paid on every procedure list before.
    """
    return deepcopy(_cached(tenant_service, version)[0])


def shared_effective_settings(tenant_service: TenantService, version: ServiceVersion) -> dict[str, Any]:
    """The same settings, shared with every other caller and read-only (a change raises ``TypeError``): no copy,
    for the pages and lists that only show them (a deep copy costs more than the merge it saves)."""
    return _cached(tenant_service, version)[0]


def procedure_summary(tenant_service: TenantService, version: ServiceVersion) -> dict[str, Any]:
    """The procedure as the public API and portal show it (``presenters.procedure_view``), shared and read-only."""
    return _cached(tenant_service, version)[1]


def _merge(version: ServiceVersion, overrides: dict[str, Any]) -> dict[str, Any]:
    service = {**deepcopy(version.definition), "form": deepcopy(version.form_schema)}
    return definitions.effective_service(service, overrides)


def tenant_service_for(session: Session, tenant_id: uuid.UUID, key: str) -> tuple[TenantService, ServiceVersion]:
    found = repository.enabled_service(session, tenant_id, key)
    if found is None:
        raise NotFound(f"This municipality does not offer the procedure '{key}'.")
    return found


def _setting_of(problem: definitions.Problem) -> str:
    """``overrides.extra_steps[0]`` -> ``extra_steps``: the setting a conformance problem is about."""
    parts = problem.field.split(".", 1)
    return re.split(r"[\[.]", parts[1] if len(parts) == 2 else parts[0], maxsplit=1)[0]


#: The setting a conformance problem is about (used by the upgrade report as well).
setting_of = _setting_of


def _keeping_fee_by_channel(
    definition: dict[str, Any], before: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """A form that edits one fee (the online fee) must not flatten a fee per channel it did not change: the same
    number again keeps the tenant's map; another number is a new fee for every channel (decision 0043)."""
    fee, current = changes.get("fee"), before.get("fee")
    same = isinstance(fee, int) and isinstance(current, dict)
    if same and fee == definitions.fee_by_channel(definition["fee"], current)["online"]:
        return {name: value for name, value in changes.items() if name != "fee"}
    return changes


def change_overrides(
    session: Session, tenant_id: uuid.UUID, key: str, changes: dict[str, Any], *, actor: str
) -> TenantService:
    """Change some of a tenant's overrides of procedure ``key`` (a value of ``None`` goes back to the standard).

    Settings not named in ``changes`` keep their values. The result is checked by the same rules as
    ``madoguchi catalog check`` applies to tenant files; on any problem nothing changes and
    ``ValidationFailed`` names each setting. Applications already filed keep their ``settings_snapshot``:
    the change applies to new applications only.
    """
    tenant_service, version = tenant_service_for(session, tenant_id, key)
    before = dict(tenant_service.overrides or {})
    changes = _keeping_fee_by_channel(version.definition, before, changes)
    after = {**before, **changes}
    after = {name: value for name, value in after.items() if value is not None}
    service = {**version.definition, "form": version.form_schema}
    problems = definitions.check_overrides(service, after)
    if problems:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(_setting_of(problem), []).append(problem.message)
        raise ValidationFailed("These settings are outside what the standard allows.", errors=errors)
    if after == before:
        return tenant_service
    tenant_service.overrides = after
    session.flush()
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    audit.record(
        session,
        tenant_id,
        actor=actor,
        action="tenant_service.overrides_changed",
        object_type="tenant_service",
        object_id=tenant_service.id,
        data={
            "service_key": key,
            "before": {name: before.get(name) for name in changed},
            "after": {name: after.get(name) for name in changed},
        },
    )
    return tenant_service
