"""Safety for every target: who may be touched, how much, with whose approval, and when to stop.

A target file declares its `environment` (lab | staging | production) and a `safety` section:

    environment: staging
    safety:
      aws:        {account_ids: ["123456789012"], regions: [eu-west-1], resource_tags: {Environment: staging}}
      kubernetes: {contexts: [staging], namespaces: [freight]}
      limits:     {max_azs: 1, max_instances: 3, max_pods: 5, resources: [freight-staging, freight-api-asg]}
      guards:     [{probe: app, max_error_rate: 0.5, window_s: 10, grace_s: 30}]

and the harness, before the first fault:

    section = validate_section(raw_safety, environment, where="targets/aws-staging.yaml")   # at load
    clearance = preflight(section, environment, approval="CHG-1", approver="dr-lead")      # who am I?
    check_blast("az-outage", resources, section.limits)                                      # per fault

Everything refused raises `SafetyRefused` (a HarnessError: exit 2) naming the mismatch, before any call
that changes anything. `AbortGuard` turns the measurement engine's samples into a stop signal; `GuardWatch`
watches a running measurement and calls back once when a guard has been breached longer than its grace.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError, HarnessError

Environment = Literal["lab", "staging", "production"]
ENVIRONMENTS: tuple[str, ...] = ("lab", "staging", "production")


class SafetyRefused(HarnessError):
    """The harness refused to act: wrong identity, no approval, or a fault over its blast radius."""


# -- the `safety` section of a target file --------------------------------------------------------------------
class AwsAllowlist(BaseModel):
    """AWS accounts and regions the harness may act in; tags every touched resource must carry."""

    model_config = ConfigDict(extra="forbid")
    account_ids: list[str] = Field(min_length=1)
    regions: list[str] = Field(min_length=1)
    resource_tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("account_ids")
    @classmethod
    def _twelve_digits(cls, ids: list[str]) -> list[str]:
        for account in ids:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"{account!r} is not an AWS account id (12 digits, quoted in YAML)")
        return ids

    @field_validator("regions")
    @classmethod
    def _region_names(cls, regions: list[str]) -> list[str]:
        for region in regions:
            parts = region.split("-")
            if len(parts) < 3 or not parts[-1].isdigit():
                raise ValueError(f"{region!r} is not an AWS region name (like eu-west-1)")
        return regions


class KubernetesAllowlist(BaseModel):
    """Kubernetes contexts (kubeconfig) and namespaces the harness may act in (checked by harness.faults.k8s)."""

    model_config = ConfigDict(extra="forbid")
    contexts: list[str] = Field(min_length=1)
    namespaces: list[str] = Field(min_length=1)


class Limits(BaseModel):
    """Blast-radius limits of every single fault. `resources`: the only resources a fault may name or touch
    (identifiers or glob patterns, e.g. `freight-staging-*`); empty = any resource the allowlist admits."""

    model_config = ConfigDict(extra="forbid")
    max_azs: int | None = Field(1, ge=1)
    max_instances: int | None = Field(None, ge=1, description="EC2/RDS/cache nodes touched by one fault")
    max_pods: int | None = Field(None, ge=1)
    resources: list[str] = Field(default_factory=list)


class GuardSpec(BaseModel):
    """An abort guard as written in a target file (see AbortGuard)."""

    model_config = ConfigDict(extra="forbid")
    probe: str = Field(min_length=1)
    max_error_rate: float = Field(gt=0, le=1, description="failed-sample fraction over the window that breaches")
    window_s: float = Field(10.0, gt=0)
    grace_s: float = Field(30.0, ge=0, description="how long a breach may last before the drill is aborted")
    max_latency_s: float | None = Field(None, gt=0, description="a slower successful sample counts as failed")
    min_samples: int = Field(3, ge=1)


class SafetySection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aws: AwsAllowlist | None = None
    kubernetes: KubernetesAllowlist | None = None
    limits: Limits = Field(default_factory=Limits)
    guards: list[GuardSpec] = Field(default_factory=list)


class TargetSafety(BaseModel):
    """`environment` plus `safety` of one target file. The provider follows from the allowlist given
    (safety.aws → aws, safety.kubernetes → kubernetes, neither → lab) unless stated."""

    model_config = ConfigDict(extra="forbid")
    environment: Environment
    safety: SafetySection = Field(default_factory=SafetySection)
    provider: Literal["lab", "aws", "kubernetes"] | None = None

    @model_validator(mode="after")
    def _allowlist_for_cloud(self) -> TargetSafety:
        # A cloud provider is the SafetySection field holding its allowlist (a new kind adds its field and its
        # line in ALLOWLIST_NEEDS); no allowlist at all is the lab, which only a lab environment may be.
        given = [name for name in ALLOWLIST_NEEDS if getattr(self.safety, name) is not None]
        if self.provider is None:
            self.provider = given[0] if given else "lab"
        if self.provider in ALLOWLIST_NEEDS and self.provider not in given:
            raise ValueError(
                f"a {self.provider} target needs safety.{self.provider} ({ALLOWLIST_NEEDS[self.provider]})"
            )
        if self.environment != "lab" and self.provider not in ALLOWLIST_NEEDS:
            wanted = " or ".join(f"safety.{name} ({needs})" for name, needs in ALLOWLIST_NEEDS.items())
            raise ValueError(f"environment {self.environment!r} needs an allowlist: {wanted}")
        return self


# provider → what its allowlist section must give; the section is the SafetySection field of the same name.
ALLOWLIST_NEEDS: dict[str, str] = {"aws": "account_ids and regions", "kubernetes": "contexts and namespaces"}


def validate_section(environment: Any, raw_safety: Any, where: str, provider: str | None = None) -> TargetSafety:
    """Validate a target file's `environment` and `safety` (call at load). ConfigError naming the file and
    the field: `safety.aws.account_ids.0: '1234' is not an AWS account id ...`."""
    data: dict[str, Any] = {"environment": environment, "safety": raw_safety or {}}
    if provider is not None:
        data["provider"] = provider
    try:
        return TargetSafety.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "safety"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "literal_error" and field == "environment":
            msg = f"must be one of {', '.join(ENVIRONMENTS)} (got {environment!r})"
        raise ConfigError(where, field, msg) from None


def target_safety(target_file: Any) -> TargetSafety:
    """The validated safety of a loaded target file (harness.targets.file.TargetFile: its `guard`, checked once
    at load)."""
    guard = getattr(target_file, "guard", None)
    if isinstance(guard, TargetSafety):
        return guard
    return validate_section(target_file.environment, target_file.safety, target_file.path or target_file.name)


# -- identity --------------------------------------------------------------------------------------------------
class AwsIdentity(BaseModel):
    account: str
    arn: str
    region: str


def aws_identity(region: str | None = None, session: Any = None) -> AwsIdentity:
    """Who the normal boto3 credential chain (profile, role, environment) makes us: STS GetCallerIdentity.
    Read-only. HarnessError when there are no credentials or STS cannot be reached."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if session is None:  # the default session: the one the AWS faults and chaostoolkit-aws use
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
    region = region or session.region_name
    if not region:
        raise SafetyRefused("no AWS region: set it in the target file (configuration aws_region) or AWS_REGION")
    try:
        who = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as err:
        raise SafetyRefused(
            f"cannot tell who we are in AWS (STS GetCallerIdentity failed: {err}); nothing was touched"
        ) from None
    return AwsIdentity(account=who["Account"], arn=who["Arn"], region=region)


def check_identity(
    section: SafetySection, identity: AwsIdentity | None = None, region: str | None = None
) -> AwsIdentity:
    """Refuse (SafetyRefused naming the mismatch) unless the caller's account and region are allowlisted.
    With no `identity` given, asks STS (aws_identity). Returns the identity that was checked."""
    if section.aws is None:
        raise SafetyRefused("this target has no safety.aws allowlist: refusing to act on AWS")
    identity = identity or aws_identity(region)
    allow = section.aws
    if identity.account not in allow.account_ids:
        raise SafetyRefused(
            f"AWS account {identity.account} ({identity.arn}) is not on this target's allowlist "
            f"(safety.aws.account_ids: {', '.join(allow.account_ids)}); nothing was touched"
        )
    if identity.region not in allow.regions:
        raise SafetyRefused(
            f"AWS region {identity.region} is not on this target's allowlist "
            f"(safety.aws.regions: {', '.join(allow.regions)}); nothing was touched"
        )
    return identity


# -- approval --------------------------------------------------------------------------------------------------
def require_approval(environment: str, approval: str | None, approver: str | None) -> Any:
    """The approval to record with the drill (harness.evidence.record.Approval), or None when none was given
    and none is needed. Production without `--approval TICKET --approver NAME` is refused."""
    from harness.evidence.record import Approval

    if (approval is None) != (approver is None) or (
        approval is not None and not (approval.strip() and approver.strip())
    ):
        raise SafetyRefused("--approval TICKET and --approver NAME go together")
    if approval is None:
        if environment == "production":
            raise SafetyRefused(
                "environment production: a drill needs an approval (--approval TICKET --approver "
                "NAME); nothing was touched"
            )
        return None
    return Approval(ticket=approval.strip(), approver=approver.strip(), at=datetime.now(UTC))


# -- blast radius ----------------------------------------------------------------------------------------------
INSTANCE_KINDS = ("ec2-instance", "rds-instance", "cache-node")
# Kinds picked by zone or tag rather than named by the operator: never held to `limits.resources`.
UNNAMED_KINDS = INSTANCE_KINDS + ("pod", "subnet", "s3-object")


class Resource(BaseModel):
    """One concrete thing a fault touches, as the read-only describe calls found it."""

    kind: str  # ec2-instance, rds-cluster, rds-instance, cache-node, replication-group, load-balancer, pod, ...
    id: str
    az: str | None = None
    role: str = ""  # writer, reader, primary, replica, subnet to remove, ...
    tags: dict[str, str] | None = None  # None: this kind carries no tags we read (not checked)
    state: str = ""
    acted: bool = True  # False: context (the cluster of a failed-over writer), counted for names and tags only

    def line(self) -> str:
        parts = [f"{self.kind} {self.id}"]
        if self.role:
            parts.append(self.role)
        if self.az:
            parts.append(self.az)
        if self.state:
            parts.append(self.state)
        return " | ".join(parts)


def check_blast(
    fault: str, resources: Sequence[Resource], limits: Limits, required_tags: dict[str, str] | None = None
) -> None:
    """Refuse (SafetyRefused listing what would be touched) a fault whose concrete targets exceed the limits:
    more AZs than max_azs, more instances/pods than allowed, a resource not named in `limits.resources`,
    or one missing a required tag. Only `acted` resources count for AZs and instance/pod counts."""
    acted = [r for r in resources if r.acted]
    problems = []
    azs = sorted({r.az for r in acted if r.az})
    if limits.max_azs is not None and len(azs) > limits.max_azs:
        problems.append(f"touches {len(azs)} availability zones ({', '.join(azs)}), limit max_azs={limits.max_azs}")
    instances = [r for r in acted if r.kind in INSTANCE_KINDS]
    if limits.max_instances is not None and len(instances) > limits.max_instances:
        problems.append(f"touches {len(instances)} instances, limit max_instances={limits.max_instances}")
    pods = [r for r in acted if r.kind == "pod"]
    if limits.max_pods is not None and len(pods) > limits.max_pods:
        problems.append(f"touches {len(pods)} pods, limit max_pods={limits.max_pods}")
    if limits.resources:
        outside = [
            r
            for r in resources
            if r.kind not in UNNAMED_KINDS and not any(fnmatch.fnmatchcase(r.id, pat) for pat in limits.resources)
        ]
        if outside:
            problems.append(
                "names resources outside limits.resources ("
                + ", ".join(limits.resources)
                + "): "
                + ", ".join(f"{r.kind} {r.id}" for r in outside)
            )
    for key, value in (required_tags or {}).items():
        untagged = [r for r in resources if r.tags is not None and r.tags.get(key) != value]
        if untagged:
            problems.append(
                f"touches resources without tag {key}={value}: " + ", ".join(f"{r.kind} {r.id}" for r in untagged)
            )
    if problems:
        touched = "; ".join(r.line() for r in acted) or "nothing"
        raise SafetyRefused(
            f"fault {fault} refused before it ran: " + "; ".join(problems) + f". It would touch: {touched}"
        )


# -- preflight: the check before the first fault ---------------------------------------------------------------
class Clearance(BaseModel):
    """What preflight established; recorded with the drill (`approval-checked` event)."""

    environment: str
    provider: str
    identity: AwsIdentity | None = None
    kube_context: str | None = None
    approval: dict[str, Any] | None = None
    limits: Limits
    required_tags: dict[str, str] = Field(default_factory=dict)
    checked_at: str

    def record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_current: Clearance | None = None
_lock = threading.Lock()


def preflight(
    target: TargetSafety,
    approval: str | None = None,
    approver: str | None = None,
    identity: AwsIdentity | None = None,
    region: str | None = None,
) -> Clearance:
    """Before the first fault: approval (production), then who we are against every allowlist the section
    gives (safety.aws: STS; safety.kubernetes is checked by harness.faults.k8s.preflight, which needs the
    context). The clearance becomes this process's current one (`current()`), which the AWS fault functions
    require. Drill paths go through a Target's `preflight` (harness.targets), which adds its environment's
    checks and knows its region."""
    global _current
    granted = require_approval(target.environment, approval, approver)
    checked = check_identity(target.safety, identity, region) if target.safety.aws is not None else None
    clearance = Clearance(
        environment=target.environment,
        provider=target.provider,
        identity=checked,
        approval=granted.model_dump(mode="json") if granted is not None else None,
        limits=target.safety.limits,
        required_tags=target.safety.aws.resource_tags if target.safety.aws else {},
        checked_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
    )
    with _lock:
        _current = clearance
    return clearance


def current() -> Clearance | None:
    return _current


def forget() -> None:
    """Drop the current clearance (end of a drill)."""
    global _current
    with _lock:
        _current = None


# -- abort guards ----------------------------------------------------------------------------------------------
class GuardState(BaseModel):
    probe: str
    error_rate: float | None  # over the window ending now; None = too few samples to judge
    samples: int
    breached: bool
    breached_since: float | None  # monotonic start of the current breach
    abort: bool
    reason: str = ""


class AbortGuard(BaseModel):
    """A threshold on one probe of the measurement engine: the fraction of failed samples (a sample slower
    than `max_latency_s` counts as failed) over the last `window_s` seconds. Breached when above
    `max_error_rate` with at least `min_samples` in the window; abort when breached for `grace_s` seconds
    without a break (judged at every sample, so a short blip that recovers within the grace does not abort)."""

    model_config = ConfigDict(extra="forbid")
    probe: str
    max_error_rate: float = Field(gt=0, le=1)
    window_s: float = Field(10.0, gt=0)
    grace_s: float = Field(30.0, ge=0)
    max_latency_s: float | None = Field(None, gt=0)
    min_samples: int = Field(3, ge=1)

    @classmethod
    def from_spec(cls, spec: GuardSpec) -> AbortGuard:
        return cls.model_validate(spec.model_dump())

    @property
    def name(self) -> str:
        return (
            f"guard {self.probe} error rate > {self.max_error_rate:g} over {self.window_s:g} s for {self.grace_s:g} s"
        )

    def _bad(self, s: Any) -> bool:
        return (not s.ok) or (self.max_latency_s is not None and s.latency_s > self.max_latency_s)

    def evaluate(self, samples: Sequence[Any], now: float | None = None, since: float | None = None) -> GuardState:
        """Judge the samples (harness.measure.sampler.Sample: t, ok, latency_s) of this guard's probe up to
        `now` (default: the last sample); only samples at or after `since` count (e.g. t_inject)."""
        series = sorted((s for s in samples if since is None or s.t >= since), key=lambda s: s.t)
        if now is not None:
            series = [s for s in series if s.t <= now]
        if not series:
            return GuardState(
                probe=self.probe, error_rate=None, samples=0, breached=False, breached_since=None, abort=False
            )
        now = series[-1].t if now is None else now
        lo, bad_in_window, breached_since, rate = 0, 0, None, None
        for hi, s in enumerate(series):  # the window ending at each sample, two pointers
            bad_in_window += self._bad(s)
            while series[lo].t < s.t - self.window_s:
                bad_in_window -= self._bad(series[lo])
                lo += 1
            count = hi - lo + 1
            rate = bad_in_window / count
            if count >= self.min_samples and rate > self.max_error_rate:
                breached_since = s.t if breached_since is None else breached_since
            else:
                breached_since = None
        count = len([s for s in series if s.t >= now - self.window_s])
        breached = breached_since is not None
        abort = breached and now - breached_since >= self.grace_s
        reason = (
            f"{self.probe}: {rate:.0%} of samples failed over {self.window_s:g} s (limit "
            f"{self.max_error_rate:.0%}) for {now - breached_since:.1f} s (grace {self.grace_s:g} s)"
            if breached
            else ""
        )
        return GuardState(
            probe=self.probe,
            error_rate=round(rate, 4),
            samples=count,
            breached=breached,
            breached_since=breached_since,
            abort=abort,
            reason=reason,
        )


class AbortDecision(BaseModel):
    """Who or what aborted a drill, recorded with it (`aborted` event)."""

    by: str  # "guard:<probe>" or "operator:<name>"
    reason: str
    at: str  # UTC ISO time
    t: float | None = None  # monotonic, on the measurement's clock


def operator_abort(name: str, reason: str = "stopped by the operator") -> AbortDecision:
    return AbortDecision(
        by=f"operator:{name}",
        reason=reason,
        at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        t=time.monotonic(),
    )


class GuardWatch:
    """Watches a running measurement (anything with `samples() -> {probe: [Sample]}`) and calls `on_abort`
    once, from its own thread, when a guard says abort. `decision` holds who/what aborted, else None.

        watch = GuardWatch(measurement, guards, on_abort=lambda d: chaoslib.exit.exit_gracefully())
        watch.start(since=measurement.t_inject) ... watch.stop()
    """

    def __init__(
        self, source: Any, guards: Sequence[AbortGuard], on_abort: Callable[[AbortDecision], None], poll_s: float = 0.25
    ):
        names = set(source.samples()) if hasattr(source, "samples") else set()
        unknown = [g.probe for g in guards if names and g.probe not in names]
        if unknown:
            raise HarnessError(
                f"abort guard on probe(s) {', '.join(unknown)}: not measured (probes: {', '.join(sorted(names))})"
            )
        self.source, self.guards, self.on_abort, self.poll_s = source, list(guards), on_abort, poll_s
        self.decision: AbortDecision | None = None
        self.states: dict[str, GuardState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since: float | None = None

    def check(self, now: float | None = None) -> AbortDecision | None:
        """One evaluation of every guard (also what the thread runs). Returns the decision when aborting."""
        if self.decision is not None:
            return self.decision
        samples = self.source.samples()
        now = time.monotonic() if now is None else now
        for guard in self.guards:
            state = guard.evaluate(samples.get(guard.probe, []), now=now, since=self._since)
            self.states[guard.probe] = state
            if state.abort:
                self.decision = AbortDecision(
                    by=f"guard:{guard.probe}",
                    reason=state.reason,
                    t=now,
                    at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                )
                self.on_abort(self.decision)
                return self.decision
        return None

    def start(self, since: float | None = None) -> GuardWatch:
        self._since = since
        self._thread = threading.Thread(target=self._run, name="abort-guards", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.check() is not None:
                return

    def stop(self) -> AbortDecision | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.decision


def run_guarded(
    steps: Sequence[tuple[str, Callable[[], Any]]],
    rollbacks: Sequence[tuple[str, Callable[[], Any]]],
    watch: GuardWatch,
    since: float | None = None,
) -> dict[str, Any]:
    """Run the method's steps in order while `watch` guards them; on an abort (or a failed step) stop the
    method and run every rollback. Steps should be short or poll `watch.decision` (a wait step can use
    `wait_unless_aborted`). Returns the record: steps run, aborted (who/why) and rollbacks' outcomes."""
    record: dict[str, Any] = {"steps": [], "aborted": None, "rollbacks": [], "error": None}
    watch.start(since=since)
    try:
        for name, step in steps:
            if watch.decision is not None:
                break
            try:
                step()
                record["steps"].append({"name": name, "ok": True})
            except Exception as err:  # noqa: BLE001 - a failed step stops the method; rollbacks still run
                record["steps"].append({"name": name, "ok": False, "error": str(err)})
                record["error"] = f"{name}: {err}"
                break
    finally:
        decision = watch.stop()
        record["aborted"] = decision.model_dump(mode="json") if decision else None
        for name, rollback in rollbacks:
            try:
                rollback()
                record["rollbacks"].append({"name": name, "ok": True})
            except Exception as err:  # noqa: BLE001 - every rollback gets its turn
                record["rollbacks"].append({"name": name, "ok": False, "error": str(err)})
    return record


def wait_unless_aborted(watch: GuardWatch, seconds: float) -> bool:
    """Sleep up to `seconds`, returning early (False) when the guard aborted; True when the time passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch.decision is not None:
            return False
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return watch.decision is None
