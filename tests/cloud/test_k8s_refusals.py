"""Refusals of the Kubernetes faults happen before any write (and, for identity refusals, before any request).

These tests run against tests/cloud/k8s_api_standin.py, a stand-in for a Kubernetes API server, because no real
cluster can run on these machines. Its kubeconfig's current-context is `prod-eks` and points at the same
stand-in, so a refusal that did not hold would show up as requests in the stand-in's log.
"""

from __future__ import annotations

import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, OTHER_CONTEXT, OTHER_NAMESPACE, safety_for, standin  # noqa: F401

from harness.faults import k8s
from harness.safety import SafetyRefused, validate_section


def test_no_context_is_refused_naming_the_current_context_and_nothing_is_requested(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    with pytest.raises(SafetyRefused) as err:
        k8s.connect(safety_for(), None, standin.kubeconfig)
    assert "no Kubernetes context given" in str(err.value)
    with pytest.raises(SafetyRefused) as err:  # the client builder refuses on its own too
        k8s.k8s_client(standin.kubeconfig, "")
    assert f"current-context ({OTHER_CONTEXT})" in str(err.value)
    assert standin.requests() == []


def test_context_not_allowlisted_is_refused_naming_the_mismatch_before_any_request(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    with pytest.raises(SafetyRefused) as err:
        k8s.connect(safety_for(), OTHER_CONTEXT, standin.kubeconfig)
    assert f"context {OTHER_CONTEXT!r} is not on this target's allowlist" in str(err.value)
    assert ALLOWED_CONTEXT in str(err.value)
    assert standin.requests() == []


def test_unknown_context_and_missing_kubeconfig_are_refused(standin, tmp_path):
    """The stand-in stands in for a cluster (none can run here)."""
    section = validate_section("staging", {"kubernetes": {"contexts": ["elsewhere"], "namespaces": [NAMESPACE]}}, "t")
    with pytest.raises(SafetyRefused, match=r"context 'elsewhere' is not in kubeconfig .*drill-staging, prod-eks"):
        k8s.connect(section, "elsewhere", standin.kubeconfig)
    with pytest.raises(SafetyRefused, match="no kubeconfig given"):  # KUBECONFIG is unset by the fixture
        k8s.connect(safety_for(), ALLOWED_CONTEXT, None)
    with pytest.raises(SafetyRefused, match="not found"):
        k8s.connect(safety_for(), ALLOWED_CONTEXT, tmp_path / "missing")
    assert standin.requests() == []


def test_namespace_outside_the_allowlist_is_refused_before_any_request(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    cluster = k8s.connect(safety_for(), ALLOWED_CONTEXT, standin.kubeconfig)
    attempts = [
        lambda: k8s.terminate_pods(cluster, OTHER_NAMESPACE, "app=payments-api"),
        lambda: k8s.scale_to_zero(cluster, OTHER_NAMESPACE, "payments-api"),
        lambda: k8s.deny_all(cluster, OTHER_NAMESPACE, "app=payments-api"),
        lambda: k8s.bad_rollout(cluster, OTHER_NAMESPACE, "payments-api", "x:broken"),
        lambda: k8s.rollback_deployment(cluster, OTHER_NAMESPACE, "payments-api"),
    ]
    for attempt in attempts:
        with pytest.raises(SafetyRefused) as err:
            attempt()
        assert f"namespace {OTHER_NAMESPACE!r} is not on this target's allowlist" in str(err.value)
    assert standin.requests() == []
    assert len(standin.pods(OTHER_NAMESPACE)) == 3


def test_more_pods_than_the_limit_is_refused_after_reading_and_before_writing(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    cluster = k8s.connect(safety_for(max_pods=2), ALLOWED_CONTEXT, standin.kubeconfig)
    before = sorted(p["metadata"]["name"] for p in standin.pods(selector="app=freight-api"))
    with pytest.raises(SafetyRefused) as err:
        k8s.terminate_pods(cluster, NAMESPACE, "app=freight-api", count=None)
    assert "touches 3 pods, limit max_pods=2" in str(err.value)
    assert all(name in str(err.value) for name in before)  # it names what it would have touched
    with pytest.raises(SafetyRefused, match="limit max_pods=2"):
        k8s.scale_to_zero(cluster, NAMESPACE, "freight-api")  # 3 replicas go away
    with pytest.raises(SafetyRefused, match="limit max_pods=2"):
        k8s.drain_zone(cluster, "zone-a")  # 3 freight pods run on zone-a's nodes
    assert standin.requests(), "the plan reads the cluster"
    assert standin.writes() == []
    assert sorted(p["metadata"]["name"] for p in standin.pods(selector="app=freight-api")) == before
    assert not standin.node("node-a1")["spec"].get("unschedulable")


def test_unnamed_workload_empty_selector_and_bare_pod_are_refused_before_writing(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    cluster = k8s.connect(safety_for(resources=["freight-*"]), ALLOWED_CONTEXT, standin.kubeconfig)
    with pytest.raises(SafetyRefused, match=r"outside limits.resources \(freight-\*\): deployment postgresql"):
        k8s.scale_to_zero(cluster, NAMESPACE, "postgresql")
    with pytest.raises(SafetyRefused, match=r"outside limits.resources .*deployment postgresql"):
        k8s.terminate_pods(cluster, NAMESPACE, "app=postgresql")
    with pytest.raises(SafetyRefused, match="empty label selector"):
        k8s.terminate_pods(cluster, NAMESPACE, "", count=1)
    with pytest.raises(SafetyRefused, match="no deployment named"):
        k8s.scale_to_zero(cluster, NAMESPACE, "")
    assert standin.writes() == []


def test_a_zone_with_a_bare_pod_is_not_drained_and_no_zone_is_not_a_zone(tmp_path, monkeypatch):
    """The stand-in stands in for a cluster (none can run here). A pod with no controller would be lost."""
    from k8s_fixtures import SEED, start_standin

    monkeypatch.delenv("KUBECONFIG", raising=False)
    seed = {**SEED, "pods": [{"namespace": NAMESPACE, "name": "debug-shell", "image": "busybox", "node": "node-c1"}]}
    srv = start_standin(tmp_path, seed)
    try:
        cluster = k8s.connect(safety_for(max_pods=10), ALLOWED_CONTEXT, srv.kubeconfig)
        with pytest.raises(SafetyRefused, match="pod freight/debug-shell on node-c1 has no controller"):
            k8s.drain_zone(cluster, "zone-c")
        with pytest.raises(SafetyRefused, match="no node is labelled topology.kubernetes.io/zone=zone-x"):
            k8s.drain_zone(cluster, "zone-x")
        with pytest.raises(SafetyRefused, match="no zone given"):
            k8s.drain_zone(cluster, " ")
        assert srv.writes() == []
        assert srv.users() == {"drill"}
        assert not srv.node("node-c1")["spec"].get("unschedulable")
    finally:
        srv.stop()


def test_preflight_checks_approval_then_context_then_asks_only_for_the_version(standin):
    """The stand-in stands in for a cluster (none can run here)."""
    from harness import safety

    production = validate_section(
        "production", {"kubernetes": {"contexts": [ALLOWED_CONTEXT], "namespaces": [NAMESPACE]}}, "t"
    )
    try:
        with pytest.raises(SafetyRefused, match="needs an approval"):
            k8s.preflight(production, ALLOWED_CONTEXT, standin.kubeconfig)
        with pytest.raises(SafetyRefused, match="not on this target's allowlist"):
            k8s.preflight(safety_for(), OTHER_CONTEXT, standin.kubeconfig)
        assert standin.requests() == []
        clearance, cluster = k8s.preflight(
            production, ALLOWED_CONTEXT, standin.kubeconfig, approval="CHG-42", approver="dr-lead"
        )
        assert clearance.kube_context == ALLOWED_CONTEXT and clearance.approval["ticket"] == "CHG-42"
        assert [(r["method"], r["path"]) for r in standin.requests()] == [("GET", "/version")]
    finally:
        safety.forget()
