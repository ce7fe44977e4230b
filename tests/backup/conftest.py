"""Backup validation tests: the lab ones (`test_*_lab.py`) run on the session's shared sync lab."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultlab"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/backup/" in str(item.fspath) and item.fspath.basename.endswith("_lab.py"):
            item.add_marker(pytest.mark.lab)
