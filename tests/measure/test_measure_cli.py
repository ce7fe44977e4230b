"""`drill measure` end to end, as a subprocess, against the ground-truth server and a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from measure_helpers import free_port

DRILL = str(Path(sys.executable).parent / "drill")


def drill_measure(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = tmp_path / "out"
    proc = subprocess.run(
        [DRILL, "measure", "--out", str(out), "--json", str(tmp_path / "r.json"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    result = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None
    if result is not None:  # --json and result.json are the same document
        assert json.loads((tmp_path / "r.json").read_text()) == result
    return proc, result


def outage_size(rto_s: float, d: float) -> bool:
    # t_inject is when the fault *command* starts; it needs an interpreter start (~0.1-0.4 s here) before
    # the server goes down, so the CLI's RTO is D plus that. Exact accuracy is test_measure_ground_truth's job.
    return d - 0.01 <= rto_s <= d + 0.8


def quick(server) -> list[str]:
    return [
        "--probe",
        f"api@http={server.url}|contains=ok",
        "--probe",
        f"tcp=127.0.0.1:{server.port}",
        "--interval",
        "0.05",
        "--baseline",
        "0.5",
        "--stable",
        "0.5",
    ]


def test_recovered_within_target_exits_0(server, tmp_path):
    proc, r = drill_measure(
        tmp_path, *quick(server), "--fault", server.control_command("refuse", 1.0), "--rto", "2.0", "--timeout", "20"
    )
    assert proc.returncode == 0, proc.stderr
    assert r["recovered"] and outage_size(r["rto_s"], 1.0)
    assert r["verdict"]["passed"] and r["verdict"]["rto"]["margin_s"] == pytest.approx(2.0 - r["rto_s"], abs=1e-3)
    assert r["fault"]["exit_code"] == 0 and r["outages"]["api"]
    assert "RTO" in proc.stdout and "PASSED" in proc.stdout
    for artefact in ("samples.csv", "timeline.png", "ledger.jsonl"):
        assert (tmp_path / "out" / artefact).exists()


def test_target_breached_exits_1_and_reports_the_fault_commands_failure(server, tmp_path):
    fault = server.control_command("503", 1.0) + "; echo 'chaos tool said boom' >&2; exit 4"
    proc, r = drill_measure(tmp_path, *quick(server), "--fault", fault, "--rto", "0.5", "--timeout", "20")
    assert proc.returncode == 1, proc.stderr
    assert r["recovered"] and outage_size(r["rto_s"], 1.0)
    assert not r["verdict"]["passed"] and r["verdict"]["rto"]["margin_s"] < -0.4
    assert r["fault"]["exit_code"] == 4 and "chaos tool said boom" in r["fault"]["stderr_tail"]
    assert "BREACHED" in proc.stdout and "exit 4" in proc.stdout and "boom" in proc.stdout


def test_never_recovered_exits_3(server, tmp_path):
    proc, r = drill_measure(
        tmp_path, *quick(server), "--fault", server.control_command("hang", "inf"), "--rto", "60", "--timeout", "1.5"
    )
    assert proc.returncode == 3, proc.stderr
    assert not r["recovered"] and r["rto_s"] is None and not r["verdict"]["passed"]
    assert "NOT RECOVERED" in proc.stdout


def test_recovery_command_runs_after_the_fault(server, tmp_path):
    proc, r = drill_measure(
        tmp_path,
        *quick(server),
        "--fault",
        server.control_command("refuse", "inf"),
        "--recover",
        f"sleep 0.5; {server.command_up()}",
        "--timeout",
        "20",
    )
    assert proc.returncode == 0, proc.stderr
    assert r["recovery"]["exit_code"] == 0 and r["recovery"]["started_s"] >= 0
    assert r["rto_s"] == pytest.approx(r["recovery"]["started_s"] + r["recovery"]["duration_s"], abs=0.1)


def unhealthy_or_bad(server, marker: Path) -> list[tuple[list[str], str]]:
    closed = free_port()
    return [
        (["--probe", "ftp=ftp://127.0.0.1/"], "--probe"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--interval", "0"], "--interval"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--interval", "0.05", "--budget", "0"], "--budget"),
        (["--probe", f"tcp=127.0.0.1:{server.port}|budget=0.2|degraded=0.3"], "above the budget"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--budget", "0.2", "--degraded", "0.5"], "above the budget"),
        (["--probe", f"tcp=127.0.0.1:{server.port}|budget=-1"], "budget must be a positive"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--rpo", "1"], "--rpo"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--timeout", "-1"], "--timeout"),
        (["--probe", f"tcp=127.0.0.1:{server.port}", "--interval", "abc"], "--interval"),
        ([], "--probe"),
        (["--probe", f"http=http://127.0.0.1:{closed}/health"], "--probe http=http://127.0.0.1"),
        (
            [
                "--probe",
                f"tcp=127.0.0.1:{server.port}",
                "--writer",
                f"postgres=postgresql://drill:hunter2@127.0.0.1:{closed}/postgres",
            ],
            "--writer postgres=",
        ),
    ]


@pytest.mark.parametrize("case", range(12))
def test_bad_input_or_unhealthy_target_exits_2_without_running_the_fault(server, tmp_path, case):
    marker = tmp_path / "fault-ran"
    args, words = unhealthy_or_bad(server, marker)[case]
    proc, r = drill_measure(tmp_path, *args, "--baseline", "0.5", "--fault", f"touch {marker}", timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert not marker.exists(), "the fault command ran although the run was refused"
    assert words in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
    assert r is None


def test_postgres_probe_and_writer_end_to_end_masks_the_password(postgres, tmp_path):
    proc, r = drill_measure(
        tmp_path,
        "--probe",
        f"postgres={postgres.dsn}",
        "--writer",
        f"postgres={postgres.dsn}",
        "--rate",
        "20",
        "--baseline",
        "0.5",
        "--stable",
        "0.5",
        "--fault",
        "true",
        "--rto",
        "1",
        "--rpo",
        "0",
        "--timeout",
        "20",
    )
    assert proc.returncode == 0, proc.stderr
    assert r["rpo_s"] == 0.0 and r["lost_writes"] == 0 and r["acked_writes"] >= 15 and r["no_outage_observed"]
    stored = postgres.sql("SELECT count(*) FROM drill_ledger WHERE run_id = %s", (r["run_id"],))[0][0]
    assert stored == r["writers"][0]["present"] >= r["acked_writes"]
    everything = (
        proc.stdout + proc.stderr + "".join(p.read_text() for p in (tmp_path / "out").glob("*.*") if p.suffix != ".png")
    )
    assert postgres.password not in everything and "drill:***@" in everything
