"""`chaos run` (the real CLI, a subprocess) of experiments against the real lab: measured RTO/RPO in the
journal under `drill_measurement`, rollbacks played, the lab healthy afterwards, and a breached objective
failing the run."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from chaos_helpers import ROOT, chaos

from harness.chaos.control import JOURNAL_KEY
from harness.faults.intent import IntentLog

sys.path.insert(0, str(ROOT / "tests" / "faultlab"))
from faultlab_helpers import lab_session, wait_healthy  # noqa: E402 - the one way to run a test lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def run(experiment: Path, tmp_path: Path, *extra: str, env: dict | None = None):
    journal = tmp_path / "journal.json"
    done = chaos("run", "--journal-path", str(journal), *extra, str(experiment), cwd=ROOT, env=env)
    out = done.stdout + done.stderr
    assert journal.exists(), out[-4000:]
    return done, json.loads(journal.read_text()), out


def test_db_primary_crash_measured_with_a_writer_and_rolled_back(lab, tmp_path):
    leader = lab.postgres_leader()
    done, journal, out = run(ROOT / "experiments/local/db-primary-crash.json", tmp_path)
    m = journal[JOURNAL_KEY]
    assert done.returncode == 0 and journal["status"] == "completed", out[-4000:]
    assert m["verdict"] == "met" and m["recovered"] and m["objective"]["key"] == "postgresql/primary-instance-failure"
    assert m["rto_s"] > 5, "kill -9 of the leader cannot recover in seconds (Patroni ttl 20 s)"
    assert m["rto_s"] <= m["targets"]["rto_s"] == 120
    assert m["acked_writes"] > 50 and m["lost_writes"] == 0 and m["rpo_s"] == 0
    assert m["outages"]["app"] or m["outages"]["postgres"]
    assert Path(ROOT / m["out_dir"] / "result.json").exists()
    fault_run = journal["run"][0]
    assert fault_run["status"] == "succeeded" and fault_run["output"]["detail"]["leader"] == leader
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"]
    assert not IntentLog().pending()
    wait_healthy(lab, 120)
    assert lab.postgres_leader() not in (None, leader)


def test_breached_inline_objective_fails_the_journal_and_the_exit_code(lab, tmp_path):
    exp = json.loads((ROOT / "experiments/local/app-crash.json").read_text())
    exp["extensions"] = [{"name": "drill", "probes": ["app"], "targets": {"rto_s": 0.5}}]
    path = tmp_path / "app-crash-strict.json"
    path.write_text(json.dumps(exp))
    done, journal, out = run(path, tmp_path)
    m = journal[JOURNAL_KEY]
    assert done.returncode != 0, out[-4000:]
    assert journal["status"] == "failed" and m["verdict"] == "rto-breached" and m["passed"] is False
    assert m["rto_s"] > 0.5 and m["targets"] == {"rto_s": 0.5, "rpo_s": None, "source": "inline rto_s=0.5"}
    assert "objective breached" in m["failed_because"]
    assert all(r["status"] == "succeeded" for r in journal["rollbacks"]), "rollbacks play even when it failed"
    assert not IntentLog().pending()
    wait_healthy(lab, 120)


def test_plain_experiment_gains_measurements_from_the_control_file(lab, tmp_path):
    replicas = [n for n, rec in lab.components.items() if rec.get("kind") == "app" and rec.get("zone") != "dr"]
    pids = " ".join(str(lab.components[n]["pid"]) for n in replicas)
    restart = (
        f"{shlex.quote(sys.executable)} -c 'from harness.lab import Lab; lab = Lab.load(); "
        f'[lab.start_component(n) for n in "{" ".join(replicas)}".split()]\''
    )
    env = {"APP_URL": lab.app_url, "APP_PIDS": pids, "APP_RESTART": restart}
    done, journal, out = run(
        ROOT / "experiments/plain/app-replicas-kill.json",
        tmp_path,
        "--control-file",
        str(ROOT / "experiments/controls/measure.json"),
        env=env,
    )
    m = journal[JOURNAL_KEY]
    assert done.returncode == 0 and journal["status"] == "completed", out[-4000:]
    assert m["recovered"] and m["outages"]["app"], m
    assert m["rto_s"] > 0 and m["no_outage_observed"] is False
    assert m["inject_at"] == "kill -9 the app replicas"
    assert m["acked_writes"] > 0 and m["lost_writes"] == 0  # the control file's writer
    wait_healthy(lab, 120)
