"""A scratch PostgreSQL instance on the lab, restored from the lab's pgBackRest repository: what the restore test
(harness/backup/verify.py) and the pitr procedure (harness/recovery/pitr.py) both start, never over a live node.

    inst = scratch.start(lab, "pitr", data, PORTS, cluster_name="pitr-recovery", recovery="restore_command = ...")
    ...                                          # inst: {"record", "port", "host", "socket_dir", "data"}
    scratch.stop(inst["record"]); scratch.remove(lab, "pitr")

The instance is a component-like name: its folder `run/<name>/` (data directory, Unix socket, `instance.json`
with the postmaster's pid and start time, so a later run stops exactly it) and its log `logs/<name>.log`.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab.context import PG_BIN
from harness.lab.process import signal_group, spawn, wait_gone
from harness.lab.state import write_private
from harness.lab.topology import SPECS

RECORD = "instance.json"
# Files of the source node a scratch instance must not start with (Patroni's and a running postmaster's).
STALE = ("standby.signal", "postmaster.pid", "postmaster.opts", "patroni.dynamic.json")


def root(lab: Any, name: str) -> Path:
    return lab.paths.component_dir(name)


def free_port(host: str, ports: range, what: str) -> int:
    """The first port of `ports` that no lab component owns and that binds on `host`."""
    taken = {p for spec in SPECS.values() for p in spec.ports.values()}
    for port in ports:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return port
            except OSError:
                continue
    raise HarnessError(f"no free port for the {what} in {ports.start}-{ports.stop - 1}")


def conf(data: Path, socket_dir: Path, host: str, port: int, cluster_name: str, made_by: str, recovery: str) -> str:
    # Patroni's postgresql.conf names the source node's paths: replace it with one of our own, keeping the
    # initdb defaults (locale, time zone) that Patroni moved to postgresql.base.conf.
    return f"""# {cluster_name}: a scratch instance of {made_by}
include_if_exists = 'postgresql.base.conf'
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{socket_dir}'
hba_file = '{data}/pg_hba.conf'
ident_file = '{data}/pg_ident.conf'
cluster_name = '{cluster_name}'
# Never archive: a promoted scratch instance must not push its new timeline into the lab's repository.
archive_mode = off
{recovery}hot_standby = on
# At least the primary's values, or a hot standby refuses to start.
max_connections = 100
max_worker_processes = 4
max_wal_senders = 10
max_replication_slots = 10
shared_buffers = 32MB
logging_collector = off
"""


def start(
    lab: Any,
    name: str,
    data: Path,
    ports: range,
    *,
    cluster_name: str,
    made_by: str,
    recovery: str | None = None,
) -> dict[str, Any]:
    """Configure the restored `data` directory as a scratch instance on its own port and start it as the
    PostgreSQL user. `recovery`: None keeps the recovery settings pgBackRest's restore wrote
    (postgresql.auto.conf, recovery.signal); a text replaces them (postgresql.auto.conf emptied, the text in
    postgresql.conf, recovery.signal written). Returns {"record", "port", "host", "socket_dir", "data"}."""
    base = root(lab, name)
    host = lab.ctx.host("edge")
    port = free_port(host, ports, f"{name} instance")
    owner = (data.stat().st_uid, data.stat().st_gid)
    write_private(data / "postgresql.conf", conf(data, base, host, port, cluster_name, made_by, recovery or ""), owner)
    write_private(data / "pg_hba.conf", "local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n", owner)
    for stale in STALE:
        (data / stale).unlink(missing_ok=True)
    if recovery is not None:
        write_private(data / "postgresql.auto.conf", "", owner)
        write_private(data / "recovery.signal", "", owner)
    proc = spawn([str(PG_BIN / "postgres"), "-D", str(data)], lab.paths.log(name), user=lab.ctx.postgres_user)
    record = proc.to_dict()
    (base / RECORD).write_text(json.dumps(record))
    return {"record": record, "port": port, "host": host, "socket_dir": str(base), "data": str(data)}


def stop(record: dict[str, Any] | None, timeout: float = 30.0) -> bool:
    """Fast shutdown (SIGINT) of the recorded postmaster only; SIGKILL of its group if it hangs. False when
    it was not running."""
    if not record or not signal_group(record, signal.SIGINT):
        return False
    if not wait_gone(record, timeout):
        signal_group(record, signal.SIGKILL)
        wait_gone(record, 5.0)
    return True


def remove(lab: Any, name: str) -> str | None:
    """Stop the instance this (or an interrupted) run started, by its recorded pid and start time, and remove
    its folder. Returns what was found, None when nothing was there."""
    base, found = root(lab, name), None
    try:
        record = json.loads((base / RECORD).read_text())
        if stop(record):
            found = f"stopped a leftover {name} instance (pid {record['pid']})"
    except (FileNotFoundError, ValueError, KeyError):
        pass
    if base.exists():
        shutil.rmtree(base)
        found = found or f"removed a leftover {name} data directory"
    return found


def log_tail(lab: Any, name: str, lines: int = 6) -> str:
    try:
        text = lab.paths.log(name).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
