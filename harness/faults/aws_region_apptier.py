"""A Kubernetes app tier per region for the region drill (plan 3.3 step 4, 3.4 DR reset): instead of an Auto
Scaling group, a region's `kubernetes: {context, namespace, deployment, kubeconfig}` in configuration.region.

Safety as for every Kubernetes fault (harness/faults/k8s.py): the context must be on the target file's
safety.kubernetes.contexts and the namespace on safety.kubernetes.namespaces, checked before the first request
(no request reaches a context that is not allowlisted), the kubeconfig is named (argument or $KUBECONFIG, never
a silent default), and the deployment must be named by safety.limits.resources like every other resource of the
region section. Kubernetes objects carry labels, not AWS tags: the namespace allowlist stands in for the tag
check (the deployment's Resource has no tags, so safety.check_blast does not ask for them).

    failover: the DR deployment scaled to dr_capacity, waited until every replica is available
    failback: the DR deployment back to its replicas before the failover (recorded by the failover step)
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.faults import k8s
from harness.safety import Resource


def cluster(run: Any, side: str) -> k8s.Cluster:
    """The allowlisted client of `side`'s context (one per context for the run); SafetyRefused before any
    request when the context or the namespace is not on the target file's allowlist."""
    spec = run.side(side).kubernetes
    if run.safety is None or run.safety.kubernetes is None:
        from harness.safety import SafetyRefused

        raise SafetyRefused(
            f"configuration.region.{side}.kubernetes: the target file has no safety.kubernetes allowlist "
            "(contexts and namespaces): refusing to act on Kubernetes; nothing was touched"
        )
    k8s.check_namespace(run.safety, spec.namespace)
    key = ("kubernetes", spec.context, spec.kubeconfig or "")
    if key not in run.k8s_clusters:
        run.k8s_clusters[key] = k8s.connect(run.safety, spec.context, spec.kubeconfig)
    return run.k8s_clusters[key]


def _deployment(run: Any, side: str) -> Any:
    spec = run.side(side).kubernetes
    return cluster(run, side).apps.read_namespaced_deployment(
        spec.deployment, spec.namespace, _request_timeout=k8s.REQUEST_TIMEOUT
    )


def replicas(run: Any, side: str) -> tuple[int, int]:
    """(desired, ready) replicas of `side`'s deployment."""
    dep = _deployment(run, side)
    return int(dep.spec.replicas or 0), int(dep.status.ready_replicas or 0)


def resource(run: Any, side: str, acted: bool) -> Resource:
    spec = run.side(side).kubernetes
    desired, ready = replicas(run, side)
    return Resource(
        kind="k8s-deployment",
        id=spec.deployment,
        role=f"{side} app tier ({run.side(side).region}; context {spec.context}, namespace {spec.namespace})",
        tags=None,  # labels are not AWS tags: the namespace allowlist is the check (module docstring)
        state=f"replicas {desired} ({ready} ready)",
        acted=acted,
    )


def scale_call(run_setup: Any, side: str, to: int | str) -> str:
    where = run_setup.dr if side == "dr" else run_setup.primary
    spec = where.kubernetes
    return (
        f"k8s: PATCH deployments/{spec.deployment}/scale replicas={to} (context {spec.context}, namespace "
        f"{spec.namespace}) then read: until every replica is available"
    )


def _scale(run: Any, side: str, to: int) -> None:
    spec = run.side(side).kubernetes
    cluster(run, side).apps.patch_namespaced_deployment_scale(
        spec.deployment, spec.namespace, {"spec": {"replicas": int(to)}}, _request_timeout=k8s.REQUEST_TIMEOUT
    )


def scale_dr_up(run: Any) -> str:
    """The DR deployment to dr_capacity, waited until the rollout is complete and every replica available."""
    s, spec = run.setup, run.setup.dr.kubernetes
    before, _ = replicas(run, "dr")
    run.facts["dr_app_before"] = {"replicas": before}
    _scale(run, "dr", s.dr_capacity)
    run.wait(
        f"deployment {spec.deployment} ({spec.namespace}) to have {s.dr_capacity} available replicas",
        lambda: k8s.deployment_available(cluster(run, "dr"), spec.namespace, spec.deployment),
    )
    _, ready = replicas(run, "dr")
    return f"deployment {spec.deployment} ({spec.context}/{spec.namespace}): replicas {before} -> {s.dr_capacity}; {ready} ready"


def scale_dr_down(run: Any, default: int = 0) -> str:
    """The DR deployment back to its replicas before the failover (else `default`), waited until it has them."""
    spec = run.setup.dr.kubernetes
    to = int((run.facts.get("dr_app_before") or {}).get("replicas", default))
    _scale(run, "dr", to)

    def settled() -> bool:
        desired, ready = replicas(run, "dr")
        if to == 0:
            pods = cluster(run, "dr").core.list_namespaced_pod(
                spec.namespace,
                label_selector=k8s.selector_text(_deployment(run, "dr").spec.selector.match_labels),
                _request_timeout=k8s.REQUEST_TIMEOUT,
            )
            return desired == 0 and not pods.items
        return k8s.deployment_available(cluster(run, "dr"), spec.namespace, spec.deployment)

    run.wait(f"deployment {spec.deployment} to settle at {to} replicas", settled)
    return f"deployment {spec.deployment} back to {to} replicas"


def ready_replicas(run: Any, side: str) -> int:
    """How many replicas of `side`'s deployment are ready (the primary region's app check before failback)."""
    return replicas(run, side)[1]


def healthy(run: Any, side: str) -> bool:
    """Every desired replica available (`Then the component "app-dr" is healthy again`)."""
    spec = run.side(side).kubernetes
    try:
        return k8s.deployment_available(cluster(run, side), spec.namespace, spec.deployment)
    except HarnessError:
        return False
