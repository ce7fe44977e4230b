"""The Kubernetes target file and its Chaos Toolkit activities: intent log, undo by id, a real chaoslib run.

These tests run against tests/cloud/k8s_api_standin.py, a stand-in for a Kubernetes API server, because no real
cluster can run on these machines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, OTHER_CONTEXT, k8s_target_file, standin  # noqa: F401

from harness.chaos import actions
from harness.chaos import k8s as chaos_k8s
from harness.faults import runner
from harness.faults.intent import IntentLog
from harness.safety import SafetyRefused, target_safety
from harness.targets import load_target

ROOT = Path(__file__).resolve().parents[2]
ZONES = {"az-a": "zone-a", "az-b": "zone-b", "az-c": "zone-c"}


def test_example_target_loads_maps_k8s_faults_to_harness_activities_and_has_a_kubernetes_allowlist():
    target = load_target("k8s-staging.example")
    safety = target_safety(target)
    assert safety.environment == "staging" and safety.provider == "kubernetes"
    assert safety.safety.limits.max_azs == 1 and safety.safety.limits.max_pods
    for fault in (
        "app-crash",
        "db-primary-crash",
        "cache-primary-crash",
        "az-outage",
        "app-bad-deploy",
        "dependency-failure",
        "network-partition",
    ):
        mapping = target.faults[fault]
        assert mapping.action.module == "harness.chaos.k8s", fault
        assert mapping.action.arguments["context"] == "${kube_context}", fault
        assert mapping.rollback.ref == "harness.chaos.actions:undo_fault", fault
    assert not any(m.action and m.action.module.startswith("chaosk8s") for m in target.faults.values())


def test_activity_writes_intent_and_undo_before_acting_and_undo_fault_puts_it_back(standin, k8s_target_file, tmp_path):
    """The stand-in stands in for a cluster (none can run here)."""
    log_path = tmp_path / "intent.jsonl"
    out = chaos_k8s.chaos_drain_zone(
        str(k8s_target_file),
        ALLOWED_CONTEXT,
        "az-a",
        kubeconfig=str(standin.kubeconfig),
        zones=ZONES,
        intent_log=str(log_path),
    )
    assert standin.node("node-a1")["spec"]["unschedulable"] is True
    intent = IntentLog(log_path).get(out["id"])
    assert intent.fault == "az-outage" and intent.state == "injected"
    assert intent.undo == [
        {
            "kind": "k8s_uncordon",
            "kubeconfig": str(standin.kubeconfig),
            "context": ALLOWED_CONTEXT,
            "nodes": ["node-a1", "node-a2"],
        }
    ]
    assert intent.blast["zones"] == ["zone-a"]
    result = actions.undo_fault(id=out["id"], intent_log=str(log_path))
    assert result["ok"] and result["undone"] == [out["id"]]
    assert not standin.node("node-a1")["spec"].get("unschedulable")
    assert IntentLog(log_path).pending() == []


def test_recover_replays_pending_k8s_undos(standin, k8s_target_file, tmp_path):
    """The stand-in stands in for a cluster (none can run here)."""
    log = IntentLog(tmp_path / "intent.jsonl")
    chaos_k8s.chaos_scale_to_zero(
        str(k8s_target_file),
        ALLOWED_CONTEXT,
        NAMESPACE,
        "db",
        kubeconfig=str(standin.kubeconfig),
        aliases={"db": "postgresql"},
        intent_log=str(log.path),
    )
    chaos_k8s.chaos_deny_all(
        str(k8s_target_file),
        ALLOWED_CONTEXT,
        NAMESPACE,
        "app=freight-api",
        kubeconfig=str(standin.kubeconfig),
        direction="egress",
        fault="dependency-failure",
        intent_log=str(log.path),
    )
    assert standin.pods(selector="app=postgresql") == []
    assert len(log.pending()) == 2
    reports = runner.recover(log=log)
    assert all(r.ok for r in reports), [r.line() for r in reports]
    assert len(standin.pods(selector="app=postgresql")) == 1
    assert standin.get(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies")["items"] == []
    assert log.pending() == []


def test_activity_refusals_leave_no_intent_and_no_write(standin, k8s_target_file, tmp_path):
    """The stand-in stands in for a cluster (none can run here)."""
    log_path = tmp_path / "intent.jsonl"
    for context in ("", OTHER_CONTEXT):
        with pytest.raises(SafetyRefused):
            chaos_k8s.chaos_terminate_pods(
                str(k8s_target_file),
                context,
                NAMESPACE,
                "app=freight-api",
                kubeconfig=str(standin.kubeconfig),
                intent_log=str(log_path),
            )
    with pytest.raises(SafetyRefused, match="limit max_pods=5"):
        chaos_k8s.chaos_terminate_pods(
            str(k8s_target_file),
            ALLOWED_CONTEXT,
            NAMESPACE,
            "app in (freight-api,freight-worker)",
            kubeconfig=str(standin.kubeconfig),
            replica="all",
            intent_log=str(log_path),
        )
    assert standin.writes() == []
    assert not log_path.exists() or IntentLog(log_path).intents() == {}


def test_chaoslib_runs_the_target_activities_with_configuration_from_the_environment(
    standin, k8s_target_file, tmp_path, monkeypatch
):
    """The stand-in stands in for a cluster (none can run here). A real chaoslib run: ${...} configuration
    substitution, the fault action and its rollback, as the drill's experiments use them."""
    from chaoslib.experiment import run_experiment

    for key, value in {
        "DRILL_K8S_TARGET": str(k8s_target_file),
        "KUBECONFIG": str(standin.kubeconfig),
        "K8S_CONTEXT": ALLOWED_CONTEXT,
        "K8S_NAMESPACE": NAMESPACE,
        "K8S_ZONE_A": "zone-a",
        "K8S_ZONE_B": "zone-b",
        "K8S_ZONE_C": "zone-c",
    }.items():
        monkeypatch.setenv(key, value)
    target = load_target(str(k8s_target_file))
    log = str(tmp_path / "intent.jsonl")
    experiment = {
        "title": "zone b is drained",
        "description": "stand-in run",
        "configuration": target.configuration,
        "method": [target.fault_activity("az-outage", {"zone": "az-b"}, extra={"intent_log": log})],
        "rollbacks": [
            target.rollback_activity("az-outage", {"zone": "az-b"}, extra={"fault": "az-outage", "intent_log": log})
        ],
    }
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    journal = run_experiment(experiment, settings=settings)
    assert journal["status"] == "completed", journal
    run = journal["run"][0]
    assert run["status"] == "succeeded", run
    assert run["output"]["blast"]["zones"] == ["zone-b"]
    patched = sorted({w["path"].rsplit("/", 1)[1] for w in standin.writes() if w["method"] == "PATCH"})
    assert patched == ["node-b1", "node-b2"]  # cordoned by the action, uncordoned by the rollback
    assert journal["rollbacks"][0]["status"] == "succeeded"
    assert not standin.node("node-b1")["spec"].get("unschedulable")

    monkeypatch.setenv("K8S_CONTEXT", "")  # no context: the action fails, nothing is written
    writes = len(standin.writes())
    journal = run_experiment({**experiment, "rollbacks": []}, settings=settings)
    assert journal["run"][0]["status"] == "failed"
    assert "no Kubernetes context given" in journal["run"][0]["exception"][-1]
    assert len(standin.writes()) == writes
