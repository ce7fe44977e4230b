"""Write ledger, Jepsen style: writers commit numbered rows at a steady rate, every acknowledged write is
appended (fsync) to a local JSONL ledger, and after recovery the system's copy is read back and compared.

    lost          = acknowledged - present     (the system said yes, then forgot)
    unexpected    = present - attempted        (rows this run never tried to write)
    indeterminate = attempted - acknowledged   (no answer in time; may or may not be present)

Writer spec syntax (CLI `--writer` and `parse_writer_spec`):

    postgres=postgresql://user:pw@127.0.0.1:5432/db[|rate=20][|table=drill_ledger]
    redis=redis://127.0.0.1:6379/0[|rate=20]          (sorted set drill_ledger:{run_id})
    redis=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.measure.clock import Clock
from harness.measure.deadline import drain_stragglers, within
from harness.measure.sampler import describe
from harness.redact import mask

WRITER_KINDS = ("postgres", "redis")
DEFAULT_RATE = 20.0


@dataclass(frozen=True)
class WriterSpec:
    kind: str
    target: str
    name: str
    rate: float = DEFAULT_RATE
    options: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return f"{self.kind}={mask(self.target)}"


def parse_writer_spec(spec: str, rate: float | None = None, option: str = "--writer") -> WriterSpec:
    """Parse `[NAME@]KIND=TARGET[|rate=N][|table=T]`; `rate` is the default when the spec names none."""
    head, sep, rest = spec.partition("=")
    name, _, kind = head.rpartition("@")
    kind = kind.strip().lower()
    if not sep or not rest.strip() or kind not in WRITER_KINDS:
        raise HarnessError(f"{option} {mask(spec)!r}: expected KIND=TARGET with KIND one of {', '.join(WRITER_KINDS)}")
    target, *parts = rest.strip().split("|")
    options: dict[str, str] = {}
    allowed = {"rate", "table"} if kind == "postgres" else {"rate"}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or key.strip().lower() not in allowed:
            raise HarnessError(
                f"{option} {mask(spec)!r}: bad option {mask(part)!r}; accepts {', '.join(sorted(allowed))}"
            )
        options[key.strip().lower()] = value.strip()
    if kind == "postgres" and not (target.startswith(("postgres://", "postgresql://")) or "=" in target):
        raise HarnessError(f"{option} {mask(spec)!r}: expected a postgresql:// URL or a key=value DSN")
    if kind == "redis" and urlsplit(target).scheme not in ("redis", "rediss", "redis+sentinel", "unix"):
        raise HarnessError(f"{option} {mask(spec)!r}: expected a redis://, rediss:// or redis+sentinel:// URL")
    if "table" in options and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", options["table"]):
        raise HarnessError(f"{option} {mask(spec)!r}: table must be a plain SQL identifier")
    try:
        the_rate = float(options.pop("rate")) if "rate" in options else float(rate or DEFAULT_RATE)
    except ValueError:
        raise HarnessError(f"{option} {mask(spec)!r}: rate must be a number of writes per second") from None
    if not 0 < the_rate <= 1000:
        raise HarnessError(f"{option} {mask(spec)!r}: rate must be > 0 and <= 1000 writes/s, got {the_rate:g}")
    host = urlsplit(target).netloc.rpartition("@")[2] if "://" in target else "dsn"
    return WriterSpec(kind, target, name.strip() or f"{kind}-writer:{host}", the_rate, options)


@dataclass
class WriteRecord:
    writer: str
    seq: int
    t_attempt: float  # monotonic
    t_ack: float | None = None
    error: str | None = None


class LocalLedger:
    """Append-only JSONL file: the record of what was attempted and acknowledged, which must survive us.

    Every entry is written and flushed to the OS before the writer moves on (so it survives a crash of the
    harness process). Acks are also fsynced, by group commit: a background thread fsyncs within
    `GROUP_COMMIT_S` of an ack (and `close()` fsyncs what is left). An fsync per ack on the writer's path
    (~3.5 ms on a busy disk) capped a writer far below 500 writes/s; the group commit keeps the ledger
    durable against a machine crash to within a few milliseconds instead.
    """

    GROUP_COMMIT_S = 0.005

    def __init__(self, path: Path):
        self.path = path
        self._file = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-io")  # keeps order
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._syncer: threading.Thread | None = None
        self.fsyncs = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._syncer = threading.Thread(target=self._sync_loop, name="ledger-fsync", daemon=True)
        self._syncer.start()

    def _sync_loop(self) -> None:
        while not self._closing.is_set():
            if self._dirty.wait(0.1):
                time.sleep(self.GROUP_COMMIT_S)  # let the acks of the next few ms join this fsync
                self._dirty.clear()
                self._fsync()

    def _fsync(self) -> None:
        file = self._file
        if file is not None:
            try:
                os.fsync(file.fileno())
                self.fsyncs += 1
            except (OSError, ValueError):  # closed under us at shutdown: close() fsyncs itself
                pass

    def _append(self, entry: dict, sync: bool) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()
        if sync:
            self._dirty.set()

    async def append(self, entry: dict, sync: bool) -> None:
        # in a side thread: a slow disk must not stall the probes sharing the event loop
        await asyncio.get_running_loop().run_in_executor(self._io, self._append, entry, sync)

    def close(self) -> None:
        self._io.shutdown(wait=True)
        self._closing.set()
        if self._syncer is not None:
            self._syncer.join(timeout=5)
            self._syncer = None
        if self._file is not None:
            self._file.flush()
            self._fsync()
            self._file.close()
            self._file = None

    @staticmethod
    def read(path: Path) -> list[dict]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class PostgresBackend:
    """One row per write in `drill_ledger(run_id, seq, client_ts)`, autocommit, one connection reused."""

    def __init__(self, spec: WriterSpec, timeout: float):
        self.spec, self.timeout = spec, timeout
        self.table = spec.options.get("table", "drill_ledger")
        self._conn = None
        self._abandoned: list = []

    async def _connect(self):
        import psycopg

        ms = max(1, int(self.timeout * 1000))
        # A frozen server still completes the TCP handshake: bound every layer, then add our own deadline.
        return await psycopg.AsyncConnection.connect(
            self.spec.target,
            autocommit=True,
            connect_timeout=max(2, int(self.timeout) + 1),
            tcp_user_timeout=ms,
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            options=f"-c statement_timeout={ms}",
            application_name="drill-writer",
        )

    async def write(self, run_id: str, seq: int, client_ts: float) -> None:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
            try:
                await self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (run_id text, seq bigint, client_ts timestamptz,"
                    " PRIMARY KEY (run_id, seq))"
                )
            except psycopg.errors.UniqueViolation:
                pass  # another writer created it at the same moment
        await self._conn.execute(
            f"INSERT INTO {self.table} (run_id, seq, client_ts) VALUES (%s, %s, to_timestamp(%s))",
            (run_id, seq, client_ts),
        )

    async def read_back(self, run_id: str) -> set[int]:
        conn = await self._connect()
        try:
            cur = await conn.execute(f"SELECT seq FROM {self.table} WHERE run_id = %s", (run_id,))
            return {row[0] for row in await cur.fetchall()}
        finally:
            await conn.close()

    async def reset(self) -> None:
        # drop, don't close: a timed-out call may still be unwinding on this socket (see deadline.py)
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None

    async def close(self) -> None:
        await self.reset()
        for conn in self._abandoned:
            conn.pgconn.finish()
        self._abandoned.clear()


class RedisBackend:
    """ZADD drill_ledger:{run_id} seq -> client_ts; read back with ZRANGE. Sentinel URLs are followed."""

    def __init__(self, spec: WriterSpec, timeout: float):
        self.spec, self.timeout = spec, timeout
        self._client = None

    def _new_client(self):
        from harness.measure.probes import redis_client

        return redis_client(self.spec.target, self.timeout)

    async def write(self, run_id: str, seq: int, client_ts: float) -> None:
        if self._client is None:
            self._client = self._new_client()
        await self._client.zadd(f"drill_ledger:{run_id}", {str(seq): client_ts})

    async def read_back(self, run_id: str) -> set[int]:
        client = self._new_client()
        try:
            return {int(m) for m in await client.zrange(f"drill_ledger:{run_id}", 0, -1)}
        finally:
            await client.aclose()

    async def reset(self) -> None:
        """Keep the client: redis-py drops a failed connection from its pool and reconnects (re-asking
        Sentinel for the master) on the next write."""

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await within(client.aclose(), 1.0)
            except Exception:  # noqa: BLE001
                pass


def make_backend(spec: WriterSpec, timeout: float):
    return (PostgresBackend if spec.kind == "postgres" else RedisBackend)(spec, timeout)


class WriterRunner:
    """Drives one backend at `spec.rate` writes/s on a fixed grid; records every attempt and every ack."""

    def __init__(self, spec: WriterSpec, run_id: str, clock: Clock, ledger: LocalLedger, timeout: float):
        self.spec, self.run_id, self.clock, self.ledger, self.timeout = spec, run_id, clock, ledger, timeout
        self.backend = make_backend(spec, timeout)
        self.records: list[WriteRecord] = []
        self._task: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer {self.name}")

    async def _run(self) -> None:
        period = 1.0 / self.spec.rate
        tick, seq = self.clock.now(), 0
        while True:
            seq += 1
            t0 = self.clock.now()
            record = WriteRecord(self.name, seq, t0)
            self.records.append(record)
            client_ts = self.clock.wall(t0)
            # the attempt is logged before the write leaves, so a present row is never mistaken for unexpected
            await self.ledger.append(
                {"kind": "attempt", "writer": self.name, "seq": seq, "t": t0, "client_ts": client_ts}, sync=False
            )
            try:
                await within(self.backend.write(self.run_id, seq, client_ts), self.timeout)
                record.t_ack = self.clock.now()
                await self.ledger.append(
                    {
                        "kind": "ack",
                        "writer": self.name,
                        "seq": seq,
                        "t": t0,
                        "t_ack": record.t_ack,
                        "client_ts": client_ts,
                    },
                    sync=True,
                )
            except asyncio.CancelledError:
                raise
            except BaseException as err:  # noqa: BLE001 - a failed write is data
                record.error = describe(err)
                await self.backend.reset()
            tick += period
            now = self.clock.now()
            if tick <= now:
                tick += ((now - tick) // period + 1) * period
            await asyncio.sleep(tick - now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await drain_stragglers()

    async def read_back(self, deadline_s: float) -> tuple[set[int] | None, str | None]:
        """The run's rows as the system holds them now; retried until it answers or the deadline passes."""
        end = self.clock.now() + deadline_s
        error = "not attempted"
        while self.clock.now() < end:
            try:
                return await within(self.backend.read_back(self.run_id), max(1.0, self.timeout * 4)), None
            except Exception as err:  # noqa: BLE001
                error = describe(err)
                await asyncio.sleep(0.5)
        return None, error

    async def close(self) -> None:
        await self.backend.close()


@dataclass
class Classification:
    attempted: int
    acked: int
    present: int
    lost: list[int]
    unexpected: list[int]
    indeterminate: list[int]
    indeterminate_present: list[int]


def classify(attempted: set[int], acked: set[int], present: set[int]) -> Classification:
    """Compare what the client saw (attempted, acked) with what the system holds (present)."""
    indeterminate = sorted(attempted - acked)
    return Classification(
        attempted=len(attempted),
        acked=len(acked),
        present=len(present),
        lost=sorted(acked - present),
        unexpected=sorted(present - attempted),
        indeterminate=indeterminate,
        indeterminate_present=[s for s in indeterminate if s in present],
    )
