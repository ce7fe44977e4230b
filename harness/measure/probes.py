"""Probes: one cheap health check each, run by the sampler on a fixed tick grid.

A probe's `check()` returns when the target answered correctly (optionally naming the member of an
endpoint list that answered) and raises otherwise; the sampler owns the clock, the latency budget and the
bookkeeping. Spec syntax (CLI `--probe`, target files, `parse_probe_spec`):

    [NAME@]KIND=TARGET[|OPTION=VALUE...]        (`;` works as the separator too: URL;budget=1;degraded=0.3)

    http=http://127.0.0.1:8080/health|status=200|contains=ok    (default: any 2xx, no body check)
    tcp=127.0.0.1:5432
    postgres=postgresql://user:pw@127.0.0.1:5432/db|query=SELECT 1
    postgres=host=h1,h2 port=5432,5433 dbname=db user=u         (several hosts: tried in turn, see below)
    redis=redis://127.0.0.1:6379/0|get=some-key                  (default: PING)
    redis=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster
    prometheus=http://127.0.0.1:9090|query=probe_success{job="x"}  (healthy: every series non-zero)
    cmd=pg_isready -h 127.0.0.1 -p 5432                           (exit status 0 = ok; budget/degraded only)

Every kind takes `budget=SECONDS` (how long an answer may take and still be healthy; an answer later than
that, or none, is a failed sample) and `degraded=SECONDS` (an answer slower than this, within the budget, is
up but degraded). Defaults: see `DEFAULT_BUDGET_S`; no degraded threshold unless given.

Discovery through a list of members (Redis Sentinels, several PostgreSQL hosts) gives each member a
fraction of the budget (budget / (members + 1)), so one dead or blackholed member cannot eat the whole
budget, and remembers the member that answered (it is asked first next time).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from harness.errors import HarnessError
from harness.measure.deadline import within
from harness.redact import mask

PROBE_KINDS = ("http", "tcp", "postgres", "redis", "prometheus", "cmd")
# How long an answer may take and still be healthy, per kind (what blackbox-exporter and Gremlin users
# expect): independent of the sampling interval.
DEFAULT_BUDGET_S = {"http": 1.0, "tcp": 0.5, "postgres": 0.5, "redis": 0.5, "prometheus": 1.0, "cmd": 1.0}
_TIMING = {"budget", "degraded"}
_OPTIONS = {
    "http": {"status", "contains", "name"},
    "tcp": {"name"},
    "postgres": {"query", "name"},
    "redis": {"get", "name"},
    "prometheus": {"query", "name"},
    "cmd": set(),
}
# the kinds that are a second witness (the team's own monitoring), reported beside the harness's probes
WITNESS_KINDS = ("prometheus",)


class ProbeFailed(Exception):
    """The target answered, but not the way a healthy one does."""


class ProbeConfigError(HarnessError):
    """A probe cannot work as configured (found offline, or by asking the target before the baseline)."""


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    target: str
    name: str
    options: dict[str, str] = field(default_factory=dict)
    budget: float | None = None  # seconds; None = the kind's default (or the run's --budget)
    degraded: float | None = None  # seconds; None = no degraded state

    @property
    def display(self) -> str:
        """The spec as the user wrote it, secrets masked."""
        return f"{self.kind}={mask(self.target)}"

    @property
    def witness(self) -> bool:
        """A second witness (the team's monitoring): reported beside the RTO, not part of it."""
        return self.kind in WITNESS_KINDS

    def budget_s(self, default: float | None = None) -> float:
        """The effective latency budget: the spec's own, else the run's default, else the kind's."""
        if self.budget is not None:
            return self.budget
        return default if default is not None else DEFAULT_BUDGET_S[self.kind]

    def with_timing(self, budget: float | None = None, degraded: float | None = None) -> ProbeSpec:
        """A copy with a budget/degraded threshold set where the spec has none (a Gherkin phrase's)."""
        from dataclasses import replace

        out = replace(
            self,
            budget=self.budget if self.budget is not None else budget,
            degraded=self.degraded if self.degraded is not None else degraded,
        )
        check_timing(out.name, out.budget_s(), out.degraded)
        return out


def check_timing(name: str, budget: float, degraded: float | None, where: str = "probe") -> None:
    """A budget must be a positive finite number of seconds; a degraded threshold lies within it."""
    if not (math.isfinite(budget) and budget > 0):
        raise ProbeConfigError(f"{where} {name}: budget must be a positive number of seconds, got {budget:g}")
    if degraded is not None:
        if not (math.isfinite(degraded) and degraded > 0):
            raise ProbeConfigError(f"{where} {name}: degraded must be a positive number of seconds, got {degraded:g}")
        if degraded > budget:
            raise ProbeConfigError(
                f"{where} {name}: degraded threshold {degraded:g} s is above the budget {budget:g} s: an answer "
                "slower than the budget is a failure, so it could never be merely degraded"
            )


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
    if kind == "cmd":  # a shell command may contain '|' and ';': only trailing timing options are taken off
        options: dict[str, str] = {}
        while m := re.search(r"[|;]\s*(budget|degraded)\s*=\s*([^|;\s]+)\s*$", rest):
            options[m.group(1)] = m.group(2)
            rest = rest[: m.start()]
        return rest.strip(), options
    # '|' always separates; ';' only where a known option follows (a URL or DSN may hold a ';')
    keys = "|".join(sorted(allowed | _TIMING))
    target, *parts = re.split(rf"\||;(?=\s*(?:{keys})\s*=)", rest)
    options = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in allowed | _TIMING:
            raise HarnessError(
                f"{option} {mask(spec)!r}: bad option {mask(part)!r}; {kind} accepts "
                f"{', '.join(sorted(allowed | _TIMING))} as |KEY=VALUE"
            )
        options[key] = value.strip()
    return target.strip(), options


def _seconds(spec: str, option: str, key: str, value: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise HarnessError(f"{option} {mask(spec)!r}: {key} must be a number of seconds, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise HarnessError(f"{option} {mask(spec)!r}: {key} must be a positive number of seconds, got {value!r}")
    return out


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
            raise HarnessError(
                f"{option} {mask(spec)!r}: status must be an HTTP status code, got {options['status']!r}"
            )
    elif kind == "tcp":
        _host_port(target, option, spec)
    elif kind == "postgres":
        if not (target.startswith(("postgres://", "postgresql://")) or "=" in target):
            raise HarnessError(f"{option} {mask(spec)!r}: expected a postgresql:// URL or a key=value DSN")
    elif kind == "redis":
        if urlsplit(target).scheme not in ("redis", "rediss", "redis+sentinel", "unix"):
            raise HarnessError(f"{option} {mask(spec)!r}: expected a redis://, rediss:// or redis+sentinel:// URL")
    elif kind == "prometheus":
        from harness.measure.prom_probe import validate_spec

        problem = validate_spec(target, options)
        if problem:
            raise HarnessError(f"{option} {mask(spec)!r}: {problem}")
    budget = _seconds(spec, option, "budget", options.pop("budget")) if "budget" in options else None
    degraded = _seconds(spec, option, "degraded", options.pop("degraded")) if "degraded" in options else None
    name = name or options.pop("name", None) or _default_name(kind, target)
    options.pop("name", None)
    out = ProbeSpec(kind=kind, target=target, name=name, options=options, budget=budget, degraded=degraded)
    try:
        check_timing(name, out.budget_s(), degraded, where=f"{option} {mask(spec)!r}: probe")
    except ProbeConfigError as err:
        raise HarnessError(str(err)) from None
    return out


class Probe:
    """Base: `preflight` and `open` once, `check` at every tick (checks may overlap: a probe must allow
    several at once), `close` at the end. `budget` is the latency budget in seconds (`timeout` is the same
    number under its older name). `resolution_s` is how late what this probe sees may lag the system
    itself, beyond its own answer time (a metric scraped every N seconds: N)."""

    resolution_s: float = 0.0

    def __init__(self, spec: ProbeSpec, timeout: float):
        self.spec, self.budget, self.timeout = spec, timeout, timeout

    @property
    def name(self) -> str:
        return self.spec.name

    async def preflight(self) -> None:
        """Ask the target whether this probe can work at all (raise ProbeConfigError if not). Default: no-op."""

    async def open(self) -> None:
        pass

    async def check(self) -> str | None:
        """Return when healthy (optionally the member that answered); raise otherwise."""
        raise NotImplementedError

    async def reset(self) -> None:
        """After a failed check: drop any state that may be stuck, so later checks start clean."""

    async def close(self) -> None:
        await self.reset()


class HttpProbe(Probe):
    # A fresh connection per check, like a load balancer's health check: it proves a *new* client gets in,
    # which a pooled keep-alive connection would hide (a closed listener can still serve an old socket).
    # No cap on connections: checks overlap when answers are slower than the interval, and a pool limit
    # would make a check wait for another one instead of asking the target.
    async def open(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.budget),
            limits=httpx.Limits(max_keepalive_connections=0, max_connections=None),
            follow_redirects=False,
            verify=False,
            trust_env=False,
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
        # a name with several addresses: start the next attempt after a quarter of the budget (RFC 8305
        # "happy eyeballs"), so one dead address does not eat the whole budget
        _, writer = await asyncio.open_connection(host.strip("[]"), int(port), happy_eyeballs_delay=self.budget / 4)
        writer.transport.abort()  # no FIN handshake to wait for


def members_of_dsn(dsn: str) -> list[str]:
    """One single-host DSN per host of a libpq DSN that lists several (`host=a,b port=1,2` or
    `postgresql://a:1,b:2/db`); a single-host DSN gives itself."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception as err:  # noqa: BLE001 - psycopg's ProgrammingError text names the problem
        raise ProbeConfigError(f"postgres DSN {mask(dsn)!r}: {mask(str(err))}") from None
    hosts = str(params.get("host", "")).split(",")
    if len(hosts) < 2:
        return [dsn]
    ports = str(params.get("port", "")).split(",")
    if len(ports) not in (1, len(hosts)):
        raise ProbeConfigError(f"postgres DSN {mask(dsn)!r}: {len(hosts)} hosts but {len(ports)} ports")
    ports = ports * len(hosts) if len(ports) == 1 else ports
    return [make_conninfo(dsn, host=h, port=p or None) for h, p in zip(hosts, ports)]


def _member_label(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"


class PostgresProbe(Probe):
    """Connections are kept and reused (a connection per sample would fork a backend 20 times a second);
    checks that overlap each take their own. A connection whose check failed is abandoned, never reused.

    A connect that outlives its check's budget is not wasted: it runs on in the background and, if it
    succeeds, its connection joins the idle ones for the next check (without this a probe whose budget is
    shorter than a fork + SCRAM handshake could never come back). One connect per member at a time.

    Several hosts in the DSN: each is tried with budget / (hosts + 1) to connect, the last one that
    answered first; `target_session_attrs` is honoured per host by libpq itself.
    """

    MAX_IDLE = 4

    async def open(self) -> None:
        self._members = members_of_dsn(self.spec.target)
        self._preferred = 0
        self._idle: list = []  # (member index, connection)
        self._abandoned: list = []
        # At most one connect in flight per member, shared by the checks that need one: while a server is
        # frozen, a connect per tick would pile up in its backlog and hit it with a storm of forks and
        # authentications the moment it thaws (the probe itself slowing the recovery it measures).
        self._connecting: dict[int, asyncio.Task] = {}

    def _landed(self, member: int, task: asyncio.Task) -> None:
        if self._connecting.get(member) is task:
            del self._connecting[member]
        if task.cancelled() or task.exception() is not None:
            return
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append((member, task.result()))
        else:
            self._abandoned.append(task.result())

    async def _connect(self, dsn: str):
        import psycopg

        return await psycopg.AsyncConnection.connect(
            dsn,
            autocommit=True,
            connect_timeout=max(2, math.ceil(self.budget)),
            application_name="drill-probe",
        )

    def _idle_of(self, member: int):
        for k, (m, conn) in enumerate(self._idle):
            if m == member and not conn.closed:
                del self._idle[k]
                return conn
        return None

    async def _from_member(self, i: int, share: float):
        """A connection to member i within `share` seconds (joining its connect in flight), else raise."""
        loop = asyncio.get_running_loop()
        end = loop.time() + share
        while True:
            conn = self._idle_of(i)
            if conn is not None:
                return conn
            task = self._connecting.get(i)
            if task is None:
                task = asyncio.ensure_future(within(self._connect(self._members[i]), 5.0 + self.budget))
                self._connecting[i] = task
                task.add_done_callback(lambda t, i=i: self._landed(i, t))
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(f"no connection within {share * 1000:.0f} ms")
            await asyncio.wait({task}, timeout=left)  # never cancels the shared connect
            if not task.done():
                raise TimeoutError(f"no connection within {share * 1000:.0f} ms")
            if task.exception() is not None:
                raise task.exception()
            # it landed in the idle list (or another check took it first): loop and look again

    async def _take(self) -> tuple[int, object]:
        while self._idle:
            member, conn = self._idle.pop()
            if not conn.closed:
                return member, conn
        order = [self._preferred] + [i for i in range(len(self._members)) if i != self._preferred]
        share = self.budget / (len(self._members) + 1) if len(self._members) > 1 else self.budget
        errors = []
        for i in order:
            try:
                conn = await self._from_member(i, share)
            except asyncio.CancelledError:
                raise
            except BaseException as err:  # noqa: BLE001 - this member failed: try the next
                errors.append(f"{_member_label(self._members[i])}: {mask(str(err) or type(err).__name__)[:120]}")
                continue
            self._preferred = i
            return i, conn
        raise ProbeFailed("; ".join(errors))

    async def check(self) -> str | None:
        member, conn = await self._take()
        import psycopg

        try:
            await conn.execute(self.spec.options.get("query", "SELECT 1"))
        except psycopg.DatabaseError as err:
            # The server answered with an error (a check query that fails on purpose, e.g. the integrity
            # probe's cast): the call is over and the connection idle, so it is reused. Abandoning it would
            # hold one backend per failed check until the probe closes and exhaust max_connections in a
            # long outage (measured: 72 leaked in 12 s at 10 checks/s).
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if not isinstance(err, psycopg.OperationalError) and not conn.closed and idle:
                self._idle.append((member, conn))
            else:
                self._abandoned.append(conn)
            raise
        except BaseException:
            # Only drop the reference: a timed-out call may still be unwinding on this socket in the
            # background, and closing its fd under it could hand the same fd number to the next connection.
            self._abandoned.append(conn)
            raise
        self._idle.append((member, conn))
        return _member_label(self._members[member]) if len(self._members) > 1 else None

    async def close(self) -> None:
        pending = list(self._connecting.values())
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for _, conn in self._idle:
            self._abandoned.append(conn)
        self._idle.clear()
        for conn in self._abandoned:
            try:
                conn.pgconn.finish()  # close the socket now; never a graceful (blocking) goodbye
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._abandoned.clear()


def redis_client(url: str, timeout: float):
    """A redis.asyncio client for redis:// or redis+sentinel://h:p,h:p/mastername URLs.

    Sentinel discovery asks each Sentinel with timeout / (sentinels + 1), so a dead or blackholed Sentinel
    costs a fraction of the budget and the next one is asked; redis-py moves the Sentinel that answered to
    the front of its list, so it is asked first next time."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.asyncio.sentinel import Sentinel
    from redis.backoff import NoBackoff

    # One attempt per call: redis-py's default retries (3, with backoff) would spend a check's whole budget
    # on one silent Sentinel and hide a real failure behind a late success. The sampler retries next tick.
    once = Retry(NoBackoff(), 0)
    if not url.startswith("redis+sentinel://"):
        # a pooled client (not single_connection_client): checks overlap, and a timed-out command that is
        # still unwinding must not hold the one connection's lock and fail the next sample too
        return aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False, retry=once
        )
    rest = url[len("redis+sentinel://") :]
    auth, _, rest = rest.rpartition("@")
    hosts, _, master = rest.partition("/")
    if not master:
        raise HarnessError(f"{mask(url)}: redis+sentinel URL needs /MASTERNAME after the sentinel hosts")
    password = auth.partition(":")[2] or None if auth else None
    nodes = []
    for hp in hosts.split(","):
        host, _, port = hp.rpartition(":")
        nodes.append((host or hp, int(port) if port.isdigit() else 26379))
    share = timeout / (len(nodes) + 1)
    # sentinel_kwargs given whole: redis-py passes only socket_* options to the Sentinel clients otherwise,
    # and their default retries made one silent Sentinel cost seconds
    sentinel = Sentinel(
        nodes, sentinel_kwargs={"socket_timeout": share, "socket_connect_timeout": share, "retry": once}
    )
    return sentinel.master_for(
        master.strip("/"),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        password=password,
        retry_on_timeout=False,
        retry=once,
    )


class RedisProbe(Probe):
    _client = None

    async def check(self) -> str | None:
        if self._client is None:
            self._client = redis_client(self.spec.target, self.budget)
        key = self.spec.options.get("get")
        if key is None:
            if not await self._client.ping():
                raise ProbeFailed("PING not answered with PONG")
        elif await self._client.get(key) is None:
            raise ProbeFailed(f"GET {key}: no such key")
        pool = self._client.connection_pool
        master = getattr(pool, "master_address", None)  # Sentinel-managed: the primary it discovered
        if master is None:
            return None
        first = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
        return f"{master[0]}:{master[1]} via sentinel {first.get('host')}:{first.get('port')}"

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
            self.spec.target,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
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


def make_probe(spec: ProbeSpec, timeout: float | None = None) -> Probe:
    """The probe for a spec, with its latency budget (`timeout`; default: the spec's own or its kind's)."""
    budget = spec.budget_s(timeout)
    if spec.kind == "prometheus":  # its own module: it speaks the Prometheus HTTP API
        from harness.measure.prom_probe import PrometheusProbe

        return PrometheusProbe(spec, budget)
    return _PROBES[spec.kind](spec, budget)
