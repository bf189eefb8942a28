"""Tenant files (``tenants/<slug>.yaml``): checking one and the whole set, and loading them."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from madoguchi import workdays
from madoguchi.catalog.definitions.file_schemas import TENANT_FILE_SCHEMA, structure_problems
from madoguchi.catalog.definitions.overrides import check_overrides_at
from madoguchi.catalog.definitions.problems import WHOLE_FILE, CatalogError, Problem, display, field_path, unique
from madoguchi.catalog.definitions.reading import read_yaml, yaml_lines
from madoguchi.catalog.definitions.services import Published, pinnable_versions, version_order
from madoguchi.catalog.definitions.vocabulary import MIN_BRAND_CONTRAST
from madoguchi.jp import PREFECTURES, is_valid_local_government_code, local_government_code_check_digit

# --- Tenants ----------------------------------------------------------------------------------------------------------


def _contrast_with_white(color: str) -> float:
    """WCAG 2.1 contrast ratio between ``#rrggbb`` and white."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return 1.05 / (luminance + 0.05)


def tenant_files(tenants_dir: Path) -> list[Path]:
    """The tenant files (``*.yaml``) in ``tenants_dir``, sorted."""
    tenants_dir = Path(tenants_dir)
    if not tenants_dir.is_dir():
        return []
    return sorted(p for p in tenants_dir.glob("*.yaml") if p.is_file() and not p.name.startswith("."))


def inspect_tenant(
    path: Path, services: Mapping[str, Mapping[str, Any] | None] | None, published: Published | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read and check one tenant file; ``services=None`` skips the checks that need the catalog. A version pin
    is checked against ``published`` (what the database holds) as well as the folder's version."""
    path = Path(path)
    file = display(path)
    tenant, problems = read_yaml(path, file)
    if tenant is None:
        return None, problems
    _closed_days_as_text(tenant)
    structure, broken = structure_problems(tenant, TENANT_FILE_SCHEMA, file)
    problems += structure
    if None in broken:
        return None, problems
    ok = {key for key in tenant if key not in broken}

    if "slug" in ok and tenant["slug"] != path.stem:
        problems.append(Problem(file, "slug", f"{tenant['slug']!r} must equal the file name {path.stem!r}"))
    code = tenant.get("local_government_code") if "local_government_code" in ok else None
    if code is not None and not is_valid_local_government_code(code):
        expected = local_government_code_check_digit(code[:5])
        message = f"wrong check digit: {code[:5]} takes {expected} ({code[:5]}{expected}), JIS X 0402"
        problems.append(Problem(file, "local_government_code", message))
    if "prefecture" in ok:
        prefecture = tenant["prefecture"]
        if prefecture["code"] not in PREFECTURES:
            problems.append(Problem(file, "prefecture.code", f"unknown prefecture code {prefecture['code']!r} (01–47)"))
        else:
            if code is not None and code[:2] != prefecture["code"]:
                message = f"{prefecture['code']!r} does not match the first two digits of local_government_code {code}"
                problems.append(Problem(file, "prefecture.code", message))
            official = PREFECTURES[prefecture["code"]]["ja"]
            if prefecture["ja"] != official:
                message = f"prefecture {prefecture['code']} is {official}, not {prefecture['ja']!r}"
                problems.append(Problem(file, "prefecture.ja", message))
    if "locales" in ok:
        if "ja" not in tenant["locales"]:
            problems.append(Problem(file, "locales", "must include 'ja'"))
        if "default_locale" in ok and tenant["default_locale"] not in tenant["locales"]:
            problems.append(Problem(file, "default_locale", f"{tenant['default_locale']!r} is not one of locales"))
    color = (tenant.get("branding") or {}).get("primary_color") if "branding" in ok else None
    if color is not None and (ratio := _contrast_with_white(color)) < MIN_BRAND_CONTRAST:
        message = (
            f"{color} gives {ratio:.1f}:1 contrast with white text; "
            f"at least {MIN_BRAND_CONTRAST}:1 is needed (WCAG 2.1 AA, JIS X 8341-3)"
        )
        problems.append(Problem(file, "branding.primary_color", message))

    if isinstance(tenant.get("closed_days"), list):  # each entry on its own: one malformed hides no other
        problems += _check_closed_days(tenant["closed_days"], file)
    if "issuer" in ok and tenant["issuer"].get("seal"):
        problems += _load_seal(tenant["issuer"], path.parent, file)
    if "childcare_fees" in ok:
        problems += _check_childcare_fees(tenant["childcare_fees"]["brackets"], file)
    problems = _with_lines(problems, path)

    if "services" in ok:
        tenant["services"] = {
            key: {"version": (entry or {}).get("version"), "overrides": (entry or {}).get("overrides") or {}}
            for key, entry in tenant["services"].items()
        }
        if services is not None:
            problems += _with_lines(_check_tenant_services(tenant["services"], services, file, published), path)
        if "open_data" in ok:
            problems += _check_open_data(tenant["open_data"], set(tenant["services"]), file)
    return tenant, unique(problems)


#: Fields whose problems name their line (``file:line: field: message``): the fee table is long and its rows look
#: alike, so "brackets[7]" alone is hard to find; the payments section and a fee per channel likewise (decision
#: 0043). Other fields keep the format their tests and docs pin.
_LINE_NUMBERED = re.compile(r"childcare_fees\b|payments\b|services\.[^.]+\.overrides\.fee\.")


def _line_numbered(field: str) -> bool:
    return _LINE_NUMBERED.match(field) is not None


def _with_lines(problems: list[Problem], path: Path) -> list[Problem]:
    if not any(_line_numbered(problem.field) for problem in problems):
        return problems
    lines = yaml_lines(path)
    located = []
    for problem in problems:
        if _line_numbered(problem.field):
            # A missing key has no line of its own: the nearest enclosing field that is written has one.
            field = problem.field
            while field and field not in lines:
                parent = re.sub(r"(\.[^.\[]*|\[[^\]]*\])$", "", field)
                field = parent if parent != field else ""
            problem = Problem(problem.file, problem.field, problem.message, lines.get(field))
        located.append(problem)
    return located


def _check_childcare_fees(brackets: list[dict[str, Any]], file: str) -> list[Problem]:
    """保育料 brackets by the household's 所得割額: bounds ascending, only the last open (every income has a
    fee), and the 短時間 fee never above the 標準時間 one (it is the shorter care)."""
    problems: list[Problem] = []
    previous: int | None = None
    for index, bracket in enumerate(brackets):
        below = bracket.get("below")
        last = index == len(brackets) - 1
        if below is None and not last:
            message = "only the last bracket may have no 'below' (it takes every higher 所得割額)"
            problems.append(Problem(file, field_path(("childcare_fees", "brackets", index)), message))
        if below is not None and last:
            message = f"the last bracket must have no 'below': a 所得割額 of {below:,} yen or more would have no fee"
            problems.append(Problem(file, field_path(("childcare_fees", "brackets", index, "below")), message))
        if below is not None:
            if previous is not None and below <= previous:
                message = f"{below:,} must be above the bracket before it ({previous:,}): brackets go up"
                problems.append(Problem(file, field_path(("childcare_fees", "brackets", index, "below")), message))
            previous = below
        if bracket["short"] > bracket["standard"]:
            message = f"the 短時間 fee {bracket['short']:,} is above the 標準時間 fee {bracket['standard']:,}"
            problems.append(Problem(file, field_path(("childcare_fees", "brackets", index, "short")), message))
    return problems


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _closed_days_as_text(tenant: Any) -> None:
    """YAML reads an unquoted 2027-05-06 as a date: the file format has it as text either way."""
    entries = tenant.get("closed_days") if isinstance(tenant, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("day"), date):
            entry["day"] = entry["day"].isoformat()


def _check_closed_days(entries: list[dict[str, Any]], file: str) -> list[Problem]:
    """Each a real date, listed once, and not a day the law closes anyway (a typo, most likely)."""
    problems: list[Problem] = []
    seen: dict[date, int] = {}
    for index, entry in enumerate(entries):
        where = field_path(("closed_days", index, "day"))
        if not (isinstance(entry, dict) and isinstance(entry.get("day"), str) and _ISO_DAY.fullmatch(entry["day"])):
            continue  # reported by the structure check
        try:
            day = date.fromisoformat(entry["day"])
        except ValueError:
            problems.append(Problem(file, where, f"{entry['day']!r} is not a date"))
            continue
        if day in seen:
            problems.append(Problem(file, where, f"{day.isoformat()} is listed twice (first at [{seen[day]}])"))
            continue
        seen[day] = index
        if (closed := workdays.closed_reason(day)) is not None:
            problems.append(Problem(file, where, f"{day.isoformat()} is closed anyway ({closed})"))
    return problems


#: A seal is a small image printed at ~21 mm: a larger file is a mistake (a scan at full resolution).
SEAL_MAX_BYTES = 64 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load_seal(issuer: dict[str, Any], folder: Path, file: str) -> list[Problem]:
    """Read the seal image the tenant file names into ``issuer["seal_png"]`` (base64), so the database alone holds
    what a certificate prints: workers issuing it need no tenants folder."""
    seal = (folder / issuer["seal"]).resolve()
    if folder.resolve() not in seal.parents or not seal.is_file():
        return [Problem(file, "issuer.seal", f"no file {issuer['seal']} beside the tenant file")]
    data = seal.read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        return [Problem(file, "issuer.seal", f"{issuer['seal']} is not a PNG image")]
    if len(data) > SEAL_MAX_BYTES:
        return [Problem(file, "issuer.seal", f"{issuer['seal']} is {len(data):,} bytes; at most {SEAL_MAX_BYTES:,}")]
    issuer["seal_png"] = base64.b64encode(data).decode("ascii")
    return []


def _check_tenant_services(
    enabled: Mapping[str, Mapping[str, Any]],
    services: Mapping[str, Mapping[str, Any] | None],
    file: str,
    published: Published | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    for key, entry in enabled.items():
        if key not in services:
            message = f"unknown service (known: {', '.join(sorted(services)) or 'none'})"
            problems.append(Problem(file, field_path(("services", key)), message))
            continue
        service = services[key]
        if service is None:
            continue  # the service folder exists but cannot be read; that is reported against the service
        versions = pinnable_versions(service, published)
        pinned = entry["version"]
        if pinned is not None and pinned not in versions:
            available = ", ".join(sorted(versions, key=version_order))
            message = f"version {pinned} of {key} is not published (available: {available})"
            problems.append(Problem(file, field_path(("services", key, "version")), message))
            continue  # no definition to check the overrides against: the pin is the one problem
        # Overrides must fit the version the tenant runs: the pinned one, as published, else the folder's.
        runs = versions[pinned] if pinned is not None else service
        problems += check_overrides_at(runs, entry["overrides"], file, ("services", key, "overrides"))
    return problems


def _check_open_data(section: dict[str, Any], enabled: set[str], file: str) -> list[Problem]:
    """Per-procedure open-data settings name procedures the municipality offers."""
    problems = []
    for name in ("cost_per_transaction_jpy", "national_procedure_ids"):
        value = section.get(name)
        for key in sorted(value) if isinstance(value, dict) else []:
            if key not in enabled:
                message = f"{key!r} is not one of this municipality's services ({', '.join(sorted(enabled))})"
                problems.append(Problem(file, field_path(("open_data", name, key)), message))
    return problems


def check_tenant(path: Path, services: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Every conformance problem of one tenant file against the procedures in ``services`` (keyed by key)."""
    return inspect_tenant(Path(path), services)[1]


def load_tenant(path: Path, services: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The parsed tenant file, with ``services`` normalised to ``{key: {"version": str|None, "overrides": dict}}``.

    Without ``services`` only the file itself is checked; pass the loaded catalog to check the enabled
    procedures and overrides too. Raises :class:`CatalogError` if the file does not conform.
    """
    tenant, problems = inspect_tenant(Path(path), services)
    if problems or tenant is None:
        raise CatalogError(problems)
    return tenant


def load_tenants(
    tenants_dir: Path, services: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every tenant file in ``tenants_dir``, keyed by slug; raises :class:`CatalogError` listing all problems."""
    tenants_dir = Path(tenants_dir)
    if not tenants_dir.is_dir():
        raise CatalogError([Problem(display(tenants_dir), WHOLE_FILE, "tenants directory not found")])
    tenants: dict[str, dict[str, Any]] = {}
    problems = check_tenant_set(tenants_dir)
    for path in tenant_files(tenants_dir):
        tenant, found = inspect_tenant(path, services)
        problems += found
        if tenant is not None and not found:
            tenants[tenant["slug"]] = tenant
    if problems:
        raise CatalogError(problems)
    return tenants


def check_tenant_set(tenants_dir: Path) -> list[Problem]:
    """Problems across tenant files: misnamed files and local government codes used twice."""
    problems = [
        Problem(display(path), WHOLE_FILE, "tenant files end in .yaml; this file is ignored")
        for path in sorted(tenants_dir.glob("*.yml"))
    ]
    owners: dict[str, str] = {}
    for path in tenant_files(tenants_dir):
        tenant, _ = read_yaml(path, display(path))
        code = tenant.get("local_government_code") if tenant is not None else None
        if not isinstance(code, str):
            continue
        if code in owners:
            message = f"{code} is already used by {owners[code]}"
            problems.append(Problem(display(path), "local_government_code", message))
        else:
            owners[code] = display(path)
    return problems
