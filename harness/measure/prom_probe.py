"""The `prometheus` probe kind: the team's own monitoring as a second witness beside the harness's probes.

    prometheus=http://127.0.0.1:19090|query=probe_success{job="blackbox-app"}
    prometheus=http://127.0.0.1:19090|query=sum(rate(http_errors_total[30s])) < 0.05

Each check evaluates the PromQL expression with one instant query (`GET /api/v1/query`). Healthy: the result
has at least one sample and every sample value is non-zero (a scalar result: it is non-zero). Thresholds are
therefore written in PromQL itself: a comparison such as `... < 0.05` returns nothing when it is breached, and
nothing is a failed check. NaN counts as zero (not healthy): `0/0` from a rate over no traffic proves nothing.

What Prometheus sees lags the system by up to one scrape interval of the series the expression reads (plus the
rule group's interval when it reads a recording rule's output). `preflight()` asks Prometheus for those
intervals and sets `resolution_s` to their sum, so the measurement can put it beside its own uncertainty.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from harness.errors import HarnessError
from harness.measure.probes import Probe, ProbeFailed, ProbeSpec
from harness.redact import mask

try:  # the probe rewrite's common base for "this probe cannot work as configured", when it is there
    from harness.measure.probes import ProbeConfigError as _ConfigBase
except ImportError:  # pragma: no cover - older probes module
    _ConfigBase = HarnessError

KIND = "prometheus"
OPTIONS = frozenset({"query"})  # besides the options every kind takes (name, budget, degraded)
QUERY_PATH = "/api/v1/query"
# Series that Prometheus itself writes on its rule evaluation interval (alerting rules' state).
_RULE_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class PrometheusProbeError(_ConfigBase):
    """A prometheus probe that cannot work as configured: Prometheus unreachable, not Prometheus, or a query it
    cannot parse. Raised by `preflight()`, before any baseline or fault; the message names the probe."""


def validate_spec(target: str, options: dict[str, str]) -> str | None:
    """Offline check of a prometheus probe spec: an http(s) base URL and a non-empty `query`.
    Returns what is wrong, or None. Other options (name, budget, degraded) are the caller's business."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "expected the Prometheus base URL, http://HOST:PORT or https://HOST:PORT"
    if parts.query or parts.fragment:
        return "the target is Prometheus's base URL; put the PromQL expression in |query=..."
    if not (options.get("query") or "").strip():
        return "a prometheus probe needs |query=PROMQL (healthy: at least one sample, every value non-zero)"
    return None


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration such as `1s`, `500ms`, `1m30s`."""
    m = _DURATION.match(text.strip()) if text else None
    if not m or not any(m.groups()):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(g) * unit for g, unit in zip(m.groups(), _DURATION_UNITS) if g)


def _series(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}" if labels or not name else name


def _nonzero(value: Any) -> bool:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return not math.isnan(v) and v != 0


def judge(data: dict[str, Any]) -> None:
    """Raise ProbeFailed unless the query result `data` (the API's `data` object) is healthy."""
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "scalar":
        if not _nonzero(result[1] if isinstance(result, list) and len(result) == 2 else None):
            raise ProbeFailed(f"scalar result {result[1] if isinstance(result, list) else result!r} (want non-zero)")
        return
    if rtype != "vector":
        raise ProbeFailed(f"the query returns a {rtype} (want an instant vector or a scalar)")
    if not result:
        raise ProbeFailed("no samples: the expression matched no series now (or a threshold in it is breached)")
    bad = [s for s in result if not _nonzero((s.get("value") or [None, None])[1])]
    if bad:
        first = bad[0]
        raise ProbeFailed(
            f"{len(bad)} of {len(result)} series not healthy: "
            f"{_series(first.get('metric') or {})} = {(first.get('value') or [None, None])[1]}"
        )


class PrometheusProbe(Probe):
    """A PromQL expression as a health check (see the module doc). `spec.target`: Prometheus's base URL;
    `spec.options["query"]`: the expression; `timeout`: the latency budget in seconds."""

    resolution_s: float = 0.0  # set by preflight() from what Prometheus says; 0 until then

    def __init__(self, spec: ProbeSpec, timeout: float):
        super().__init__(spec, timeout)
        self.base_url = spec.target.rstrip("/")
        self.query = (spec.options.get("query") or "").strip()
        self._client: httpx.AsyncClient | None = None

    # ---------------------------------------------------------------- the HTTP API
    def _new_client(self, timeout: float | None = None) -> httpx.AsyncClient:
        # Checks may overlap when answers are slower than the interval: no connection cap to queue behind.
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout or self.timeout),
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=4),
        )

    async def _get(self, client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await client.get(self.base_url + path, params=params)

    @staticmethod
    def _payload(resp: httpx.Response) -> dict[str, Any] | None:
        """The API's JSON envelope ({"status", "data" | "errorType", "error"}), or None if it is not one."""
        try:
            body = resp.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) and body.get("status") in ("success", "error") else None

    def _params(self) -> dict[str, str]:
        # Prometheus's own evaluation timeout: no longer than our budget (it answers 503 `timeout` past it).
        return {"query": self.query, "timeout": f"{self.timeout:g}"}

    # ---------------------------------------------------------------- the probe
    async def open(self) -> None:
        self._client = self._new_client()

    async def check(self) -> None:
        if self._client is None:
            self._client = self._new_client()
        try:
            resp = await self._get(self._client, QUERY_PATH, self._params())
        except httpx.TimeoutException:
            raise TimeoutError(f"Prometheus did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as err:
            raise ProbeFailed(f"Prometheus unreachable: {type(err).__name__}: {mask(str(err))[:200]}") from None
        body = self._payload(resp)
        if body is None:
            raise ProbeFailed(f"HTTP {resp.status_code} from {mask(self.base_url)}: not a Prometheus API answer")
        if body["status"] != "success":
            raise ProbeFailed(f"Prometheus {body.get('errorType', 'error')}: {mask(str(body.get('error', '')))[:300]}")
        judge(body.get("data") or {})

    async def reset(self) -> None:
        """Keep the client: most failed checks are answers (a series at 0), and httpx drops a connection whose
        request was cancelled at the deadline itself. A new client per failed sample would cost a TLS context
        each time, 20 times a second during an outage."""

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.aclose(), 1.0)
            except Exception:  # noqa: BLE001 - dropping it is the point
                pass

    async def preflight(self) -> None:
        """Once, before the baseline: Prometheus answers, parses the query and returns an instant vector or a
        scalar (no series at all is fine here: that is a failed check, not a configuration error). Sets
        `resolution_s`: the largest scrape interval among the active targets whose `job` the result carries
        (all active targets when the result carries no job label, e.g. after `sum()`), plus the rule group's
        interval when the expression reads a recording rule's output or ALERTS."""
        where = f"probe {self.spec.name}: Prometheus at {mask(self.base_url)}"
        problem = validate_spec(self.spec.target, self.spec.options)
        if problem:
            raise PrometheusProbeError(f"probe {self.spec.name}: {problem}")
        async with self._new_client(max(self.timeout, 1.0)) as client:
            query, targets, config, rules = await asyncio.gather(
                self._get(client, QUERY_PATH, self._params()),
                self._get(client, "/api/v1/targets", {"state": "active"}),
                self._get(client, "/api/v1/status/config"),
                self._get(client, "/api/v1/rules", {"type": "record"}),
                return_exceptions=True,
            )
        if isinstance(query, BaseException):
            if not isinstance(query, httpx.HTTPError):
                raise query
            raise PrometheusProbeError(
                f"{where} is unreachable ({type(query).__name__}: {mask(str(query))[:200] or 'no answer'})"
            )
        targets, config, rules = (None if isinstance(r, BaseException) else r for r in (targets, config, rules))
        body = self._payload(query)
        if body is None:
            raise PrometheusProbeError(
                f"{where} answered HTTP {query.status_code} to {QUERY_PATH}, not like the "
                "Prometheus HTTP API: is the target Prometheus's base URL?"
            )
        if body["status"] != "success":
            kind = body.get("errorType", "error")
            text = mask(str(body.get("error", "")))
            if kind == "bad_data":
                raise PrometheusProbeError(
                    f"probe {self.spec.name}: Prometheus cannot parse the query {self.query!r}: {text}"
                )
            raise PrometheusProbeError(f"{where} refused the query {self.query!r}: {kind}: {text}")
        data = body.get("data") or {}
        if data.get("resultType") not in ("vector", "scalar"):
            raise PrometheusProbeError(
                f"probe {self.spec.name}: the query {self.query!r} returns a {data.get('resultType')}; a check "
                "needs an instant vector or a scalar (a range selector like x[30s] must sit inside a function "
                "such as rate() or max_over_time())"
            )
        self.resolution_s = self._resolution(
            data, *(self._payload(r) if r is not None else None for r in (targets, config, rules))
        )

    # ---------------------------------------------------------------- resolution
    def _resolution(self, data: dict[str, Any], targets: dict | None, config: dict | None, rules: dict | None) -> float:
        scrape = self._scrape_interval(data, targets, config)
        return scrape + self._rule_interval(rules, config)

    @staticmethod
    def _scrape_interval(data: dict[str, Any], targets: dict | None, config: dict | None) -> float:
        active = ((targets or {}).get("data") or {}).get("activeTargets") or []
        result = data.get("result") if data.get("resultType") == "vector" else []
        jobs = {(s.get("metric") or {}).get("job") for s in result or []} - {None}
        chosen = [t for t in active if (t.get("labels") or {}).get("job") in jobs] if jobs else []
        intervals = []
        for t in chosen or active:
            try:
                intervals.append(parse_duration(t.get("scrapeInterval") or ""))
            except ValueError:
                continue
        if intervals:
            return max(intervals)
        return _global(config, "scrape_interval", 60.0)  # no active target (yet): Prometheus's default

    def _rule_interval(self, rules: dict | None, config: dict | None) -> float:
        groups = ((rules or {}).get("data") or {}).get("groups") or []
        tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", self.query))
        used = [
            float(g.get("interval") or 0) for g in groups if any(r.get("name") in tokens for r in g.get("rules") or [])
        ]
        if any(name in tokens for name in _RULE_SERIES):
            used.append(_global(config, "evaluation_interval", 60.0))
        return max(used, default=0.0)


def _global(config: dict | None, key: str, default: float) -> float:
    """A duration from the running configuration's `global:` section (GET /api/v1/status/config)."""
    try:
        text = ((config or {}).get("data") or {}).get("yaml") or ""
        return parse_duration(str((yaml.safe_load(text) or {}).get("global", {}).get(key)))
    except (ValueError, yaml.YAMLError, AttributeError):
        return default
