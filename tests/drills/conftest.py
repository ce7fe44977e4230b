"""Drill-runner tests: `drill run` in a subprocess against a real lab started once for the module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultlab"))
from faultlab_helpers import lab_session  # noqa: E402 - one way to run a test lab, shared with the fault tests


@pytest.fixture(scope="module")
def sync_lab():
    yield from lab_session("sync")
