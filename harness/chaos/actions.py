"""Chaos Toolkit actions for the local lab: every fault of the vocabulary (one provider, `inject`), its rollback,
and the recovery procedures. Thin on purpose: each one calls harness.faults.runner / harness.recovery on
`Lab.load()`. No fault is named here: `inject` takes any name of the vocabulary (harness.faults.registry).

A fault action works exactly like `drill fault inject`: parameters validated, blast radius written to the
intent log with the undo records BEFORE the side effect, and the fault left in force. Its output (the
journal's `output`) is `{"id", "fault", "params", "detail", "blast"}`. The rollback, `undo_fault`, undoes by
id, or every fault of a name this process put in (what an experiment's rollbacks use), newest first; an
undo that fails raises, so the journal shows the rollback failed and `drill recover` retries it.

    {"type": "action", "name": "kill the database primary",
     "provider": {"type": "python", "module": "harness.chaos.actions", "func": "inject",
                  "arguments": {"fault": "db-primary-crash"}}}
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import HarnessError
from harness.faults import registry, runner
from harness.faults.intent import IntentLog


def _log(intent_log: str | None) -> IntentLog:
    return IntentLog(intent_log) if intent_log else IntentLog()


def _lab() -> Any:
    from harness.lab import Lab

    return Lab.load()


def resolve(params: dict[str, Any]) -> dict[str, Any]:
    """Values only the live lab knows: `@primary-zone`, `@cache-primary-zone`, `@replica-zone` (as in the
    Gherkin drills) and `component:NAME` for a `pid` (the PID of that lab component right now)."""
    out = {k: v for k, v in params.items() if v is not None}
    if any(isinstance(v, str) and v.startswith("@") for v in out.values()):
        from harness.targets.local import LocalTarget

        dynamic = {k: v for k, v in out.items() if isinstance(v, str) and v.startswith("@")}
        out.update(LocalTarget.on(_lab()).resolve_params(dynamic))
    pid = out.get("pid")
    if isinstance(pid, str) and pid.startswith("component:"):
        name = pid.split(":", 1)[1]
        rec = _lab().components.get(name)
        if rec is None or not rec.get("pid"):
            raise HarnessError(f"parameter pid={pid}: no running lab component {name!r}")
        out["pid"] = rec["pid"]
    return out


def inject(fault: str, intent_log: str | None = None, **params: Any) -> dict[str, Any]:
    """Any fault of the vocabulary by name, its parameters as keyword arguments: the one fault provider
    (targets/local.yaml maps every fault to it; `drill fault list` names the faults and their parameters).
    Unknown fault or bad parameters: one error before anything is written."""
    return inject_fault(fault, params, intent_log)


def inject_fault(fault: str, params: dict[str, Any] | None = None, intent_log: str | None = None) -> dict[str, Any]:
    """`inject` with the parameters as one mapping."""
    needs_lab = registry.get(fault).needs_lab  # unknown fault: error before anything else
    params = resolve(dict(params or {}))
    target = _lab() if needs_lab else None
    log = _log(intent_log)
    shown: dict[str, Any] = {}
    id = runner.inject(
        fault, params, target, log=log, show=lambda blast: shown.update(blast=blast.model_dump(mode="json"))
    )
    intent = log.get(id)
    return {"id": id, "fault": fault, "params": intent.params, "detail": intent.detail, "blast": shown.get("blast")}


def isolate_zone(zone: str = "@primary-zone", intent_log: str | None = None) -> dict[str, Any]:
    """network-partition of one zone from each other AZ of the primary region (the zone is resolved once,
    so a failover between the two injections cannot move it). Output: the injections."""
    from harness.targets.local import PRIMARY_ZONES

    zone = resolve({"zone": zone})["zone"]
    done = [
        inject_fault("network-partition", {"a": zone, "b": other}, intent_log)
        for other in PRIMARY_ZONES
        if other != zone
    ]
    return {"zone": zone, "ids": [d["id"] for d in done], "injections": done}


def start_component(name: str) -> dict[str, Any]:
    """Start a stopped lab component with its own command line (what a supervisor would do); a running one
    is left alone."""
    from harness.lab.process import is_running

    lab = _lab()
    rec = lab.state.get("components", {}).get(name)
    if rec is None:
        raise HarnessError(f"unknown lab component {name!r}; the lab has: {', '.join(sorted(lab.components))}")
    if is_running(rec):
        return {"component": name, "started": False, "pid": rec.get("pid")}
    new = lab.start_component(name)
    return {"component": name, "started": True, "pid": new.get("pid")}


# -- rollbacks ---------------------------------------------------------------------------------------------
def undo_fault(id: str | None = None, fault: str | None = None, intent_log: str | None = None) -> dict[str, Any]:
    """Undo one fault by id, or every pending fault named `fault` that THIS process injected (newest first).
    Idempotent: nothing pending is nothing to do. Raises when an undo step failed (the fault stays pending)."""
    if (id is None) == (fault is None):
        raise HarnessError("undo_fault: give either id or fault")
    log = _log(intent_log)
    if id is not None:
        ids = [id]
    else:
        ids = [i.id for i in reversed(log.pending()) if i.fault == fault and i.owner.get("pid") == os.getpid()]
    reports = [runner.undo(i, log=log) for i in ids]
    out = {
        "undone": [r.id for r in reports if r.ok],
        "lines": [r.line() for r in reports],
        "ok": all(r.ok for r in reports),
    }
    if not out["ok"]:
        raise HarnessError("undo failed (run `drill recover`): " + "; ".join(r.line() for r in reports if not r.ok))
    return out


def recover(intent_log: str | None = None) -> dict[str, Any]:
    """Every pending undo of the intent log, newest first (what `drill recover` does)."""
    reports = runner.recover(log=_log(intent_log))
    out = {"lines": [r.line() for r in reports], "ok": all(r.ok for r in reports)}
    if not out["ok"]:
        raise HarnessError("recover: " + "; ".join(r.line() for r in reports if not r.ok))
    return out


# -- recovery procedures -------------------------------------------------------------------------------------
def run_procedure(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A recovery procedure of harness.recovery on the lab; manual steps are auto-confirmed and marked so
    (a Chaos Toolkit run is unattended). Raises when a step failed."""
    from harness.recovery import Confirmer
    from harness.recovery import get as get_procedure

    report = get_procedure(name).run(
        _lab(), {k: str(v) for k, v in (params or {}).items()}, Confirmer(auto=True, why="chaos run")
    )
    out = report.to_dict()
    if not report.ok:
        failed = next(s for s in report.steps if not s.ok)
        raise HarnessError(f"procedure {name} failed at step '{failed.title}': {failed.outcome}")
    return out


def auto_failover(old_leader: str | None = None, timeout: float = 60, intent_log: str | None = None) -> dict[str, Any]:
    """auto-failover; without `old_leader`, the leader the newest fault of this process took down (its
    `leader` detail, as the Gherkin drills learn it), so the old primary never counts as the new one."""
    if old_leader is None:
        mine = [i for i in _log(intent_log).intents().values() if i.owner.get("pid") == os.getpid()]
        old_leader = next((str(i.detail["leader"]) for i in reversed(mine) if i.detail.get("leader")), None)
    params = {"timeout": timeout, **({"old_leader": old_leader} if old_leader else {})}
    return run_procedure("auto-failover", params)


def app_rollback(version: str = "1.0.0") -> dict[str, Any]:
    return run_procedure("app-rollback", {"version": version})


def cache_rebuild(limit: int = 10000) -> dict[str, Any]:
    return run_procedure("cache-rebuild", {"limit": limit})


def pitr(
    fault: str | None = None,
    target_time: str | None = None,
    tables: str = "all",
    timeout: float = 300,
    old_t_fault: str | None = None,
    old_table: str | None = None,
    old_rows: str | None = None,
) -> dict[str, Any]:
    """Point-in-time recovery (plan 4.3.1) to just before a db-corruption / db-accidental-delete (`fault` id,
    or the learned old_* values) or to an explicit `target_time`."""
    given = {
        "fault": fault,
        "target_time": target_time,
        "tables": tables,
        "timeout": timeout,
        "old_t_fault": old_t_fault,
        "old_table": old_table,
        "old_rows": old_rows,
    }
    return run_procedure("pitr", {k: v for k, v in given.items() if v is not None})


def region_failover(timeout: float = 180) -> dict[str, Any]:
    return run_procedure("region-failover", {"timeout": timeout})


def region_failback(timeout: float = 180) -> dict[str, Any]:
    return run_procedure("region-failback", {"timeout": timeout})


def s3_version_restore(key: str | None = None) -> dict[str, Any]:
    """The lab's S3 version restore (harness/recovery/s3.py); no key: the default drill object."""
    return run_procedure("s3-version-restore", {"key": key} if key else {})


def s3_cross_region_restore(key: str | None = None) -> dict[str, Any]:
    """The lab's restore from its DR bucket (harness/recovery/s3.py); no key: the default drill object."""
    return run_procedure("s3-cross-region-restore", {"key": key} if key else {})


def prepare_s3_object(key: str | None = None, versions: int = 3) -> dict[str, Any]:
    """The harness's own object under the lab bucket's drill prefix, `versions` versions of it, for
    object-delete / object-overwrite to hit (harness/faults/aws_s3.py); never the app's data."""
    from harness.faults import aws_s3

    return aws_s3.write_objects(aws_s3.lab_setup(_lab()), key or aws_s3.DEFAULT_KEY, versions)


# -- scratch data for the destructive database faults -----------------------------------------------------------
SCRATCH_TABLE = "chaos_scratch"


def prepare_scratch_table(table: str = SCRATCH_TABLE, rows: int = 100) -> dict[str, Any]:
    """A table of `rows` rows for db-corruption / db-accidental-delete to hit, so an experiment never
    touches the app's data (their undo is point-in-time recovery, which the lab does not have yet)."""
    from psycopg import connect, sql

    _check_scratch(table)
    with connect(_lab().pg_dsn("primary"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, note text NOT NULL)").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT g, 'row ' || g FROM generate_series(1, %s) g").format(sql.Identifier(table)),
            (rows,),
        )
    return {"table": table, "rows": rows}


def drop_scratch_table(table: str = SCRATCH_TABLE) -> dict[str, Any]:
    from psycopg import connect, sql

    _check_scratch(table)
    with connect(_lab().pg_dsn("primary"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    return {"dropped": table}


def _check_scratch(table: str) -> None:
    if not table.startswith("chaos_") or not table.replace("_", "").isalnum():
        raise HarnessError(f"scratch table {table!r}: the name must start with 'chaos_' (letters, digits, _)")
