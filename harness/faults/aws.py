"""AWS faults, their undo and AWS state probes, as Chaos Toolkit activities (target files map the fault
vocabulary onto them: targets/aws-staging.example.yaml).

Every fault has two halves with the same arguments:

    plan_rds_cluster_failover(cluster_id)   read-only describe calls: the concrete resources (the blast
                                            radius), the API calls it would make and its undo
    rds_cluster_failover(cluster_id)        refuses without a safety clearance (harness.safety.preflight),
                                            plans, checks the blast radius against the target's limits,
                                            records its undo in the intent log, THEN acts on exactly
                                            what it planned (`drill recover` replays the undo)

An action returns {"id", "fault", "blast", "detail", "undo"}; `undo(id)` is the one rollback for all.
Credentials come only from the normal boto3 chain (profile, role, environment); boto3 honours
AWS_ENDPOINT_URL (a moto server in the tests). chaostoolkit-aws functions are used where they do exactly
this (RDS failover/reboot, EC2 stop/start/terminate by id, the FIS AZ power-interruption scenario); boto3
directly where they pick targets at random, re-query after the plan, or have no activity at all.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from collections.abc import Callable
from typing import Any

from harness import safety
from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.plan import FaultPlan
from harness.safety import Resource

ZONE_ALIASES = ("az-a", "az-b", "az-c")
Configuration = dict[str, Any] | None


# -- sessions and clients --------------------------------------------------------------------------------------
def conf(configuration: Configuration, key: str, default: Any = None) -> Any:
    """A configuration value; an unloaded Chaos Toolkit env entry ({type: env, key, default}) is read here."""
    value = (configuration or {}).get(key, default)
    if isinstance(value, dict) and value.get("type") == "env":
        value = os.environ.get(str(value.get("key")), value.get("default", default))
    return value


def region_of(configuration: Configuration = None) -> str:
    region = conf(configuration, "aws_region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region or str(region).startswith("<"):
        raise HarnessError("no AWS region: set configuration aws_region in the target file or AWS_REGION")
    return str(region)


def session(configuration: Configuration = None) -> Any:
    """boto3's default session (the one chaostoolkit-aws uses too, so both share credentials and event
    hooks), created from the normal credential chain and `aws_profile_name` when set."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        profile = conf(configuration, "aws_profile_name") or None
        boto3.setup_default_session(profile_name=profile)
    return boto3.DEFAULT_SESSION


def client(service: str, configuration: Configuration = None) -> Any:
    return session(configuration).client(service, region_name=region_of(configuration))


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # boto3 session -> {(service, region): client}


def shared_client(service: str, configuration: Configuration = None) -> Any:
    """One client per boto3 session, service and region, reused: a rehearsal can attach botocore's Stubber to
    the very client the harness will call (services moto lacks: DocumentDB, MSK's broker calls)."""
    s, region = session(configuration), region_of(configuration)
    per_session = _SHARED.setdefault(s, {})
    if (service, region) not in per_session:
        per_session[(service, region)] = s.client(service, region_name=region)
    return per_session[(service, region)]


def ctk_config(configuration: Configuration) -> dict[str, Any]:
    """The configuration handed to chaostoolkit-aws: the same region we planned in."""
    return {**(configuration or {}), "aws_region": region_of(configuration)}


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


tag_dict = _tags  # public name for the AWS faults of the sibling modules (aws_fis.py, aws_ssm.py, ...)


# -- zones -----------------------------------------------------------------------------------------------------
def resolve_zone(zone: str, configuration: Configuration = None) -> str:
    """A real AZ name from what a drill says: `eu-west-1a` as is; `az-a` through configuration `zones`
    ({az-a: eu-west-1a, ...}); `@primary-zone` = the AZ of the RDS cluster writer (configuration
    rds_cluster_id); `@cache-primary-zone` = the AZ of the ElastiCache primary (elasticache_group_id)."""
    if zone == "@primary-zone":
        writer = rds_cluster_writer(str(conf(configuration, "rds_cluster_id", "")), configuration)
        return _instance(writer, configuration)["AvailabilityZone"]
    if zone == "@cache-primary-zone":
        group = _replication_group(str(conf(configuration, "elasticache_group_id", "")), configuration)
        primary = next(
            (
                m
                for ng in group.get("NodeGroups", [])
                for m in ng.get("NodeGroupMembers", [])
                if m.get("CurrentRole") == "primary"
            ),
            None,
        )
        if primary is None:
            raise HarnessError(f"replication group {group['ReplicationGroupId']}: no primary node right now")
        return primary["PreferredAvailabilityZone"]
    if zone in ZONE_ALIASES:
        zones = conf(configuration, "zones") or {}
        if zone not in zones:
            raise HarnessError(
                f"zone {zone}: map the vocabulary's zones to AZs in the target's configuration "
                f"`zones` (e.g. {{az-a: {region_of(configuration)}a}})"
            )
        return str(zones[zone])
    if zone.startswith("@"):
        raise HarnessError(f"zone {zone}: unknown dynamic value; known: @primary-zone, @cache-primary-zone")
    return zone


# -- RDS / Aurora ----------------------------------------------------------------------------------------------
def _cluster(cluster_id: str, configuration: Configuration) -> dict[str, Any]:
    if not cluster_id:
        raise HarnessError("no RDS cluster id (configuration rds_cluster_id)")
    found = client("rds", configuration).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    return found[0]


def _instance(instance_id: str, configuration: Configuration) -> dict[str, Any]:
    return client("rds", configuration).describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]


def plan_rds_cluster_failover(
    cluster_id: str, target_instance: str | None = None, configuration: Configuration = None
) -> FaultPlan:
    cluster = _cluster(cluster_id, configuration)
    tags = _tags(cluster.get("TagList"))
    members = cluster.get("DBClusterMembers", [])
    writer = next((m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")), None)
    readers = [m["DBInstanceIdentifier"] for m in members if not m.get("IsClusterWriter")]
    if writer is None or not readers:
        raise HarnessError(
            f"RDS cluster {cluster_id}: a failover needs a writer and at least one reader "
            f"(members: {', '.join(m['DBInstanceIdentifier'] for m in members) or 'none'})"
        )
    if target_instance is not None and target_instance not in readers:
        raise HarnessError(
            f"RDS cluster {cluster_id}: {target_instance} is not one of its readers ({', '.join(readers)})"
        )
    promoted = target_instance or sorted(readers)[0]
    w, p = _instance(writer, configuration), _instance(promoted, configuration)
    resources = [
        Resource(kind="rds-cluster", id=cluster_id, tags=tags, state=cluster.get("Status", ""), acted=False),
        Resource(
            kind="rds-instance",
            id=writer,
            az=w.get("AvailabilityZone"),
            role="writer -> reader",
            tags=_tags(w.get("TagList")) or tags,
            state=w.get("DBInstanceStatus", ""),
        ),
        Resource(
            kind="rds-instance",
            id=promoted,
            az=p.get("AvailabilityZone"),
            role="reader -> writer",
            tags=_tags(p.get("TagList")) or tags,
            state=p.get("DBInstanceStatus", ""),
            acted=False,
        ),
    ]
    return FaultPlan(
        fault="db-primary-crash",
        summary=f"fail over Aurora cluster {cluster_id}: writer {writer} -> {promoted}",
        region=region_of(configuration),
        resources=resources,
        calls=[f"rds:FailoverDBCluster({cluster_id}, target={promoted})"],
        undo_summary=f"none needed ({writer} rejoins as a reader); to fail back: rds_cluster_failover target_instance={writer}",
        undo_record={"kind": "none", "old_writer": writer},
    )


def plan_rds_instance_failover(instance_id: str, configuration: Configuration = None) -> FaultPlan:
    inst = _instance(instance_id, configuration)
    if not inst.get("MultiAZ"):
        raise HarnessError(
            f"RDS instance {instance_id} is not Multi-AZ: a reboot with failover would be a plain "
            "outage with no standby to take over"
        )
    az, standby = inst.get("AvailabilityZone"), inst.get("SecondaryAvailabilityZone")
    return FaultPlan(
        fault="db-primary-crash",
        summary=f"reboot Multi-AZ RDS instance {instance_id} with failover ({az} -> standby in {standby or '?'})",
        region=region_of(configuration),
        resources=[
            Resource(
                kind="rds-instance",
                id=instance_id,
                az=az,
                role="primary -> standby",
                tags=_tags(inst.get("TagList")),
                state=inst.get("DBInstanceStatus", ""),
            )
        ],
        calls=[f"rds:RebootDBInstance({instance_id}, ForceFailover=true)"],
        undo_summary="none needed (the old primary host becomes the standby); reboot with failover again to go back",
        undo_record={"kind": "none", "old_az": az},
    )


def plan_rds_point_in_time_restore(
    source_instance: str, target_instance: str, restore_time: str | None = None, configuration: Configuration = None
) -> FaultPlan:
    src = _instance(source_instance, configuration)
    rds = client("rds", configuration)
    existing = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    if target_instance in existing:
        raise HarnessError(f"RDS instance {target_instance} already exists: a point-in-time restore creates a new one")
    when = restore_time or f"latest restorable time ({src.get('LatestRestorableTime', '?')})"
    return FaultPlan(
        fault="pitr",
        summary=f"restore RDS instance {source_instance} to {when} as new instance {target_instance} (plan 4.3.1)",
        region=region_of(configuration),
        resources=[
            Resource(
                kind="rds-instance",
                id=source_instance,
                az=src.get("AvailabilityZone"),
                role="source (read only)",
                tags=_tags(src.get("TagList")),
                acted=False,
            ),
            Resource(kind="rds-instance-new", id=target_instance, role="created", az=src.get("AvailabilityZone")),
        ],
        calls=[f"rds:RestoreDBInstanceToPointInTime({source_instance} -> {target_instance})"],
        undo_summary=f"delete the restored instance {target_instance} (only it, tagged drill-restored-from)",
        undo_record={"kind": "delete-restored-instance", "instance": target_instance},
    )


def rds_cluster_writer(cluster_id: str, configuration: Configuration = None) -> str:
    """Probe: the cluster's writer instance right now."""
    members = _cluster(cluster_id, configuration).get("DBClusterMembers", [])
    writer = next((m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")), None)
    if writer is None:
        raise HarnessError(f"RDS cluster {cluster_id} has no writer right now")
    return writer


def rds_instance_status(instance_id: str, configuration: Configuration = None) -> str:
    """Probe: DBInstanceStatus (available, rebooting, ...)."""
    return _instance(instance_id, configuration).get("DBInstanceStatus", "unknown")


def wait_cluster_writer_change(
    cluster_id: str, old_writer: str, timeout: float = 600, poll: float = 5, configuration: Configuration = None
) -> str:
    """Block until the writer is not `old_writer` (returns the new writer); HarnessError after `timeout`."""
    deadline = time.monotonic() + float(timeout)
    while True:
        writer = rds_cluster_writer(cluster_id, configuration)
        if writer != old_writer:
            return writer
        if time.monotonic() >= deadline:
            raise HarnessError(f"RDS cluster {cluster_id}: writer still {old_writer} after {float(timeout):g} s")
        time.sleep(float(poll))


# -- ElastiCache -----------------------------------------------------------------------------------------------
def _replication_group(group_id: str, configuration: Configuration) -> dict[str, Any]:
    if not group_id:
        raise HarnessError("no ElastiCache replication group id (configuration elasticache_group_id)")
    ec = client("elasticache", configuration)
    return ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def plan_elasticache_failover(
    replication_group_id: str, node_group_id: str = "0001", configuration: Configuration = None
) -> FaultPlan:
    group = _replication_group(replication_group_id, configuration)
    if group.get("AutomaticFailover") not in ("enabled", "enabling"):
        raise HarnessError(
            f"replication group {replication_group_id}: automatic failover is "
            f"{group.get('AutomaticFailover', 'disabled')}; TestFailover needs it enabled"
        )
    groups = {ng.get("NodeGroupId"): ng for ng in group.get("NodeGroups", [])}
    if node_group_id not in groups:
        raise HarnessError(
            f"replication group {replication_group_id}: no node group {node_group_id} "
            f"(has: {', '.join(sorted(map(str, groups))) or 'none'})"
        )
    members = groups[node_group_id].get("NodeGroupMembers", [])
    resources = [
        Resource(kind="replication-group", id=replication_group_id, state=group.get("Status", ""), acted=False)
    ]
    for m in members:
        primary = m.get("CurrentRole") == "primary"
        resources.append(
            Resource(
                kind="cache-node",
                id=m["CacheClusterId"],
                az=m.get("PreferredAvailabilityZone"),
                role="primary -> replica" if primary else "replica (may be promoted)",
                acted=primary,
            )
        )
    return FaultPlan(
        fault="cache-primary-crash",
        summary=f"ElastiCache TestFailover of {replication_group_id} shard {node_group_id}",
        region=region_of(configuration),
        resources=resources,
        calls=[f"elasticache:TestFailover({replication_group_id}, {node_group_id})"],
        undo_summary="none needed (a replica is promoted, the old primary comes back as a replica)",
        undo_record={"kind": "none"},
        notes=["AWS allows TestFailover on at most 5 shards per rolling 24 h"],
    )


# -- EC2 and Auto Scaling by AZ --------------------------------------------------------------------------------
def _tag_filters(tags: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in (tags or {}).items()]


def _instances(
    az: str | None, tags: dict[str, str] | None, states: list[str], configuration: Configuration
) -> list[dict[str, Any]]:
    filters = [{"Name": "instance-state-name", "Values": states}, *_tag_filters(tags)]
    if az:
        filters.append({"Name": "availability-zone", "Values": [az]})
    pages = client("ec2", configuration).get_paginator("describe_instances").paginate(Filters=filters)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def plan_ec2_az_outage(
    zone: str, tags: dict[str, str] | None = None, mode: str = "stop", configuration: Configuration = None
) -> FaultPlan:
    if mode not in ("stop", "terminate"):
        raise HarnessError(f"mode {mode!r}: stop or terminate")
    az = resolve_zone(zone, configuration)
    found = _instances(az, tags, ["running", "pending"], configuration)
    if not found:
        raise HarnessError(f"no running EC2 instance in {az}" + (f" with tags {tags}" if tags else ""))
    ids = sorted(i["InstanceId"] for i in found)
    resources = [
        Resource(
            kind="ec2-instance",
            id=i["InstanceId"],
            az=i["Placement"]["AvailabilityZone"],
            role=mode,
            tags=_tags(i.get("Tags")),
            state=i["State"]["Name"],
        )
        for i in found
    ]
    undo = (
        f"start the {len(ids)} instance(s) again: {', '.join(ids)}"
        if mode == "stop"
        else "none possible: terminated instances are gone; their Auto Scaling groups launch replacements"
    )
    return FaultPlan(
        fault="az-outage",
        summary=f"{mode} every EC2 instance in {az}" + (f" tagged {tags}" if tags else "") + f" ({len(ids)})",
        region=region_of(configuration),
        resources=sorted(resources, key=lambda r: r.id),
        calls=[f"ec2:{'StopInstances' if mode == 'stop' else 'TerminateInstances'}({', '.join(ids)})"],
        undo_summary=undo,
        undo_record={"kind": "start-instances" if mode == "stop" else "none", "instance_ids": ids},
    )


def plan_asg_terminate(
    asg_names: list[str], replica: str = "one", zone: str | None = None, configuration: Configuration = None
) -> FaultPlan:
    """replica: `one` (the first in-service instance by id), `all`, or an instance id; `zone` narrows to one AZ."""
    az = resolve_zone(zone, configuration) if zone else None
    groups = client("autoscaling", configuration).describe_auto_scaling_groups(AutoScalingGroupNames=list(asg_names))[
        "AutoScalingGroups"
    ]
    missing = sorted(set(asg_names) - {g["AutoScalingGroupName"] for g in groups})
    if missing:
        raise HarnessError(f"no Auto Scaling group named {', '.join(missing)}")
    context, picked = [], []
    for g in groups:
        tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
        context.append(
            Resource(
                kind="autoscaling-group",
                id=g["AutoScalingGroupName"],
                tags=tags,
                acted=False,
                state=f"desired {g['DesiredCapacity']}",
            )
        )
        for i in sorted(g.get("Instances", []), key=lambda i: i["InstanceId"]):
            if i.get("LifecycleState") == "InService" and (az is None or i["AvailabilityZone"] == az):
                picked.append(
                    Resource(
                        kind="ec2-instance",
                        id=i["InstanceId"],
                        az=i["AvailabilityZone"],
                        role="terminate",
                        tags=tags,
                        state=i.get("HealthStatus", ""),
                    )
                )
    if replica == "one":
        picked = picked[:1]
    elif replica != "all":
        picked = [r for r in picked if r.id == replica]
    where = f" in {az}" if az else ""
    if not picked:
        raise HarnessError(f"no in-service instance of {', '.join(asg_names)}{where} matches replica={replica}")
    ids = [r.id for r in picked]
    return FaultPlan(
        fault="app-crash",
        summary=f"terminate {len(ids)} instance(s) of {', '.join(asg_names)}{where}",
        region=region_of(configuration),
        resources=context + picked,
        calls=[
            f"autoscaling:TerminateInstanceInAutoScalingGroup({i}, ShouldDecrementDesiredCapacity=false)" for i in ids
        ],
        undo_summary="none needed: the group keeps its desired capacity and launches replacements",
        undo_record={"kind": "none", "instance_ids": ids},
    )


def ec2_instance_states(
    zone: str | None = None, tags: dict[str, str] | None = None, configuration: Configuration = None
) -> dict[str, dict[str, int]]:
    """Probe: {az: {state: count}} of the EC2 instances carrying `tags` (one AZ or all)."""
    az = resolve_zone(zone, configuration) if zone else None
    out: dict[str, dict[str, int]] = {}
    for i in _instances(az, tags, ["pending", "running", "stopping", "stopped", "shutting-down"], configuration):
        per = out.setdefault(i["Placement"]["AvailabilityZone"], {})
        per[i["State"]["Name"]] = per.get(i["State"]["Name"], 0) + 1
    return out


# -- ALB: take one AZ out of a load balancer -------------------------------------------------------------------
def _load_balancer(name: str, configuration: Configuration) -> dict[str, Any]:
    return client("elbv2", configuration).describe_load_balancers(Names=[name])["LoadBalancers"][0]


def plan_alb_remove_az(load_balancer_name: str, zone: str, configuration: Configuration = None) -> FaultPlan:
    az = resolve_zone(zone, configuration)
    lb = _load_balancer(load_balancer_name, configuration)
    if lb.get("Type") != "application":
        raise HarnessError(
            f"load balancer {load_balancer_name} is a {lb.get('Type')} load balancer: its subnets "
            "cannot be changed (application load balancers only)"
        )
    zones = {z["SubnetId"]: z["ZoneName"] for z in lb.get("AvailabilityZones", [])}
    removed = sorted(s for s, z in zones.items() if z == az)
    kept = sorted(s for s, z in zones.items() if z != az)
    if not removed:
        raise HarnessError(
            f"load balancer {load_balancer_name} has no subnet in {az} (zones: {', '.join(sorted(set(zones.values())))})"
        )
    if len({zones[s] for s in kept}) < 2:
        raise HarnessError(
            f"load balancer {load_balancer_name}: removing {az} would leave fewer than two AZs, "
            "which an application load balancer does not allow"
        )
    arn = lb["LoadBalancerArn"]
    tags = _tags(client("elbv2", configuration).describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags"))
    return FaultPlan(
        fault="network-partition",
        summary=f"remove {az} from ALB {load_balancer_name} (subnet {', '.join(removed)})",
        region=region_of(configuration),
        resources=[
            Resource(
                kind="load-balancer",
                id=load_balancer_name,
                az=az,
                role="loses " + az,
                tags=tags,
                state=lb.get("State", {}).get("Code", ""),
            )
        ],
        calls=[f"elbv2:SetSubnets({load_balancer_name}, {', '.join(kept)})"],
        undo_summary=f"set the subnets back to {', '.join(sorted(zones))}",
        undo_record={"kind": "set-subnets", "arn": arn, "subnets": sorted(zones)},
    )


def target_health(target_group_arn: str, configuration: Configuration = None) -> dict[str, int]:
    """Probe: {state: count} of a target group's targets (healthy, unhealthy, draining, ...)."""
    found = client("elbv2", configuration).describe_target_health(TargetGroupArn=target_group_arn)
    out: dict[str, int] = {}
    for d in found["TargetHealthDescriptions"]:
        state = d["TargetHealth"]["State"]
        out[state] = out.get(state, 0) + 1
    return out


def all_targets_healthy(target_group_arn: str, configuration: Configuration = None) -> bool:
    health = target_health(target_group_arn, configuration)
    return bool(health) and set(health) == {"healthy"}


# -- FIS: the AZ Availability: Power Interruption scenario -----------------------------------------------------
FIS_TAG_KEY = "AzImpairmentPower"  # the tag the scenario selects its targets by (AWS scenario library)


def plan_fis_az_power_interruption(
    zone: str,
    role_arn: str,
    duration: str = "PT10M",
    tags: dict[str, str] | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    az = resolve_zone(zone, configuration)
    if not role_arn or role_arn.startswith("<"):
        raise HarnessError(
            "the FIS scenario needs role_arn (an IAM role FIS may assume); the harness never creates IAM roles"
        )
    resources = []
    for label, value in (("stop", "StopInstances"), ("ice-asg", "IceAsg")):
        for i in _instances(az, {FIS_TAG_KEY: value}, ["running"], configuration):
            resources.append(
                Resource(
                    kind="ec2-instance",
                    id=i["InstanceId"],
                    az=az,
                    role=f"power off ({label})",
                    tags=_tags(i.get("Tags")),
                    state=i["State"]["Name"],
                )
            )
    rds = client("rds", configuration)
    for c in rds.describe_db_clusters()["DBClusters"]:
        if _tags(c.get("TagList")).get(FIS_TAG_KEY) == "DisruptRds":
            resources.append(
                Resource(
                    kind="rds-cluster",
                    id=c["DBClusterIdentifier"],
                    az=az,
                    role=f"writer failed over out of {az}",
                    tags=_tags(c.get("TagList")),
                )
            )
    subnets = client("ec2", configuration).describe_subnets(
        Filters=[
            {"Name": "availability-zone", "Values": [az]},
            {"Name": f"tag:{FIS_TAG_KEY}", "Values": ["DisruptSubnet"]},
        ]
    )
    for s in subnets["Subnets"]:
        resources.append(
            Resource(kind="subnet", id=s["SubnetId"], az=az, role="network disrupted", tags=_tags(s.get("Tags")))
        )
    return FaultPlan(
        fault="az-outage",
        summary=f"FIS 'AZ Availability: Power Interruption' in {az} for {duration}",
        region=region_of(configuration),
        resources=resources,
        calls=["fis:CreateExperimentTemplate(scenario, tags " + json.dumps(tags or {}) + ")", "fis:StartExperiment"],
        undo_summary="stop the FIS experiment(s) tagged " + json.dumps(tags or {}) + " and delete the template; "
        "stopped instances start again when the experiment ends",
        undo_record={"kind": "fis-restore", "tags": tags or {}},
        notes=[
            f"targets are chosen by FIS at start time by tag {FIS_TAG_KEY}; this list is what the "
            "tags select now (ElastiCache groups tagged DisruptElasticache are not listed)"
        ],
    )


# -- S3: an object deleted, restored from versioning (plan 4.3.4) ----------------------------------------------
def plan_s3_delete_object(bucket: str, key: str, configuration: Configuration = None) -> FaultPlan:
    s3 = client("s3", configuration)
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise HarnessError(f"bucket {bucket}: versioning is {status or 'off'}; deleting {key} could not be undone")
    head = s3.head_object(Bucket=bucket, Key=key)
    tags = _tags(s3.get_bucket_tagging(Bucket=bucket).get("TagSet")) if _has_tags(s3, bucket) else {}
    return FaultPlan(
        fault="object-delete",
        summary=f"delete s3://{bucket}/{key} (a delete marker on a versioned bucket)",
        region=region_of(configuration),
        resources=[
            Resource(kind="s3-bucket", id=bucket, tags=tags, acted=False),
            Resource(kind="s3-object", id=f"{bucket}/{key}", role="deleted", state=f"version {head.get('VersionId')}"),
        ],
        calls=[f"s3:DeleteObject({bucket}, {key})"],
        undo_summary=f"delete the delete marker: version {head.get('VersionId')} is current again",
        undo_record={
            "kind": "s3-remove-delete-marker",
            "bucket": bucket,
            "key": key,
            "version_id": head.get("VersionId"),
        },
    )


def _has_tags(s3: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.get_bucket_tagging(Bucket=bucket)
        return True
    except ClientError:
        return False


def s3_restore_object(bucket: str, key: str, configuration: Configuration = None) -> dict[str, Any]:
    """Restore a deleted object of a versioned bucket: remove the delete marker(s) newer than the last version."""
    s3 = client("s3", configuration)
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    markers = [m for m in listing.get("DeleteMarkers", []) if m["Key"] == key]
    latest = [m for m in markers if m.get("IsLatest")]
    if not latest:
        return {"restored": False, "why": f"s3://{bucket}/{key} is not deleted (no current delete marker)"}
    for m in latest:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=m["VersionId"])
    head = s3.head_object(Bucket=bucket, Key=key)
    return {"restored": True, "version_id": head.get("VersionId")}


# -- the undo kinds the intent log replays (recorded by harness/chaos/aws.py before the changing call) ---------------------------------------------------


def _undo_config(record: dict[str, Any]) -> dict[str, Any]:
    """Where an undo acts: the recorded region and profile, and only in the recorded account (STS, read-only),
    so a replay with other credentials in the environment refuses instead of touching another account."""
    config = {"aws_region": record["region"], "aws_profile_name": record.get("profile") or None}
    if record.get("account"):
        who = safety.aws_identity(record["region"], session(config))
        if who.account != record["account"]:
            raise safety.SafetyRefused(
                f"undo recorded in AWS account {record['account']} but the credentials now "
                f"are for {who.account} ({who.arn}); nothing was touched"
            )
    return config


undo_config = _undo_config  # public name for the undo kinds of the sibling modules


@undo_actions.undo_action("aws_start_instances")
def _undo_start_instances(record: dict[str, Any]) -> str:
    from chaosaws.ec2.actions import start_instances

    start_instances(instance_ids=record["instance_ids"], configuration=_undo_config(record))
    return f"started EC2 instances {', '.join(record['instance_ids'])} ({record['region']})"


@undo_actions.undo_action("aws_set_subnets")
def _undo_set_subnets(record: dict[str, Any]) -> str:
    client("elbv2", _undo_config(record)).set_subnets(LoadBalancerArn=record["arn"], Subnets=record["subnets"])
    return f"load balancer subnets back to {', '.join(record['subnets'])}"


@undo_actions.undo_action("aws_s3_restore_object")
def _undo_s3_restore(record: dict[str, Any]) -> str:
    out = s3_restore_object(record["bucket"], record["key"], _undo_config(record))
    where = f"s3://{record['bucket']}/{record['key']}"
    return f"restored {where} (version {out['version_id']})" if out["restored"] else out["why"]


@undo_actions.undo_action("aws_delete_restored_instance")
def _undo_delete_restored(record: dict[str, Any]) -> str:
    from botocore.exceptions import ClientError

    config = _undo_config(record)
    try:
        inst = _instance(record["instance"], config)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            return f"RDS instance {record['instance']} is already gone"
        raise
    if "drill-restored-from" not in _tags(inst.get("TagList")):
        raise HarnessError(f"RDS instance {record['instance']} lacks the drill-restored-from tag: not deleting it")
    if inst.get("DBInstanceStatus") == "deleting":
        return f"RDS instance {record['instance']} is already being deleted"
    client("rds", config).delete_db_instance(DBInstanceIdentifier=record["instance"], SkipFinalSnapshot=True)
    return f"deleting restored RDS instance {record['instance']}"


@undo_actions.undo_action("aws_delete_drill_snapshot")
def _undo_delete_drill_snapshot(record: dict[str, Any]) -> str:
    """A manual RDS snapshot `drill backup verify` took (harness/backup/aws_verify.py): deleted only while it
    carries the drill-restored-from tag the harness put on it."""
    from botocore.exceptions import ClientError

    rds = client("rds", _undo_config(record))
    try:
        snap = rds.describe_db_snapshots(DBSnapshotIdentifier=record["snapshot"])["DBSnapshots"][0]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "DBSnapshotNotFound":
            return f"RDS snapshot {record['snapshot']} is already gone"
        raise
    tags = _tags(rds.list_tags_for_resource(ResourceName=snap["DBSnapshotArn"]).get("TagList"))
    if "drill-restored-from" not in tags:
        raise HarnessError(f"RDS snapshot {record['snapshot']} lacks the drill-restored-from tag: not deleting it")
    rds.delete_db_snapshot(DBSnapshotIdentifier=record["snapshot"])
    return f"deleted the drill's RDS snapshot {record['snapshot']}"


@undo_actions.undo_action("aws_fis_restore")
def _undo_fis(record: dict[str, Any]) -> str:
    from chaosaws.fis.actions import restore_availability_zone_power_after_interruption

    restore_availability_zone_power_after_interruption(
        tags=record.get("tags") or None, delete_roles_and_policies=False, configuration=_undo_config(record)
    )
    return f"stopped the FIS experiment(s) tagged {json.dumps(record.get('tags') or {})} and deleted the template"


# -- planners by activity: what `drill plan` calls for an activity of a target file ----------------------------
PLANNERS: dict[str, Callable[..., FaultPlan]] = {
    "rds_cluster_failover": plan_rds_cluster_failover,
    "rds_instance_failover": plan_rds_instance_failover,
    "rds_point_in_time_restore": plan_rds_point_in_time_restore,
    "elasticache_failover": plan_elasticache_failover,
    "ec2_az_outage": plan_ec2_az_outage,
    "asg_terminate": plan_asg_terminate,
    "alb_remove_az": plan_alb_remove_az,
    "fis_az_power_interruption": plan_fis_az_power_interruption,
    "s3_delete_object": plan_s3_delete_object,
}


ACTIVITY_MODULE = "harness.chaos.aws"  # where the Chaos Toolkit activities these plans belong to live


def planner(module: str, func: str) -> Callable[..., FaultPlan] | None:
    """The read-only planner of the activity `module:func`, if it is one of this module's AWS faults (the
    sibling modules aws_region, aws_fis, aws_ssm, aws_data, aws_docdb, aws_msk each have a PLANNERS table
    of their own: harness/targets/aws.py asks them all)."""
    return PLANNERS.get(func) if module == ACTIVITY_MODULE else None
