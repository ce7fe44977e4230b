"""Benchmark: `drill run --target <AWS rehearsal>` of features/data_corruption.feature, end to end.

    .venv/bin/python bench/aws_data_drill.py [--runs N]

No AWS account can be reached here, so this is a rehearsal: a moto server stands in for AWS (STS, the RDS
instance and its point-in-time restore), a real PostgreSQL is the staging database behind it (PG_DSN), and a
second one plays the instance the restore creates. The restore stand-in keeps snapshots of drill_owned.loads
while it is whole (every 50 ms: a continuous backup in miniature) and, when moto shows the new instance, loads
the newest one into the second PostgreSQL. The drill itself is the real thing: targets/aws-staging.example.yaml
with moto's account and region on the allowlist, `Given 200 loads are booked through the app` (the drill-owned
table through the writer's DSN), the integrity probe, the writer, the db-corruption / db-accidental-delete
fault, the pitr procedure (rds_pitr_recover) and the RTO/RPO judgement. Prints the measured RTO and RPO, the
pitr steps' times and the wall time. Starts and stops everything it uses (by PID); writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "cloud"), str(ROOT / "tests" / "measure"), str(ROOT)]

import httpx  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402
from aws_world import MOTO_ACCOUNT, REGION  # noqa: E402
from measure_helpers import start_postgres, stop_postgres  # noqa: E402
from standin_app import ReconnectingApp  # noqa: E402

from harness.faults.aws_data import integrity_query  # noqa: E402

SOURCE = "freight-staging-db"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RestoreStandIn(threading.Thread):
    """RDS's part of a point-in-time restore (see the module docstring)."""

    def __init__(self, rds, source_dsn: str, restored_dsn: str):
        super().__init__(daemon=True)
        self.rds, self.source_dsn, self.restored_dsn = rds, source_dsn, restored_dsn
        self.stop = threading.Event()
        self.snapshots: list[tuple[float, list, str]] = []
        self.restored: list[str] = []
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._watch()
        except Exception as err:  # noqa: BLE001 - reported by one_run: the drill's pitr would wait in vain
            self.error = repr(err)

    def _snapshot(self, query: str) -> None:
        """The table, its comment and the integrity check read in ONE snapshot (a damage between two reads
        would give rows that do not match the comment's fingerprint)."""
        try:
            with psycopg.connect(self.source_dsn) as conn:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if not conn.execute("SELECT to_regclass('drill_owned.loads')").fetchone()[0]:
                    return
                if conn.execute(query).fetchone()[0] != 1:
                    return
                rows = conn.execute("SELECT id, payload FROM drill_owned.loads").fetchall()
                comment = conn.execute("SELECT obj_description('drill_owned.loads'::regclass, 'pg_class')").fetchone()[
                    0
                ]
            self.snapshots = [*self.snapshots[-4:], (time.time(), rows, comment)]
        except psycopg.Error:
            pass  # damaged (the integrity query errors) or being re-created: no snapshot this round

    def _watch(self) -> None:
        query = integrity_query("loads")
        while not self.stop.wait(0.05):
            self._snapshot(query)
            new = [
                i["DBInstanceIdentifier"]
                for i in self.rds.describe_db_instances()["DBInstances"]
                if i["DBInstanceIdentifier"].startswith(f"{SOURCE}-pitr-")
            ]
            for ident in new:
                if ident not in self.restored and self.snapshots:
                    _, rows, comment = self.snapshots[-1]
                    with psycopg.connect(self.restored_dsn, autocommit=True) as conn, conn.transaction():
                        conn.execute("DROP SCHEMA IF EXISTS drill_owned CASCADE")
                        conn.execute("CREATE SCHEMA drill_owned")
                        conn.execute("CREATE TABLE drill_owned.loads (id int PRIMARY KEY, payload text NOT NULL)")
                        with conn.cursor() as cur:
                            cur.executemany("INSERT INTO drill_owned.loads VALUES (%s, %s)", rows)
                        conn.execute(f"COMMENT ON TABLE drill_owned.loads IS '{comment}'")
                    self.restored.append(ident)


def one_run(work: Path) -> list[dict]:
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    source = restored = app = standin = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "DRILL_STATE_DIR": str(work / "state"),
        }
        import boto3

        rds = boto3.session.Session(
            region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        ).client("rds", endpoint_url=env["AWS_ENDPOINT_URL"])
        rds.create_db_instance(
            DBInstanceIdentifier=SOURCE,
            Engine="postgres",
            DBInstanceClass="db.t3.medium",
            MasterUsername="drill",
            MasterUserPassword="not-a-secret-1",
            AllocatedStorage=20,
            Tags=[{"Key": "Environment", "Value": "staging"}],
        )
        source, restored = start_postgres(), start_postgres()
        app = ReconnectingApp(lambda: "up", 1.0, path="/health")
        data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
        data["name"] = "aws-rehearsal"
        data["safety"]["aws"]["account_ids"], data["safety"]["aws"]["regions"] = [MOTO_ACCOUNT], [REGION]
        data["configuration"].update(
            aws_region=REGION, rds_endpoints={f"{SOURCE}-pitr-*": f"127.0.0.1:{restored.port}"}, rds_poll_s=0.2
        )
        data["procedures"]["pitr"]["action"]["arguments"]["timeout"] = 120  # a failed stand-in fails fast
        target = work / "aws-rehearsal.yaml"
        target.write_text(yaml.safe_dump(data, sort_keys=False))
        standin = RestoreStandIn(rds, source.dsn, restored.dsn)
        standin.start()
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("drill")), "run", "--target", str(target), "--yes"]
            + ["--reports", str(work / "reports"), str(ROOT / "features" / "data_corruption.feature")],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=work,
            env={**env, "APP_URL": app.url.removesuffix("/health"), "PG_DSN": source.dsn, "RDS_INSTANCE_ID": SOURCE},
        )
        wall = time.monotonic() - started
        if done.returncode != 0 or standin.error:
            raise RuntimeError(
                f"drill run exited {done.returncode} (stand-in: {standin.error}): {(done.stdout + done.stderr)[-3000:]}"
            )
        out = []
        for path in sorted((work / "reports" / "runs").glob("*/scenarios/*/drill.json")):
            s = json.loads(path.read_text())
            m = s["measurement"]
            [pitr] = [p for p in s["procedures"] if p["procedure"] == "pitr"]
            out.append(
                {
                    "scenario": s["name"],
                    "rto_s": m["rto_s"],
                    "uncertainty_s": m["uncertainty_s"],
                    "rpo_s": m["rpo_s"],
                    "lost": m["lost_writes"],
                    "acked": m["acked_writes"],
                    "pitr_s": pitr["duration_s"],
                    "wall_s": wall,
                }
            )
        return out
    finally:
        if standin is not None:
            standin.stop.set()
            standin.join(timeout=10)
        if app is not None:
            app.close()
        for pg in (source, restored):
            if pg is not None:
                stop_postgres(pg)
        os.killpg(moto.pid, signal.SIGTERM)
        moto.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="aws-data-drill-") as tmp:
            for row in one_run(Path(tmp)):
                print(
                    f"run {n + 1}: {row['scenario']}: RTO {row['rto_s']:.2f} ± {row['uncertainty_s']:.2f} s, "
                    f"RPO {row['rpo_s']:.2f} s, lost {row['lost']} / {row['acked']}, pitr {row['pitr_s']:.2f} s, "
                    f"drill run wall {row['wall_s']:.1f} s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
