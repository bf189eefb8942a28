"""Madoguchi (窓口): standardized municipal procedures as a multi-tenant service."""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pyHanko imports cryptography's DSA support at import time, and cryptography 47+ warns that DSA is
# deprecated. Madoguchi never signs or verifies with DSA, so the warning tells an operator nothing:
# silenced by name here (every entry point imports this package first), and in pytest's
# filterwarnings. Any other warning still shows. See docs/decisions/0008.
warnings.filterwarnings("ignore", message=r".*\bDSA\b", category=CryptographyDeprecationWarning)

from madoguchi.app import create_app  # noqa: E402  (after the filter: it imports pyHanko)

__all__ = ["create_app"]
