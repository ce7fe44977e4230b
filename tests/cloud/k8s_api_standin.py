"""A stand-in for a Kubernetes API server, for the K8s fault tests: NOT a cluster.

No real cluster can run on these machines (no container runtime, and neither kube-apiserver/etcd binaries for
envtest nor kwok are obtainable from the package registries we can reach; the PyPI "kwok" is an unrelated
matching library, kmock is a scripted-response mock, mockernetes patches the client in-process and so would
never exercise the kubeconfig/context path). So this module serves, over real HTTP on 127.0.0.1, exactly the
endpoints harness/faults/k8s.py uses, with Kubernetes' own JSON shapes (objects, *List, Status errors, Scale,
Eviction), label and field selectors, JSON / merge / strategic-merge patches, bearer-token auth from the
kubeconfig, and a small controller loop so the cluster reacts the way a real one does:

- a Deployment owns ReplicaSets (one per distinct pod template, `deployment.kubernetes.io/revision`, the
  `pod-template-hash` label); a template that matches an older ReplicaSet reuses it with the next revision
  (what a rollback looks like on a real cluster); RollingUpdate honours maxSurge/maxUnavailable (25%/25%
  by default), Recreate scales the old ReplicaSets to zero first;
- a ReplicaSet keeps its replica count of pods: deleted or evicted pods are replaced at once, on schedulable
  nodes (not cordoned), spread over zones; with no schedulable node a pod stays Pending (Unschedulable);
- pods of an image listed in the seed's `broken_images` never become ready (ImagePullBackOff), so a bad
  rollout stalls as it would; every other pod is Running and Ready immediately (there is no kubelet);
- EndpointSlices of a Service list its selected pods with `conditions.ready`;
- NetworkPolicies are stored and listed, but nothing enforces them (there is no data plane);
- namespaces can be read and deleted (a deleted namespace takes every object in it along at once: a real
  cluster's Terminating phase and finalizers are skipped);
- CustomResourceDefinitions the seed lists under `crds` (apiextensions.k8s.io/v1 list) and, only for those,
  their custom objects at /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME] (create, get, list, delete):
  * Chaos Mesh (chaos-mesh.org/v1alpha1 NetworkChaos, PodChaos, StressChaos): creation checks the fields
    Chaos Mesh's webhook requires (action, mode, selector), resolves spec.selector (namespaces,
    labelSelectors, nodeSelectors) and reports what its controller would (status.conditions Selected /
    AllInjected, status.experiment.desiredPhase Run, containerRecords). A PodChaos pod-kill or container-kill
    deletes the chosen pod (its ReplicaSet replaces it); a NetworkChaos or pod-failure changes nothing (no
    data plane: tests give the stand-in app their own ground truth). Deleting the object is the recovery;
  * Velero (velero.io/v1 Backup, Restore): `velero_backups` in the seed snapshots the Deployments, Services and
    the Namespace of the namespaces they include, at start (phase Completed, or as given; `partial` makes its
    restores PartiallyFailed with errors=1). A Restore of an unknown backup is FailedValidation; otherwise it
    is InProgress for `restore_s` seconds (default 0.3), then Completed: the objects its includedNamespaces,
    includedResources, excludedResources and labelSelector.matchLabels select are created again (one that
    exists already is skipped and counted in status.warnings, as Velero does), and the controllers bring
    their pods back.

What it does not do: watches, graceful termination (a deleted pod is gone at once), PodDisruptionBudgets,
admission, most resource kinds, Chaos Mesh's actual packet or process effects, Velero's object storage. Every request is recorded (`GET /_standin/requests`), so a test can assert
that a refusal happened before any write.

Run: STANDIN_TOKENS=USER:TOKEN[,...] python k8s_api_standin.py --seed seed.json  (prints `PORT <n>` once it
listens); every logged request names the user whose token it carried.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import re
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ZONE_LABEL = "topology.kubernetes.io/zone"
REVISION = "deployment.kubernetes.io/revision"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The custom resources the stand-in can serve once the seed installs their CRD (`crds`): name -> (kind, version)
CUSTOM_KINDS = {
    "networkchaos.chaos-mesh.org": ("NetworkChaos", "v1alpha1"),
    "podchaos.chaos-mesh.org": ("PodChaos", "v1alpha1"),
    "stresschaos.chaos-mesh.org": ("StressChaos", "v1alpha1"),
    "restores.velero.io": ("Restore", "v1"),
    "backups.velero.io": ("Backup", "v1"),
}
CHAOS_MESH_SPEC_KEYS = {  # required by Chaos Mesh's webhook validation
    "NetworkChaos": ("action", "mode", "selector"),
    "PodChaos": ("action", "mode", "selector"),
    "StressChaos": ("mode", "selector", "stressors"),
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_hash(value: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(HASH_ALPHABET[b % len(HASH_ALPHABET)] for b in digest[:length])


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def response(self) -> JSONResponse:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }
        return JSONResponse(body, status_code=self.code)


def not_found(kind: str, name: str, group: str = "") -> ApiError:
    resource = kind.lower() + "s"
    shown = f"{resource}.{group}" if group else resource
    return ApiError(404, "NotFound", f'{shown} "{name}" not found', {"name": name, "group": group, "kind": resource})


# -- selectors ---------------------------------------------------------------------------------------------
_SET_EXPR = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(text: str) -> list[str]:
    """Split at commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_selector_matches(selector: str | None, labels: dict[str, str] | None) -> bool:
    """Kubernetes label selector syntax: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    labels = labels or {}
    for req in _split_selector(selector or ""):
        m = _SET_EXPR.match(req)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def field_selector_matches(selector: str | None, obj: dict[str, Any]) -> bool:
    for req in _split_selector(selector or ""):
        negate = "!=" in req
        path, value = (s.strip() for s in req.replace("==", "=").split("!=" if negate else "=", 1))
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if (str(cur if cur is not None else "") == value) == negate:
            return False
    return True


def match_labels_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector object (matchLabels only, what Deployments here use) as selector text."""
    return ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))


# -- patches -----------------------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any, strategic: bool = False) -> Any:
    """RFC 7386 merge patch; `strategic` additionally merges lists of objects by their `name` key (how the
    API server merges containers, ports, volumes and env)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(out.get(key), list)
            and all(isinstance(v, dict) and "name" in v for v in value + out[key])
        ):
            merged = {item["name"]: item for item in copy.deepcopy(out[key])}
            order = [item["name"] for item in out[key]]
            for item in value:
                if item.get("$patch") == "delete":
                    merged.pop(item["name"], None)
                    continue
                merged[item["name"]] = merge_patch(merged.get(item["name"], {}), item, strategic)
                if item["name"] not in order:
                    order.append(item["name"])
            out[key] = [merged[n] for n in order if n in merged]
        else:
            out[key] = merge_patch(out.get(key), value, strategic)
    return out


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test), enough for what kubectl and the harness send."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "test" and parent[idx] != op["value"]:
                raise ApiError(
                    422, "Invalid", f"the server rejected our request: test operation failed at {op['path']}"
                )
            if kind == "add":
                parent.insert(idx, op["value"])
            elif kind == "replace":
                parent[idx] = op["value"]
            elif kind == "remove":
                parent.pop(idx)
        else:
            if kind == "test" and parent.get(last) != op["value"]:
                raise ApiError(
                    422, "Invalid", f"the server rejected our request: test operation failed at {op['path']}"
                )
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise ApiError(422, "Invalid", f"replace operation does not apply: doc is missing key {op['path']}")
                parent[last] = op["value"]
            elif kind == "remove":
                parent.pop(last)
    return doc


def apply_patch(obj: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
    ct = content_type.split(";")[0].strip()
    if ct == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError(400, "BadRequest", "json patch must be a list of operations")
        return json_patch(obj, body)
    if ct == "application/merge-patch+json":
        return merge_patch(obj, body)
    if ct == "application/strategic-merge-patch+json":
        return merge_patch(obj, body, strategic=True)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media "
        f"types include: application/json-patch+json, application/merge-patch+json, "
        f"application/strategic-merge-patch+json (got {ct!r})",
    )


# -- the cluster -------------------------------------------------------------------------------------------
class Cluster:
    """Objects keyed by (kind, namespace, name); namespace '' for cluster-scoped kinds."""

    def __init__(self, seed: dict[str, Any]):
        self.lock = threading.RLock()
        self.rv = 1
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.backups: dict[str, dict[str, Any]] = {}  # Velero backup name -> the objects it holds
        self.restore_started: dict[str, float] = {}
        self.broken_images = set(seed.get("broken_images", []))
        for entry in seed.get("namespaces", []):  # a name, or {"name", "labels"}
            ns = entry if isinstance(entry, str) else entry["name"]
            extra = {} if isinstance(entry, str) else entry.get("labels", {})
            self.put(
                "Namespace",
                "",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns, **extra}},
                    "status": {"phase": "Active"},
                },
            )
        for node in seed.get("nodes", []):
            labels = {
                "kubernetes.io/hostname": node["name"],
                ZONE_LABEL: node["zone"],
                "topology.kubernetes.io/region": node.get("region", "standin-1"),
                **node.get("labels", {}),
            }
            self.put(
                "Node",
                "",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": node["name"], "labels": labels},
                    "spec": {"unschedulable": True} if node.get("unschedulable") else {},
                    "status": {
                        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                        "addresses": [{"type": "Hostname", "address": node["name"]}],
                    },
                },
            )
        for d in seed.get("deployments", []):
            labels = d.get("labels") or {"app": d["name"]}
            strategy = {"type": d.get("strategy", "RollingUpdate")}
            if strategy["type"] == "RollingUpdate":
                strategy["rollingUpdate"] = {"maxSurge": "25%", "maxUnavailable": "25%"}
            self.put(
                "Deployment",
                d["namespace"],
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": d["name"],
                        "namespace": d["namespace"],
                        "labels": dict(labels),
                        "generation": 1,
                        "annotations": {},
                    },
                    "spec": {
                        "replicas": d.get("replicas", 1),
                        "selector": {"matchLabels": dict(labels)},
                        "strategy": strategy,
                        "revisionHistoryLimit": 10,
                        "progressDeadlineSeconds": 600,
                        "template": {
                            "metadata": {"labels": dict(labels)},
                            "spec": {"containers": [{"name": d.get("container", d["name"]), "image": d["image"]}]},
                        },
                    },
                    "status": {},
                },
            )
        for s in seed.get("services", []):
            self.put(
                "Service",
                s["namespace"],
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": s["name"], "namespace": s["namespace"]},
                    "spec": {
                        "selector": s["selector"],
                        "ports": [
                            {
                                "name": "http",
                                "port": s.get("port", 80),
                                "protocol": "TCP",
                                "targetPort": s.get("port", 80),
                            }
                        ],
                        "type": "ClusterIP",
                    },
                },
            )
        for p in seed.get("pods", []):  # bare pods (no controller), e.g. to show what a drain refuses
            self.new_pod(p["namespace"], p["name"], p.get("labels", {}), p["image"], p["node"], owner=None)
        self.reconcile()
        # Chaos Mesh / Velero: which CRDs are installed, and Velero backups taken of the seeded namespaces now
        self.restore_s = float(seed.get("restore_s", 0.3))  # how long a Velero Restore stays InProgress
        for name in seed.get("crds", []):
            self.install_crd(name)
        for b in seed.get("velero_backups", []):
            self.take_backup(b)

    # -- storage ---------------------------------------------------------------------------------------------
    def put(self, kind: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[(kind, ns, meta["name"])] = obj
        return obj

    def get(self, kind: str, ns: str, name: str, group: str = "") -> dict[str, Any]:
        obj = self.objects.get((kind, ns, name))
        if obj is None:
            raise not_found(kind, name, group)
        return obj

    def delete(self, kind: str, ns: str, name: str, group: str = "") -> dict[str, Any]:
        obj = self.get(kind, ns, name, group)
        del self.objects[(kind, ns, name)]
        self.rv += 1
        return obj

    def list(
        self, kind: str, ns: str | None = None, label_selector: str | None = None, field_selector: str | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for (k, n, _), obj in sorted(self.objects.items(), key=lambda kv: (kv[0][1], kv[0][2])):
            if k != kind or (ns is not None and n != ns):
                continue
            if not label_selector_matches(label_selector, obj["metadata"].get("labels")):
                continue
            if not field_selector_matches(field_selector, obj):
                continue
            out.append(obj)
        return out

    def require_namespace(self, ns: str) -> None:
        if ("Namespace", "", ns) not in self.objects:
            raise not_found("Namespace", ns)

    # -- custom resources: Chaos Mesh and Velero ----------------------------------------------------------
    def install_crd(self, name: str) -> None:
        """A CustomResourceDefinition like `networkchaos.chaos-mesh.org` (plural.group), served at v1alpha1
        (chaos-mesh.org) or v1 (velero.io); its kind is looked up in CUSTOM_KINDS."""
        plural, _, group = name.partition(".")
        kind, version = CUSTOM_KINDS[name]
        self.put(
            "CustomResourceDefinition",
            "",
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                    "scope": "Namespaced",
                    "versions": [{"name": version, "served": True, "storage": True}],
                },
                "status": {"conditions": [{"type": "Established", "status": "True"}]},
            },
        )

    def custom_kind(self, group: str, version: str, plural: str) -> str:
        """The kind served at /apis/group/version/.../plural, or 404 as a server without that CRD answers."""
        crd = self.objects.get(("CustomResourceDefinition", "", f"{plural}.{group}"))
        if crd is None or crd["spec"]["versions"][0]["name"] != version:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({group}/{version})")
        return crd["spec"]["names"]["kind"]

    def take_backup(self, b: dict[str, Any]) -> None:
        """A Velero Backup of the seeded namespaces it includes, as it was at start: Deployments and Services
        (what a restore brings back here), with its phase (Completed unless the seed says otherwise)."""
        content = [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind in ("Deployment", "Service", "Namespace")
            and (ns if kind != "Namespace" else obj["metadata"]["name"]) in b["includedNamespaces"]
        ]
        self.put(
            "Backup",
            b.get("namespace", "velero"),
            {
                "apiVersion": "velero.io/v1",
                "kind": "Backup",
                "metadata": {"name": b["name"], "namespace": b.get("namespace", "velero")},
                "spec": {"includedNamespaces": list(b["includedNamespaces"]), "storageLocation": "default"},
                "status": {"phase": b.get("phase", "Completed"), "completionTimestamp": now()},
            },
        )
        self.backups[b["name"]] = {"content": content, "partial": b.get("partial", False)}

    def delete_namespace(self, name: str) -> dict[str, Any]:
        """Delete a namespace and everything in it (a real cluster's Terminating phase is skipped: gone at once)."""
        obj = self.delete("Namespace", "", name)
        for key in [k for k in self.objects if k[1] == name and k[0] != "Node"]:
            del self.objects[key]
        return obj

    def create_custom(self, kind: str, group: str, version: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        self.require_namespace(ns)
        name = (body or {}).get("metadata", {}).get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind}.{group} is invalid: metadata.name: Required value")
        if (kind, ns, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f'{kind.lower()}.{group} "{name}" already exists')
        if body.get("kind") != kind or body.get("apiVersion") != f"{group}/{version}":
            raise ApiError(400, "BadRequest", f"expected kind {kind} apiVersion {group}/{version}")
        obj = copy.deepcopy(body)
        obj["metadata"]["namespace"] = ns
        obj["metadata"]["generation"] = 1
        if kind in CHAOS_MESH_SPEC_KEYS:
            obj["status"] = self.inject_chaos(kind, ns, obj["spec"])
        elif kind == "Restore":
            obj["status"] = self.start_restore(obj)
        return self.put(kind, ns, obj)

    def selected_pods(self, selector: dict[str, Any]) -> list[dict[str, Any]]:
        """Chaos Mesh's PodSelectorSpec: namespaces, labelSelectors, nodeSelectors (node labels)."""
        labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("labelSelectors") or {}).items()))
        out = []
        for ns in selector.get("namespaces") or []:
            for pod in self.list("Pod", ns, labels):
                node = self.objects.get(("Node", "", pod["spec"].get("nodeName") or ""))
                node_labels = node["metadata"]["labels"] if node else {}
                if all(node_labels.get(k) == v for k, v in (selector.get("nodeSelectors") or {}).items()):
                    out.append(pod)
        return out

    def inject_chaos(self, kind: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
        """What Chaos Mesh's controller reports after injecting: the selected pods as containerRecords. A
        PodChaos pod-kill / container-kill deletes the pod (its controller replaces it); nothing else has an
        effect here (no data plane: a NetworkChaos is stored and reported, packets are not touched)."""
        for key in CHAOS_MESH_SPEC_KEYS[kind]:
            if key not in spec:
                raise ApiError(422, "Invalid", f"{kind}.chaos-mesh.org is invalid: spec.{key}: Required value")
        if spec.get("mode") not in ("one", "all", "fixed", "fixed-percent", "random-max-percent"):
            raise ApiError(422, "Invalid", f"{kind}.chaos-mesh.org is invalid: spec.mode: Unsupported value")
        pods = sorted(self.selected_pods(spec["selector"]), key=lambda p: p["metadata"]["name"])
        chosen = pods[:1] if spec["mode"] == "one" else pods
        if kind == "PodChaos" and spec["action"] in ("pod-kill", "container-kill"):
            for pod in chosen:
                self.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        return {
            "conditions": [
                {"type": "Selected", "status": "True" if chosen else "False"},
                {"type": "AllInjected", "status": "True" if chosen else "False"},
                {"type": "AllRecovered", "status": "False"},
                {"type": "Paused", "status": "False"},
            ],
            "experiment": {
                "desiredPhase": "Run",
                "containerRecords": [
                    {"id": f"{p['metadata']['namespace']}/{p['metadata']['name']}", "phase": "Injected"} for p in chosen
                ],
            },
        }

    def start_restore(self, restore: dict[str, Any]) -> dict[str, Any]:
        backup = restore["spec"].get("backupName")
        if backup not in self.backups:
            return {"phase": "FailedValidation", "validationErrors": [f"Error retrieving backup: {backup} not found"]}
        self.restore_started[restore["metadata"]["name"]] = time.monotonic()
        return {"phase": "InProgress", "startTimestamp": now()}

    def advance_restores(self) -> None:
        """A Restore InProgress for `restore_s` completes: the backup's objects that its includedNamespaces,
        excludedResources and labelSelector.matchLabels select are created again (existing ones are skipped
        with a warning, as Velero does)."""
        for restore in self.list("Restore"):
            name = restore["metadata"]["name"]
            started = self.restore_started.get(name)
            if restore["status"].get("phase") != "InProgress" or started is None:
                continue
            if time.monotonic() - started < self.restore_s:
                continue
            spec = restore["spec"]
            backup = self.backups[spec["backupName"]]
            included = set(spec.get("includedNamespaces") or ["*"])
            excluded = {r.lower() for r in spec.get("excludedResources") or []}
            only = {r.lower() for r in spec.get("includedResources") or []}  # empty: every resource
            match = (spec.get("labelSelector") or {}).get("matchLabels") or {}
            warnings = 0
            for obj in backup["content"]:
                kind, meta = obj["kind"], obj["metadata"]
                ns = meta["name"] if kind == "Namespace" else meta["namespace"]
                if "*" not in included and ns not in included:
                    continue
                if f"{kind.lower()}s" in excluded or kind.lower() in excluded:
                    continue
                if only and kind != "Namespace" and f"{kind.lower()}s" not in only and kind.lower() not in only:
                    continue
                if kind != "Namespace" and any((meta.get("labels") or {}).get(k) != v for k, v in match.items()):
                    continue
                key = (kind, "" if kind == "Namespace" else ns, meta["name"])
                if key in self.objects:
                    warnings += 1  # "could not restore, already exists"
                    continue
                fresh = copy.deepcopy(obj)
                for field in ("uid", "resourceVersion", "creationTimestamp"):
                    fresh["metadata"].pop(field, None)
                fresh.pop("status", None) if kind == "Deployment" else None
                if kind == "Deployment":
                    fresh["status"] = {}
                self.put(kind, key[1], fresh)
            errors = 1 if backup["partial"] else 0
            restore["status"].update(
                {
                    "phase": "PartiallyFailed" if errors else "Completed",
                    "warnings": warnings,
                    "errors": errors,
                    "completionTimestamp": now(),
                    "progress": {"itemsRestored": len(backup["content"]), "totalItems": len(backup["content"])},
                }
            )
            self.reconcile()

    # -- controllers -------------------------------------------------------------------------------------
    def new_pod(
        self,
        ns: str,
        name: str,
        labels: dict[str, str],
        image: str,
        node: str | None,
        owner: dict[str, Any] | None,
        template_spec: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        spec = copy.deepcopy(template_spec) if template_spec else {"containers": [{"name": "main", "image": image}]}
        spec.setdefault("volumes", [])
        spec.setdefault("restartPolicy", "Always")
        broken = any(c.get("image") in self.broken_images for c in spec["containers"])
        meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels)}
        if owner:
            meta["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        if node is None:
            status = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/N nodes are available: node(s) were unschedulable.",
                    }
                ],
            }
        else:
            spec["nodeName"] = node
            ready = "False" if broken else "True"
            status = {
                "phase": "Pending" if broken else "Running",
                "hostIP": "127.0.0.1",
                "podIP": f"10.0.{len(self.objects) % 250}.{self.rv % 250 + 1}",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Initialized", "status": "True"},
                    {"type": "ContainersReady", "status": ready},
                    {"type": "Ready", "status": ready},
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "ready": not broken,
                        "restartCount": 0,
                        "imageID": "" if broken else f"{c['image'].split(':')[0]}@sha256:{safe_hash(c['image'], 32)}",
                        "state": (
                            {
                                "waiting": {
                                    "reason": "ImagePullBackOff",
                                    "message": f'Back-off pulling image "{c["image"]}"',
                                }
                            }
                            if broken
                            else {"running": {"startedAt": now()}}
                        ),
                    }
                    for c in spec["containers"]
                ],
            }
        return self.put(
            "Pod", ns, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
        )

    @staticmethod
    def pod_ready(pod: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))

    def owned(self, kind: str, ns: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [
            o
            for o in self.list(kind, ns)
            if any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences", []))
        ]

    def pick_node(self, siblings: list[dict[str, Any]]) -> str | None:
        """Least-loaded schedulable node, preferring zones where the ReplicaSet has fewest pods (spreading)."""
        nodes = [n for n in self.list("Node") if not n["spec"].get("unschedulable")]
        if not nodes:
            return None
        zone_count: dict[str, int] = {}
        node_count: dict[str, int] = {}
        for p in siblings:
            node = p["spec"].get("nodeName")
            if node and ("Node", "", node) in self.objects:
                zone = self.objects[("Node", "", node)]["metadata"]["labels"].get(ZONE_LABEL, "")
                zone_count[zone] = zone_count.get(zone, 0) + 1
                node_count[node] = node_count.get(node, 0) + 1
        nodes.sort(
            key=lambda n: (
                zone_count.get(n["metadata"]["labels"].get(ZONE_LABEL, ""), 0),
                node_count.get(n["metadata"]["name"], 0),
                n["metadata"]["name"],
            )
        )
        return nodes[0]["metadata"]["name"]

    def reconcile_replicaset(self, rs: dict[str, Any]) -> None:
        ns = rs["metadata"]["namespace"]
        pods = self.owned("Pod", ns, rs)
        want = rs["spec"]["replicas"]
        # a pod left Pending for lack of a node is rescheduled when a node becomes schedulable
        for pod in [p for p in pods if not p["spec"].get("nodeName")]:
            node = self.pick_node([p for p in pods if p["spec"].get("nodeName")])
            if node:
                self.delete("Pod", ns, pod["metadata"]["name"])
                pods.remove(pod)
        while len(pods) < want:
            name = f"{rs['metadata']['name']}-{uuid.uuid4().hex[:5]}"
            tmpl = rs["spec"]["template"]
            pods.append(self.new_pod(ns, name, tmpl["metadata"]["labels"], "", self.pick_node(pods), rs, tmpl["spec"]))
        # scale down: unready pods first, then newest
        for pod in sorted(pods, key=lambda p: (self.pod_ready(p), -int(p["metadata"]["resourceVersion"])))[
            : max(0, len(pods) - want)
        ]:
            self.delete("Pod", ns, pod["metadata"]["name"])
        ready = [p for p in self.owned("Pod", ns, rs) if self.pod_ready(p)]
        rs["status"] = {
            "replicas": len(self.owned("Pod", ns, rs)),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }

    def reconcile_deployment(self, dep: dict[str, Any]) -> None:
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        spec = dep["spec"]
        template = spec["template"]
        hash_ = safe_hash(template)
        rss = self.owned("ReplicaSet", ns, dep)
        revisions = [int(r["metadata"]["annotations"].get(REVISION, "0")) for r in rss]

        def strip(t: dict[str, Any]) -> dict[str, Any]:
            t = copy.deepcopy(t)
            t["metadata"].get("labels", {}).pop("pod-template-hash", None)
            return t

        new = next((r for r in rss if strip(r["spec"]["template"]) == template), None)
        if new is None:
            tmpl = copy.deepcopy(template)
            tmpl["metadata"].setdefault("labels", {})["pod-template-hash"] = hash_
            sel = copy.deepcopy(spec["selector"])
            sel.setdefault("matchLabels", {})["pod-template-hash"] = hash_
            new = self.put(
                "ReplicaSet",
                ns,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{name}-{hash_}",
                        "namespace": ns,
                        "labels": dict(tmpl["metadata"]["labels"]),
                        "annotations": {REVISION: str(max(revisions, default=0) + 1)},
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "name": name,
                                "uid": dep["metadata"]["uid"],
                                "controller": True,
                                "blockOwnerDeletion": True,
                            }
                        ],
                        "generation": 1,
                    },
                    "spec": {"replicas": 0, "selector": sel, "template": tmpl},
                    "status": {},
                },
            )
            rss.append(new)
        elif int(new["metadata"]["annotations"][REVISION]) != max(revisions):
            # an older template came back (a rollback): its ReplicaSet gets the next revision
            new["metadata"]["annotations"][REVISION] = str(max(revisions) + 1)
        old = [r for r in rss if r is not new]
        replicas = spec.get("replicas", 1)
        if spec["strategy"]["type"] == "Recreate":
            for r in old:
                r["spec"]["replicas"] = 0
                self.reconcile_replicaset(r)
            new["spec"]["replicas"] = replicas
            self.reconcile_replicaset(new)
        else:
            surge = _resolve(spec["strategy"].get("rollingUpdate", {}).get("maxSurge", "25%"), replicas, up=True)
            unavail = _resolve(
                spec["strategy"].get("rollingUpdate", {}).get("maxUnavailable", "25%"), replicas, up=False
            )
            if surge == 0 and unavail == 0:
                unavail = 1
            for _ in range(4 * (replicas + 2)):  # the controller's sync loop, until nothing changes
                before = [(r["metadata"]["name"], r["spec"]["replicas"]) for r in rss]
                total = sum(r["spec"]["replicas"] for r in rss)
                if new["spec"]["replicas"] < replicas:
                    new["spec"]["replicas"] += max(0, min(replicas - new["spec"]["replicas"], replicas + surge - total))
                elif new["spec"]["replicas"] > replicas:
                    new["spec"]["replicas"] = replicas
                self.reconcile_replicaset(new)
                available = sum(r["status"].get("availableReplicas", 0) for r in rss)
                can_remove = available - (replicas - unavail)
                # unready old pods can always go; ready ones only while enough stay available
                for r in old:
                    unready = r["status"].get("replicas", 0) - r["status"].get("availableReplicas", 0)
                    drop = min(r["spec"]["replicas"], unready + max(0, can_remove))
                    if drop:
                        r["spec"]["replicas"] -= drop
                        can_remove -= max(0, drop - unready)
                    self.reconcile_replicaset(r)
                if before == [(r["metadata"]["name"], r["spec"]["replicas"]) for r in rss]:
                    break
        pods = [p for r in rss for p in self.owned("Pod", ns, r)]
        ready = [p for p in pods if self.pod_ready(p)]
        new_ready = [p for p in self.owned("Pod", ns, new) if self.pod_ready(p)]
        min_available = replicas - (0 if spec["strategy"]["type"] == "Recreate" else unavail)
        dep["metadata"]["annotations"][REVISION] = new["metadata"]["annotations"][REVISION]
        complete = len(new_ready) == replicas and len(pods) == replicas
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": len(pods),
            "updatedReplicas": len(self.owned("Pod", ns, new)),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "unavailableReplicas": max(0, replicas - len(ready)),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if len(ready) >= min_available else "False",
                    "reason": "MinimumReplicasAvailable"
                    if len(ready) >= min_available
                    else "MinimumReplicasUnavailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{new["metadata"]["name"]}" '
                    + ("has successfully progressed." if complete else "is progressing."),
                },
            ],
        }
        if not dep["status"]["readyReplicas"]:
            for key in ("readyReplicas", "availableReplicas"):
                dep["status"].pop(key)  # the API omits zero counts

    def reconcile(self) -> None:
        for dep in self.list("Deployment"):
            self.reconcile_deployment(dep)

    def endpoint_slices(self, ns: str, label_selector: str | None) -> list[dict[str, Any]]:
        out = []
        for svc in self.list("Service", ns):
            name = svc["metadata"]["name"]
            labels = {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            }
            if not label_selector_matches(label_selector, labels):
                continue
            sel = ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items())
            endpoints = []
            for pod in self.list("Pod", ns, sel):
                if not pod["status"].get("podIP"):
                    continue
                ready = self.pod_ready(pod)
                endpoints.append(
                    {
                        "addresses": [pod["status"]["podIP"]],
                        "nodeName": pod["spec"].get("nodeName"),
                        "conditions": {"ready": ready, "serving": ready, "terminating": False},
                        "targetRef": {
                            "kind": "Pod",
                            "namespace": ns,
                            "name": pod["metadata"]["name"],
                            "uid": pod["metadata"]["uid"],
                        },
                    }
                )
            out.append(
                {
                    "metadata": {
                        "name": f"{name}-{safe_hash(name, 5)}",
                        "namespace": ns,
                        "labels": labels,
                        "resourceVersion": str(self.rv),
                    },
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": [
                        {"name": p["name"], "port": p["targetPort"], "protocol": p["protocol"]}
                        for p in svc["spec"]["ports"]
                    ],
                }
            )
        return out


def _resolve(value: int | str, replicas: int, up: bool) -> int:
    if isinstance(value, int):
        return value
    pct = int(str(value).rstrip("%")) * replicas / 100
    return math.ceil(pct) if up else math.floor(pct)


# -- HTTP --------------------------------------------------------------------------------------------------
def _list_body(kind: str, api_version: str, cluster: Cluster, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": f"{kind}List",
        "metadata": {"resourceVersion": str(cluster.rv)},
        "items": items,
    }


def build_app(cluster: Cluster, tokens: dict[str, str]) -> Starlette:
    """`tokens`: bearer token → user name; each logged request carries the user it authenticated as."""

    def handler(fn):
        async def endpoint(request: Request) -> JSONResponse:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return ApiError(400, "BadRequest", "the request body is not JSON").response()
            if not request.url.path.startswith("/_standin"):
                auth = request.headers.get("authorization", "")
                user = tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
                with cluster.lock:
                    cluster.requests.append(
                        {
                            "at": time.time(),  # wall clock, to compare with a drill's measured timeline
                            "method": request.method,
                            "path": request.url.path,
                            "query": str(request.url.query),
                            "user": user,
                            "content_type": request.headers.get("content-type", ""),
                            "body": body,
                        }
                    )
                if user is None:
                    return ApiError(401, "Unauthorized", "Unauthorized").response()
            try:
                with cluster.lock:
                    result = fn(request, body, **request.path_params)
                    if request.method in WRITE_METHODS:
                        cluster.reconcile()
                    code = 200
                    if isinstance(result, tuple):
                        result, code = result
                    return JSONResponse(copy.deepcopy(result), status_code=code)
            except ApiError as err:
                return err.response()

        return endpoint

    q = lambda request, key: request.query_params.get(key)  # noqa: E731

    def version(request, body):
        return {
            "major": "1",
            "minor": "31",
            "gitVersion": "v1.31.0-standin",
            "gitCommit": "0" * 40,
            "gitTreeState": "clean",
            "buildDate": "2024-08-13T07:28:49Z",
            "goVersion": "go1.22.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # pods
    def list_pods(request, body, ns=None):
        if ns is not None:
            cluster.require_namespace(ns)
        return _list_body(
            "Pod", "v1", cluster, cluster.list("Pod", ns, q(request, "labelSelector"), q(request, "fieldSelector"))
        )

    def pod(request, body, ns, name):
        if request.method == "GET":
            return cluster.get("Pod", ns, name)
        obj = cluster.delete("Pod", ns, name)
        obj["metadata"]["deletionTimestamp"] = now()
        return obj

    def evict(request, body, ns, name):
        if not body or body.get("kind") != "Eviction":
            raise ApiError(400, "BadRequest", "expected an Eviction body")
        cluster.delete("Pod", ns, name)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201

    # nodes
    def list_nodes(request, body):
        return _list_body(
            "Node", "v1", cluster, cluster.list("Node", "", q(request, "labelSelector"), q(request, "fieldSelector"))
        )

    def node(request, body, name):
        obj = cluster.get("Node", "", name)
        if request.method == "PATCH":
            patched = apply_patch(obj, body, request.headers.get("content-type", ""))
            return cluster.put("Node", "", patched)
        return obj

    # services and endpoint slices
    def service(request, body, ns, name):
        return cluster.get("Service", ns, name)

    def list_slices(request, body, ns):
        return _list_body(
            "EndpointSlice", "discovery.k8s.io/v1", cluster, cluster.endpoint_slices(ns, q(request, "labelSelector"))
        )

    # deployments and replicasets
    def list_deployments(request, body, ns):
        return _list_body("Deployment", "apps/v1", cluster, cluster.list("Deployment", ns, q(request, "labelSelector")))

    def deployment(request, body, ns, name):
        obj = cluster.get("Deployment", ns, name, "apps")
        if request.method == "PATCH":
            patched = apply_patch(obj, body, request.headers.get("content-type", ""))
            if patched["spec"] != obj["spec"]:
                patched["metadata"]["generation"] = obj["metadata"]["generation"] + 1
            cluster.put("Deployment", ns, patched)
            cluster.reconcile()
            return cluster.get("Deployment", ns, name, "apps")
        return obj

    def scale(request, body, ns, name):
        dep = cluster.get("Deployment", ns, name, "apps")
        current = {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": dep["metadata"]["uid"],
                "resourceVersion": dep["metadata"]["resourceVersion"],
                "creationTimestamp": dep["metadata"]["creationTimestamp"],
            },
            "spec": {"replicas": dep["spec"]["replicas"]},
            "status": {
                "replicas": dep["status"].get("replicas", 0),
                "selector": match_labels_selector(dep["spec"]["selector"]),
            },
        }
        if request.method == "GET":
            return current
        patched = apply_patch(current, body, request.headers.get("content-type", ""))
        replicas = patched.get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
            )
        if replicas != dep["spec"]["replicas"]:
            dep["spec"]["replicas"] = replicas
            dep["metadata"]["generation"] += 1
            cluster.put("Deployment", ns, dep)
        cluster.reconcile()
        current["spec"]["replicas"] = replicas
        current["status"]["replicas"] = dep["status"].get("replicas", 0)
        return current

    def list_replicasets(request, body, ns):
        return _list_body("ReplicaSet", "apps/v1", cluster, cluster.list("ReplicaSet", ns, q(request, "labelSelector")))

    # network policies
    def networkpolicies(request, body, ns):
        cluster.require_namespace(ns)
        if request.method == "GET":
            return _list_body(
                "NetworkPolicy",
                "networking.k8s.io/v1",
                cluster,
                cluster.list("NetworkPolicy", ns, q(request, "labelSelector")),
            )
        if not body or body.get("kind", "NetworkPolicy") != "NetworkPolicy" or not body.get("metadata", {}).get("name"):
            raise ApiError(422, "Invalid", "NetworkPolicy.networking.k8s.io is invalid: metadata.name: Required value")
        name = body["metadata"]["name"]
        if ("NetworkPolicy", ns, name) in cluster.objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'networkpolicies.networking.k8s.io "{name}" already exists',
                {"name": name, "group": "networking.k8s.io", "kind": "networkpolicies"},
            )
        obj = copy.deepcopy(body)
        obj.update({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"})
        obj["metadata"]["namespace"] = ns
        obj["metadata"]["generation"] = 1
        return cluster.put("NetworkPolicy", ns, obj), 201

    def networkpolicy(request, body, ns, name):
        if request.method == "GET":
            return cluster.get("NetworkPolicy", ns, name, "networking.k8s.io")
        obj = cluster.delete("NetworkPolicy", ns, name, "networking.k8s.io")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": "networking.k8s.io",
                "kind": "networkpolicies",
                "uid": obj["metadata"]["uid"],
            },
        }

    # namespaces
    def namespace(request, body, name):
        if request.method == "GET":
            return cluster.get("Namespace", "", name)
        obj = cluster.delete_namespace(name)
        obj["status"] = {"phase": "Terminating"}
        return obj

    # CRDs and custom objects (Chaos Mesh, Velero)
    def list_crds(request, body):
        return _list_body(
            "CustomResourceDefinition", "apiextensions.k8s.io/v1", cluster, cluster.list("CustomResourceDefinition")
        )

    def custom_objects(request, body, group, version, ns, plural):
        kind = cluster.custom_kind(group, version, plural)
        cluster.advance_restores()
        if request.method == "GET":
            return _list_body(kind, f"{group}/{version}", cluster, cluster.list(kind, ns, q(request, "labelSelector")))
        return cluster.create_custom(kind, group, version, ns, body), 201

    def custom_object(request, body, group, version, ns, plural, name):
        kind = cluster.custom_kind(group, version, plural)
        cluster.advance_restores()
        if request.method == "GET":
            return cluster.get(kind, ns, name, group)
        obj = cluster.delete(kind, ns, name, group)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": group, "kind": plural, "uid": obj["metadata"]["uid"]},
        }

    # the stand-in's own inspection endpoints (not Kubernetes API)
    def requests_log(request, body):
        return {"requests": cluster.requests}

    routes = [
        Route("/version", handler(version)),
        Route("/api/v1/pods", handler(list_pods)),
        Route("/api/v1/namespaces/{ns}/pods", handler(list_pods)),
        Route("/api/v1/namespaces/{ns}/pods/{name}", handler(pod), methods=["GET", "DELETE"]),
        Route("/api/v1/namespaces/{ns}/pods/{name}/eviction", handler(evict), methods=["POST"]),
        Route("/api/v1/nodes", handler(list_nodes)),
        Route("/api/v1/nodes/{name}", handler(node), methods=["GET", "PATCH"]),
        Route("/api/v1/namespaces/{ns}/services/{name}", handler(service)),
        Route("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", handler(list_slices)),
        Route("/apis/apps/v1/namespaces/{ns}/deployments", handler(list_deployments)),
        Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", handler(deployment), methods=["GET", "PATCH"]),
        Route("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", handler(scale), methods=["GET", "PATCH"]),
        Route("/apis/apps/v1/namespaces/{ns}/replicasets", handler(list_replicasets)),
        Route(
            "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
            handler(networkpolicies),
            methods=["GET", "POST"],
        ),
        Route(
            "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}",
            handler(networkpolicy),
            methods=["GET", "DELETE"],
        ),
        Route("/api/v1/namespaces/{name}", handler(namespace), methods=["GET", "DELETE"]),
        Route("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", handler(list_crds)),
        Route("/apis/{group}/{version}/namespaces/{ns}/{plural}", handler(custom_objects), methods=["GET", "POST"]),
        Route(
            "/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}",
            handler(custom_object),
            methods=["GET", "DELETE"],
        ),
        Route("/_standin/requests", handler(requests_log)),
    ]

    async def unknown(request: Request, exc: Exception) -> JSONResponse:
        return ApiError(
            404, "NotFound", f"the server could not find the requested resource ({request.url.path})"
        ).response()

    return Starlette(routes=routes, exception_handlers={404: unknown, 405: unknown})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, help="JSON file: namespaces, nodes, deployments, services, ...")
    parser.add_argument(
        "--token",
        action="append",
        metavar="USER:TOKEN",
        help="a user and the bearer token it sends (from the kubeconfig); repeatable. Default: "
        "STANDIN_TOKENS (comma-separated), which keeps tokens off the process list",
    )
    args = parser.parse_args()
    with open(args.seed) as f:
        cluster = Cluster(json.load(f))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port chosen by the kernel: no race with other tests
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    pairs = args.token or [t for t in os.environ.get("STANDIN_TOKENS", "").split(",") if t]
    if not pairs:
        parser.error("no --token and no STANDIN_TOKENS")
    tokens = {token: user for user, _, token in (t.partition(":") for t in pairs)}
    config = uvicorn.Config(build_app(cluster, tokens), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
