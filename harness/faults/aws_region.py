"""The region drill on AWS (plan 1.3 "Region Failure", 3.3 failover, 3.4 failback): the target file's `region`
section, the read-only plans of region-outage / region-failover / region-failback, the steps of both runbooks
and the undo of the region-outage fault. The Chaos Toolkit activities that run them are in harness/chaos/aws.py.

    setup = region_setup(configuration)          # configuration.region, typed; ConfigError naming the field
    plan = plan_region_failover(configuration)   # describe calls only: every resource (tags), every call, undo
    run = RegionRun(setup, configuration)        # what each runbook step gets as `ctx.lab`

The DR setup is a cross-region RDS read replica (`promote-read-replica`; failback: a new replica of the promoted
database in the primary region, promoted in turn) or an Aurora global database (`switchover-global-cluster` /
`failover-global-cluster`). Routing is a pair of weighted Route 53 records or of failover records
(aws_region_dns.py); the app tier of each region is an Auto Scaling group or a Kubernetes deployment
(aws_region_apptier.py); an ElastiCache Global Datastore is failed over with the database when the file names
one (aws_region_cache.py). region-outage is rehearsed by asg-and-dns (here) or by FIS cross-region connectivity
(aws_fis.plan_fis_cross_region). Nothing is created or deleted that holds data: a replaced database is renamed
(`<id>-pre-failover-<stamp>`) and left for the operator, never deleted.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness import safety
from harness.errors import ConfigError, HarnessError
from harness.faults import aws_region_apptier as apptier
from harness.faults import aws_region_cache as cache
from harness.faults import aws_region_dns as dns
from harness.faults import undo as undo_actions
from harness.faults.aws import conf, session
from harness.faults.plan import FaultPlan
from harness.safety import Resource

Configuration = dict[str, Any] | None
REGION_NAME = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
WHERE = "configuration.region"


# -- the target file's region section ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionKubernetes(_Strict):
    """One region's app tier on Kubernetes (harness/faults/aws_region_apptier.py): an allowlisted context and
    namespace of the target file's safety.kubernetes, and the deployment scaled up (failover) / down (failback)."""

    context: str
    namespace: str
    deployment: str
    kubeconfig: str | None = Field(None, description="the kubeconfig file (else $KUBECONFIG); never a default")


class RegionCache(_Strict):
    """The ElastiCache Global Datastore (harness/faults/aws_region_cache.py): failed over with the database."""

    global_datastore: str = Field(description="GlobalReplicationGroupId")
    primary_group: str = Field(description="the member replication group in the primary region")
    dr_group: str = Field(description="the member replication group in the DR region")


class RegionSide(_Strict):
    """One region's part of the drill: where it is and what it runs."""

    region: str = Field(description="AWS region name, e.g. eu-west-1")
    database: str = Field(description="RDS instance id (read-replica) or Aurora cluster id (aurora-global)")
    asg: str | None = Field(None, description="the app tier's Auto Scaling group in this region")
    kubernetes: RegionKubernetes | None = Field(
        None, description="instead of an ASG: the Kubernetes deployment of this region's app tier"
    )
    bucket: str = Field(description="the S3 bucket of this region (primary: replication source; DR: destination)")
    endpoint: str = Field(description="what the Route 53 record answers with for this region (CNAME target or IP)")
    set_identifier: str = Field(description="SetIdentifier of this region's record (weighted or failover)")
    health_check: str | None = Field(None, description="Route 53 health check id of this region's record")
    app_url: str | None = Field(None, description="this region's app URL (post-failover /health), from the env")
    dsn: str | None = Field(None, description="this region's database DSN (writable check, canary write)")

    @field_validator("region")
    @classmethod
    def _region_name(cls, value: str) -> str:
        if not value.startswith("<") and not REGION_NAME.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (like eu-west-1)")
        return value


class RegionDatabase(_Strict):
    mode: Literal["read-replica", "aurora-global"] = "read-replica"
    global_cluster: str | None = Field(None, description="the Aurora global cluster id (aurora-global only)")
    snapshot_max_age_h: float = Field(25.0, gt=0, description="the latest automated snapshot must be younger")
    caught_up_lag_s: float = Field(5.0, ge=0, description="failback: replica lag at or below this is caught up")


class RegionDns(_Strict):
    zone_id: str
    name: str = Field(description="the record name both regions' weighted records carry")
    type: Literal["CNAME", "A", "AAAA"] = "CNAME"
    ttl: int = Field(60, ge=0)


class RegionSetup(_Strict):
    """configuration.region of an AWS target file (targets/aws-staging.example.yaml)."""

    primary: RegionSide
    dr: RegionSide
    database: RegionDatabase = Field(default_factory=RegionDatabase)
    dns: RegionDns
    sns_topic_arn: str
    dr_capacity: int = Field(2, ge=1, description="DR app instances to scale up to")
    canary_prefix: str = Field("drill-harness/", description="the harness-owned S3 prefix (canary objects)")
    canary_weights: list[int] = Field(default_factory=lambda: [10, 50, 100])
    canary_hold_s: float = Field(60.0, ge=0)
    outage: Literal["asg-and-dns", "fis-cross-region"] = Field(
        "asg-and-dns", description="how region-outage is rehearsed (an AWS region cannot be failed)"
    )
    fis_role_arn: str | None = None
    fis_duration: str = Field("PT30M", description="fis-cross-region: how long the isolation lasts at most")
    outage_subnet_tags: dict[str, str] = Field(
        default_factory=lambda: {"DisruptSubnet": "Allowed"},
        description="fis-cross-region: the primary region's subnets whose routes to the DR region are cut",
    )
    routing: Literal["weighted", "failover"] = Field(
        "weighted", description="the Route 53 records: a weighted pair, or failover PRIMARY / SECONDARY"
    )
    cache: RegionCache | None = Field(None, description="the ElastiCache Global Datastore, if the file has one")
    components: dict[str, Literal["primary-database", "dr-database", "primary-app", "dr-app"]] = Field(
        default_factory=dict, description="drill component names (features) -> what they are here"
    )

    @field_validator("canary_prefix")
    @classmethod
    def _owned_prefix(cls, value: str) -> str:
        if not value.startswith("drill") or not value.endswith("/"):
            raise ValueError(f"{value!r}: the harness writes only under its own prefix (drill.../)")
        return value

    @field_validator("fis_duration")
    @classmethod
    def _fis_duration(cls, value: str) -> str:
        m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", value)
        seconds = sum(int(g or 0) * k for g, k in zip(m.groups(), (3600, 60, 1), strict=True)) if m else 0
        if not 1 <= seconds <= 43200:
            raise ValueError(f"{value!r}: an ISO 8601 duration like PT30M, between 1 s and 12 h (FIS's limits)")
        return value

    @field_validator("outage_subnet_tags")
    @classmethod
    def _subnet_tags(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("at least one tag: the outage cuts off only the subnets carrying them")
        return value

    @field_validator("canary_weights")
    @classmethod
    def _weights(cls, value: list[int]) -> list[int]:
        if not value or value[-1] != 100 or any(not 0 < w <= 100 for w in value) or value != sorted(value):
            raise ValueError(f"{value}: rising percentages of traffic back to the primary region, ending at 100")
        return value

    def sides(self) -> list[tuple[str, RegionSide]]:
        return [("primary", self.primary), ("dr", self.dr)]

    def placeholders(self) -> list[str]:
        """Fields still holding an example placeholder (<...>)."""
        out = []
        for path, value in _leaves(self.model_dump(), WHERE):
            if isinstance(value, str) and value.startswith("<"):
                out.append(path)
        return out


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _leaves(value: Any, path: str):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _expand(value: Any) -> Any:
    """Nested `{type: env, key, default}` entries (chaoslib loads only the top level) read from the environment."""
    if isinstance(value, dict):
        if value.get("type") == "env" and "key" in value:
            return os.environ.get(str(value["key"]), value.get("default"))
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def has_region(configuration: Configuration) -> bool:
    return isinstance((configuration or {}).get("region"), dict)


def region_setup(configuration: Configuration, path: str = "target file", *, filled: bool = True) -> RegionSetup:
    """configuration.region, typed and checked; ConfigError naming the file and the field. `filled`: every
    value set (no <PLACEHOLDER> left: the environment variable behind it is named)."""
    raw = (configuration or {}).get("region")
    if not isinstance(raw, dict):
        raise ConfigError(path, WHERE, "missing: the region drill needs the primary and DR regions' resources")
    try:
        setup = RegionSetup.model_validate(_expand(raw))
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(path, f"{WHERE}.{field}", first["msg"]) from None
    if setup.primary.region == setup.dr.region and not setup.primary.region.startswith("<"):
        raise ConfigError(path, f"{WHERE}.dr.region", f"same as the primary region ({setup.primary.region})")
    if setup.database.mode == "aurora-global" and not setup.database.global_cluster:
        raise ConfigError(path, f"{WHERE}.database.global_cluster", "required with mode aurora-global")
    if setup.outage == "fis-cross-region" and not setup.fis_role_arn:
        raise ConfigError(path, f"{WHERE}.fis_role_arn", "required with outage fis-cross-region")
    for side, where in setup.sides():
        if (where.asg is None) == (where.kubernetes is None):
            raise ConfigError(path, f"{WHERE}.{side}", "the app tier: exactly one of asg or kubernetes")
        if setup.routing == "failover" and not where.health_check:
            raise ConfigError(path, f"{WHERE}.{side}.health_check", "required with routing failover")
    if setup.outage == "asg-and-dns" and setup.primary.asg is None:
        raise ConfigError(
            path,
            f"{WHERE}.outage",
            "asg-and-dns scales the primary ASG to 0: with a Kubernetes app tier use fis-cross-region",
        )
    if filled:
        missing = setup.placeholders()
        if missing:
            envs = _env_keys(raw, WHERE)
            raise ConfigError(
                path,
                missing[0],
                "still the example's placeholder"
                + (f": set {envs[missing[0]]} in the environment" if missing[0] in envs else ""),
            )
    return setup


def _env_keys(value: Any, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(value, dict):
        if value.get("type") == "env" and "key" in value:
            return {path: str(value["key"])}
        for k, v in value.items():
            out.update(_env_keys(v, f"{path}.{k}"))
    return out


def _target_path(configuration: Configuration) -> str:
    return str(conf(configuration, "drill_target") or "target file")


def _target_safety(configuration: Configuration) -> Any:
    import yaml

    path = conf(configuration, "drill_target")
    if not path:
        return None
    data = yaml.safe_load(open(str(path), encoding="utf-8").read()) or {}
    return safety.validate_section(data.get("environment"), data.get("safety"), where=str(path)).safety


# -- clients per region ------------------------------------------------------------------------------------------
class RegionRun:
    """What the runbook steps act through: the setup, one boto3 client per (service, region), the parameters
    (timeout, poll interval) and the facts steps hand on (the expected RPO, renamed databases, ...). Tests may
    hand in `clients` (botocore Stubber-wrapped) for the calls moto lacks."""

    def __init__(
        self,
        setup: RegionSetup,
        configuration: Configuration = None,
        clients: dict[tuple[str, str], Any] | None = None,
        timeout: float = 900.0,
        poll: float = 5.0,
        rpo_target_s: float | None = None,
        safety: Any = None,
    ):
        self.setup, self.configuration = setup, configuration
        # the target file's SafetySection (its kubernetes allowlist, for a Kubernetes app tier): given, or read
        # from the file configuration drill_target names (every target's configuration carries it)
        if safety is None and any(w.kubernetes is not None for _, w in setup.sides()):
            safety = _target_safety(configuration)
        self.safety = safety
        self.k8s_clusters: dict[tuple[str, str, str], Any] = {}
        self._clients = dict(clients or {})
        self.timeout, self.poll_s, self.rpo_target_s = float(timeout), float(poll), rpo_target_s
        self.facts: dict[str, Any] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = session(self.configuration).client(service, region_name=region)
        return self._clients[key]

    def rds(self, side: str) -> Any:
        return self.client("rds", self.side(side).region)

    def side(self, name: str) -> RegionSide:
        return self.setup.primary if name == "primary" else self.setup.dr

    def route53(self) -> Any:
        return self.client("route53", self.setup.primary.region)

    def wait(self, what: str, check: Callable[[], Any]) -> Any:
        """check() until truthy; HarnessError naming `what` after the run's timeout."""
        deadline, last = time.monotonic() + self.timeout, None
        while True:
            try:
                value = check()
                if value:
                    return value
            except HarnessError:
                raise
            except Exception as err:  # noqa: BLE001 - AWS mid-change; retry until the deadline
                last = err
            if time.monotonic() >= deadline:
                raise HarnessError(
                    f"timed out after {self.timeout:g} s waiting for {what}"
                    + (f" (last error: {type(last).__name__}: {str(last)[:160]})" if last else "")
                )
            time.sleep(self.poll_s)


# -- describe: every resource the region drill touches, with its tags --------------------------------------------
def _db_instance(run: RegionRun, side: str, instance_id: str | None = None) -> dict[str, Any]:
    ident = instance_id or run.side(side).database
    return run.rds(side).describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]


def _asg(run: RegionRun, side: str) -> dict[str, Any]:
    name = run.side(side).asg
    found = run.client("autoscaling", run.side(side).region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    if not found:
        raise HarnessError(f"no Auto Scaling group {name} in {run.side(side).region}")
    return found[0]


def _bucket_tags(run: RegionRun, side: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    s3 = run.client("s3", run.side(side).region)
    try:
        return _tags(s3.get_bucket_tagging(Bucket=run.side(side).bucket).get("TagSet"))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise


def _zone_tags(run: RegionRun) -> dict[str, str]:
    zone = run.setup.dns.zone_id.split("/")[-1]
    found = run.route53().list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone)
    return _tags(found.get("ResourceTagSet", {}).get("Tags"))


def _health_check_tags(run: RegionRun, check_id: str) -> dict[str, str]:
    found = run.route53().list_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id)
    return _tags(found.get("ResourceTagSet", {}).get("Tags"))


def _topic_tags(run: RegionRun) -> dict[str, str]:
    arn = run.setup.sns_topic_arn
    sns = run.client("sns", arn.split(":")[3])
    return _tags(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))


def region_resources(run: RegionRun, acted: set[str]) -> list[Resource]:
    """Every resource of the region section, described in its own region (read-only), with its tags; `acted`
    names which ones the drill changes (the others are context, still tag-checked)."""
    s = run.setup
    out: list[Resource] = []
    for side, where in s.sides():
        db = _db_instance(run, side) if s.database.mode == "read-replica" else None
        if db is not None:
            role = (
                "replica of " + db["ReadReplicaSourceDBInstanceIdentifier"].split(":")[-1]
                if db.get("ReadReplicaSourceDBInstanceIdentifier")
                else "primary"
            )
            out.append(
                Resource(
                    kind="rds-instance",
                    id=where.database,
                    role=f"{side} database ({role}, {where.region})",
                    tags=_tags(db.get("TagList")),
                    state=db.get("DBInstanceStatus", ""),
                    acted=f"{side}-database" in acted,
                )
            )
        else:
            cluster = run.rds(side).describe_db_clusters(DBClusterIdentifier=where.database)["DBClusters"][0]
            out.append(
                Resource(
                    kind="rds-cluster",
                    id=where.database,
                    role=f"{side} cluster of global {s.database.global_cluster} ({where.region})",
                    tags=_tags(cluster.get("TagList")),
                    state=cluster.get("Status", ""),
                    acted=f"{side}-database" in acted,
                )
            )
        if where.kubernetes is not None:
            out.append(apptier.resource(run, side, f"{side}-app" in acted))
        else:
            group = _asg(run, side)
            out.append(
                Resource(
                    kind="autoscaling-group",
                    id=where.asg,
                    role=f"{side} app tier ({where.region})",
                    tags={t["Key"]: t["Value"] for t in group.get("Tags", [])},
                    state=f"desired {group['DesiredCapacity']}",
                    acted=f"{side}-app" in acted,
                )
            )
        out.append(
            Resource(
                kind="s3-bucket",
                id=where.bucket,
                role=f"{side} bucket ({where.region}; canary objects under {s.canary_prefix} only)",
                tags=_bucket_tags(run, side),
                acted=f"{side}-bucket" in acted,
            )
        )
        if where.health_check:
            out.append(
                Resource(
                    kind="route53-health-check",
                    id=where.health_check,
                    role=f"{side} record's health check",
                    tags=_health_check_tags(run, where.health_check),
                    acted=f"{side}-health-check" in acted,
                )
            )
    if s.cache is not None:
        out.extend(cache.resources(run, "cache" in acted))
    out.append(
        Resource(
            kind="route53-zone",
            id=s.dns.zone_id,
            role=f"records {s.dns.name} {s.dns.type} ({s.primary.set_identifier}, {s.dr.set_identifier})",
            tags=_zone_tags(run),
            acted="dns" in acted,
        )
    )
    out.append(
        Resource(
            kind="sns-topic", id=s.sns_topic_arn, role="status updates", tags=_topic_tags(run), acted="sns" in acted
        )
    )
    return out


def check_regions_allowed(run: RegionRun, allowed_regions: list[str]) -> None:
    """Both regions on the target's allowlist (safety.aws.regions); SafetyRefused before anything is touched."""
    for side, where in run.setup.sides():
        if where.region not in allowed_regions:
            raise safety.SafetyRefused(
                f"the {side} region {where.region} ({WHERE}.{side}.region) is not on this target's allowlist "
                f"(safety.aws.regions: {', '.join(allowed_regions)}); nothing was touched"
            )


# -- plans (read-only) -------------------------------------------------------------------------------------------
def _app_call(s: RegionSetup, desired: int | str) -> str:
    if s.dr.kubernetes is not None:
        return apptier.scale_call(s, "dr", desired)
    return f"autoscaling:UpdateAutoScalingGroup({s.dr.asg}, DesiredCapacity={desired}, {s.dr.region})"


def failover_calls(s: RegionSetup) -> list[str]:
    """Every AWS call of region-failover, in order (reads marked `read:`)."""
    db = (
        [f"rds:PromoteReadReplica({s.dr.database}, {s.dr.region})"]
        if s.database.mode == "read-replica"
        else [
            f"rds:FailoverGlobalCluster({s.database.global_cluster}, target={s.dr.database}, "
            "AllowDataLoss=true when the primary region is down, else SwitchoverGlobalCluster)"
        ]
    )
    return [
        f"read: rds:DescribeDBInstances({s.dr.database}, {s.dr.region})",
        f"read: cloudwatch:GetMetricStatistics(AWS/RDS ReplicaLag, {s.dr.database}, {s.dr.region})"
        if s.database.mode == "read-replica"
        else f"read: cloudwatch:GetMetricStatistics(AWS/RDS AuroraGlobalDBReplicationLag, {s.dr.database})",
        f"read: rds:DescribeDBSnapshots({s.primary.database}, automated)",
        f"s3:PutObject({s.primary.bucket}/{s.canary_prefix}canary-<run>) then read: s3:HeadObject({s.dr.bucket})",
        *db,
        *(cache.calls(s, "dr") if s.cache else []),
        _app_call(s, s.dr_capacity),
        *dns.switch_calls(s, "dr"),
        f"sns:Publish({s.sns_topic_arn})",
    ]


def failback_calls(s: RegionSetup) -> list[str]:
    stamp = "<stamp>"
    if s.database.mode == "read-replica":
        db = [
            f"rds:ModifyDBInstance({s.primary.database} -> {s.primary.database}-pre-failover-{stamp}, {s.primary.region})",
            f"rds:CreateDBInstanceReadReplica({s.primary.database} in {s.primary.region} <- {s.dr.database})",
        ]
        promote = [f"rds:PromoteReadReplica({s.primary.database}, {s.primary.region})"]
        reset = [
            f"rds:ModifyDBInstance({s.dr.database} -> {s.dr.database}-pre-failback-{stamp}, {s.dr.region})",
            f"rds:CreateDBInstanceReadReplica({s.dr.database} in {s.dr.region} <- {s.primary.database})",
        ]
    else:
        db, promote, reset = (
            [],
            [f"rds:SwitchoverGlobalCluster({s.database.global_cluster}, target={s.primary.database})"],
            [],
        )
    return [
        *db,
        f"read: cloudwatch:GetMetricStatistics(ReplicaLag, {s.primary.database}) <= {s.database.caught_up_lag_s:g} s",
        *dns.canary_calls(s),
        *promote,
        *(cache.calls(s, "primary") if s.cache else []),
        *dns.switch_calls(s, "primary"),
        _app_call(s, "<before the failover>"),
        *reset,
        f"sns:Publish({s.sns_topic_arn})",
    ]


def outage_calls(s: RegionSetup, desired: int | str = "<now>") -> list[str]:
    if s.outage == "fis-cross-region":  # the exact template is in the plan (aws_fis.plan_fis_cross_region)
        return [
            "fis:CreateExperimentTemplate(aws:network:route-table-disrupt-cross-region-connectivity, subnets of "
            f"{s.primary.region} tagged {json.dumps(s.outage_subnet_tags)}, region {s.dr.region}, {s.fis_duration})",
            "fis:StartExperiment(the new template)",
            "fis:GetExperiment (watched until running)",
        ]
    return [
        f"autoscaling:UpdateAutoScalingGroup({s.primary.asg}, MinSize=0, DesiredCapacity=0, {s.primary.region}; "
        f"was {desired})",
        f"route53:UpdateHealthCheck({s.primary.health_check}, Inverted=true): the primary record answers unhealthy",
    ]


def _plan(
    fault: str,
    summary: str,
    configuration: Configuration,
    acted: set[str],
    calls: list[str],
    undo: str,
    undo_record: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> tuple[FaultPlan, RegionRun]:
    setup = region_setup(configuration, _target_path(configuration))
    run = RegionRun(setup, configuration)
    resources = region_resources(run, acted)
    return (
        FaultPlan(
            fault=fault,
            summary=summary,
            region=setup.primary.region,
            resources=resources,
            calls=calls,
            undo_summary=undo,
            undo_record=undo_record or {"kind": "none"},
            notes=notes or [],
        ),
        run,
    )


def plan_region_failover(configuration: Configuration = None, **_: Any) -> FaultPlan:
    setup = region_setup(configuration, _target_path(configuration))
    plan, _run = _plan(
        "region-failover",
        f"fail over from {setup.primary.region} to {setup.dr.region} (plan 3.3 steps 1-7)",
        configuration,
        {"dr-database", "dr-app", "dns", "primary-bucket", "sns", "cache"},
        failover_calls(setup),
        "region-failback (plan 3.4) puts the primary region back; the promoted DR database is not demoted",
        notes=[f"S3: the canary object is written under {setup.canary_prefix} only, and deleted again"],
    )
    return plan


def plan_region_failback(configuration: Configuration = None, **_: Any) -> FaultPlan:
    setup = region_setup(configuration, _target_path(configuration))
    plan, _run = _plan(
        "region-failback",
        f"fail back from {setup.dr.region} to {setup.primary.region} (plan 3.4)",
        configuration,
        {"primary-database", "dr-database", "dr-app", "dns", "sns", "cache"},
        failback_calls(setup),
        "none: failback is the undo of a failover; replaced databases are renamed and kept for the operator",
        notes=["databases are never deleted: the renamed ones are listed in the step's outcome"],
    )
    return plan


def plan_region_outage(configuration: Configuration = None, **_: Any) -> FaultPlan:
    setup = region_setup(configuration, _target_path(configuration))
    run = RegionRun(setup, configuration)
    if setup.outage == "fis-cross-region":
        return _plan_fis_outage(setup, run, configuration)
    if not setup.primary.health_check:
        raise ConfigError(
            _target_path(configuration), f"{WHERE}.primary.health_check", "required by outage asg-and-dns"
        )
    group = _asg(run, "primary")
    check = run.route53().get_health_check(HealthCheckId=setup.primary.health_check)["HealthCheck"]
    inverted = bool(check.get("HealthCheckConfig", {}).get("Inverted"))
    record = {
        "kind": "region-restore",
        "asg": setup.primary.asg,
        "asg_region": setup.primary.region,
        "min_size": group["MinSize"],
        "desired": group["DesiredCapacity"],
        "health_check": setup.primary.health_check,
        "inverted": inverted,
    }
    plan, _run = _plan(
        "region-outage",
        f"the primary region {setup.primary.region} goes dark: app tier {setup.primary.asg} to 0, its Route 53 "
        "record unhealthy (health check inverted)",
        configuration,
        {"primary-app", "primary-health-check"},
        outage_calls(setup, f"min {group['MinSize']}, desired {group['DesiredCapacity']}"),
        f"{setup.primary.asg} back to min {group['MinSize']} / desired {group['DesiredCapacity']}, health check "
        f"{setup.primary.health_check} Inverted={str(inverted).lower()}",
        record,
        notes=[
            "AWS cannot fail a real region: this is the rehearsal the target file chose (outage asg-and-dns); "
            "the primary database is left running (the promoted DR replica stops replicating from it)"
        ],
    )
    return plan


def _plan_fis_outage(setup: RegionSetup, run: RegionRun, configuration: Configuration) -> FaultPlan:
    """outage fis-cross-region: FIS cuts the primary region's tagged subnets off from the DR region
    (harness/faults/aws_fis.py builds the template; its undo stops the experiment and deletes the template)."""
    from harness.faults import aws_fis

    config = {**(configuration or {}), "aws_region": setup.primary.region}  # the experiment region
    plan = aws_fis.plan_fis_cross_region(
        str(setup.fis_role_arn), setup.dr.region, setup.outage_subnet_tags, setup.fis_duration, configuration=config
    )
    context = region_resources(run, set())  # every resource of the section, tag-checked, none changed
    return plan.model_copy(
        update={
            "resources": [*plan.resources, *context],
            "notes": [
                "AWS cannot fail a real region: this is the rehearsal the target file chose (outage "
                f"fis-cross-region): traffic from {setup.primary.region}'s subnets tagged "
                f"{json.dumps(setup.outage_subnet_tags)} to {setup.dr.region} is dropped; the app tier, the "
                "databases and the Route 53 records are not touched (the failover's own steps move them)",
                *plan.notes,
            ],
        }
    )


PLANNERS: dict[str, Callable[..., FaultPlan]] = {
    "region_outage": plan_region_outage,
    "region_failover": plan_region_failover,
    "region_failback": plan_region_failback,
}


# -- region-outage: the act and its undo -------------------------------------------------------------------------
def outage_act(run: RegionRun) -> dict[str, Any]:
    s = run.setup
    run.client("autoscaling", s.primary.region).update_auto_scaling_group(
        AutoScalingGroupName=s.primary.asg, MinSize=0, DesiredCapacity=0
    )
    run.route53().update_health_check(HealthCheckId=s.primary.health_check, Inverted=True)
    return {"asg": s.primary.asg, "desired": 0, "health_check": s.primary.health_check, "inverted": True}


@undo_actions.undo_action("aws_region_restore")
def _undo_region_restore(record: dict[str, Any]) -> str:
    config = {"aws_region": record["region"], "aws_profile_name": record.get("profile") or None}
    s = session(config)
    if record.get("account"):  # only in the recorded account: other credentials now refuse, touching nothing
        who = safety.aws_identity(record["region"], s)
        if who.account != record["account"]:
            raise safety.SafetyRefused(
                f"undo recorded in AWS account {record['account']} but the credentials now are for "
                f"{who.account} ({who.arn}); nothing was touched"
            )
    s.client("route53", region_name=record["region"]).update_health_check(
        HealthCheckId=record["health_check"], Inverted=bool(record["inverted"])
    )
    s.client("autoscaling", region_name=record["asg_region"]).update_auto_scaling_group(
        AutoScalingGroupName=record["asg"], MinSize=int(record["min_size"]), DesiredCapacity=int(record["desired"])
    )
    return (
        f"{record['asg']} back to min {record['min_size']} / desired {record['desired']}; health check "
        f"{record['health_check']} Inverted={str(bool(record['inverted'])).lower()}"
    )


# -- runbook steps (ctx.lab is the RegionRun; each returns what it found) ----------------------------------------
def _metric_latest(run: RegionRun, side: str, metric: str, dimension: str, ident: str) -> float | None:
    now = datetime.now(UTC)
    found = run.client("cloudwatch", run.side(side).region).get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName=metric,
        Dimensions=[{"Name": dimension, "Value": ident}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    if not found:
        return None
    latest = max(found, key=lambda d: d["Timestamp"])
    value = float(latest["Maximum"])
    return value / 1000.0 if metric == "AuroraGlobalDBReplicationLag" else value  # ms -> s


def check_dr_database(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    if s.database.mode == "aurora-global":
        cluster = run.rds("dr").describe_db_clusters(DBClusterIdentifier=s.dr.database)["DBClusters"][0]
        if cluster.get("Status") != "available":
            raise HarnessError(f"DR cluster {s.dr.database} is {cluster.get('Status')}, not available")
        lag = _metric_latest(run, "dr", "AuroraGlobalDBReplicationLag", "DBClusterIdentifier", s.dr.database)
        what = f"DR cluster {s.dr.database} available (secondary of {s.database.global_cluster})"
    else:
        db = _db_instance(run, "dr")
        if db.get("DBInstanceStatus") != "available":
            raise HarnessError(f"DR database {s.dr.database} is {db.get('DBInstanceStatus')}, not available")
        source = db.get("ReadReplicaSourceDBInstanceIdentifier")
        if not source:
            raise HarnessError(f"DR database {s.dr.database} is not a read replica: nothing to promote")
        lag = _metric_latest(run, "dr", "ReplicaLag", "DBInstanceIdentifier", s.dr.database)
        what = f"DR database {s.dr.database} available, replica of {source.split(':')[-1]}"
    if lag is None:
        raise HarnessError(
            f"no replica-lag datapoint for {s.dr.database} in {s.dr.region} in the last 10 minutes (CloudWatch): "
            "the expected RPO cannot be stated"
        )
    run.facts["expected_rpo_s"] = lag
    verdict = ""
    if run.rpo_target_s is not None:
        ok = lag <= run.rpo_target_s
        verdict = f" {'within' if ok else 'OVER'} the RPO target {run.rpo_target_s:g} s"
        if not ok:
            raise HarnessError(f"{what}; expected RPO {lag:g} s (replica lag){verdict}")
    return f"{what}; expected RPO {lag:g} s (CloudWatch replica lag){verdict}"


def check_snapshot(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    rds = run.rds("primary")
    if s.database.mode == "aurora-global":
        snaps = rds.describe_db_cluster_snapshots(DBClusterIdentifier=s.primary.database, SnapshotType="automated")[
            "DBClusterSnapshots"
        ]
    else:
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier=s.primary.database, SnapshotType="automated")[
            "DBSnapshots"
        ]
    done = [x for x in snaps if x.get("Status") == "available" and x.get("SnapshotCreateTime")]
    if not done:
        raise HarnessError(f"no available automated snapshot of {s.primary.database} in {s.primary.region}")
    latest = max(done, key=lambda x: x["SnapshotCreateTime"])
    age_h = (datetime.now(UTC) - latest["SnapshotCreateTime"]).total_seconds() / 3600
    ident = latest.get("DBSnapshotIdentifier") or latest.get("DBClusterSnapshotIdentifier")
    if age_h > s.database.snapshot_max_age_h:
        raise HarnessError(
            f"latest automated snapshot {ident} is {age_h:.1f} h old, older than the schedule "
            f"({s.database.snapshot_max_age_h:g} h)"
        )
    return f"latest automated snapshot {ident} available, {age_h * 60:.0f} min old (schedule {s.database.snapshot_max_age_h:g} h)"


def check_s3_replication(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    key = f"{s.canary_prefix}canary-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    src, dst = run.client("s3", s.primary.region), run.client("s3", s.dr.region)
    t0 = time.monotonic()
    src.put_object(Bucket=s.primary.bucket, Key=key, Body=b"drill canary: cross-region replication check\n")
    run.wait(
        f"the canary s3://{s.primary.bucket}/{key} to replicate to {s.dr.bucket}",
        lambda: dst.head_object(Bucket=s.dr.bucket, Key=key),
    )
    took = time.monotonic() - t0
    run.facts["s3_replication_s"] = took
    for client_, bucket in ((src, s.primary.bucket), (dst, s.dr.bucket)):
        client_.delete_object(Bucket=bucket, Key=key)  # the harness's own object, under its own prefix
    return f"canary {key} replicated {s.primary.bucket} -> {s.dr.bucket} in {took:.1f} s (then deleted from both)"


def _writable(dsn: str) -> bool:
    """A transaction id can be assigned: the database takes writes (a standby refuses)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SELECT txid_current()")
    return True


def promote_dr_database(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    t0 = time.monotonic()
    if s.database.mode == "aurora-global":
        how = _global_failover(run, target_side="dr")
    else:
        run.rds("dr").promote_read_replica(DBInstanceIdentifier=s.dr.database)

        def promoted() -> bool:
            db = _db_instance(run, "dr")
            return db.get("DBInstanceStatus") == "available" and not db.get("ReadReplicaSourceDBInstanceIdentifier")

        run.wait(f"{s.dr.database} to be a standalone, available database", promoted)
        how = f"PromoteReadReplica {s.dr.database}"
    writable = ""
    if s.dr.dsn:
        run.wait(f"{s.dr.database} to take writes", lambda: _writable(s.dr.dsn))
        writable = "; takes writes (txid assigned through the DR endpoint)"
    return f"{how}: available in {s.dr.region} after {time.monotonic() - t0:.1f} s{writable}"


def _global_failover(run: RegionRun, target_side: str) -> str:
    """Aurora global database: a switchover when the primary region answers, else a failover (data loss allowed).
    moto has neither call: tests drive this through botocore's Stubber."""
    s = run.setup
    target = run.side(target_side)
    rds = run.rds(target_side)
    arn = rds.describe_db_clusters(DBClusterIdentifier=target.database)["DBClusters"][0]["DBClusterArn"]
    planned = bool(run.facts.get("planned"))
    if planned:
        rds.switchover_global_cluster(GlobalClusterIdentifier=s.database.global_cluster, TargetDbClusterIdentifier=arn)
    else:
        rds.failover_global_cluster(
            GlobalClusterIdentifier=s.database.global_cluster, TargetDbClusterIdentifier=arn, AllowDataLoss=True
        )

    def writer_is_target() -> bool:
        found = rds.describe_global_clusters(GlobalClusterIdentifier=s.database.global_cluster)["GlobalClusters"][0]
        return any(m.get("DBClusterArn") == arn and m.get("IsWriter") for m in found.get("GlobalClusterMembers", []))

    run.wait(f"{target.database} to be the writer of global cluster {s.database.global_cluster}", writer_is_target)
    return f"{'SwitchoverGlobalCluster' if planned else 'FailoverGlobalCluster'} -> {target.database}"


def scale_dr_app(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    if s.dr.kubernetes is not None:
        return apptier.scale_dr_up(run)
    before = _asg(run, "dr")
    run.facts["dr_asg_before"] = {"MinSize": before["MinSize"], "DesiredCapacity": before["DesiredCapacity"]}
    if before["MaxSize"] < s.dr_capacity:
        raise HarnessError(f"{s.dr.asg}: MaxSize {before['MaxSize']} is below dr_capacity {s.dr_capacity}")
    run.client("autoscaling", s.dr.region).update_auto_scaling_group(
        AutoScalingGroupName=s.dr.asg, DesiredCapacity=s.dr_capacity
    )

    def healthy() -> int:
        g = _asg(run, "dr")
        ok = [i for i in g["Instances"] if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"]
        return len(ok) if len(ok) >= s.dr_capacity else 0

    n = run.wait(f"{s.dr.asg} to have {s.dr_capacity} healthy in-service instances", healthy)
    return f"{s.dr.asg}: desired {before['DesiredCapacity']} -> {s.dr_capacity}; {n} instances InService and Healthy"


set_weights = dns.set_weights  # the weighted pair (also the failback canary's)
dns_answer = dns.dns_answer


def flip_dns_to_dr(ctx: Any) -> str:
    return dns.switch_to(ctx.lab, "dr")


def _http_ok(url: str) -> bool:
    import httpx

    return httpx.get(url, timeout=5).status_code == 200


def _canary_write(dsn: str, note: str) -> int:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS drill_region_canary (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), "
            "note text)"
        )
        row = conn.execute("INSERT INTO drill_region_canary (note) VALUES (%s) RETURNING id", (note,)).fetchone()
        back = conn.execute("SELECT count(*) FROM drill_region_canary WHERE id = %s", (row[0],)).fetchone()[0]
    if back != 1:
        raise HarnessError(f"canary row {row[0]} written but not read back")
    return int(row[0])


def verify_region(run: RegionRun, side: str) -> str:
    where = run.side(side)
    done = []
    if where.app_url:
        run.wait(f"the {side} region's app {where.app_url} to answer 200", lambda: _http_ok(where.app_url))
        done.append(f"app {where.app_url} answers 200")
    if where.dsn:
        row = _canary_write(where.dsn, f"region drill: {side} region serves")
        done.append(f"canary write {row} landed in {where.database} and was read back")
    if not done:
        raise HarnessError(
            f"{WHERE}.{side}: neither app_url nor dsn is set: the post-failover verification has nothing to check"
        )
    return "; ".join(done)


def verify_dr(ctx: Any) -> str:
    return verify_region(ctx.lab, "dr") + " (the drill's probes and writer keep measuring through the DR endpoints)"


def notify(run: RegionRun, text: str) -> str:
    s = run.setup
    sns = run.client("sns", s.sns_topic_arn.split(":")[3])
    body = {"drill": True, "status": text, "at": datetime.now(UTC).isoformat(timespec="seconds"), **run.facts}
    msg = sns.publish(TopicArn=s.sns_topic_arn, Subject="DR drill status", Message=json.dumps(body, default=str))
    return f"published to {s.sns_topic_arn} (MessageId {msg['MessageId']}): {text}"


def notify_failover(ctx: Any) -> str:
    s = ctx.lab.setup
    return notify(ctx.lab, f"service runs in the DR region {s.dr.region}; next update at the failback")


# -- failback ----------------------------------------------------------------------------------------------------
def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def check_primary_region(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    if s.primary.health_check:
        cfg = run.route53().get_health_check(HealthCheckId=s.primary.health_check)["HealthCheck"]["HealthCheckConfig"]
        if cfg.get("Inverted"):
            raise HarnessError(
                f"health check {s.primary.health_check} is still inverted: undo the region-outage fault first "
                "(`drill fault undo ID`)"
            )
    if s.primary.kubernetes is not None:
        ready = apptier.ready_replicas(run, "primary")
        if not ready:
            raise HarnessError(
                f"deployment {s.primary.kubernetes.deployment} has no ready replica: the primary region's app tier is down"
            )
        app = f"deployment {s.primary.kubernetes.deployment} has {ready} ready replicas"
    else:
        group = _asg(run, "primary")
        inservice = [i for i in group["Instances"] if i["LifecycleState"] == "InService"]
        if not inservice:
            raise HarnessError(f"{s.primary.asg} has no in-service instance: the primary region's app tier is down")
        app = f"{s.primary.asg} has {len(inservice)} in-service instances"
    if s.database.mode == "read-replica":
        dr = _db_instance(run, "dr")
        if dr.get("ReadReplicaSourceDBInstanceIdentifier"):
            raise HarnessError(
                f"{s.dr.database} is still a replica: there is nothing to fail back (run region-failover)"
            )
    return f"primary region {s.primary.region} available: {app}"


def reverse_replication(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    if s.database.mode == "aurora-global":
        return f"global cluster {s.database.global_cluster}: {s.primary.database} replicates from the DR writer already"
    stamp = _stamp()
    old = f"{s.primary.database}-pre-failover-{stamp}"
    prim = run.rds("primary")
    before = _db_instance(run, "primary")
    prim.modify_db_instance(DBInstanceIdentifier=s.primary.database, NewDBInstanceIdentifier=old, ApplyImmediately=True)
    run.wait(f"{s.primary.database} to be renamed {old}", lambda: _db_instance(run, "primary", old))
    dr_arn = _db_instance(run, "dr")["DBInstanceArn"]
    prim.create_db_instance_read_replica(
        DBInstanceIdentifier=s.primary.database,
        SourceDBInstanceIdentifier=dr_arn,
        SourceRegion=s.dr.region,
        DBInstanceClass=before.get("DBInstanceClass", "db.r5.large"),
        Tags=[{"Key": k, "Value": v} for k, v in _tags(before.get("TagList")).items()],
    )
    run.wait(
        f"the new replica {s.primary.database} to be available",
        lambda: _db_instance(run, "primary").get("DBInstanceStatus") == "available",
    )
    run.facts["kept_for_operator"] = [*run.facts.get("kept_for_operator", []), f"{old} ({s.primary.region})"]
    return (
        f"old primary renamed {old} (kept, not deleted); new cross-region replica {s.primary.database} in "
        f"{s.primary.region} of {s.dr.database}"
    )


def wait_caught_up(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    limit = s.database.caught_up_lag_s
    if s.database.mode == "aurora-global":
        metric, dim = "AuroraGlobalDBReplicationLag", "DBClusterIdentifier"
    else:
        metric, dim = "ReplicaLag", "DBInstanceIdentifier"

    def caught_up() -> float | None:
        lag = _metric_latest(run, "primary", metric, dim, s.primary.database)
        return None if lag is None or lag > limit else lag + 1e-9

    lag = run.wait(f"{s.primary.database}'s {metric} to be at most {limit:g} s", caught_up)
    return f"{s.primary.database} caught up: {metric} {lag:.3g} s (<= {limit:g} s)"


def _probe_hold(run: RegionRun, seconds: float) -> int:
    """Probe the primary region's app through the hold; HarnessError at the first failure. Returns checks made."""
    url = run.setup.primary.app_url
    end, checks = time.monotonic() + seconds, 0
    while True:
        if url:
            if not _http_ok(url):
                raise HarnessError(f"the primary region's app {url} failed a check during the canary hold")
            checks += 1
        if time.monotonic() >= end:
            return checks
        time.sleep(min(0.5, max(0.05, seconds / 4)))


def canary_weights(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    return dns.canary(run, float(ctx.param("hold_s") or run.setup.canary_hold_s), _probe_hold)


def switch_database_back(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    t0 = time.monotonic()
    run.facts["planned"] = True
    if s.database.mode == "aurora-global":
        how = _global_failover(run, target_side="primary")
    else:
        run.rds("primary").promote_read_replica(DBInstanceIdentifier=s.primary.database)
        run.wait(
            f"{s.primary.database} to be a standalone, available database",
            lambda: (
                (db := _db_instance(run, "primary")).get("DBInstanceStatus") == "available"
                and not db.get("ReadReplicaSourceDBInstanceIdentifier")
            ),
        )
        how = f"PromoteReadReplica {s.primary.database}"
    if s.primary.dsn:
        run.wait(f"{s.primary.database} to take writes", lambda: _writable(s.primary.dsn))
    return f"{how}: the primary region's database takes writes after {time.monotonic() - t0:.1f} s"


def complete_dns_failback(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    return f"{dns.switch_to(run, 'primary')}; {verify_region(run, 'primary')}"


def reset_dr(ctx: Any) -> str:
    run: RegionRun = ctx.lab
    s = run.setup
    if s.dr.kubernetes is not None:
        out = [apptier.scale_dr_down(run, int(ctx.param("dr_desired") or 0))]
    else:
        before = run.facts.get("dr_asg_before") or {"MinSize": 0, "DesiredCapacity": int(ctx.param("dr_desired") or 0)}
        run.client("autoscaling", s.dr.region).update_auto_scaling_group(
            AutoScalingGroupName=s.dr.asg,
            MinSize=int(before["MinSize"]),
            DesiredCapacity=int(before["DesiredCapacity"]),
        )
        out = [f"{s.dr.asg} back to desired {before['DesiredCapacity']}"]
    if s.database.mode == "read-replica":
        old = f"{s.dr.database}-pre-failback-{_stamp()}"
        dr = run.rds("dr")
        before_db = _db_instance(run, "dr")
        dr.modify_db_instance(DBInstanceIdentifier=s.dr.database, NewDBInstanceIdentifier=old, ApplyImmediately=True)
        run.wait(f"{s.dr.database} to be renamed {old}", lambda: _db_instance(run, "dr", old))
        dr.create_db_instance_read_replica(
            DBInstanceIdentifier=s.dr.database,
            SourceDBInstanceIdentifier=_db_instance(run, "primary")["DBInstanceArn"],
            SourceRegion=s.primary.region,
            DBInstanceClass=before_db.get("DBInstanceClass", "db.r5.large"),
            Tags=[{"Key": k, "Value": v} for k, v in _tags(before_db.get("TagList")).items()],
        )
        run.wait(
            f"the new DR replica {s.dr.database} to be available",
            lambda: _db_instance(run, "dr").get("DBInstanceStatus") == "available",
        )
        run.facts["kept_for_operator"] = [*run.facts.get("kept_for_operator", []), f"{old} ({s.dr.region})"]
        out.append(f"{s.dr.database} re-created as a replica of {s.primary.database}; the promoted one renamed {old}")
    kept = run.facts.get("kept_for_operator") or []
    if kept:
        out.append("kept for the operator to review and delete: " + ", ".join(kept))
    return "; ".join(out)


def notify_failback(ctx: Any) -> str:
    s = ctx.lab.setup
    return notify(ctx.lab, f"service back in the primary region {s.primary.region}; DR region {s.dr.region} on standby")


# The runbooks as (title, action, manual instruction): harness/chaos/aws.py makes them Procedures. The titles
# follow the lab's (harness/recovery/region.py) so lab and AWS records read alike.
FAILOVER_STEPS: list[tuple[str, Callable[[Any], str] | None, str | None]] = [
    (
        "decide and authorise the failover (plan 3.3 step 1)",
        None,
        "Confirm the primary region has failed, assess the impact and get the regional failover authorised by "
        "a designated approver",
    ),
    ("verify DR region readiness: DR database and expected RPO (plan 3.3 step 2)", check_dr_database, None),
    ("validate the latest backup's integrity: automated snapshot (plan 3.3 step 2)", check_snapshot, None),
    ("confirm the data replication status: S3 canary (plan 3.3 step 2)", check_s3_replication, None),
    ("promote the DR database (plan 3.3 step 3)", promote_dr_database, None),
    ("scale the DR application tier up (plan 3.3 step 4)", scale_dr_app, None),
    ("switch DNS to the DR region: Route 53 + TestDNSAnswer (plan 3.3 step 5)", flip_dns_to_dr, None),
    ("post-failover verification through the DR endpoints (plan 3.3 step 6)", verify_dr, None),
    ("notify stakeholders: SNS status update (plan 3.3 step 7)", notify_failover, None),
]

FAILBACK_STEPS: list[tuple[str, Callable[[Any], str] | None, str | None]] = [
    (
        "schedule the failback (plan 3.4 step 1)",
        None,
        "Confirm the primary region is restored and approve the failback window",
    ),
    ("verify the primary region is available", check_primary_region, None),
    ("re-synchronise the primary region from DR (reverse replication)", reverse_replication, None),
    ("wait until the primary region has caught up", wait_caught_up, None),
    ("gradual transition: Route 53 weighted canary to the primary region", canary_weights, None),
    ("complete the failback: switch the database back", switch_database_back, None),
    ("complete DNS failback and verify the primary region (plan 3.4 step 5)", complete_dns_failback, None),
    ("reset the DR region to standby", reset_dr, None),
    ("notify stakeholders: SNS status update", notify_failback, None),
]


def failover_steps(s: RegionSetup) -> list[tuple[str, Callable[[Any], str] | None, str | None]]:
    """FAILOVER_STEPS, with the cache Global Datastore's check and failover when the file names one."""
    if s.cache is None:
        return list(FAILOVER_STEPS)
    steps = list(FAILOVER_STEPS)
    at = [t for t, _, _ in steps].index("promote the DR database (plan 3.3 step 3)")
    steps.insert(at, ("confirm the cache Global Datastore's replication (plan 3.3 step 2)", cache.check_step, None))
    steps.insert(at + 2, ("fail the cache Global Datastore over to DR (plan 3.3 step 3)", cache.failover_step, None))
    return steps


def failback_steps(s: RegionSetup) -> list[tuple[str, Callable[[Any], str] | None, str | None]]:
    """FAILBACK_STEPS, with the cache Global Datastore switched back after the database when the file names one."""
    if s.cache is None:
        return list(FAILBACK_STEPS)
    steps = list(FAILBACK_STEPS)
    at = [t for t, _, _ in steps].index("complete the failback: switch the database back")
    steps.insert(at + 1, ("switch the cache Global Datastore back to the primary region", cache.failback_step, None))
    return steps
