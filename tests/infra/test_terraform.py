"""terraform/: every file parses, the environments compose every module, no secret is written down, and
checkov finds nothing to fail (any skip carries its reason in the code).

checkov has many pinned dependencies of its own, so CI installs it in a virtualenv and points
MADOGUCHI_CHECKOV at it (.ci/run, section 4b); without it these checks skip, unless
MADOGUCHI_REQUIRE_CHECKOV=1 makes them fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.helpers import REPO, hcl_blocks, parse_hcl

TERRAFORM = REPO / "terraform"
TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
MODULES = sorted(p.name for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
ENVIRONMENTS = sorted(p for p in (TERRAFORM / "environments").iterdir() if p.is_dir())


def test_the_layout_is_complete() -> None:
    assert MODULES == ["app", "data", "mail", "network", "observability", "secrets"]
    assert [e.name for e in ENVIRONMENTS] == ["prod", "staging"]


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    parsed = parse_hcl(path)
    assert parsed, f"{path} is empty"


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
def test_each_environment_composes_every_module(environment: Path) -> None:
    modules: dict[str, dict[str, Any]] = {}
    for path in environment.glob("*.tf"):
        modules.update(hcl_blocks(path, "module"))
    sources = {Path(body["source"]).name for body in modules.values()}
    assert sources == set(MODULES)
    for body in modules.values():
        assert (environment / body["source"]).resolve().is_dir(), body["source"]


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
def test_each_environment_pins_providers_and_keeps_state_remote_and_encrypted(environment: Path) -> None:
    (terraform,) = parse_hcl(environment / "versions.tf")["terraform"]
    aws = terraform["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws" and aws["version"].startswith("~>")
    (backend,) = terraform["backend"]
    s3 = backend["s3"]
    assert s3["encrypt"] is True and s3["use_lockfile"] is True
    assert "bucket" not in s3, "the bucket comes from backend.hcl (partial configuration)"
    assert (environment / "backend.hcl.example").is_file()


def test_environments_differ_in_size() -> None:
    sizes = {}
    for environment in ENVIRONMENTS:
        (local_values,) = parse_hcl(environment / "main.tf")["locals"]
        sizes[environment.name] = local_values["size"]
    assert sizes["prod"]["db_instance_class"] != sizes["staging"]["db_instance_class"]
    assert sizes["prod"]["web"]["max_tasks"] > sizes["staging"]["web"]["max_tasks"]


@pytest.mark.parametrize("module", MODULES)
def test_every_module_variable_and_output_is_described(module: str) -> None:
    for path in (TERRAFORM / "modules" / module).glob("*.tf"):
        for kind in ("variable", "output"):
            for name, body in hcl_blocks(path, kind).items():
                assert body.get("description"), f"{path.name}: {kind} {name} has no description"


# -- no secrets in code -----------------------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "literal password or secret": re.compile(
        r"""(?ix)\b[a-z_]*(password|passwd|secret|token|secret_string|api_key)[a-z_]*\s*=\s*"(?!\$\{)[^"\s]{6,}" """
    ),
    "credentials in a URL": re.compile(r"://[^/\s:@\"$]+:(?!\$\{)[^@\s\"/]{4,}@"),
}


def find_secrets(text: str) -> list[str]:
    return [f"{kind}: {m.group(0)}" for kind, regex in SECRET_PATTERNS.items() for m in regex.finditer(text)]


def test_the_secret_scanner_finds_what_it_should() -> None:
    assert find_secrets('password = "hunter2hunter2"')
    assert find_secrets('  secret_string = "s3cr3t-value"')
    assert find_secrets('url = "postgresql://app:plaintext@db/madoguchi"')
    assert find_secrets("key = AKIAABCDEFGHIJKLMNOP")
    assert not find_secrets("secret_string = local.values[each.key]")
    assert not find_secrets('url = "postgresql+psycopg://${var.role}:${random_password.app.result}@${local.host}"')


def test_no_secret_is_written_in_terraform() -> None:
    findings = []
    for path in sorted(p for p in TERRAFORM.rglob("*") if p.is_file()):
        for finding in find_secrets(path.read_text(encoding="utf-8")):
            findings.append(f"{path.relative_to(REPO)}: {finding}")
    assert findings == []


def test_no_state_or_variable_values_are_kept_in_the_tree() -> None:
    leftovers = [p for p in TERRAFORM.rglob("*") if p.name.endswith((".tfstate", ".tfvars")) or p.name == ".terraform"]
    assert leftovers == []


# -- checkov skips need a reason ------------------------------------------------------------------------------------

SKIP = re.compile(r"checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")


def test_every_checkov_skip_carries_a_real_reason() -> None:
    skips = []
    for path in [*TF_FILES, REPO / "infra" / "Dockerfile"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "checkov:skip" not in line:
                continue
            match = SKIP.search(line)
            where = f"{path.relative_to(REPO)}:{number}"
            assert match, f"{where}: malformed skip: {line.strip()}"
            assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", match["check"]), f"{where}: unknown check id {match['check']}"
            reason = (match["reason"] or "").strip()
            assert len(reason) >= 40 and len(reason.split()) >= 6, f"{where}: the skip needs a written reason"
            skips.append(match["check"])
    assert skips, "expected the documented skips (e.g. the HTTP→HTTPS redirect listener)"


# -- checkov ---------------------------------------------------------------------------------------------------------


def checkov_binary() -> str:
    binary = os.environ.get("MADOGUCHI_CHECKOV") or shutil.which("checkov")
    if binary and Path(binary).exists():
        return binary
    if os.environ.get("MADOGUCHI_REQUIRE_CHECKOV") == "1":
        pytest.fail("checkov is required (MADOGUCHI_REQUIRE_CHECKOV=1) but neither MADOGUCHI_CHECKOV nor PATH has it")
    pytest.skip("checkov is not installed (set MADOGUCHI_CHECKOV; .ci/run installs it)")


def run_checkov(*arguments: str, cwd: Path = REPO) -> dict[str, Any]:
    result = subprocess.run(
        # --skip-download: no call home for guidelines; the checks themselves ship with checkov.
        [checkov_binary(), *arguments, "--quiet", "--compact", "--skip-download", "--output", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    # One framework: an object; several: a list. A run with nothing to scan prints a bare summary.
    (framework,) = report if isinstance(report, list) else [report]
    return framework


@pytest.mark.slow
def test_checkov_reports_no_failed_check_on_terraform() -> None:
    report = run_checkov("--directory", "terraform", "--framework", "terraform")
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert failed == [] and summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    # Guards against a run that silently scanned nothing (e.g. the modules were not followed).
    assert summary["passed"] > 200 and summary["resource_count"] > 100


@pytest.mark.slow
def test_checkov_reports_no_failed_check_on_the_dockerfile() -> None:
    report = run_checkov("--file", "infra/Dockerfile", "--framework", "dockerfile")
    assert report["summary"]["failed"] == 0, report["results"].get("failed_checks")
    assert report["summary"]["passed"] > 10


@pytest.mark.slow
def test_checkov_does_see_into_the_real_resources(tmp_path: Path) -> None:
    """The harness can fail, and checkov resolves what matters: weakened copies of our own resources are
    reported (checkov silently passes a container definition it cannot resolve, so this is worth proving)."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy)
    for relative, secure, weakened in [
        ("modules/app/ecs.tf", "readonlyRootFilesystem = true", "readonlyRootFilesystem = false"),
        ("modules/data/database.tf", "storage_encrypted     = true", "storage_encrypted     = false"),
    ]:
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        assert secure in text, f"{relative}: expected {secure!r}"
        path.write_text(text.replace(secure, weakened), encoding="utf-8")
    report = run_checkov("--directory", str(copy), "--framework", "terraform", cwd=tmp_path)
    failed = {(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])}
    assert failed == {
        ("CKV_AWS_336", "module.app.aws_ecs_task_definition.web"),
        ("CKV_AWS_336", "module.app.aws_ecs_task_definition.worker"),
        ("CKV_AWS_336", "module.app.aws_ecs_task_definition.migrate"),
        ("CKV_AWS_16", "module.data.aws_db_instance.this"),
    }
