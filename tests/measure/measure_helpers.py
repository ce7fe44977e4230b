"""Test helpers: drive the ground-truth server, run a throwaway PostgreSQL as the `postgres` user."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GroundTruthServer:
    proc: subprocess.Popen
    port: int
    control_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def command(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            return s.makefile().readline().strip()

    def down(self, mode: str, seconds: float) -> tuple[float, float]:
        """Take the server down now for `seconds`; returns its own (t_down, t_up), monotonic."""
        _, t_down, t_up = self.command(f"down {mode} {seconds}").split()
        return float(t_down), float(t_up)

    def control_command(self, mode: str, seconds: float | str) -> str:
        """A shell command (for --fault) that takes the server down."""
        code = (
            "import socket,sys;s=socket.create_connection(('127.0.0.1',%d));"
            "s.sendall(b'down %s %s\\n');sys.stdout.write(s.makefile().readline())"
        ) % (self.control_port, mode, seconds)
        return f'{sys.executable} -c "{code}"'

    def command_up(self) -> str:
        """A shell command (for --recover) that brings the server back now."""
        code = (
            "import socket;s=socket.create_connection(('127.0.0.1',%d));s.sendall(b'up\\n');s.makefile().readline()"
        ) % self.control_port
        return f'{sys.executable} -c "{code}"'

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_ground_truth() -> GroundTruthServer:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "ground_truth_server.py")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    port, control = proc.stdout.readline().split()
    return GroundTruthServer(proc, int(port), int(control))


@dataclass
class Postgres:
    datadir: Path
    port: int
    password: str = "s3cret-pw"

    @property
    def dsn(self) -> str:
        return f"postgresql://drill:{self.password}@127.0.0.1:{self.port}/postgres"

    def sql(self, query: str, params=()):
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else cur.rowcount


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *args],
        check=True,
        capture_output=True,
        text=True,
        **kw,
    )


def start_postgres() -> Postgres:
    """initdb + pg_ctl start on a free port in a temp dir owned by `postgres` (PostgreSQL refuses root)."""
    base = Path(tempfile.mkdtemp(prefix="drill-measure-pg-"))
    os.chmod(base, 0o755)
    shutil.chown(base, "postgres", "postgres")
    pg = Postgres(base / "data", free_port())
    pwfile = base / "pw"
    pwfile.write_text(pg.password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    _as_postgres(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(pg.datadir),
            "-U",
            "drill",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]
    )
    pwfile.unlink()
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {pg.port} -k {base} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=50"
    )
    _as_postgres(
        [str(PG_BIN / "pg_ctl"), "-D", str(pg.datadir), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start"]
    )
    return pg


def postgres_running():
    """A fixture body: a throwaway PostgreSQL (start_postgres) for the fixture's scope, always stopped."""
    pg = start_postgres()
    try:
        yield pg
    finally:
        stop_postgres(pg)


def stop_postgres(pg: Postgres) -> None:
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg.datadir), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(pg.datadir.parent, ignore_errors=True)


def wait_until(predicate, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@dataclass
class Redis:
    proc: subprocess.Popen
    port: int
    sentinel: subprocess.Popen | None = None
    sentinel_port: int | None = None
    workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def sentinel_url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/drillmaster"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)


def _wait_port(port: int, timeout: float = 10) -> None:
    def is_open() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    if not wait_until(is_open, timeout):
        raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def start_redis() -> Redis:
    """A throwaway redis-server and one Sentinel watching it, on free loopback ports, no persistence."""
    work = Path(tempfile.mkdtemp(prefix="drill-measure-redis-"))
    port, sport = free_port(), free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_port(port)
    conf = work / "sentinel.conf"
    conf.write_text(f"port {sport}\nbind 127.0.0.1\ndir {work}\nsentinel monitor drillmaster 127.0.0.1 {port} 1\n")
    sentinel = subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, start_new_session=True)
    _wait_port(sport)
    return Redis(proc, port, sentinel, sport, work)


def stop_redis(r: Redis) -> None:
    for proc in (r.sentinel, r.proc):
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if r.workdir is not None:
        shutil.rmtree(r.workdir, ignore_errors=True)
