"""Benchmark: `drill backup verify --target <aws file>` (harness/backup/aws_verify.py), rehearsed on moto.

    .venv/bin/python bench/aws_backup_verify.py [--runs N] [--writes N]

No AWS account can be reached here: a moto server (its own process group, started and stopped here) stands in
for RDS and STS, and two throwaway PostgreSQL servers for the source's database and the scratch instance's
(the stand-in of tests/cloud/test_aws_backup_verify.py copies the first into the second once the scratch
instance exists). Each run restores the drill's snapshot (then, with --pitr, LatestRestorableTime) and prints
the time to available, the time to validated and the whole run. moto answers `available` at once: these are the
harness's own costs (the ledger, the calls, the polls, the SQL checks), not RDS's restore time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "cloud"), str(ROOT / "tests" / "measure"), str(ROOT)]

import boto3  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from aws_world import REGION  # noqa: E402
from measure_helpers import start_postgres, stop_postgres  # noqa: E402
from moto_server import moto_server  # noqa: E402
from test_aws_backup_verify import DB, ScratchStandIn, _dsn, _source, _subnet_group, _target, _verify  # noqa: E402

from harness import safety  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--writes", type=int, default=50)
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-aws-verify-"))
    live, restored = start_postgres(), start_postgres()
    try:
        with moto_server(work) as url:
            os.environ.update(
                AWS_ENDPOINT_URL=url,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_REGION=REGION,
                AWS_DEFAULT_REGION=REGION,
                DRILL_STATE_DIR=str(work / "state"),
            )
            for mode in ("snapshot", "pitr"):
                rows = []
                for n in range(opts.runs):
                    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
                    boto3.DEFAULT_SESSION = None
                    safety.forget()
                    for pg in (live, restored):
                        for db in (DB, f"{DB}_loading"):
                            pg.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                    live.sql(f"CREATE DATABASE {DB}")
                    with psycopg.connect(_dsn(live), autocommit=True) as conn:
                        conn.execute("CREATE TABLE loads (id int PRIMARY KEY, weight int)")
                        conn.execute("INSERT INTO loads SELECT g, g * 10 FROM generate_series(1, 1000) g")
                    session = boto3.session.Session(region_name=REGION)
                    _source(session)
                    _subnet_group(session)
                    stand_in = ScratchStandIn(session, live, restored)
                    args = ["--target", _target(work, live, restored), "--writes", opts.writes, "--json"]
                    args += ["--reports", work / "reports"] + (["--pitr"] if mode == "pitr" else [])
                    t0 = time.monotonic()
                    res = _verify(*args)
                    total = time.monotonic() - t0
                    stand_in.close()
                    got = json.loads(res.stdout)
                    assert got["ok"], got["failure"]
                    rows.append((got["available_s"], got["validated_s"], total))
                    print(
                        f"{mode} run {n + 1}: available {got['available_s']:.3f} s, validated {got['validated_s']:.3f} s"
                        f", whole run {total:.2f} s ({got['checks']['ledger']['present']} ledger rows checked)"
                    )
                med = [statistics.median(c) for c in zip(*rows)]
                print(f"{mode} median: available {med[0]:.3f} s, validated {med[1]:.3f} s, whole run {med[2]:.2f} s")
    finally:
        stop_postgres(live)
        stop_postgres(restored)


if __name__ == "__main__":
    main()
