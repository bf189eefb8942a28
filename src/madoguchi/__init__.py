"""Madoguchi (窓口): standardized municipal procedures as a multi-tenant service."""

from madoguchi.app import create_app

__all__ = ["create_app"]
