"""The Kubernetes faults as Chaos Toolkit activities (targets/k8s-staging.example.yaml maps the vocabulary onto
them). Each takes the target file (for its safety section), the kubeconfig and the context explicitly; a fault
action plans by reads only (harness/faults/k8s.py), checks the plan against the limits, then goes through the
one inject path (harness.faults.runner.inject_plan: blast radius and undo in the intent log BEFORE the first
write) and returns {"id", "fault", "blast", "outcome"}; its rollback is harness.chaos.actions:undo_fault.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.faults import runner
from harness.faults.intent import IntentLog
from harness.faults.k8s import (
    Cluster,
    check,
    deployment_available,
    execute,
    plan_bad_rollout,
    plan_deny_all,
    plan_drain_zone,
    plan_scale_to_zero,
    plan_terminate_pods,
    pods_ready,
    rollback_deployment,
    service_endpoints,
)
from harness.faults.plan import FaultPlan
from harness.targets.kubernetes import cluster_for


def inject_logged(
    fault: str, params: dict[str, Any], cluster: Cluster, plan: FaultPlan, intent_log: str | None = None
) -> dict[str, Any]:
    """Check, then the one inject path (harness.faults.runner.inject_plan): intend → undo record → act →
    injected in the intent log; a failure half-way undoes what was recorded before the error propagates."""

    check(cluster, plan)  # refusals leave no trace in the intent log and make no request that writes
    blast = plan.blast().model_dump(mode="json")

    def changing_calls(journal):
        done = execute(cluster, plan, record_undo=lambda record: journal.record_undo(**record))
        return done, {"outcome": done.outcome, "context": cluster.context}

    log = IntentLog(intent_log) if intent_log else IntentLog()
    id, done = runner.inject_plan(plan, params, changing_calls, name=fault, log=log, blast=blast)
    return {"id": id, "fault": fault, "blast": blast, "outcome": done.outcome}


def _count(replica: Any) -> int | None:
    """The vocabulary's app-crash `replica` (one | all | a number) as a pod count; missing means one."""
    if replica in (None, "", "one"):
        return 1
    if replica == "all":
        return None
    try:
        return int(replica)
    except (TypeError, ValueError):
        raise HarnessError(f"replica={replica!r}: give one, all or a number of pods") from None


def _pick(name: str | None, aliases: dict[str, str] | None, what: str) -> str:
    """A selector given directly, or by a vocabulary name (db, cache, ...) through `aliases`."""
    if not name:
        raise HarnessError(f"{what}: no selector given")
    return (aliases or {}).get(name, name)


def chaos_terminate_pods(
    target: str,
    context: str,
    ns: str,
    label_selector: str,
    kubeconfig: str | None = None,
    replica: Any = "one",
    grace_period: int | None = None,
    fault: str = "app-crash",
    intent_log: str | None = None,
) -> dict[str, Any]:
    cluster = cluster_for(target, context, kubeconfig)
    plan = plan_terminate_pods(cluster, ns, label_selector, _count(replica), grace_period)
    return inject_logged(
        fault, {"ns": ns, "label_selector": label_selector, "replica": replica}, cluster, plan, intent_log
    )


def chaos_drain_zone(
    target: str,
    context: str,
    zone: str,
    kubeconfig: str | None = None,
    zones: dict[str, str] | None = None,
    evict: bool = True,
    fault: str = "az-outage",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """`zone` is a cluster zone label value, or a vocabulary zone (az-a ...) mapped by `zones`."""
    cluster = cluster_for(target, context, kubeconfig)
    real = (zones or {}).get(zone, zone)
    return inject_logged(
        fault, {"zone": zone, "label": real, "evict": evict}, cluster, plan_drain_zone(cluster, real, evict), intent_log
    )


def chaos_deny_all(
    target: str,
    context: str,
    ns: str,
    label_selector: str | None,
    kubeconfig: str | None = None,
    aliases: dict[str, str] | None = None,
    direction: str = "ingress",
    fault: str = "network-partition",
    intent_log: str | None = None,
) -> dict[str, Any]:
    cluster = cluster_for(target, context, kubeconfig)
    selector = _pick(
        label_selector,
        aliases,
        f"{fault} (zone-to-zone partitions need a network chaos operator; give service and dependency)",
    )
    return inject_logged(
        fault,
        {"ns": ns, "label_selector": selector, "direction": direction},
        cluster,
        plan_deny_all(cluster, ns, selector, direction),
        intent_log,
    )  # type: ignore[arg-type]


def chaos_scale_to_zero(
    target: str,
    context: str,
    ns: str,
    deployment: str,
    kubeconfig: str | None = None,
    aliases: dict[str, str] | None = None,
    fault: str = "dependency-failure",
    intent_log: str | None = None,
) -> dict[str, Any]:
    cluster = cluster_for(target, context, kubeconfig)
    name = _pick(deployment, aliases, fault)
    return inject_logged(
        fault, {"ns": ns, "deployment": name}, cluster, plan_scale_to_zero(cluster, ns, name), intent_log
    )


def chaos_bad_rollout(
    target: str,
    context: str,
    ns: str,
    deployment: str,
    image: str,
    kubeconfig: str | None = None,
    container: str | None = None,
    fault: str = "app-bad-deploy",
    intent_log: str | None = None,
) -> dict[str, Any]:
    cluster = cluster_for(target, context, kubeconfig)
    return inject_logged(
        fault,
        {"ns": ns, "deployment": deployment, "image": image},
        cluster,
        plan_bad_rollout(cluster, ns, deployment, image, container or None),
        intent_log,
    )


def chaos_rollback_deployment(
    target: str, context: str, ns: str, deployment: str, kubeconfig: str | None = None, to_revision: int | None = None
) -> dict[str, Any]:
    cluster = cluster_for(target, context, kubeconfig)
    return {"deployment": deployment, "outcome": rollback_deployment(cluster, ns, deployment, to_revision)}


def chaos_deployment_available(target: str, context: str, ns: str, name: str, kubeconfig: str | None = None) -> bool:
    return deployment_available(cluster_for(target, context, kubeconfig), ns, name)


def chaos_pods_ready(
    target: str, context: str, ns: str, label_selector: str, kubeconfig: str | None = None, min_ready: int = 1
) -> bool:
    return pods_ready(cluster_for(target, context, kubeconfig), ns, label_selector, min_ready)


def chaos_service_endpoints(target: str, context: str, ns: str, service: str, kubeconfig: str | None = None) -> int:
    return service_endpoints(cluster_for(target, context, kubeconfig), ns, service)
