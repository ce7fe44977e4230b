"""The Kubernetes faults as Chaos Toolkit activities (targets/k8s-staging.example.yaml maps the vocabulary onto
them). Each takes the target file (for its safety section), the kubeconfig and the context explicitly; a fault
action plans by reads only (harness/faults/k8s.py), checks the plan against the limits, then goes through the
one inject path (harness.faults.runner.inject_plan: blast radius and undo in the intent log BEFORE the first
write) and returns {"id", "fault", "blast", "outcome"}; its rollback is harness.chaos.actions:undo_fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults import k8s_chaosmesh, k8s_velero, runner
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


# -- Chaos Mesh (harness/faults/k8s_chaosmesh.py): network and process faults, when the cluster has it ----------
def _run_id(drill_run: str | None) -> str | None:
    """The drill run's id: the last part of the run folder `drill run` hands its child (configuration
    drill_run), so every Chaos Mesh object is named after the run that created it."""
    return Path(drill_run).name if drill_run else None


def _seconds(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HarnessError(f"seconds={value!r}: give a number of seconds") from None


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HarnessError(f"{name}={value!r}: give a whole number of milliseconds") from None


def chaos_network_latency(
    target: str,
    context: str,
    ns: str,
    label_selector: str,
    ms: Any,
    kubeconfig: str | None = None,
    jitter: Any = 0,
    seconds: Any = None,
    aliases: dict[str, str] | None = None,
    drill_run: str | None = None,
    fault: str = "network-latency",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """NetworkChaos delay on the pods `label_selector` (or its alias: db, cache, app) selects."""
    cluster = cluster_for(target, context, kubeconfig)
    selector = _pick(label_selector, aliases, fault)
    plan = k8s_chaosmesh.plan_network_latency(
        cluster, ns, selector, _int(ms, "ms"), _int(jitter, "jitter", 0), _seconds(seconds), _run_id(drill_run)
    )
    return inject_logged(fault, {"ns": ns, "label_selector": selector, "ms": ms}, cluster, plan, intent_log)


def chaos_network_blackhole(
    target: str,
    context: str,
    ns: str,
    label_selector: str,
    kubeconfig: str | None = None,
    seconds: Any = None,
    aliases: dict[str, str] | None = None,
    drill_run: str | None = None,
    fault: str = "network-blackhole",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """NetworkChaos loss 100 % on the pods `label_selector` (or its alias) selects."""
    cluster = cluster_for(target, context, kubeconfig)
    selector = _pick(label_selector, aliases, fault)
    plan = k8s_chaosmesh.plan_network_blackhole(cluster, ns, selector, _seconds(seconds), _run_id(drill_run))
    return inject_logged(fault, {"ns": ns, "label_selector": selector}, cluster, plan, intent_log)


def chaos_network_partition(
    target: str,
    context: str,
    ns: str,
    kubeconfig: str | None = None,
    service: str | None = None,
    dependency: str | None = None,
    a: str | None = None,
    b: str | None = None,
    aliases: dict[str, str] | None = None,
    zones: dict[str, str] | None = None,
    seconds: Any = None,
    drill_run: str | None = None,
    fallback_deny_all: bool = False,
    fault: str = "network-partition",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """NetworkChaos partition, both ways: service ↔ dependency (selectors or aliases), or zone a ↔ zone b
    (vocabulary zones mapped by `zones` to topology.kubernetes.io/zone values). `fallback_deny_all`: on a
    cluster without Chaos Mesh the service/dependency form becomes a deny-all ingress NetworkPolicy on the
    dependency's pods (every client is cut off from it, not just the service); the zone form is unsupported."""
    cluster = cluster_for(target, context, kubeconfig)
    names = aliases or {}
    service_sel = names.get(service, service) if service else None
    dependency_sel = names.get(dependency, dependency) if dependency else None
    try:
        plan = k8s_chaosmesh.plan_network_partition(
            cluster,
            ns,
            service=service_sel,
            dependency=dependency_sel,
            zone_a=(zones or {}).get(a, a) if a else None,
            zone_b=(zones or {}).get(b, b) if b else None,
            seconds=_seconds(seconds),
            run=_run_id(drill_run),
        )
    except k8s_chaosmesh.ChaosMeshMissing:
        if not (fallback_deny_all and dependency_sel and not (a or b)):
            raise
        # without Chaos Mesh the dependency still can be cut off from every client: a deny-all ingress policy
        plan = plan_deny_all(cluster, ns, dependency_sel, "ingress")
    params = {"ns": ns, "service": service, "dependency": dependency, "a": a, "b": b}
    return inject_logged(fault, {k: v for k, v in params.items() if v}, cluster, plan, intent_log)


def chaos_process_kill(
    target: str,
    context: str,
    ns: str,
    label_selector: str,
    kubeconfig: str | None = None,
    container: str | None = None,
    drill_run: str | None = None,
    fault: str = "process-kill",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """PodChaos pod-kill (container-kill with `container`) of one pod the selector matches."""
    cluster = cluster_for(target, context, kubeconfig)
    plan = k8s_chaosmesh.plan_process_kill(cluster, ns, label_selector, container or None, _run_id(drill_run))
    return inject_logged(fault, {"ns": ns, "label_selector": label_selector}, cluster, plan, intent_log)


def chaos_process_freeze(
    target: str,
    context: str,
    ns: str,
    label_selector: str,
    kubeconfig: str | None = None,
    seconds: Any = None,
    container: str | None = None,
    drill_run: str | None = None,
    fault: str = "process-freeze",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """PodChaos pod-failure of one pod the selector matches (harness/faults/k8s_chaosmesh.py says why)."""
    cluster = cluster_for(target, context, kubeconfig)
    plan = k8s_chaosmesh.plan_process_freeze(
        cluster, ns, label_selector, _seconds(seconds), container or None, _run_id(drill_run)
    )
    return inject_logged(fault, {"ns": ns, "label_selector": label_selector}, cluster, plan, intent_log)


# -- Velero (harness/faults/k8s_velero.py): namespace-delete and the velero-restore procedure -------------------
def chaos_namespace_delete(
    target: str,
    context: str,
    namespace: str | None,
    backup: str | None,
    kubeconfig: str | None = None,
    drill_namespace: str | None = None,
    velero_backup: str | None = None,
    velero_namespace: str = k8s_velero.VELERO_NAMESPACE,
    fault: str = "namespace-delete",
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Delete a drill-owned namespace (undo: restore it from `backup`). The fault's parameters win over the
    target file's drill_namespace / velero_backup."""
    cluster = cluster_for(target, context, kubeconfig)
    namespace, backup = namespace or drill_namespace or "", backup or velero_backup or ""
    plan = k8s_velero.plan_namespace_delete(cluster, namespace, backup, velero_namespace or k8s_velero.VELERO_NAMESPACE)
    return inject_logged(fault, {"namespace": namespace, "backup": backup}, cluster, plan, intent_log)


def _names(value: Any) -> list[str]:
    """A list from YAML, or a comma-separated string from the environment / a step's parameter."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def chaos_velero_restore(
    target: str,
    context: str,
    backup: str,
    included_namespaces: Any,
    kubeconfig: str | None = None,
    excluded_resources: Any = None,
    label_selector: str | None = None,
    velero_namespace: str = k8s_velero.VELERO_NAMESPACE,
    timeout_s: float = k8s_velero.DEFAULT_TIMEOUT_S,
    included_resources: Any = None,
) -> dict[str, Any]:
    """The velero-restore procedure (plan 4.3.3): a Restore from `backup` with the plan's options, waited for
    until its phase is final and timed. Raises RestoreFailed (the procedure fails) unless it is Completed."""
    cluster = cluster_for(target, context, kubeconfig)
    report = k8s_velero.restore(
        cluster,
        backup,
        _names(included_namespaces),
        _names(excluded_resources),
        label_selector or None,
        velero_namespace or k8s_velero.VELERO_NAMESPACE,
        float(timeout_s),
        included_resources=_names(included_resources),
    )
    if not report.ok:
        raise k8s_velero.RestoreFailed(report.line())
    return report.to_dict()
