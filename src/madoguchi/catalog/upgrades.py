"""Catalog upgrades: what changed between two published versions of a procedure, whether a tenant's overrides
still conform to the newer one, and adopting it.

Publishing a version changes nobody's procedure: each tenant keeps the version its ``TenantService`` pins until
its tenant admin adopts a newer one (:func:`adopt_version`). Applications keep the ``settings_snapshot`` they
were filed under, so adopting changes only what applications filed afterwards get.

The difference is computed from the stored definitions (both versions are in the database), as a list of
:class:`Change` (added / removed / changed, each with a path, the old and the new value). The API returns it
as data; the tenant admin page and ``madoguchi catalog diff`` print the same list with :func:`describe`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.catalog import definitions, repository
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.errors import Conflict, NotFound, ValidationFailed

ADDED, REMOVED, CHANGED = "added", "removed", "changed"

#: The parts of a procedure a change belongs to, in the order they are listed.
AREAS = ("fields", "workflow", "fees", "documents", "prefill", "output", "overrides", "procedure")

#: Settings with a range (``{default, min, max}``) and auto-issue: the "fees and ranges" area.
_RANGE_SETTINGS = ("fee", "sla_days", "min_monthly_work_hours", "max_preferences", "auto_issue")
#: Keys of a field's schema that hold other fields (diffed as fields of their own) or repeat another key.
_FIELD_CHILDREN = ("properties", "items", "required")
_FIELD_REDUNDANT = ("title", "$schema")  # ``title`` is ``x-title.ja``; ``$schema`` is fixed
#: Top-level keys of service.yaml that are not compared as settings: identity, or diffed in their own area.
_NOT_SETTINGS = ("key", "version", "form", "workflow", "required_documents", "prefill", "output_document")


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a procedure."""

    area: str
    kind: str
    #: Where, the way ``catalog check`` names fields: ``fee.min``, ``workflow.states.on_hold``,
    #: ``form["/applicant/phone"].type`` (form fields by JSON pointer, ``*`` for the items of a list).
    path: str
    old: Any = None
    new: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OverrideProblem:
    """A tenant override that the other version does not allow: the setting, the field and why."""

    setting: str
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UpgradeReport:
    """What a tenant sees before adopting: its version, the latest, the difference and the conformance result."""

    key: str
    current: ServiceVersion
    latest: ServiceVersion
    changes: list[Change]
    overrides: dict[str, Any]
    problems: list[OverrideProblem]

    @property
    def available(self) -> bool:
        return self.latest.id != self.current.id

    @property
    def conforms(self) -> bool:
        return not self.problems


# --- The difference -----------------------------------------------------------------------------------------------


def _path(*parts: str | int) -> str:
    return definitions.field_path(parts)


def compare(area: str, path: str, old: Any, new: Any) -> Iterator[Change]:
    """One change for a value that differs (a missing value is ``None``)."""
    if old == new:
        return
    if old is None:
        yield Change(area, ADDED, path, None, new)
    elif new is None:
        yield Change(area, REMOVED, path, old, None)
    else:
        yield Change(area, CHANGED, path, old, new)


def compare_mapping(area: str, path: tuple[str | int, ...], old: Any, new: Any) -> Iterator[Change]:
    """Mappings key by key (a mapping that appears or disappears as a whole is one change)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        yield from compare(area, _path(*path), old, new)
        return
    for name in _union(old, new):
        yield from compare(area, _path(*path, name), old.get(name), new.get(name))


def _union(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys of both mappings, sorted: PostgreSQL's JSONB does not keep the order keys were written in."""
    return sorted(set(old) | set(new))


def _union_in_order(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of both, in the order of the old list and then the new one (for lists, whose order is kept)."""
    return list(dict.fromkeys([*old, *new]))


def _by_name(items: Any, name_key: str = "name") -> dict[str, Any]:
    return {item[name_key]: item for item in items or [] if isinstance(item, Mapping) and name_key in item}


def compare_named(
    area: str, path: tuple[str | int, ...], old: Any, new: Any, name_key: str = "name"
) -> Iterator[Change]:
    """Lists of named things (states, transitions, documents): added and removed whole, changed key by key."""
    old_items, new_items = _by_name(old, name_key), _by_name(new, name_key)
    for name in _union_in_order(old_items, new_items):
        if name in old_items and name in new_items:
            yield from compare_mapping(area, (*path, name), old_items[name], new_items[name])
        else:
            yield from compare(area, _path(*path, name), old_items.get(name), new_items.get(name))


def form_fields(form: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field of a form by JSON pointer (``""`` is the form): its own keywords and whether it is required.

    Children are fields of their own, so a new field is one change and not a change of its parent. Items of a
    list are ``<list>/*``.
    """
    found: dict[str, dict[str, Any]] = {}

    def visit(schema: Any, pointer: str, required: bool) -> None:
        if not isinstance(schema, Mapping):
            return
        own = {k: v for k, v in schema.items() if k not in _FIELD_CHILDREN and k not in _FIELD_REDUNDANT}
        found[pointer] = {**own, "required": required}
        required_names = set(schema.get("required") or [])
        for name, child in (schema.get("properties") or {}).items():
            visit(child, f"{pointer}/{name}", name in required_names)
        if isinstance(schema.get("items"), Mapping):
            visit(schema["items"], f"{pointer}/*", False)

    visit(form, "", True)
    return found


def _compare_forms(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    old_fields, new_fields = form_fields(old), form_fields(new)
    for pointer in _union(old_fields, new_fields):
        where: tuple[str, ...] = ("form", pointer) if pointer else ("form",)
        if pointer in old_fields and pointer in new_fields:
            yield from compare_mapping("fields", where, old_fields[pointer], new_fields[pointer])
        else:
            yield from compare("fields", _path(*where), old_fields.get(pointer), new_fields.get(pointer))


def _compare_workflows(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    yield from compare("workflow", "workflow.initial", old.get("initial"), new.get("initial"))
    for part in ("states", "transitions"):
        yield from compare_named("workflow", ("workflow", part), old.get(part), new.get(part))
    old_steps, new_steps = old.get("optional_steps") or {}, new.get("optional_steps") or {}
    for name in _union(old_steps, new_steps):
        where = ("workflow", "optional_steps", name)
        if name not in old_steps or name not in new_steps:
            yield from compare("workflow", _path(*where), old_steps.get(name), new_steps.get(name))
            continue
        old_step, new_step = old_steps[name], new_steps[name]
        for key in _union(old_step, new_step):
            if key in ("states", "transitions"):
                yield from compare_named("workflow", (*where, key), old_step.get(key), new_step.get(key))
            else:
                yield from compare("workflow", _path(*where, key), old_step.get(key), new_step.get(key))


def _compare_lists_as_sets(area: str, path: str, old: Any, new: Any) -> Iterator[Change]:
    """Each name added to or removed from a list whose order does not matter (``tenant_may_override``)."""
    old_names, new_names = list(old or []), list(new or [])
    for name in old_names:
        if name not in new_names:
            yield Change(area, REMOVED, path, name, None)
    for name in new_names:
        if name not in old_names:
            yield Change(area, ADDED, path, None, name)


def diff_definitions(
    old: Mapping[str, Any], old_form: Mapping[str, Any], new: Mapping[str, Any], new_form: Mapping[str, Any]
) -> list[Change]:
    """Every difference from one version of a procedure (service.yaml as loaded, and its form) to another."""
    changes = [
        *_compare_forms(old_form, new_form),
        *_compare_workflows(old.get("workflow") or {}, new.get("workflow") or {}),
    ]
    for name in _RANGE_SETTINGS:
        changes += compare_mapping("fees", (name,), old.get(name), new.get(name))
    changes += compare_named(
        "documents", ("required_documents",), old.get("required_documents"), new.get("required_documents"), "key"
    )
    changes += compare_mapping("prefill", ("prefill",), old.get("prefill") or {}, new.get("prefill") or {})
    changes += compare_mapping("output", ("output_document",), old.get("output_document"), new.get("output_document"))
    changes += _compare_lists_as_sets(
        "overrides", "tenant_may_override", old.get("tenant_may_override"), new.get("tenant_may_override")
    )
    skip = {*_NOT_SETTINGS, *_RANGE_SETTINGS, "tenant_may_override"}
    for name in _union(old, new):
        if name not in skip:
            changes += compare_mapping("procedure", (name,), old.get(name), new.get(name))
    return sorted(changes, key=lambda change: AREAS.index(change.area))


def diff_versions(old: ServiceVersion, new: ServiceVersion) -> list[Change]:
    """The difference between two stored versions of a procedure."""
    return diff_definitions(old.definition, old.form_schema, new.definition, new.form_schema)


def show_value(value: Any) -> str:
    """A value of a change as one line of JSON (keys sorted, Japanese kept readable)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def describe(change: Change) -> str:
    """One readable line: ``changed fee.min: 200 → 250``, ``added workflow.states.on_hold: {...}``."""
    if change.kind == ADDED:
        return f"added {change.path}: {show_value(change.new)}"
    if change.kind == REMOVED:
        return f"removed {change.path}: {show_value(change.old)}"
    return f"changed {change.path}: {show_value(change.old)} → {show_value(change.new)}"


def find_version(session: Session, key: str, version: str) -> ServiceVersion:
    """A published version, or ``NotFound`` naming the versions that exist."""
    found = repository.find_version(session, key, version)
    if found is not None:
        return found
    published = [row.version for row in repository.versions_of(session, key)]
    if not published:
        raise NotFound(f"No procedure '{key}' is published.")
    raise NotFound(f"'{key}' has no version {version} (published: {', '.join(published)}).")


# --- Conformance of a tenant's overrides --------------------------------------------------------------------------


def _as_service(version: ServiceVersion) -> dict[str, Any]:
    return {**version.definition, "form": version.form_schema}


def override_problems(version: ServiceVersion, overrides: Mapping[str, Any]) -> list[OverrideProblem]:
    """What in ``overrides`` the procedure ``version`` does not allow (the rules of ``catalog check``)."""
    return [
        OverrideProblem(catalog.setting_of(problem), problem.field, problem.message)
        for problem in definitions.check_overrides(_as_service(version), dict(overrides))
    ]


def upgrade_report(session: Session, tenant_id: uuid.UUID, key: str) -> UpgradeReport:
    """The tenant's version of procedure ``key``, the latest, what changed, and whether its overrides conform."""
    tenant_service, current = catalog.tenant_service_for(session, tenant_id, key)
    latest = catalog.latest_version(session, key)
    overrides = dict(tenant_service.overrides or {})
    if latest.id == current.id:
        return UpgradeReport(key, current, latest, [], overrides, [])
    return UpgradeReport(
        key, current, latest, diff_versions(current, latest), overrides, override_problems(latest, overrides)
    )


class OverridesNoLongerConform(Conflict):
    """The tenant's current overrides are outside what the new version allows: it must send corrected ones."""

    slug, title = "overrides-no-longer-conform", "The municipality's settings do not conform to the new version"


def _problem_errors(problems: Sequence[OverrideProblem]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.setting, []).append(problem.message)
    return errors


def adopt_version(
    session: Session,
    tenant_id: uuid.UUID,
    key: str,
    *,
    actor: str,
    version: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TenantService:
    """Switch the tenant's procedure ``key`` to ``version`` (default: the latest), in the caller's transaction.

    ``overrides`` replaces the tenant's overrides as a whole; without it the current ones are kept. Either way
    they must conform to the new version: current ones that do not raise :class:`OverridesNoLongerConform`
    (409), supplied ones that do not raise ``ValidationFailed`` (422); each names the settings and nothing
    changes. Only a newer version can be adopted. Applications already filed keep the version and settings
    they were filed under. Audited as ``tenant_service.version_adopted``.
    """
    tenant_service, current = catalog.tenant_service_for(session, tenant_id, key)
    target = find_version(session, key, version) if version else catalog.latest_version(session, key)
    if target.id == current.id:
        raise Conflict(f"This municipality already runs {key} {current.version}.")
    if catalog.version_sort_key(target.version) < catalog.version_sort_key(current.version):
        raise Conflict(f"{key} {target.version} is older than the version in use ({current.version}).")
    before = dict(tenant_service.overrides or {})
    after = dict(before if overrides is None else overrides)
    problems = override_problems(target, after)
    if problems:
        detail = f"These settings are outside what {key} {target.version} allows."
        errors = _problem_errors(problems)
        if overrides is None:
            raise OverridesNoLongerConform(
                detail + " Send corrected overrides with the adoption.", errors=errors, version=target.version
            )
        raise ValidationFailed(detail, errors=errors)
    # Only one adoption wins when two admins adopt at once: the switch applies only to the version read above.
    switched = session.execute(
        update(TenantService)
        .where(
            TenantService.tenant_id == tenant_id,
            TenantService.id == tenant_service.id,
            TenantService.service_version_id == current.id,
        )
        .values(service_version_id=target.id, overrides=after)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], switched).rowcount != 1:
        raise Conflict(f"{key} was changed by someone else at the same time; reload and try again.")
    session.refresh(tenant_service)
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    audit.record(
        session,
        tenant_id,
        actor=actor,
        action="tenant_service.version_adopted",
        object_type="tenant_service",
        object_id=tenant_service.id,
        data={
            "service_key": key,
            "from_version": current.version,
            "to_version": target.version,
            "overrides_before": {name: before.get(name) for name in changed},
            "overrides_after": {name: after.get(name) for name in changed},
        },
    )
    return tenant_service
