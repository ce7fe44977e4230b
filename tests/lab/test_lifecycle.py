"""`down` leaves nothing behind (run from a fresh process, state file only); a missing prerequisite or a
taken port stops `up` before anything runs. Runs after the integration module (alphabetical order)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.lab import Lab
from harness.lab.process import is_running, pids_with_in_cmdline


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_down_from_a_fresh_process_leaves_nothing(lab: Lab):
    records = dict(lab.components)
    assert records and all(is_running(r) for r in records.values())
    postmasters = [lab.postmaster_pid(m) for m in ("pg-a", "pg-b", "pg-c", "pg-dr")]
    assert all(postmasters)
    env = {**os.environ, "DRILL_LAB_DIR": str(lab.paths.root)}
    # A new process that knows only the state folder, as after a crashed `drill`.
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lab", "down"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert not [n for n, r in records.items() if is_running(r)]
    assert not [
        p for p in postmasters if Path(f"/proc/{p}").exists() and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"
    ]
    assert pids_with_in_cmdline(str(lab.paths.root) + "/") == []
    pgrep = subprocess.run(["pgrep", "-f", str(lab.paths.root) + "/"], capture_output=True, text=True)
    assert pgrep.stdout.strip() == ""
    assert not {n for n in _netns_names() if n.startswith("drill-")}
    assert "drill_lab" not in _nft_tables()
    assert not lab.paths.state_file.exists()
    # idempotent
    again = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lab", "down"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "not running" in again.stderr
    with pytest.raises(HarnessError, match="no lab is running"):
        Lab.load(lab.paths.root)


def test_taken_port_is_a_clear_error_and_nothing_starts(tmp_path: Path):
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 15433))  # pg-b's port
        blocker.listen()
        with pytest.raises(HarnessError) as err:
            Lab.up(network="loopback", state_dir=tmp_path / "lab")
    msg = str(err.value)
    assert "127.0.0.1:15433 (pg-b pg)" in msg and "ports in use" in msg
    assert pids_with_in_cmdline(str(tmp_path)) == []
    assert not (tmp_path / "lab" / "state.json").exists()


def test_missing_binary_names_the_package_and_how_to_install(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(HarnessError) as err:
        Lab.up(network="loopback", state_dir=tmp_path / "lab")
    msg = str(err.value)
    assert "etcd (Debian package etcd-server)" in msg and "haproxy" in msg
    assert "make test" in msg and "scripts/bootstrap.sh" in msg
    assert pids_with_in_cmdline(str(tmp_path)) == []


def test_bad_replication_mode_is_rejected(tmp_path: Path):
    with pytest.raises(HarnessError, match="--db-replication must be one of sync, async"):
        Lab.up(replication="semi", state_dir=tmp_path / "lab")
