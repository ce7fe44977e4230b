"""Benchmark: the S3 object faults and their restores (harness/faults/aws_s3.py), rehearsed on moto.

    .venv/bin/python bench/aws_s3_restore.py [--runs N] [--lag S]

No AWS account can be reached here: a moto server (its own process group, started and stopped here) stands in
for S3 and STS. Each run: the harness writes its object (3 versions), object-overwrite, s3-version-restore
(timed steps), then object-delete and s3-cross-region-restore from a DR replica made `--lag` seconds before
the newest version (so the object RPO has a known ground truth: ~lag, at S3's one-second LastModified
resolution), then the faults' undo. Prints each procedure's steps, its total and the RPO.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "cloud"), str(ROOT)]

import httpx  # noqa: E402
from aws_world import REGION, clear  # noqa: E402

BUCKET, DR_BUCKET, DR_REGION, PREFIX = (
    "freight-staging-drill",
    "freight-staging-drill-dr",
    "eu-central-1",
    "drill-harness/",
)
CONFIG = {
    "aws_region": REGION,
    "s3": {"bucket": BUCKET, "drill_prefix": PREFIX, "dr_bucket": DR_BUCKET, "dr_region": DR_REGION},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto(log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("moto server did not start")
        time.sleep(0.2)


def _bucket(s3, name: str, region: str) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "Environment", "Value": "staging"}]})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def one_run(n: int, lag: float) -> None:
    import boto3

    from harness.chaos import aws as chaos_aws

    session = boto3.session.Session(region_name=REGION)
    s3, dr = session.client("s3"), session.client("s3", region_name=DR_REGION)
    if n == 1:
        _bucket(s3, BUCKET, REGION)
        _bucket(dr, DR_BUCKET, DR_REGION)
    key = f"orders/{n}.json"
    full = PREFIX + key
    chaos_aws.s3_prepare_objects(key, versions=3, configuration=CONFIG)
    overwrite = chaos_aws.s3_object_overwrite(key, configuration=CONFIG)
    restored = chaos_aws.s3_version_restore(key, configuration=CONFIG)
    _show(n, restored)
    chaos_aws.undo(overwrite["id"])
    dr.copy_object(Bucket=DR_BUCKET, Key=full, CopySource={"Bucket": BUCKET, "Key": full})  # the replica
    time.sleep(lag)  # replication lag: the primary gets a newer version the DR copy does not have
    chaos_aws.s3_prepare_objects(key, versions=1, configuration=CONFIG)
    delete = chaos_aws.s3_object_delete(key, configuration=CONFIG)
    _show(n, chaos_aws.s3_cross_region_restore(key, configuration=CONFIG))
    chaos_aws.undo(delete["id"])


def _show(n: int, out: dict) -> None:
    steps = ", ".join(f"{s['step']} {s['seconds'] * 1000:.1f} ms" for s in out["steps"])
    print(f"run {n} {out['procedure']}: total {out['seconds'] * 1000:.1f} ms, rpo_s {out['rpo_s']}; {steps}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lag", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _moto(Path(tmp) / "moto.log")
        try:
            os.environ.update(
                AWS_ENDPOINT_URL=url,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_REGION=REGION,
                AWS_DEFAULT_REGION=REGION,
                AWS_CONFIG_FILE=str(Path(tmp) / "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(Path(tmp) / "no-aws-credentials"),
                DRILL_STATE_DIR=str(Path(tmp) / "state"),
            )
            clear({"resources": ["freight-staging*"]}, tags={"Environment": "staging"})
            started = time.monotonic()
            for n in range(1, args.runs + 1):
                one_run(n, args.lag)
            print(f"wall {time.monotonic() - started:.1f} s for {args.runs} runs")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
