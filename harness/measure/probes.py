"""Probes: one cheap health check each, run by the sampler at a fixed interval.

A probe's `check()` returns when the target answered correctly and raises otherwise; the sampler owns the
timeout, the clock and the bookkeeping. Spec syntax (CLI `--probe` and `parse_probe_spec`):

    [NAME@]KIND=TARGET[|OPTION=VALUE...]

    http=http://127.0.0.1:8080/health|status=200|contains=ok    (default: any 2xx, no body check)
    tcp=127.0.0.1:5432
    postgres=postgresql://user:pw@127.0.0.1:5432/db|query=SELECT 1
    redis=redis://127.0.0.1:6379/0|get=some-key                  (default: PING)
    redis=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster
    cmd=pg_isready -h 127.0.0.1 -p 5432                           (exit status 0 = ok; no options)
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from harness.errors import HarnessError
from harness.measure.deadline import within
from harness.redact import mask

PROBE_KINDS = ("http", "tcp", "postgres", "redis", "cmd")
_OPTIONS = {"http": {"status", "contains", "name"}, "tcp": {"name"}, "postgres": {"query", "name"},
            "redis": {"get", "name"}, "cmd": set()}


class ProbeFailed(Exception):
    """The target answered, but not the way a healthy one does."""


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    target: str
    name: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The spec as the user wrote it, secrets masked."""
        return f"{self.kind}={mask(self.target)}"


def _split_head(spec: str, option: str, kinds: tuple[str, ...]) -> tuple[str | None, str, str]:
    head, sep, target = spec.partition("=")
    if not sep or not target.strip():
        raise HarnessError(f"{option} {mask(spec)!r}: expected KIND=TARGET with KIND one of {', '.join(kinds)}")
    name, _, kind = head.rpartition("@")
    kind = kind.strip().lower()
    if kind not in kinds:
        raise HarnessError(f"{option} {mask(spec)!r}: unknown kind {kind!r}; use one of {', '.join(kinds)}")
    return (name.strip() or None), kind, target.strip()


def _split_options(spec: str, option: str, kind: str, rest: str, allowed: set[str]) -> tuple[str, dict[str, str]]:
    if kind == "cmd":  # a shell command may contain '|': it is taken whole
        return rest, {}
    target, *parts = rest.split("|")
    options: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in allowed:
            raise HarnessError(
                f"{option} {mask(spec)!r}: bad option {mask(part)!r}; {kind} accepts "
                f"{', '.join(sorted(allowed)) or 'no options'} as |KEY=VALUE"
            )
        options[key] = value.strip()
    return target.strip(), options


def _host_port(target: str, option: str, spec: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise HarnessError(f"{option} {mask(spec)!r}: expected HOST:PORT, got {mask(target)!r}")
    return host.strip("[]"), int(port)


def _default_name(kind: str, target: str) -> str:
    if kind == "cmd":
        return "cmd:" + (mask(target) or "")[:40]
    if kind == "tcp":
        return f"tcp:{target}"
    parts = urlsplit(target)
    host = parts.netloc.rpartition("@")[2] or mask(target)
    return f"{kind}:{host}{parts.path if kind == 'http' else ''}"


def parse_probe_spec(spec: str, option: str = "--probe") -> ProbeSpec:
    """Parse `[NAME@]KIND=TARGET[|KEY=VALUE...]` into a ProbeSpec; raise HarnessError naming what is wrong."""
    name, kind, rest = _split_head(spec, option, PROBE_KINDS)
    target, options = _split_options(spec, option, kind, rest, _OPTIONS[kind])
    if kind == "http":
        if urlsplit(target).scheme not in ("http", "https") or not urlsplit(target).netloc:
            raise HarnessError(f"{option} {mask(spec)!r}: expected an http:// or https:// URL")
        if "status" in options and not (options["status"].isdigit() and 100 <= int(options["status"]) < 600):
            raise HarnessError(f"{option} {mask(spec)!r}: status must be an HTTP status code, got {options['status']!r}")
    elif kind == "tcp":
        _host_port(target, option, spec)
    elif kind == "postgres":
        if not (target.startswith(("postgres://", "postgresql://")) or "=" in target):
            raise HarnessError(f"{option} {mask(spec)!r}: expected a postgresql:// URL or a key=value DSN")
    elif kind == "redis":
        if urlsplit(target).scheme not in ("redis", "rediss", "redis+sentinel", "unix"):
            raise HarnessError(f"{option} {mask(spec)!r}: expected a redis://, rediss:// or redis+sentinel:// URL")
    name = name or options.pop("name", None) or _default_name(kind, target)
    options.pop("name", None)
    return ProbeSpec(kind=kind, target=target, name=name, options=options)


class Probe:
    """Base: `open` once, `check` every interval, `reset` after a failure, `close` at the end."""

    def __init__(self, spec: ProbeSpec, timeout: float):
        self.spec, self.timeout = spec, timeout

    @property
    def name(self) -> str:
        return self.spec.name

    async def open(self) -> None:
        pass

    async def check(self) -> None:
        raise NotImplementedError

    async def reset(self) -> None:
        """Drop any connection that may be stuck, so the next check starts clean."""

    async def close(self) -> None:
        await self.reset()


class HttpProbe(Probe):
    # A fresh connection per check, like a load balancer's health check: it proves a *new* client gets in,
    # which a pooled keep-alive connection would hide (a closed listener can still serve an old socket).
    async def open(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False, verify=False, trust_env=False,
        )

    async def check(self) -> None:
        resp = await self._client.get(self.spec.target)
        want = self.spec.options.get("status")
        if want is not None and resp.status_code != int(want):
            raise ProbeFailed(f"HTTP {resp.status_code} (want {want})")
        if want is None and not 200 <= resp.status_code < 300:
            raise ProbeFailed(f"HTTP {resp.status_code}")
        needle = self.spec.options.get("contains")
        if needle is not None and needle not in resp.text:
            raise ProbeFailed(f"body lacks {needle!r}")

    async def close(self) -> None:
        await self._client.aclose()


class TcpProbe(Probe):
    async def check(self) -> None:
        host, port = self.spec.target.rsplit(":", 1)
        _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.transport.abort()  # no FIN handshake to wait for


class PostgresProbe(Probe):
    """One persistent connection (a connection per sample would fork a backend 20 times a second).

    Connecting (fork + SCRAM authentication) can take longer than a 40 ms sample budget even on a healthy
    server, so a reconnect runs as a shielded background task that outlives the sample's deadline: samples
    fail while it is under way, and the first sample after it completes succeeds. Without this the probe
    could never come back at short intervals.
    """

    _conn = None

    async def open(self) -> None:
        self._abandoned: list = []
        self._connecting: asyncio.Future | None = None

    async def _connect(self):
        import psycopg

        return await psycopg.AsyncConnection.connect(
            self.spec.target, autocommit=True, connect_timeout=2, application_name="drill-probe",
        )

    async def check(self) -> None:
        if self._conn is None or self._conn.closed:
            if self._connecting is None:
                self._connecting = asyncio.ensure_future(within(self._connect(), 5.0))
            try:
                self._conn = await asyncio.shield(self._connecting)
            finally:
                if self._connecting is not None and self._connecting.done():
                    self._connecting = None  # consumed, success or failure; a failure retries next sample
        await self._conn.execute(self.spec.options.get("query", "SELECT 1"))

    async def reset(self) -> None:
        # Only drop the reference: a timed-out call may still be unwinding on this socket in the
        # background, and closing its fd under it could hand the same fd number to the next connection.
        if self._conn is not None:
            self._abandoned.append(self._conn)
        self._conn = None

    async def close(self) -> None:
        await self.reset()
        pending, self._connecting = self._connecting, None
        if pending is not None:
            pending.cancel()
            try:
                conn = await pending
                self._abandoned.append(conn)
            except BaseException:  # noqa: BLE001 - cancelled or failed: nothing to close
                pass
        for conn in self._abandoned:
            conn.pgconn.finish()  # close the socket now; never a graceful (blocking) goodbye
        self._abandoned.clear()


def redis_client(url: str, timeout: float):
    """A redis.asyncio client for redis:// or redis+sentinel://h:p,h:p/mastername URLs."""
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    if not url.startswith("redis+sentinel://"):
        # a pooled client (not single_connection_client): a timed-out command that is still unwinding must
        # not hold the one connection's lock and fail the next sample too
        return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                       retry_on_timeout=False)
    rest = url[len("redis+sentinel://"):]
    auth, _, rest = rest.rpartition("@")
    hosts, _, master = rest.partition("/")
    if not master:
        raise HarnessError(f"{mask(url)}: redis+sentinel URL needs /MASTERNAME after the sentinel hosts")
    password = auth.partition(":")[2] or None if auth else None
    nodes = []
    for hp in hosts.split(","):
        host, _, port = hp.rpartition(":")
        nodes.append((host or hp, int(port) if port.isdigit() else 26379))
    sentinel = Sentinel(nodes, socket_timeout=timeout, socket_connect_timeout=timeout)
    return sentinel.master_for(master.strip("/"), socket_timeout=timeout, socket_connect_timeout=timeout,
                               password=password, retry_on_timeout=False)


class RedisProbe(Probe):
    _client = None

    async def check(self) -> None:
        if self._client is None:
            self._client = redis_client(self.spec.target, self.timeout)
        key = self.spec.options.get("get")
        if key is None:
            if not await self._client.ping():
                raise ProbeFailed("PING not answered with PONG")
        elif await self._client.get(key) is None:
            raise ProbeFailed(f"GET {key}: no such key")

    async def reset(self) -> None:
        """Keep the client: redis-py drops a failed connection from its pool itself and reconnects (through
        Sentinel discovery for sentinel URLs) on the next command."""

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await within(client.aclose(), 1.0)
            except Exception:  # noqa: BLE001 - the point is to drop it, however it goes
                pass


class CmdProbe(Probe):
    async def check(self) -> None:
        proc = await asyncio.create_subprocess_shell(
            self.spec.target, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        try:
            _, err = await proc.communicate()
        except asyncio.CancelledError:
            # the deadline hit: kill the whole group we started, so no command outlives its sample
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
            raise
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            raise ProbeFailed(f"exit {proc.returncode}" + (f": {mask(tail[0])[:200]}" if tail else ""))


_PROBES = {"http": HttpProbe, "tcp": TcpProbe, "postgres": PostgresProbe, "redis": RedisProbe, "cmd": CmdProbe}


def make_probe(spec: ProbeSpec, timeout: float) -> Probe:
    return _PROBES[spec.kind](spec, timeout)
