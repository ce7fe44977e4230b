"""Velero restore (plan 4.3.3) and the fault that rehearses it: `namespace-delete` on a drill-owned namespace.

    cluster = k8s.connect(safety, context="staging-eks", kubeconfig="~/.kube/config")
    plan = plan_namespace_delete(cluster, "freight-drill", backup="freight-nightly")   # reads only
    k8s.execute(cluster, plan)                     # undo recorded first: restore it from that backup
    report = restore(cluster, "freight-nightly", included_namespaces=["freight-drill"],
                     excluded_resources=["events"], label_selector="app=freight-api")
    report.phase, report.warnings, report.errors, report.seconds

A restore creates one velero.io/v1 Restore (in Velero's own namespace, `velero` by default) with the plan's
options — spec.backupName, spec.includedNamespaces, spec.includedResources, spec.excludedResources,
spec.labelSelector.matchLabels (`velero restore create --from-backup B --include-namespaces N
--include-resources R --exclude-resources R --selector S`) — and
polls status.phase until it is final: Completed (ok), PartiallyFailed / Failed / FailedValidation (the
procedure fails, naming status.warnings / status.errors / status.validationErrors). It is timed from the
create to the final phase. The restore only ever names allowlisted namespaces (never the whole cluster),
and only a Completed backup.

`namespace-delete` deletes a namespace only when it is on the allowlist, labelled drill-owned
(`drill-harness/owned=true`: the harness's scratch copy of a workload, never a shared namespace), and a
Completed Velero backup that includes it exists: its undo is the restore from that backup (skipped when the
namespace is back already), so a drill that dies half-way still leaves nothing behind after `drill recover`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from harness.errors import HarnessError
from harness.faults import k8s
from harness.faults import undo as undo_actions
from harness.faults.base import BlastRadius, Fault, FaultParams, Injection, Journal, register
from harness.faults.plan import FaultPlan
from harness.safety import Resource, SafetyRefused

GROUP = "velero.io"
VERSION = "v1"
VELERO_NAMESPACE = "velero"
OWNED_LABEL = "drill-harness/owned"
FINAL_PHASES = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")
POLL_S = 0.2
DEFAULT_TIMEOUT_S = 900.0


CRDS = ("backups.velero.io", "restores.velero.io")


def missing_crds(installed: set[str]) -> list[str]:
    """The Velero CRDs a cluster with these CRDs (harness.faults.k8s_chaosmesh.installed_crds) lacks."""
    return [c for c in CRDS if c not in installed]


class RestoreFailed(HarnessError):
    """A Velero Restore ended in a phase other than Completed (or did not end in time)."""


@dataclass
class RestoreReport:
    name: str
    backup: str
    phase: str
    warnings: int = 0
    errors: int = 0
    seconds: float = 0.0
    validation_errors: list[str] = field(default_factory=list)
    failure_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.phase == "Completed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "restore": self.name,
            "backup": self.backup,
            "phase": self.phase,
            "warnings": self.warnings,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "validation_errors": self.validation_errors,
            "failure_reason": self.failure_reason,
        }

    def line(self) -> str:
        extra = "; ".join(self.validation_errors + ([self.failure_reason] if self.failure_reason else []))
        return (
            f"Velero restore {self.name} from backup {self.backup}: {self.phase} in {self.seconds:.1f} s, "
            f"{self.warnings} warnings, {self.errors} errors" + (f" ({extra})" if extra else "")
        )


def _get(cluster: k8s.Cluster, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return cluster.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, _request_timeout=k8s.REQUEST_TIMEOUT
        )
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def check_backup(cluster: k8s.Cluster, backup: str, namespaces: list[str], velero_namespace: str) -> dict[str, Any]:
    """The backup exists, is Completed and includes every namespace; SafetyRefused otherwise (nothing touched)."""
    if not backup or not str(backup).strip():
        raise SafetyRefused("no Velero backup named: a restore needs one; nothing was touched")
    obj = _get(cluster, "backups", velero_namespace, backup)
    if obj is None:
        raise SafetyRefused(f"Velero backup {velero_namespace}/{backup} not found; nothing was touched")
    phase = (obj.get("status") or {}).get("phase")
    if phase != "Completed":
        raise SafetyRefused(f"Velero backup {backup} is {phase or 'not finished'}, not Completed; nothing was touched")
    included = (obj.get("spec") or {}).get("includedNamespaces") or ["*"]
    lacking = [n for n in namespaces if n not in included and "*" not in included]
    if lacking:
        raise SafetyRefused(
            f"Velero backup {backup} does not include namespace(s) {', '.join(lacking)} "
            f"(it includes {', '.join(included)}); nothing was touched"
        )
    return obj


def restore_body(
    backup: str,
    included_namespaces: list[str],
    excluded_resources: list[str] | None,
    label_selector: str | dict[str, str] | None,
    velero_namespace: str,
    name: str | None = None,
    included_resources: list[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"backupName": backup, "includedNamespaces": list(included_namespaces)}
    if included_resources:
        spec["includedResources"] = list(included_resources)
    if excluded_resources:
        spec["excludedResources"] = list(excluded_resources)
    text = k8s.selector_text(label_selector)
    if text:
        labels = {}
        for part in text.split(","):
            key, eq, value = part.partition("=")
            if not eq or key.endswith("!") or "(" in part:
                raise HarnessError(
                    f"velero-restore: selector {text!r}: only key=value terms (labelSelector.matchLabels)"
                )
            labels[key.strip()] = value.strip().lstrip("=")
        spec["labelSelector"] = {"matchLabels": labels}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Restore",
        "metadata": {
            "name": name or f"drill-{backup}-{uuid.uuid4().hex[:6]}"[:63],
            "namespace": velero_namespace,
            "labels": {"app.kubernetes.io/managed-by": "drill-harness"},
        },
        "spec": spec,
    }


def restore(
    cluster: k8s.Cluster,
    backup: str,
    included_namespaces: list[str],
    excluded_resources: list[str] | None = None,
    label_selector: str | dict[str, str] | None = None,
    velero_namespace: str = VELERO_NAMESPACE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    name: str | None = None,
    included_resources: list[str] | None = None,
) -> RestoreReport:
    """Create the Restore, wait for a final phase, report it (timed from the create). Refused before any write
    when a namespace is not allowlisted (or none is named) or the backup is not a Completed one that holds them."""
    k8s.check_context(cluster.safety, cluster.context)
    if not included_namespaces:
        raise SafetyRefused(
            "velero-restore: no includedNamespaces: a restore of the whole cluster is never a drill; nothing was touched"
        )
    for ns in included_namespaces:
        k8s.check_namespace(cluster.safety, ns)
    check_backup(cluster, backup, list(included_namespaces), velero_namespace)
    body = restore_body(
        backup, included_namespaces, excluded_resources, label_selector, velero_namespace, name, included_resources
    )
    name = body["metadata"]["name"]
    started = time.monotonic()
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, velero_namespace, "restores", body, _request_timeout=k8s.REQUEST_TIMEOUT
    )
    deadline = started + timeout_s
    while True:
        obj = _get(cluster, "restores", velero_namespace, name) or {}
        st = obj.get("status") or {}
        phase = st.get("phase") or "New"
        if phase in FINAL_PHASES or time.monotonic() >= deadline:
            report = RestoreReport(
                name=name,
                backup=backup,
                phase=phase if phase in FINAL_PHASES else f"{phase} (timed out after {timeout_s:g} s)",
                warnings=int(st.get("warnings") or 0),
                errors=int(st.get("errors") or 0),
                seconds=time.monotonic() - started,
                validation_errors=list(st.get("validationErrors") or []),
                failure_reason=str(st.get("failureReason") or ""),
            )
            return report
        time.sleep(POLL_S)


# -- namespace-delete ------------------------------------------------------------------------------------------
def plan_namespace_delete(
    cluster: k8s.Cluster, namespace: str, backup: str, velero_namespace: str = VELERO_NAMESPACE
) -> FaultPlan:
    """Delete a drill-owned, allowlisted namespace that a Completed backup holds; undo: restore it."""
    from kubernetes.client.exceptions import ApiException

    k8s.check_namespace(cluster.safety, namespace)
    try:
        ns = cluster.core.read_namespace(namespace, _request_timeout=k8s.REQUEST_TIMEOUT)
    except ApiException as err:
        if err.status == 404:
            raise SafetyRefused(
                f"namespace-delete: namespace {namespace} does not exist; nothing was touched"
            ) from None
        raise
    owned = (ns.metadata.labels or {}).get(OWNED_LABEL)
    if owned != "true":
        raise SafetyRefused(
            f"namespace-delete: namespace {namespace} is not drill-owned (label {OWNED_LABEL}=true missing): "
            "only the harness's own scratch namespace may be deleted; nothing was touched"
        )
    check_backup(cluster, backup, [namespace], velero_namespace)
    pods = cluster.core.list_namespaced_pod(namespace, _request_timeout=k8s.REQUEST_TIMEOUT).items
    deps = cluster.apps.list_namespaced_deployment(namespace, _request_timeout=k8s.REQUEST_TIMEOUT).items
    resources = [Resource(kind="namespace", id=namespace, role=f"{OWNED_LABEL}=true", state="Active")]
    resources += k8s.pod_resources(cluster, pods)
    named = {(r.kind, r.id) for r in resources}
    resources += [
        Resource(kind="deployment", id=d.metadata.name, acted=False)
        for d in deps
        if ("deployment", d.metadata.name) not in named
    ]
    return FaultPlan(
        fault="namespace-delete",
        namespace=namespace,
        summary=f"delete namespace {namespace} and everything in it ({len(deps)} deployments, {len(pods)} pods)",
        resources=resources,
        calls=[f"core: DELETE namespace {namespace}"],
        changes={"delete_namespace": namespace},
        undo_record={
            "kind": "k8s_velero_restore_namespace",
            **{"kubeconfig": cluster.kubeconfig, "context": cluster.context},
            "namespace": namespace,
            "backup": backup,
            "velero_namespace": velero_namespace,
        },
        undo_summary=f"restore namespace {namespace} from Velero backup {backup} (unless it is back already)",
        notes=[f"rehearses plan 4.3.3: recover it with the velero-restore procedure from backup {backup}"],
    )


@undo_actions.undo_action("k8s_velero_restore_namespace")
def _undo_restore(record: dict[str, Any]) -> str:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = k8s.k8s_client(record["kubeconfig"], record["context"])
    ns = record["namespace"]
    try:
        current = client.CoreV1Api(api).read_namespace(ns, _request_timeout=k8s.REQUEST_TIMEOUT)
        if current.status is None or current.status.phase != "Terminating":
            return f"namespace {ns} exists: nothing to restore"
    except ApiException as err:
        if err.status != 404:
            raise
    custom = client.CustomObjectsApi(api)
    body = restore_body(record["backup"], [ns], None, None, record["velero_namespace"])
    custom.create_namespaced_custom_object(
        GROUP, VERSION, record["velero_namespace"], "restores", body, _request_timeout=k8s.REQUEST_TIMEOUT
    )
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(
            GROUP,
            VERSION,
            record["velero_namespace"],
            "restores",
            body["metadata"]["name"],
            _request_timeout=k8s.REQUEST_TIMEOUT,
        )
        phase = (obj.get("status") or {}).get("phase")
        if phase == "Completed":
            return f"namespace {ns} restored from Velero backup {record['backup']} ({body['metadata']['name']})"
        if phase in FINAL_PHASES:
            raise RestoreFailed(f"restore of namespace {ns} from {record['backup']} ended {phase}")
        time.sleep(POLL_S)
    raise RestoreFailed(f"restore of namespace {ns} from {record['backup']} did not finish in {DEFAULT_TIMEOUT_S:g} s")


@register
class NamespaceDelete(Fault):
    """In the vocabulary so target files map it; only a Kubernetes target can run it (the lab has no namespaces)."""

    name = "namespace-delete"
    plan_section = "4.3.3 Kubernetes (Velero) restore; 6.3 Scenario-Based Testing"
    summary = "delete a drill-owned Kubernetes namespace (rehearses the Velero restore)"
    undo_summary = "restore the namespace from the Velero backup named"

    class Params(FaultParams):
        namespace: str | None = Field(
            None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", description="default: the target's drill namespace"
        )
        backup: str | None = Field(
            None, pattern=r"^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$", description="default: the target's Velero backup"
        )

    def _refuse(self) -> HarnessError:
        return HarnessError(
            "namespace-delete acts on a Kubernetes namespace: run it on a Kubernetes target "
            "(targets/k8s-staging.example.yaml); the lab has no namespaces; nothing was touched"
        )

    def describe(self, target: Any) -> BlastRadius:
        raise self._refuse()

    def inject(self, target: Any, journal: Journal) -> Injection:
        raise self._refuse()
