"""The local lab (harness/lab) as a drill target: `targets/local.yaml` (provider lab, no allowlist).

    target = harness.targets.load("local").connect(bring_up=True)   # the running lab, or starts one
    target.probe("postgres"); target.primary("redis"); target.resolve_params({"zone": "@primary-zone"})

Its faults are the vocabulary's lab implementations (their parameters checked against the lab's topology
before anything runs), its recovery procedures the harness's own runbooks (harness/recovery), and its blast
radius in `drill plan` the vocabulary's own description (no lab needed)."""

from __future__ import annotations

import importlib.metadata
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, LabNotRunning
from harness.measure import ProbeSpec, WriterSpec, parse_probe_spec, parse_writer_spec
from harness.targets.base import FaultPlanView, Target

PRIMARY_ZONES = ("az-a", "az-b", "az-c")


# One text per load, hashed in id order: equal digests = the same rows with the same contents.
_LOADS_DIGEST = (
    "coalesce(md5(string_agg(concat(id, ':', payload::text, ':', zone, ':', "
    "extract(epoch FROM created_at)), ',' ORDER BY id)), '')"
)


def _redis_log_time(line: str) -> float | None:
    """`1234:X 01 Dec 2026 09:10:11.123 # ...` (Redis/Sentinel log, the process's local time) -> epoch."""
    from datetime import datetime

    try:
        stamp = line.split(":", 1)[1].split(" ", 1)[1][:24]
        return datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp()
    except (IndexError, ValueError):
        return None


class LocalTarget(Target):
    """The local lab (harness/lab) as a drill target."""

    provider = "lab"
    native_procedures = True

    def __init__(self, target_file: Any = None, lab: Any = None, started: bool = False):
        if target_file is None:
            from harness.targets.file import load_target

            target_file = load_target("local")
        super().__init__(target_file)
        self.lab = lab
        self.started = started  # True when connect() had to start the lab (the caller stops it again)

    @classmethod
    def on(cls, lab: Any) -> LocalTarget:
        """The target for a lab at hand (targets/local.yaml's activities)."""
        return cls(None, lab)

    def connect(self, bring_up: bool = False, say=lambda _msg: None) -> LocalTarget:
        """The running lab; with bring_up, start it when none is running (`started` tells which)."""
        if self.lab is not None:
            return self
        from harness.lab import Lab

        try:
            self.lab = Lab.load()
            return self
        except LabNotRunning:
            if not bring_up:
                raise
        say("no lab running: starting it (drill lab up)")
        lab = Lab.up(progress=say)
        say("waiting for the base backup (drills start on a quiet lab)")
        lab.wait_backup(180)
        self.lab, self.started = lab, True
        return self

    def stop(self) -> None:
        """Stop the lab connect(bring_up=True) started (drill lab down)."""
        if self.started and self.lab is not None:
            self.lab.down()

    @property
    def configuration(self) -> dict[str, Any]:
        """The lab file's Chaos Toolkit configuration as written (its activities need no env entries)."""
        return self.target_file.configuration

    def backup_status(self, now: float | None, stores: list[str], reports: Path) -> list[dict[str, Any]]:
        """The lab's stores (pgBackRest, Redis RDB snapshots, the S3 buckets) with their records' history."""
        from harness.backup import lab_rows

        return lab_rows(self._running_lab().ctx, now, stores, reports)

    def backup_verify(
        self, store: str, *, writes: int, pitr: bool, reports: Path, on_step: Callable[[str], None]
    ) -> Any:
        """The lab's restore test of `store` (postgres or redis) into a scratch instance, recorded."""
        from harness.backup import verify_postgres, verify_redis

        runners = {"postgres": verify_postgres, "redis": verify_redis}
        if store not in runners:
            raise HarnessError(f"--store: {store!r} is not one of {', '.join(runners)}")
        if pitr:
            raise HarnessError(
                "--pitr: a point-in-time restore test is the AWS target's; the lab restores its newest backup"
            )
        return runners[store](self._running_lab(), reports=reports, writes=writes, on_step=on_step)

    def _running_lab(self) -> Any:
        if self.lab is not None:
            return self.lab
        from harness.lab import Lab

        return Lab.load()  # LabNotRunning (its own message) when no lab runs

    def check_fault(self, fault: str, params: dict[str, str]) -> None:
        """The vocabulary's checks against the lab's topology: bad parameters fail before anything runs."""
        from harness.faults import runner

        runner.prepare(fault, params, self.lab)

    def _plan_activity(
        self, view: FaultPlanView, kind: str, name: str, params: dict[str, str], configuration: dict[str, Any]
    ) -> None:
        """Lab faults: the vocabulary's own blast radius (no lab needed to say what kind of thing it touches)."""
        if kind != "fault":
            return super()._plan_activity(view, kind, name, params, configuration)
        from harness.faults import registry

        try:
            cls = registry.get(name)
            known = {k: v for k, v in params.items() if not str(v).startswith("@")}
            fault = cls(cls.Params.model_construct(**known))
            blast = fault.describe(None)
            view.touches = [f"touches: {line}" for line in blast.lines() if not line.startswith("undo: ")]
            view.undo = blast.undo or cls.undo_summary
        except Exception:  # noqa: BLE001 - a describe that needs the running lab: say what kind of thing it hits
            cls = registry.get(name)
            view.touches = [f"touches: {cls.summary}"]
            view.undo = cls.undo_summary + (f" ({view.undo})" if view.undo else "")
        view.blast = "lab: resolved against the running lab when it runs"

    # -- probes and writers ------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        """Endpoint name → what it is (for `Given probes on ...` and its error messages)."""
        names = {
            "app": "the app through HAProxy (GET /health)",
            "postgres": "PostgreSQL primary through HAProxy (SELECT 1)",
            "redis": "Redis primary through the Sentinels (PING)",
        }
        names["integrity"] = (
            "data integrity of the loads table: fails while the rows that existed when the probe "
            "was set up differ (PITR drills; book loads first)"
        )
        for name, rec in self.lab.components.items():
            if rec.get("kind") == "app":
                names[name] = f"app replica {name} directly (GET /health)"
        return names

    def probe(self, endpoint: str) -> ProbeSpec:
        """The lab's probe for an endpoint, with the budget/degraded threshold targets/local.yaml gives it."""
        spec = self._lab_probe(endpoint)
        for ref in self.target_file.probes.values():
            if ref.endpoint == endpoint:
                return ref.timed(spec)
        return spec

    def _lab_probe(self, endpoint: str) -> ProbeSpec:
        if endpoint == "app":
            return parse_probe_spec(f"app@http={self.lab.app_url}/health")
        if endpoint == "postgres":
            return parse_probe_spec(f"postgres@postgres={self.lab.pg_dsn('primary')}")
        if endpoint == "redis":
            return parse_probe_spec(f"redis@redis={self.lab.redis_url()}")
        if endpoint == "integrity":
            return self._integrity_probe()
        if self.lab.components.get(endpoint, {}).get("kind") == "app":
            return parse_probe_spec(f"{endpoint}@http={self.lab.app_replica_url(endpoint)}/health")
        raise HarnessError(f"unknown endpoint {endpoint!r}; the local target has: {', '.join(self.endpoints())}")

    def _integrity_probe(self) -> ProbeSpec:
        """A Postgres probe whose query errors while the loads that exist now (id <= max) are not exactly these:
        a corruption or a deletion is an outage until point-in-time recovery puts them back."""
        import psycopg

        with psycopg.connect(self.lab.pg_dsn("primary"), autocommit=True) as conn:
            max_id, rows = conn.execute("SELECT max(id), count(*) FROM loads").fetchone()
            if not rows:
                raise HarnessError(
                    "the integrity probe needs rows in the loads table: book some first "
                    "('Given 200 loads are booked through the app')"
                )
            digest = conn.execute(f"SELECT {_LOADS_DIGEST} FROM loads WHERE id <= %s", (max_id,)).fetchone()[0]
        # No '|' in the query: it separates probe options. A failed check casts its explanation to int.
        query = (
            f"SELECT CASE WHEN count(*) = {rows} AND {_LOADS_DIGEST} = '{digest}' THEN 1 ELSE "
            f"concat('integrity: loads with id <= {max_id} differ from the set-up fingerprint (', count(*), "
            f"' rows, want {rows})')::int END FROM loads WHERE id <= {max_id}"
        )
        return ProbeSpec(kind="postgres", target=self.lab.pg_dsn("primary"), name="integrity", options={"query": query})

    def book_loads(self, count: int) -> int:
        """Book `count` loads through the app (POST /loads via HAProxy): the data a corruption drill damages."""
        import httpx

        with httpx.Client(timeout=5.0) as client:
            for i in range(count):
                r = client.post(
                    f"{self.lab.app_url}/loads",
                    json={"shipper": f"drill-{i}", "weight_kg": 1000 + i, "lane": ["Rotterdam", "Milano"]},
                )
                if r.status_code != 201:
                    raise HarnessError(f"booking load {i + 1} of {count} failed: HTTP {r.status_code} {r.text[:200]}")
        return count

    def writer(self, store: str, rate: float) -> WriterSpec:
        if store == "postgres":
            return parse_writer_spec(f"postgres-writer@postgres={self.lab.pg_dsn('primary')}", rate)
        if store == "redis":
            return parse_writer_spec(f"redis-writer@redis={self.lab.redis_url()}", rate)
        raise HarnessError(f"unknown store {store!r} for a writer; the local target has: postgres, redis")

    # -- state of the system -----------------------------------------------------------------------------
    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
        return self.lab.wait_healthy(timeout)

    def replication(self) -> str:
        return self.lab.ctx.replication

    def set_replication(self, mode: str) -> str:
        return self.lab.set_replication(mode)

    def primary(self, service: str) -> str | None:
        """Current primary component of a replicated service ("postgresql" or "redis")."""
        if service in ("postgresql", "postgres", "database"):
            return self.lab.postgres_leader()
        if service in ("redis", "cache"):
            return self.lab.redis_primary()
        raise HarnessError(f"unknown service {service!r}: postgresql or redis")

    def cross_checks(self, since: float, until: float) -> list[dict[str, Any]]:
        """What the lab's own logs say happened between two epoch times: the Sentinels' `+switch-master`
        (the moment Redis failover completed), shown beside a measured RTO so a number that disagrees
        with the system's own account stands out. [{source, event, at}] with `at` in epoch seconds."""
        from harness.lab.topology import of_kind

        found = []
        for spec in of_kind("sentinel"):
            path = self.lab.paths.log(spec.name)
            try:
                lines = path.read_text(errors="replace").splitlines()[-5000:]
            except OSError:
                continue
            for line in lines:
                if "+switch-master" not in line:
                    continue
                at = _redis_log_time(line)
                if at is not None and since <= at <= until:
                    found.append(
                        {
                            "source": f"{spec.name} log",
                            "event": "+switch-master " + line.split("+switch-master", 1)[1].strip(),
                            "at": at,
                        }
                    )
        # every Sentinel logs the same switch: keep the first report of each
        seen, out = set(), []
        for item in sorted(found, key=lambda f: f["at"]):
            if item["event"] not in seen:
                seen.add(item["event"])
                out.append(item)
        return out

    def component_healthy(self, name: str) -> bool:
        rows = {c["name"]: c for c in self.lab.status()["components"]}
        if name not in rows:
            raise HarnessError(f"unknown component {name!r}; the lab has: {', '.join(sorted(rows))}")
        return bool(rows[name].get("ok"))  # status rows carry "ok"

    def zone_of_primary(self, service: str) -> str:
        if service in ("postgresql", "postgres", "database"):
            return self._zone_of(self.lab.postgres_leader(), "PostgreSQL primary")
        if service in ("redis", "cache"):
            return self._zone_of(self.lab.redis_primary(), "Redis primary")
        raise HarnessError(f"unknown service {service!r}: postgresql or redis")

    def other_zones(self, zone: str) -> list[str]:
        return [z for z in PRIMARY_ZONES if z != zone]

    def _zone_of(self, component: str | None, what: str) -> str:
        if component is None:
            raise HarnessError(f"no {what} right now (an election is running?)")
        return self.lab.components[component]["zone"]

    def versions(self) -> dict[str, str]:
        """Versions of the real components under test, for the report's environment."""
        out = {"lab.network": self.lab.network.mode, "lab.replication": self.lab.ctx.replication}
        for label, argv in (
            ("postgresql", ["/usr/lib/postgresql/15/bin/postgres", "--version"]),
            ("etcd", ["etcd", "--version"]),
            ("redis", ["redis-server", "--version"]),
            ("haproxy", ["haproxy", "-v"]),
        ):
            try:
                first = subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout.splitlines()
                out[label] = first[0].strip() if first else "unknown"
            except (OSError, subprocess.TimeoutExpired):
                out[label] = "not found"
        try:
            out["patroni"] = importlib.metadata.version("patroni")
        except importlib.metadata.PackageNotFoundError:
            out["patroni"] = "not installed"
        return out
