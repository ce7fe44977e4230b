"""`drill fault ...` and `drill recover` as a user runs them (subprocesses), against real processes."""

from __future__ import annotations

import pytest
from fault_helpers import proc_state

from harness.faults.intent import IntentLog

pytestmark = pytest.mark.timeout(120)

VOCABULARY = [
    "az-outage",
    "db-primary-crash",
    "db-primary-freeze",
    "db-replication-lag",
    "db-corruption",
    "db-accidental-delete",
    "cache-primary-crash",
    "cache-flush",
    "app-crash",
    "app-bad-deploy",
    "dependency-failure",
    "network-partition",
    "network-latency",
    "network-blackhole",
    "region-outage",
    "process-freeze",
    "process-kill",
    "namespace-delete",
    "object-delete",
    "object-overwrite",
]


def test_list_shows_the_whole_vocabulary(drill) -> None:
    result = drill("fault", "list", "--json")
    assert result.returncode == 0, result.stderr
    import json

    listed = {f["name"]: f for f in json.loads(result.stdout)}
    assert sorted(listed) == sorted(VOCABULARY)
    assert all(f["plan_section"] and f["undo"] for f in listed.values())
    assert listed["az-outage"]["params"] == "zone: az-a|az-b|az-c, mode: kill|freeze = kill"
    procedures = drill("procedure", "list")
    assert procedures.returncode == 0
    for name in ("auto-failover", "pitr", "region-failover", "region-failback", "app-rollback", "cache-rebuild"):
        assert name in procedures.stdout


def test_inject_prints_blast_radius_and_id_then_undo(drill, state_dir, victim) -> None:
    result = drill("fault", "inject", "process-freeze", f"pid={victim.pid}")
    assert result.returncode == 0, result.stderr
    fault_id = result.stdout.strip()
    assert fault_id.startswith("process-freeze-")
    assert "blast radius" in result.stderr and f"process {victim.pid}: sleep 600" in result.stderr
    assert proc_state(victim.pid) == "T"  # the CLI returned; the fault stays in force

    pending = drill("fault", "pending")
    assert fault_id in pending.stdout
    undo = drill("fault", "undo", fault_id)
    assert undo.returncode == 0, undo.stderr
    assert proc_state(victim.pid) in ("S", "R")
    assert IntentLog(state_dir / "intent.jsonl").pending() == []


def test_undo_all_newest_first(drill, state_dir, spawn) -> None:
    first, second = spawn(["sleep", "600"]), spawn(["sleep", "600"])
    ids = [drill("fault", "inject", "process-freeze", f"pid={p.pid}").stdout.strip() for p in (first, second)]
    result = drill("fault", "undo", "--all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ids[1] in lines[0] and ids[0] in lines[1]  # reverse order of injection
    assert proc_state(first.pid) != "T" and proc_state(second.pid) != "T"


@pytest.mark.parametrize(
    "args, message",
    [
        (["fault", "inject", "process-freez", "pid=1"], "unknown fault 'process-freez'; known: "),
        (["fault", "inject", "process-freez", "pid=1"], "(did you mean 'process-freeze'?)"),
        (["fault", "inject", "process-freeze", "pid=abc"], "fault 'process-freeze': parameter 'pid'"),
        (["fault", "inject", "process-freeze", "pdi=3"], "unknown parameter 'pdi'"),
        (["fault", "inject", "process-freeze", "1234"], "malformed parameter '1234': expected key=value"),
        (["fault", "inject", "process-freeze", "=12"], "malformed parameter '=12'"),
        (["fault", "inject", "process-freeze", "pid=1", "pid=2"], "parameter 'pid' given twice"),
        (["fault", "inject", "process-freeze", "pid=999999999"], "no running process"),
        (["fault", "inject", "az-outage", "zone=az-z"], "parameter 'zone': Input should be 'az-a', 'az-b' or 'az-c'"),
        (["fault", "inject", "network-partition", "a=az-a", "service=app"], "not both"),
        (["fault", "inject", "network-latency", "ms=0", "target=db"], "parameter 'ms'"),
        (["fault", "inject", "db-primary-crash"], "no lab is running"),
        (["fault", "undo"], "give exactly one of"),
        (["procedure", "run", "pitt"], "did you mean 'pitr'?"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(drill, state_dir, args, message) -> None:
    result = drill(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert result.stderr.count("error:") == 1
    assert not (state_dir / "intent.jsonl").exists()  # nothing intended, nothing injected


def test_recover_reports_failure_and_keeps_it_pending(drill, state_dir) -> None:
    log = IntentLog(state_dir / "intent.jsonl")
    log.intend(
        "f-broken",
        "process-kill",
        {"pid": 1},
        undo=[{"kind": "restart_command", "argv": ["/nonexistent/binary"], "log": str(state_dir / "r.log")}],
    )
    result = drill("recover")
    assert result.returncode == 3
    assert "UNDO FAILED" in result.stdout and "/nonexistent/binary" in result.stdout
    assert [i.id for i in log.pending()] == ["f-broken"]  # still pending: the next recover retries


def test_lab_stubs_validate_and_describe_but_refuse_to_inject(log: IntentLog) -> None:
    from harness.errors import HarnessError
    from harness.faults import registry, runner

    fault = registry.get("az-outage").from_raw({"zone": "az-b", "mode": "freeze"})
    with pytest.raises(HarnessError, match="needs the running lab"):
        fault.describe(None)  # a lab fault names what it touches only from a real lab's components
    with pytest.raises(HarnessError, match="zone"):
        registry.get("az-outage").from_raw({"zone": "az-q"})
    with pytest.raises(HarnessError, match="parameter 'seconds': Input should be greater than 0"):
        registry.get("db-primary-freeze").parse({"seconds": "-1"})
    with pytest.raises(HarnessError, match="needs the running lab"):
        runner.inject("network-blackhole", {"target": "pg"}, log=log)
    assert log.events() == []
