"""`drill run --target <aws target>` measures data loss (RPO) through a real PostgreSQL writer.

moto stands in for AWS (no real account can be used here), and moto's RDS has no database engine: an Aurora
cluster in moto is metadata only, nothing listens behind it. So a real PostgreSQL (started once per module
with tests/measure/measure_helpers.start_postgres) stands in for the data behind moto's cluster, and a
failover stand-in binds the two, like test_aws_faults.WriterBoundApp binds the app:

- the drill reaches PostgreSQL only through a small TCP proxy on 127.0.0.1 (PG_DSN points at the proxy);
- when moto's cluster writer changes, the proxy stops forwarding client requests, waits GRACE_S so every
  answer already under way reaches its client, then (loss case) deletes the ledger rows committed in the
  last LOSS_S before the flip, which is what promoting an asynchronous standby that lacked them loses;
- then it closes every connection and refuses new ones for DB_RECONNECT_S, and opens again.

The stand-in records the ground truth: the deleted ids, and the times their acknowledgements (and the one of
the last write kept) passed through the proxy to the drill's writer.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from aws_world import CLUSTER, MOTO_ACCOUNT, REGION, aurora_cluster
from test_aws_faults import WriterBoundApp

from harness.faults import aws as faults
from harness.faults.intent import IntentLog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from measure_helpers import postgres_running  # noqa: E402

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = [pytest.mark.timing, pytest.mark.alone]  # its writer falls short of 20 writes/s beside a second worker

ROOT = Path(__file__).resolve().parents[2]
DRILL = str(Path(sys.executable).with_name("drill"))
FEATURE = Path(__file__).resolve().parent / "features" / "aws_db_failover_rpo.feature"
RATE = 20.0  # the feature's writer, writes/s
FEATURE_RPO_S = 0.5  # the feature's RPO target
LOSS_S = 1.5  # the loss case deletes the rows committed in the last LOSS_S before the flip (> FEATURE_RPO_S);
# the writer starts with the 2 s healthy baseline before the fault, so LOSS_S < 2 keeps its first writes
GRACE_S = 0.3  # requests held, answers still flowing: every commit the database made is acknowledged
DB_RECONNECT_S = 1.5  # the database is unreachable this long after the flip (ground truth of its outage)
POLL_S = 0.05


def _shutdown(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FailoverProxy:
    """TCP proxy 127.0.0.1:port -> PostgreSQL. open: forwards both ways; hold: client requests wait, server
    answers still flow; refusing: every connection closed, new ones reset at once. Records the wall time at
    which each INSERT's CommandComplete ("INSERT 0 1") was handed to the client: the writer's acks."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.state = "open"
        self.cond = threading.Condition()
        self.insert_acks: list[float] = []
        self.pairs: list[tuple[socket.socket, socket.socket]] = []  # open now
        self.every_pair: list[tuple[socket.socket, socket.socket]] = []  # closed at the end
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.cond:
                refusing = self.state != "open"
            if refusing:  # reset: the client sees the connection refused, not a hang
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.cond:
                self.pairs.append((client, server))
                self.every_pair.append((client, server))
            for args in ((client, server, False), (server, client, True)):
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                self.threads.append(t)
                t.start()

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers:
                    dst.sendall(data)
                    now = time.time()
                    with self.cond:
                        self.insert_acks.extend([now] * data.count(b"INSERT 0 1"))
                    continue
                with self.cond:  # requests go out only while open; hold() returning means none is in flight
                    while self.state == "hold":
                        self.cond.wait()
                    if self.state != "open":
                        break
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(src, dst)

    def hold(self) -> None:
        with self.cond:
            self.state = "hold"

    def cut(self) -> None:
        """Close every connection and refuse new ones."""
        with self.cond:
            self.state = "refusing"
            self.cond.notify_all()
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            _shutdown(*pair)

    def reopen(self) -> None:
        with self.cond:
            self.state = "open"
            self.cond.notify_all()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.acceptor.join(timeout=5)
        self.listener.close()
        for t in self.threads:
            t.join(timeout=5)
        for pair in self.every_pair:  # after the pumps ended: no fd is closed under a thread still using it
            for s in pair:
                s.close()


@dataclass
class Truth:
    """What the failover stand-in did, in wall-clock seconds (time.time())."""

    flip_seen: float | None = None
    cutoff: float | None = None  # rows with client_ts after this were deleted
    deleted: list[int] = field(default_factory=list)  # seqs
    deleted_client_ts: list[float] = field(default_factory=list)
    deleted_acks: list[float] = field(default_factory=list)  # when their acks passed the proxy
    last_kept_ack: float | None = None  # the ack of the last write kept (the last durable one)
    acks_before_hold: int = 0
    cut_at: float | None = None
    reopened_at: float | None = None
    error: str | None = None


class FailoverStandIn:
    """Bound to moto's writer: when it changes, the database behind the proxy fails over (see module doc)."""

    def __init__(self, session, pg, proxy: FailoverProxy, loss_s: float):
        self.rds = session.client("rds", region_name=REGION)
        self.pg, self.proxy, self.loss_s = pg, proxy, loss_s
        self.writer = faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION})
        self.truth = Truth()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _current_writer(self) -> str:
        members = self.rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DBClusterMembers"]
        return next(m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"])

    def _watch(self) -> None:
        try:
            while not self.stopped.wait(POLL_S):
                if self._current_writer() != self.writer:
                    self._fail_over()
                    return
        except Exception as err:  # noqa: BLE001 - the test asserts there was none
            self.truth.error = repr(err)
            self.proxy.reopen()

    def _fail_over(self) -> None:
        t = self.truth
        t.flip_seen = time.time()
        t.cutoff = t.flip_seen - self.loss_s
        self.proxy.hold()
        time.sleep(GRACE_S)
        with self.proxy.cond:
            acks = list(self.proxy.insert_acks)
        t.acks_before_hold = len(acks)
        if self.loss_s > 0:
            rows = self.pg.sql(
                "DELETE FROM drill_ledger WHERE run_id = (SELECT run_id FROM drill_ledger ORDER BY client_ts DESC"
                " LIMIT 1) AND client_ts > to_timestamp(%s) RETURNING seq, extract(epoch FROM client_ts)",
                (t.cutoff,),
            )
            rows = sorted((int(seq), float(ts)) for seq, ts in rows)
            t.deleted = [seq for seq, _ in rows]
            t.deleted_client_ts = [ts for _, ts in rows]
            # one connection, one request at a time: the last K answers are the K newest rows' acks
            k = len(rows)
            t.deleted_acks = acks[len(acks) - k :] if k else []
            t.last_kept_ack = acks[-k - 1] if len(acks) > k else None
        self.proxy.cut()
        t.cut_at = time.time()
        time.sleep(DB_RECONNECT_S)
        self.proxy.reopen()
        t.reopened_at = time.time()

    def close(self) -> Truth:
        self.stopped.set()
        self.thread.join(timeout=30)
        return self.truth


@pytest.fixture(scope="module")
def postgres():
    yield from postgres_running()


def rpo_target(tmp_path: Path) -> Path:
    """targets/aws-staging.example.yaml filled in for the rehearsal (moto's account and region), with its
    probes (app, postgres) and its writers.postgres kept: the DSN comes from PG_DSN, the URL from APP_URL."""
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    data["name"] = "aws-rehearsal"
    data["safety"]["aws"]["account_ids"] = [MOTO_ACCOUNT]
    data["safety"]["aws"]["regions"] = [REGION]
    data["configuration"]["aws_region"] = REGION
    assert data["writers"]["postgres"]["spec"] == "postgres=${env:PG_DSN}"  # the example's, unchanged
    path = tmp_path / "aws-rehearsal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Drill:
    done: subprocess.CompletedProcess
    truth: Truth
    summary: dict
    measurement: dict


def run_drill(aws, postgres, tmp_path: Path, loss_s: float) -> Drill:
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    proxy = FailoverProxy(postgres.port)
    standin = FailoverStandIn(aws, postgres, proxy, loss_s)
    dsn = f"postgresql://drill:{postgres.password}@127.0.0.1:{proxy.port}/postgres"
    env = {**os.environ, "APP_URL": app.url.removesuffix("/health"), "RDS_CLUSTER_ID": CLUSTER, "PG_DSN": dsn}
    try:
        done = subprocess.run(
            [
                DRILL,
                "run",
                "--target",
                str(rpo_target(tmp_path)),
                "--yes",
                "--reports",
                str(tmp_path / "reports"),
                str(FEATURE),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env=env,
        )
    finally:
        truth = standin.close()
        proxy.close()
        app.close()
    out = done.stdout + done.stderr
    assert truth.error is None, truth.error
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["reader"], out[-4000:]
    assert truth.reopened_at is not None, "the failover stand-in never saw the writer change"
    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    [scenario] = (run_dir / "scenarios").iterdir()
    summary = json.loads((scenario / "drill.json").read_text())
    assert IntentLog().pending() == []
    return Drill(done, truth, summary, summary["measurement"])


def t_inject(m: dict) -> float:
    return datetime.fromisoformat(m["t_inject_wall"]).timestamp()


def check_db_outage_measured(m: dict, truth: Truth) -> None:
    """The postgres probe recovers when the proxy opens again, give or take one sample and a reconnect."""
    [probe] = [p for p in m["probes"] if p["name"] == "postgres"]
    reopened = truth.reopened_at - t_inject(m)
    assert probe["recovered"] and probe["failures"] > 0, probe
    assert reopened - m["uncertainty_s"] <= probe["recover_s"] <= reopened + m["uncertainty_s"] + 1.0, (probe, reopened)
    assert m["rto_s"] >= probe["recover_s"]


def test_a_failover_that_loses_nothing_gives_rpo_zero(aws, postgres, tmp_path):
    drill = run_drill(aws, postgres, tmp_path, loss_s=0.0)
    out = drill.done.stdout + drill.done.stderr
    assert drill.done.returncode == 0, out[-4000:]
    m, truth = drill.measurement, drill.truth
    [w] = m["writers"]
    assert truth.deleted == []
    assert m["recovered"] and m["lost_writes"] == 0 and w["lost_seqs"] == [] and m["rpo_s"] == 0.0
    assert m["acked_writes"] > 0 and w["readback_error"] is None
    assert m["acked_writes"] >= truth.acks_before_hold  # every ack seen at the proxy was recorded by the drill
    assert [(c["what"], c["ok"]) for c in drill.summary["checks"]] == [("rto", True), ("rpo", True)]
    check_db_outage_measured(m, truth)
    rows = postgres.sql("SELECT count(*) FROM drill_ledger WHERE run_id = %s", (m["run_id"],))[0][0]
    assert rows == w["present"] >= m["acked_writes"]
    print(
        f"\nno-loss case: acked {m['acked_writes']}, lost {m['lost_writes']}, indeterminate "
        f"{m['indeterminate_writes']}, RPO {m['rpo_s']}, rto {m['rto_s']:.3f} s"
    )


def test_a_failover_that_loses_the_last_seconds_is_an_rpo_breach_of_the_measured_size(aws, postgres, tmp_path):
    drill = run_drill(aws, postgres, tmp_path, loss_s=LOSS_S)
    out = drill.done.stdout + drill.done.stderr
    m, truth = drill.measurement, drill.truth
    [w] = m["writers"]
    assert drill.done.returncode == 1, out[-4000:]  # EXIT_BREACHED: recovered, RPO target breached
    assert "RPO breached" in out
    # the fault removed about LOSS_S of writes at RATE, and exactly those are the drill's lost writes
    assert len(truth.deleted) >= (LOSS_S - 0.5) * RATE and truth.last_kept_ack is not None, truth
    assert w["lost_seqs"] == truth.deleted and m["lost_writes"] == len(truth.deleted)
    assert w["unexpected_writes"] == 0
    # RPO = t_inject - ack of the last durable write; truth from the proxy's clock, tolerance the drill's stated one
    rpo_truth = t_inject(m) - truth.last_kept_ack
    assert abs(m["rpo_s"] - rpo_truth) <= m["uncertainty_s"], (m["rpo_s"], rpo_truth, m["uncertainty_s"])
    assert m["rpo_s"] > FEATURE_RPO_S
    # the lost window spans the deleted writes' acks, as the proxy saw them leave
    lw = m["lost_window"]
    assert abs(lw["first_s"] - (truth.deleted_acks[0] - t_inject(m))) <= m["uncertainty_s"], (lw, truth)
    assert abs(lw["last_s"] - (truth.deleted_acks[-1] - t_inject(m))) <= m["uncertainty_s"], (lw, truth)
    checks = {c["what"]: c for c in drill.summary["checks"]}
    assert checks["rto"]["ok"] and not checks["rpo"]["ok"] and checks["rpo"]["target"] == FEATURE_RPO_S
    # The RTO Then stopped the measurement first; the record still judges against the RPO phrase's target.
    assert drill.summary["targets"]["rpo_s"] == FEATURE_RPO_S
    assert m["verdict"]["passed"] is False and m["verdict"]["rpo"]["ok"] is False
    check_no_secret_anywhere(drill, postgres, tmp_path)
    check_db_outage_measured(m, truth)
    print(
        f"\nloss case: deleted {len(truth.deleted)} writes, drill lost {m['lost_writes']}; RPO measured "
        f"{m['rpo_s']:.4f} s vs truth {rpo_truth:.4f} s (± {m['uncertainty_s']} s); "
        f"postgres probe recover {[p['recover_s'] for p in m['probes'] if p['name'] == 'postgres'][0]:.3f} s "
        f"vs reopen {truth.reopened_at - t_inject(m):.3f} s; rto {m['rto_s']:.3f} s"
    )


def check_no_secret_anywhere(drill: Drill, postgres, tmp_path: Path) -> None:
    """The DSN password is in no output, report, record or state file (a breach run: failing writes, errors,
    assertions all had their chance to print it)."""
    secret = postgres.password.encode()
    assert secret not in drill.done.stdout.encode() and secret not in drill.done.stderr.encode()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.jsonl" for p in files) and any(p.parent.name == "state" for p in files)
    leaking = [str(p.relative_to(tmp_path)) for p in files if secret in p.read_bytes()]
    assert leaking == []
    # the DSN is shown, masked, where a reader needs to know what was written to
    assert "drill:***@127.0.0.1" in json.dumps(drill.measurement["writers"])
