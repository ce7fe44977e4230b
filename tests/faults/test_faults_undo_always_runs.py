"""Real processes: freeze/kill and their undo, and the guarantee that a held fault is undone on every exit —
normal, exception, KeyboardInterrupt, SIGINT, SIGTERM — and by `drill recover` after a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fault_helpers import proc_state, wait_for

from harness.errors import HarnessError
from harness.faults import registry, runner
from harness.faults.base import Fault, Injection, Journal, NoParams
from harness.faults.intent import IntentLog
from harness.faults.undo import process_identity

pytestmark = pytest.mark.timeout(90)


def frozen(pid: int) -> bool:
    return proc_state(pid) == "T"


# -- inject / undo -------------------------------------------------------------------------------------------
def test_freeze_then_undo_resumes_the_process(log: IntentLog, victim) -> None:
    fault_id = runner.inject("process-freeze", {"pid": victim.pid}, log=log)
    assert frozen(victim.pid)
    intent = log.get(fault_id)
    assert intent.state == "injected" and intent.undo[0]["kind"] == "sigcont"
    assert intent.undo[0]["members"][0]["start_time"] == process_identity(victim.pid)["start_time"]

    report = runner.undo(fault_id, log=log)
    assert report.ok and "resumed" in report.steps[0][1]
    assert proc_state(victim.pid) in ("S", "R")
    assert log.pending() == []
    assert runner.undo(fault_id, log=log).note == "already undone"  # idempotent


def test_group_freeze_stops_every_member(log: IntentLog, spawn) -> None:
    leader = spawn(["sh", "-c", "sleep 600 & sleep 600 & wait"])
    wait_for(lambda: len(_group(leader.pid)) == 3, what="the shell's two children")
    members = _group(leader.pid)
    fault_id = runner.inject("process-freeze", {"pid": leader.pid}, log=log)
    # SIGSTOP is delivered asynchronously: on a loaded machine /proc can say "S" for a moment after the kill
    wait_for(lambda: all(frozen(p) for p in members), timeout=5, what="every member of the group stopped")
    runner.undo(fault_id, log=log)
    wait_for(lambda: not any(frozen(p) for p in members), timeout=5, what="every member of the group resumed")


def test_undo_leaves_a_recycled_pid_alone(log: IntentLog, victim) -> None:
    """The undo record says start_time X; the live process has another: it is not the process we froze."""
    os.kill(victim.pid, signal.SIGSTOP)
    wait_for(lambda: frozen(victim.pid), what="victim stopped")
    wrong = {**process_identity(victim.pid), "start_time": process_identity(victim.pid)["start_time"] - 1}
    log.intend("f-recycled", "process-freeze", {"pid": victim.pid}, undo=[{"kind": "sigcont", "members": [wrong]}])
    report = runner.undo("f-recycled", log=log)
    assert "left alone" in report.steps[0][1]
    assert frozen(victim.pid)  # not signalled


def test_kill_with_restart_restarts_once(log: IntentLog, spawn, tmp_path: Path) -> None:
    marker = tmp_path / "restarts.txt"
    victim = spawn(["sleep", "600"])
    restart = f"sh -c 'echo $$ >> {marker}; exec sleep 600'"
    fault_id = runner.inject("process-kill", {"pid": victim.pid, "restart": restart}, log=log)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    try:
        assert runner.recover(log=log)[0].ok
        wait_for(lambda: marker.exists() and marker.read_text().strip(), what="restart marker")
        assert runner.recover(log=log) == []  # nothing pending: not restarted twice
        assert runner.undo(fault_id, log=log).note == "already undone"
        restarted = [int(x) for x in marker.read_text().split()]
        assert len(restarted) == 1 and proc_state(restarted[0]) in ("S", "R")
    finally:
        for pid in (int(x) for x in (marker.read_text().split() if marker.exists() else [])):
            os.killpg(pid, signal.SIGKILL)


def test_harness_refuses_to_freeze_itself(log: IntentLog) -> None:
    with pytest.raises(HarnessError, match="refusing"):
        runner.inject("process-freeze", {"pid": os.getpid()}, log=log)
    with pytest.raises(HarnessError, match="refusing"):
        runner.inject("process-kill", {"pid": 1}, log=log)
    assert log.events() == []


class HalfWayFailure(Fault):
    """Test-only fault: records its undo, freezes the victim, then breaks."""

    name = "test-half-way-failure"
    plan_section = "test"
    Params = NoParams
    victim_pid = 0

    def describe(self, target):
        from harness.faults.base import BlastRadius

        return BlastRadius(summary="test")

    def inject(self, target, journal: Journal) -> Injection:
        journal.record_undo("sigcont", members=[process_identity(self.victim_pid)])
        os.kill(self.victim_pid, signal.SIGSTOP)
        raise RuntimeError("broke half-way")


def test_failed_inject_undoes_what_it_recorded(log: IntentLog, victim) -> None:
    HalfWayFailure.victim_pid = victim.pid
    registry.register(HalfWayFailure)
    try:
        with pytest.raises(RuntimeError, match="half-way"):
            runner.inject(HalfWayFailure.name, {}, log=log)
    finally:
        registry.unregister(HalfWayFailure.name)
    assert not frozen(victim.pid)
    events = [e["event"] for e in log.events()]
    assert events == ["intend", "undo_record", "inject_failed", "undo_step", "undone"]


# -- the context manager -------------------------------------------------------------------------------------
def test_context_manager_undoes_on_success_and_on_exception(log: IntentLog, victim) -> None:
    with runner.injecting("process-freeze", {"pid": victim.pid}, log=log) as inj:
        assert frozen(victim.pid) and inj.id
    assert not frozen(victim.pid)

    with pytest.raises(ZeroDivisionError):
        with runner.injecting("process-freeze", {"pid": victim.pid}, log=log):
            assert frozen(victim.pid)
            1 / 0
    assert not frozen(victim.pid)
    assert log.pending() == []


def test_context_manager_undoes_on_keyboard_interrupt(log: IntentLog, victim) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with runner.injecting("process-freeze", {"pid": victim.pid}, log=log):
            assert frozen(victim.pid)
            raise KeyboardInterrupt
    assert not frozen(victim.pid)
    assert signal.getsignal(signal.SIGTERM) is previous  # the SIGTERM handler was restored


# Ctrl-C raises KeyboardInterrupt even when the test run was started in the background by a shell without job
# control, which starts its children with SIGINT ignored (Python then installs no handler for it).
HOLDER = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from harness.faults.intent import IntentLog
    from harness.faults.runner import injecting
    with injecting("process-freeze", {"pid": int(sys.argv[2])}, log=IntentLog(sys.argv[1])):
        print("held", flush=True)
        time.sleep(300)
    print("released", flush=True)
""")


def _hold_in_child(spawn, log: IntentLog, victim_pid: int) -> subprocess.Popen:
    """A separate python process running the harness and holding a freeze of the victim."""
    child = spawn([sys.executable, "-c", HOLDER, str(log.path), str(victim_pid)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    assert frozen(victim_pid)
    return child


@pytest.mark.parametrize("sig, returncode", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)])
def test_signal_to_the_harness_undoes(log: IntentLog, spawn, victim, sig, returncode) -> None:
    child = _hold_in_child(spawn, log, victim.pid)
    child.send_signal(sig)
    assert child.wait(timeout=30) == returncode
    assert not frozen(victim.pid)
    assert log.pending() == []
    assert [e["event"] for e in log.events()][-1] == "undone"


def test_kill_9_then_drill_recover(log: IntentLog, spawn, victim, drill) -> None:
    """kill -9 cannot be caught: the fault stays, the intent log knows, `drill recover` puts it back."""
    child = _hold_in_child(spawn, log, victim.pid)
    child.kill()
    child.wait(timeout=10)
    assert frozen(victim.pid)  # left behind by the crash...
    assert [i.fault for i in log.pending()] == ["process-freeze"]  # ...and on record

    result = drill("recover")
    assert result.returncode == 0, result.stderr
    assert "resumed pid" in result.stdout
    assert not frozen(victim.pid)
    assert log.pending() == []
    assert "nothing to recover" in drill("recover").stderr


def _group(pgid: int) -> list[int]:
    from harness.faults.undo import group_members

    return group_members(pgid)


# -- undo kinds the lab faults build on ----------------------------------------------------------------------
def test_proxy_mode_undo_switches_a_real_proxy_back(log: IntentLog, spawn, tmp_path: Path) -> None:
    from harness.lab.fault_proxy import ProxyControl

    control = tmp_path / "proxy.sock"
    proxy = spawn(
        [
            sys.executable,
            "-m",
            "harness.lab.fault_proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:9",
            "--control",
            str(control),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert "listen" in proxy.stdout.readline()
    ProxyControl(control).set(mode="blackhole")
    log.intend(
        "f-proxy",
        "network-blackhole",
        {"target": "db"},
        undo=[{"kind": "proxy_mode", "control": str(control), "mode": "pass"}],
    )
    assert runner.recover(log=log)[0].ok
    assert ProxyControl(control).get()["mode"] == "pass"


def test_netns_heal_of_a_network_that_is_gone_is_done(log: IntentLog, state_dir: Path) -> None:
    log.intend(
        "f-net",
        "network-partition",
        {"a": "az-a", "b": "az-b"},
        undo=[{"kind": "netns_heal", "state_dir": str(state_dir), "prefix": "drilltest", "a": "az-a", "b": "az-b"}],
    )
    report = runner.recover(log=log)[0]
    assert report.ok and "nothing to heal" in report.steps[0][1]


def test_unknown_undo_kind_is_refused_before_the_side_effect(log: IntentLog) -> None:
    from harness.faults.base import Journal

    log.intend("f-x", "process-freeze", {"pid": 1})
    with pytest.raises(HarnessError, match="no undo action"):
        Journal(log, "f-x").record_undo("teleport", where="back")
    assert log.get("f-x").undo == []


SLOW_UNDO_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harness.faults import registry, undo
    from harness.faults.base import BlastRadius, Fault, Injection, NoParams
    from harness.faults.intent import IntentLog
    from harness.faults.runner import injecting

    marks = Path(sys.argv[2])

    @undo.undo_action("test_slow_undo")
    def slow(record):
        marks.write_text("undo started")
        time.sleep(1.5)  # the test sends a second SIGTERM while this runs
        marks.write_text("undo finished")
        return "slow undo done"

    @registry.register
    class Slow(Fault):
        name, plan_section, Params = "test-slow-undo", "test", NoParams
        def describe(self, target): return BlastRadius(summary="test")
        def inject(self, target, journal):
            journal.record_undo("test_slow_undo")
            return Injection()

    with injecting("test-slow-undo", {}, log=IntentLog(sys.argv[1])):
        print("held", flush=True)
        time.sleep(300)
""")


def test_a_second_signal_does_not_cut_the_undo_short(log: IntentLog, spawn, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    child = spawn(
        [sys.executable, "-c", SLOW_UNDO_HOLDER, str(log.path), str(marks)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    child.send_signal(signal.SIGTERM)
    wait_for(lambda: marks.exists() and marks.read_text() == "undo started", what="the undo to start")
    child.send_signal(signal.SIGTERM)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert marks.read_text() == "undo finished"
    assert log.pending() == []
