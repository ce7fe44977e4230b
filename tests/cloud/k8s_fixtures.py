"""Fixtures for the Kubernetes fault tests: the API stand-in (k8s_api_standin.py) as a real HTTP server process
on 127.0.0.1, and a kubeconfig pointing at it.

No real cluster can run on these machines, so the stand-in plays the cluster (see its docstring for what it
does and does not do). The kubeconfig has two contexts on the SAME stand-in: `drill-staging` (allowlisted) and
`prod-eks` (not allowlisted, and the kubeconfig's current-context; its own user and token), so a refusal that
failed, or a client that fell back to the current-context, would show up in the stand-in's log (each request
names the user it authenticated as: `drill` or `prod-admin`). Import the fixtures into a test module: `from k8s_fixtures import *`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.safety import TargetSafety, validate_section

HERE = Path(__file__).resolve().parent
ALLOWED_CONTEXT = "drill-staging"
OTHER_CONTEXT = "prod-eks"
NAMESPACE = "freight"
OTHER_NAMESPACE = "payments"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# three zones of two nodes; node-a3 is cordoned already (an undo must leave it cordoned)
SEED: dict[str, Any] = {
    "namespaces": ["freight", "payments", "kube-system"],
    "nodes": [
        {"name": "node-a1", "zone": "zone-a"},
        {"name": "node-a2", "zone": "zone-a"},
        {"name": "node-a3", "zone": "zone-a", "unschedulable": True},
        {"name": "node-b1", "zone": "zone-b"},
        {"name": "node-b2", "zone": "zone-b"},
        {"name": "node-c1", "zone": "zone-c"},
        {"name": "node-c2", "zone": "zone-c"},
    ],
    "deployments": [
        {"namespace": "freight", "name": "freight-api", "replicas": 3, "image": "registry.example/freight-api:1.0"},
        {
            "namespace": "freight",
            "name": "freight-worker",
            "replicas": 3,
            "image": "registry.example/freight-worker:1.0",
        },
        {"namespace": "freight", "name": "postgresql", "replicas": 1, "image": "postgres:16"},
        {"namespace": "payments", "name": "payments-api", "replicas": 3, "image": "registry.example/payments:2.1"},
    ],
    "services": [{"namespace": "freight", "name": "freight-api", "selector": {"app": "freight-api"}}],
    "broken_images": ["registry.example/freight-api:broken"],
}


@dataclass
class StandIn:
    proc: subprocess.Popen
    port: int
    token: str  # the `drill` user's (context drill-staging)
    kubeconfig: Path

    def users(self) -> set[str | None]:
        """Who the requests so far authenticated as."""
        return {r["user"] for r in self.requests()}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_standin/requests", timeout=5).json()["requests"]

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in WRITES]

    def get(self, path: str, **params: str) -> dict[str, Any]:
        """Read cluster state directly (the test's own eyes, independent of the code under test)."""
        resp = httpx.get(
            f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {self.token}"}, timeout=5
        )
        resp.raise_for_status()
        return resp.json()

    def pods(self, ns: str = NAMESPACE, selector: str = "") -> list[dict[str, Any]]:
        return self.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=selector)["items"]

    def node(self, name: str) -> dict[str, Any]:
        return self.get(f"/api/v1/nodes/{name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: only this process group
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def write_kubeconfig(path: Path, port: int, token: str, other_token: str) -> Path:
    server = f"http://127.0.0.1:{port}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": OTHER_CONTEXT,
        "preferences": {},
        "clusters": [{"name": "standin", "cluster": {"server": server}}],
        "users": [{"name": "drill", "user": {"token": token}}, {"name": "prod-admin", "user": {"token": other_token}}],
        "contexts": [
            {"name": ALLOWED_CONTEXT, "context": {"cluster": "standin", "user": "drill", "namespace": NAMESPACE}},
            {"name": OTHER_CONTEXT, "context": {"cluster": "standin", "user": "prod-admin"}},
        ],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def start_standin(tmp: Path, seed: dict[str, Any] | None = None) -> StandIn:
    seed_file = tmp / "seed.json"
    seed_file.write_text(json.dumps(seed or SEED))
    token, other = secrets.token_hex(16), secrets.token_hex(16)  # throwaway tokens of a throwaway server
    env = {**os.environ, "STANDIN_TOKENS": f"drill:{token},prod-admin:{other}"}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "k8s_api_standin.py"), "--seed", str(seed_file)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    line = proc.stdout.readline()  # "PORT n" once it is bound
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"the K8s API stand-in did not start (said {line!r})")
    port = int(line.split()[1])
    standin = StandIn(
        proc=proc, port=port, token=token, kubeconfig=write_kubeconfig(tmp / "kubeconfig", port, token, other)
    )
    for _ in range(100):  # bound before uvicorn serves: wait for the first answer
        try:
            standin.requests()
            return standin
        except httpx.TransportError:
            import time

            time.sleep(0.05)
    standin.stop()
    raise RuntimeError("the K8s API stand-in does not answer")


def safety_for(max_pods: int | None = 5, resources: list[str] | None = None, max_azs: int = 1) -> TargetSafety:
    return validate_section(
        "staging",
        {
            "kubernetes": {"contexts": [ALLOWED_CONTEXT], "namespaces": [NAMESPACE]},
            "limits": {"max_azs": max_azs, "max_pods": max_pods, "resources": resources or ["freight-*", "postgresql"]},
        },
        where="test",
    )


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A fresh stand-in per test (state never leaks between tests); KUBECONFIG is unset so nothing can fall
    back to a kubeconfig of this machine."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    srv = start_standin(tmp_path)
    try:
        yield srv
        # whatever the test did, nothing went to the cluster as the non-allowlisted context's user
        assert srv.users() <= {"drill"}, srv.users()
    finally:
        srv.stop()


@pytest.fixture
def cluster(standin: StandIn):
    from harness.faults import k8s

    return k8s.connect(safety_for(), ALLOWED_CONTEXT, standin.kubeconfig)


def standin_target_file(tmp_path: Path, namespaces: list[str] | None = None) -> Path:
    """The shipped example target with its placeholders filled for the stand-in's context and namespace(s)."""
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "targets" / "k8s-staging.example.yaml").read_text())
    data["name"] = "k8s-standin"
    data["safety"]["kubernetes"] = {"contexts": [ALLOWED_CONTEXT], "namespaces": namespaces or [NAMESPACE]}
    data["safety"]["limits"]["resources"] = ["freight-*", "postgresql"]
    path = tmp_path / "k8s-standin.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def k8s_target_file(tmp_path: Path) -> Path:
    """The shipped example target with its placeholders filled for the stand-in's context and namespace."""
    return standin_target_file(tmp_path)
