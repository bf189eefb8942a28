"""Fixtures for the infrastructure tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def migrated_data_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    """A data folder whose default SQLite database (``madoguchi.db``) is already migrated."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "madoguchi.db")
    return data_dir
