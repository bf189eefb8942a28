"""The warnings policy (docs/decisions/0008): third-party noise silenced by name, nothing else hidden."""

import subprocess
import sys


def _stderr_of(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return completed.stderr


def test_importing_the_app_and_the_signing_code_prints_no_dsa_warning() -> None:
    assert "DSA" not in _stderr_of("import madoguchi, madoguchi.documents.signing")


def test_other_cryptography_deprecations_still_show() -> None:
    stderr = _stderr_of(
        "import warnings, madoguchi\n"
        "from cryptography.utils import CryptographyDeprecationWarning\n"
        "warnings.warn('TripleDES is deprecated', CryptographyDeprecationWarning)\n"
    )
    assert "TripleDES is deprecated" in stderr
