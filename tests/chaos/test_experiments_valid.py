"""Every experiment file passes `chaos validate` (no lab, no cloud needed)."""

from __future__ import annotations

import json

import pytest
from chaos_helpers import ROOT, chaos

from harness.faults import registry

EXPERIMENTS = sorted((ROOT / "experiments").glob("*/*.json"))
# Env-backed configuration of the plain / cloud experiments: validation only needs them to exist.
PLACEHOLDERS = {"APP_URL": "http://127.0.0.1:1", "APP_PIDS": "1", "APP_RESTART": "true"}


@pytest.mark.parametrize(
    "path", [p for p in EXPERIMENTS if p.parent.name != "controls"], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_chaos_validate(path, tmp_path):
    done = chaos("validate", str(path), cwd=tmp_path, env=PLACEHOLDERS, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "experiment syntax and semantic look valid" in done.stdout + done.stderr


def test_one_local_experiment_per_fault_or_a_reason():
    local = {p.stem for p in (ROOT / "experiments" / "local").glob("*.json")}
    readme = (ROOT / "experiments" / "README.md").read_text()
    for fault in (f.name for f in registry.list()):
        assert fault in local or f"`{fault}`: omitted" in readme, f"no experiment for {fault} and no reason"


def test_local_experiments_declare_the_measurement_control_and_always_roll_back():
    for path in (ROOT / "experiments" / "local").glob("*.json"):
        exp = json.loads(path.read_text())
        assert any(c["provider"]["module"] == "harness.chaos.control" for c in exp["controls"]), path
        assert exp["runtime"]["rollbacks"]["strategy"] == "always", path
        assert exp["rollbacks"] and exp["steady-state-hypothesis"]["probes"], path
