"""Output that reads well when piped (issue 16, point 11): at 80 columns `drill fault list` and `drill
procedure list` never break a name, and stay within the width."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def drill(*args: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("drill")), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _first_column(table: str) -> list[str]:
    return [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("columns", [80, 100])
def test_fault_names_never_wrap(columns):
    names = [f["name"] for f in json.loads(drill("fault", "list", "--json", columns=200))]
    table = drill("fault", "list", columns=columns)
    assert max(len(line) for line in table.splitlines()) <= columns
    cells = [c for c in _first_column(table) if c]
    assert cells == names  # each name whole, on one line, and no name continued on the next


def test_procedure_names_never_wrap():
    table = drill("procedure", "list", columns=80)
    cells = [c for c in _first_column(table) if c]
    assert "auto-failover" in cells and "region-failback" in cells and "cache-rebuild" in cells
    assert all(" " not in c for c in cells)
    assert max(len(line) for line in table.splitlines()) <= 80
