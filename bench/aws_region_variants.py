"""Benchmark: `drill run --target <AWS rehearsal>` of features/region_failover.feature, end to end, in the region
drill's variants: Route 53 failover records (`routing: failover`) and a Kubernetes app tier in the DR region.

    .venv/bin/python bench/aws_region_variants.py [--variant failover-records|k8s-app-tier|both] [--runs N]

No AWS account and no Kubernetes cluster can be reached here, so this is a rehearsal, built as
tests/cloud/test_aws_region.py builds it: a moto server (with its promote fix) stands in for AWS, two real
PostgreSQL servers are the two regions' databases, the region stand-in (tests/cloud/region_world.py) does what
moto does not (replication with a lag, the writer's endpoint following the writable database, the app's
health), and for the Kubernetes variant the API stand-in (tests/cloud/k8s_api_standin.py) holds the DR
deployment the failover scales up (its ready replicas are the DR app tier the region stand-in serves from).
The drill is the real thing: the example target file, both scenarios, each with region-outage (asg-and-dns),
region-failover, the undo and region-failback. Prints every runbook step's duration, the RTO/RPO and the wall
time. Starts and stops everything it uses (by PID); writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "cloud"), str(ROOT / "tests" / "measure"), str(ROOT)]

import boto3  # noqa: E402
import httpx  # noqa: E402
import yaml  # noqa: E402
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, start_standin  # noqa: E402
from measure_helpers import start_postgres, stop_postgres  # noqa: E402
from moto_server import moto_server  # noqa: E402
from region_world import PRIMARY, RegionStandIn, region_world, use_failover_records  # noqa: E402
from test_aws_region import LAG_S, env_for, target_file  # noqa: E402

DRILL = str(Path(sys.executable).with_name("drill"))
FEATURE = ROOT / "features" / "region_failover.feature"
K8S_SEED = {
    "namespaces": [NAMESPACE],
    "nodes": [{"name": "node-a1", "zone": "zone-a"}, {"name": "node-b1", "zone": "zone-b"}],
    "deployments": [
        {"namespace": NAMESPACE, "name": "freight-api-dr", "replicas": 0, "image": "registry.example/freight-api:1.0"}
    ],
}


def _aws_env(url: str, tmp: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": PRIMARY,
        "AWS_DEFAULT_REGION": PRIMARY,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "DRILL_STATE_DIR": str(tmp / "state"),
    }


def one_run(variant: str, url: str, pgs: tuple, tmp: Path) -> dict:
    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    env = _aws_env(url, tmp)
    os.environ.update(env)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "KUBECONFIG"):
        os.environ.pop(var, None)
    world = region_world(boto3.session.Session(region_name=PRIMARY))
    k8s = None
    app_tier = {}
    if variant == "failover-records":
        use_failover_records(world)
    else:
        k8s = start_standin(tmp, K8S_SEED)

        def dr_ready() -> int:
            dep = k8s.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api-dr")
            return int(dep.get("status", {}).get("readyReplicas") or 0)

        app_tier["dr"] = dr_ready
    standin = RegionStandIn(world, *pgs, lag_s=LAG_S, app_tier=app_tier)
    try:
        path = target_file(tmp, world)
        data = yaml.safe_load(path.read_text())
        region = data["configuration"]["region"]
        if variant == "failover-records":
            region["routing"] = "failover"
        else:
            region["dr"].pop("asg")
            region["dr"]["kubernetes"] = {
                "context": ALLOWED_CONTEXT,
                "namespace": NAMESPACE,
                "deployment": "freight-api-dr",
                "kubeconfig": str(k8s.kubeconfig),
            }
            data["safety"]["kubernetes"] = {"contexts": [ALLOWED_CONTEXT], "namespaces": [NAMESPACE]}
            data["safety"]["limits"]["resources"].append("freight-api-dr")
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        reports = tmp / f"reports-{variant}-{time.time_ns()}"
        t0 = time.monotonic()
        done = subprocess.run(
            [DRILL, "run", "--target", str(path), "--yes", "--reports", str(reports), str(FEATURE)],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp,
            env={**os.environ, **env_for(world, standin)},
        )
        wall = time.monotonic() - t0
    finally:
        truth = standin.close()
        if k8s is not None:
            k8s.stop()
    if done.returncode != 0 or truth.error:
        raise SystemExit(f"{variant}: drill run failed ({done.returncode}, {truth.error}):\n{done.stdout[-4000:]}")
    [run_dir] = (reports / "runs").iterdir()
    out = {"variant": variant, "wall_s": wall, "scenarios": []}
    for d in sorted((run_dir / "scenarios").iterdir()):
        rec = json.loads((d / "drill.json").read_text())
        m = rec["measurement"]
        out["scenarios"].append(
            {
                "name": rec["name"],
                "rto_s": m.get("rto_s"),
                "rpo_s": m.get("rpo_s"),
                "lost": m.get("lost_writes"),
                "passed": m["verdict"]["passed"],
                "procedures": {
                    p["procedure"]: [(s["title"], s["duration_s"], s["outcome"]) for s in p["steps"]]
                    for p in rec["procedures"]
                },
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=["failover-records", "k8s-app-tier", "both"], default="both")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    variants = ["failover-records", "k8s-app-tier"] if args.variant == "both" else [args.variant]
    with tempfile.TemporaryDirectory(prefix="bench-region-") as tmpdir:
        tmp = Path(tmpdir)
        fix = ROOT / "tests" / "cloud" / "moto_promote_fix.py"
        with moto_server(tmp, [sys.executable, str(fix)]) as url:
            a = start_postgres()
            try:
                b = start_postgres()
                try:
                    for variant in variants:
                        for n in range(args.runs):
                            res = one_run(variant, url, (a, b), tmp)
                            print(f"\n== {variant} run {n + 1}: drill run wall {res['wall_s']:.1f} s")
                            for sc in res["scenarios"]:
                                print(
                                    f"  {sc['name']}: rto {sc['rto_s']:.2f} s, rpo {sc['rpo_s']:.3f} s, lost "
                                    f"{sc['lost']}, passed {sc['passed']}"
                                )
                                for proc, steps in sc["procedures"].items():
                                    total = sum(d for _, d, _ in steps)
                                    print(f"    {proc} {total:.2f} s: " + ", ".join(f"{d:.2f}" for _, d, _ in steps))
                                    for title, d, outcome in steps:
                                        if any(w in title for w in ("DNS", "application", "canary", "reset")):
                                            print(f"      {d:6.2f} s  {title}: {outcome[:150]}")
                finally:
                    stop_postgres(b)
            finally:
                stop_postgres(a)


if __name__ == "__main__":
    main()
