"""The AWS faults as Chaos Toolkit activities (targets/aws-staging.example.yaml maps the fault vocabulary onto
them). The read-only planners, the AWS probes and the undo kinds live in harness/faults/aws.py; this module adds
what a Chaos Toolkit run needs above them: the safety clearance (preflighted here from configuration
`drill_target`, a target file, when no `drill` command ran one), the blast radius checked against the target's
limits, and the one inject path (harness.faults.runner.inject_plan: intend -> undo record (fsync'd) -> the
changing call -> injected).

    rds_cluster_failover(cluster_id)        refuses without a safety clearance (harness.safety.preflight),
                                            plans, checks the blast radius against the target's limits,
                                            records its undo in the intent log, THEN acts on exactly
                                            what it planned (`drill recover` replays the undo)

An action returns {"id", "fault", "blast", "detail", "undo"}; `undo(id)` is the one rollback for all.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from harness import safety
from harness.errors import HarnessError
from harness.faults import runner
from harness.faults.aws import (
    Configuration,
    FaultPlan,
    client,
    conf,
    ctk_config,
    plan_alb_remove_az,
    plan_asg_terminate,
    plan_ec2_az_outage,
    plan_elasticache_failover,
    plan_fis_az_power_interruption,
    plan_rds_cluster_failover,
    plan_rds_instance_failover,
    plan_rds_point_in_time_restore,
    plan_s3_delete_object,
    region_of,
    resolve_zone,
)
from harness.faults.intent import IntentLog
from harness.targets.file import load_target


def _clearance(configuration: Configuration) -> safety.Clearance:
    """The process's safety clearance; preflight it now from configuration `drill_target` (a target file)
    when none ran (a plain `chaos run`). SafetyRefused when neither."""
    clearance = safety.current()
    if clearance is None and conf(configuration, "drill_target"):
        target = load_target(str(conf(configuration, "drill_target")))
        clearance = safety.preflight(
            target.guard,
            os.environ.get("DRILL_APPROVAL") or None,
            os.environ.get("DRILL_APPROVER") or None,
            region=region_of(target.configuration),
        )
    if clearance is None:
        raise safety.SafetyRefused(
            "no safety preflight ran in this process (who we are, allowlist, approval): "
            "run through `drill`, or give configuration drill_target; nothing was touched"
        )
    if clearance.provider != "aws" or clearance.identity is None:
        raise safety.SafetyRefused(f"the safety clearance is for a {clearance.provider} target, not AWS")
    region = region_of(configuration)
    if region != clearance.identity.region:
        raise safety.SafetyRefused(
            f"AWS region {region} is not the region preflight checked "
            f"({clearance.identity.region}); nothing was touched"
        )
    return clearance


def _cleared(plan: FaultPlan, configuration: Configuration) -> safety.Clearance:
    clearance = _clearance(configuration)
    safety.check_blast(plan.fault, plan.resources, clearance.limits, clearance.required_tags)
    return clearance


UNDO_KINDS = {
    "start-instances": "aws_start_instances",
    "set-subnets": "aws_set_subnets",
    "s3-remove-delete-marker": "aws_s3_restore_object",
    "delete-restored-instance": "aws_delete_restored_instance",
    "fis-restore": "aws_fis_restore",
    "region-restore": "aws_region_restore",
    "s3-restore-version": "aws_s3_restore_version",
}


def _undo_record(plan: FaultPlan, configuration: Configuration, clearance: safety.Clearance) -> dict[str, Any]:
    """The intent-log undo record of a plan: a registered kind plus where to act (region, profile, account)."""
    kind = plan.undo_record.get("kind", "none")
    if kind == "none":
        return {"kind": "noop", "reason": plan.undo_summary}
    return {
        **plan.undo_record,
        "kind": UNDO_KINDS[kind],
        "region": plan.region,
        "profile": conf(configuration, "aws_profile_name") or None,
        "account": clearance.identity.account if clearance.identity else None,
    }


def _caller_args() -> dict[str, Any]:
    """The arguments of the fault action that called _inject, for the intent log's `params` (what `drill fault
    pending` shows); configuration, secrets and the log path are left out."""
    import sys

    frame = sys._getframe(2)
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return {n: _jsonable(frame.f_locals.get(n)) for n in names if n not in ("configuration", "secrets", "intent_log")}


def _inject(
    plan: FaultPlan, configuration: Configuration, act: Callable[[], Any], intent_log: str | None = None
) -> dict[str, Any]:
    """Clearance and blast radius, then the one inject path (harness.faults.runner.inject_plan): intend -> undo
    record (fsync'd) -> the changing call -> injected; a failing call undoes what was recorded first."""
    params = _caller_args()
    clearance = _cleared(plan, configuration)
    record = _undo_record(plan, configuration, clearance)
    blast = plan.to_dict()

    def changing_call(journal):
        journal.record_undo(**record)
        return act(), {"region": plan.region, "action": plan.summary}

    log = IntentLog(intent_log) if intent_log else IntentLog()
    id, response = runner.inject_plan(plan, params, changing_call, log=log, blast=blast)
    return {"id": id, "fault": plan.fault, "blast": blast, "detail": _jsonable(response), "undo": plan.undo_summary}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def rds_cluster_failover(
    cluster_id: str,
    target_instance: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Aurora cluster failover (plan 5.1.1): the writer flips to a reader (`target_instance` or the first)."""
    from chaosaws.rds.actions import failover_db_cluster

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_rds_cluster_failover(cluster_id, target_instance, configuration)
    promoted = next(r.id for r in plan.resources if r.role == "reader -> writer")
    out = _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: failover_db_cluster(
            cluster_id,
            target_db_instance_identifier=promoted,
            configuration=ctk_config(configuration),
            secrets=secrets,
        ),
    )
    out["detail"] = {"cluster": cluster_id, "old_writer": plan.undo_record["old_writer"], "new_writer": promoted}
    return out


def rds_instance_failover(
    instance_id: str, configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """RDS Multi-AZ failover (plan 5.1.1): reboot with ForceFailover; the standby becomes the primary."""
    from chaosaws.rds.actions import reboot_db_instance

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_rds_instance_failover(instance_id, configuration)
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: reboot_db_instance(
            instance_id, force_failover=True, configuration=ctk_config(configuration), secrets=secrets
        ),
    )


def rds_point_in_time_restore(
    source_instance: str,
    target_instance: str,
    restore_time: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Point-in-time restore of an RDS instance to a NEW instance (plan 4.3.1); the source is only read.
    `restore_time`: ISO 8601 UTC, default the latest restorable time."""
    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_rds_point_in_time_restore(source_instance, target_instance, restore_time, configuration)
    src = next(r for r in plan.resources if r.role.startswith("source"))
    args: dict[str, Any] = {
        "SourceDBInstanceIdentifier": source_instance,
        "TargetDBInstanceIdentifier": target_instance,
        "Tags": [
            *({"Key": k, "Value": v} for k, v in (src.tags or {}).items() if k != "drill-restored-from"),
            {"Key": "drill-restored-from", "Value": source_instance},
        ],
    }
    if restore_time:
        args["RestoreTime"] = datetime.fromisoformat(restore_time.replace("Z", "+00:00"))
    else:
        args["UseLatestRestorableTime"] = True
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: client("rds", configuration).restore_db_instance_to_point_in_time(**args),
    )


def elasticache_failover(
    replication_group_id: str,
    node_group_id: str = "0001",
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """ElastiCache replication-group failover (plan 5.1.3) through TestFailover. boto3 directly: the
    chaostoolkit-aws `test_failover` makes the same single call but skips the plan."""
    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_elasticache_failover(replication_group_id, node_group_id, configuration)
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: client("elasticache", configuration).test_failover(
            ReplicationGroupId=replication_group_id, NodeGroupId=node_group_id
        ),
    )


def ec2_az_outage(
    zone: str,
    tags: dict[str, str] | None = None,
    mode: str = "stop",
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Stop (or terminate) every EC2 instance of one AZ that carries `tags` (plan 1.3 Single AZ Failure).
    Acts on exactly the instance ids of the plan (chaostoolkit-aws by id), never a fresh query."""
    from chaosaws.ec2.actions import stop_instances, terminate_instances

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_ec2_az_outage(zone, tags, mode, configuration)
    ids = plan.undo_record["instance_ids"]
    act = stop_instances if mode == "stop" else terminate_instances
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: act(instance_ids=ids, configuration=ctk_config(configuration), secrets=secrets),
    )


def asg_terminate(
    asg_names: list[str],
    replica: str = "one",
    zone: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Terminate Auto Scaling instances (one, all, or by id; optionally only in one AZ), keeping desired
    capacity so the group must replace them. boto3: chaostoolkit-aws terminates a random pick, not the plan."""
    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_asg_terminate(asg_names, replica, zone, configuration)
    asg = client("autoscaling", configuration)
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: [
            asg.terminate_instance_in_auto_scaling_group(InstanceId=i, ShouldDecrementDesiredCapacity=False)["Activity"]
            for i in plan.undo_record["instance_ids"]
        ],
    )


def alb_remove_az(
    load_balancer_name: str,
    zone: str,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Remove one AZ's subnet from an application load balancer (plan 5.5.2). boto3: chaostoolkit-aws
    `set_subnets` needs the new list and keeps no record of the old one."""
    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_alb_remove_az(load_balancer_name, zone, configuration)
    kept = plan.calls[0].split(", ", 1)[1].rstrip(")").split(", ")
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: client("elbv2", configuration).set_subnets(LoadBalancerArn=plan.undo_record["arn"], Subnets=kept),
    )


def fis_az_power_interruption(
    zone: str,
    role_arn: str,
    duration: str = "PT10M",
    tags: dict[str, str] | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """The FIS AZ power-interruption scenario (chaostoolkit-aws builds the template), with a plan first."""
    from chaosaws.fis.actions import start_availability_zone_power_interruption_scenario

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_fis_az_power_interruption(zone, role_arn, duration, tags, configuration)
    az = resolve_zone(zone, configuration)
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: start_availability_zone_power_interruption_scenario(
            az=az,
            tags=tags or {},
            role_arn=role_arn,
            autocreate_necessary_role=False,
            duration=duration,
            configuration=ctk_config(configuration),
            secrets=secrets,
        ),
    )


def s3_delete_object(
    bucket: str, key: str, configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """Delete one object of a versioned bucket; `undo` restores it by removing the delete marker."""
    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_s3_delete_object(bucket, key, configuration)
    return _inject(
        plan,
        configuration,
        intent_log=intent_log,
        act=lambda: client("s3", configuration).delete_object(Bucket=bucket, Key=key),
    )


def undo(
    id: str, configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """Undo one AWS fault by the id its action returned (the target files' rollback), replaying its undo record
    from the intent log; the same thing `drill fault undo ID` and `drill recover` do. Idempotent: an undone
    fault, or one whose undo is "none needed", does nothing. HarnessError when the undo failed."""
    report = runner.undo(id, log=IntentLog(intent_log) if intent_log else IntentLog())
    if not report.ok:
        raise HarnessError(report.line())
    acted = [kind for kind, _ in report.steps if kind != "noop"]
    return {
        "id": id,
        "undone": bool(acted),
        "steps": [{"kind": k, "outcome": o} for k, o in report.steps],
        "why": report.note or ("nothing to undo" if not acted else ""),
    }


# -- the region drill (plan 3.3 / 3.4): harness/faults/aws_region.py -------------------------------------------
def _region_run(
    configuration: Configuration, acted: set[str], fault: str, resources: list | None = None, **kw: Any
) -> tuple[Any, safety.Clearance]:
    """Cleared for the region drill, before anything is touched: the process's clearance (primary region), both
    regions on the target file's allowlist, the same account in the DR region (STS), and every resource of
    the region section (both regions) carrying the required tags and named by limits.resources."""
    from harness.faults import aws_region

    clearance = _clearance(configuration)
    path = conf(configuration, "drill_target")
    if not path:
        raise safety.SafetyRefused(
            "the region drill needs configuration drill_target (the target file whose allowlist names both "
            "regions); nothing was touched"
        )
    target = load_target(str(path))
    setup = aws_region.region_setup(configuration, target.path)
    run = aws_region.RegionRun(setup, configuration, **kw)
    aws_region.check_regions_allowed(run, target.guard.safety.aws.regions)
    if setup.primary.region != clearance.identity.region:
        raise safety.SafetyRefused(
            f"the region section's primary region {setup.primary.region} is not the region preflight checked "
            f"({clearance.identity.region}, configuration aws_region); nothing was touched"
        )
    who = safety.check_identity(target.guard.safety, region=setup.dr.region)
    if who.account != clearance.identity.account:
        raise safety.SafetyRefused(
            f"the DR region answers for account {who.account}, not {clearance.identity.account}; nothing was touched"
        )
    if resources is None:
        resources = aws_region.region_resources(run, acted)
    safety.check_blast(fault, resources, clearance.limits, clearance.required_tags)
    return run, clearance


def _region_rpo_target(given: Any) -> float | None:
    """What the expected RPO is held against: `rpo_target_s`, else the plan's upper bound for postgresql /
    region-failure (objectives.yaml)."""
    if given not in (None, ""):
        return float(given)
    from harness import objectives

    try:
        return objectives.load().lookup("postgresql", "region-failure").rpo.max_s
    except HarnessError:
        return None


def _auto_confirm() -> bool | None:
    """`drill run --yes` (DRILL_AUTO_CONFIRM=1) or CI=true confirm the runbook's manual steps (recorded so)."""
    return True if os.environ.get("DRILL_AUTO_CONFIRM") == "1" else None


def _run_runbook(name: str, section: str, summary: str, steps: list, run: Any, params: dict[str, str]) -> dict:
    from harness.recovery.procedure import Confirmer, Procedure, Step

    procedure = Procedure(
        name,
        section,
        summary,
        steps=tuple(Step(title, action, manual) for title, action, manual in steps),
        params={"hold_s": "seconds each canary weight is held (failback)"},
    )
    auto = _auto_confirm()
    report = procedure.run(run, params, Confirmer(auto=auto, why="--yes") if auto else Confirmer())
    out = {**report.to_dict(), "facts": _jsonable(run.facts)}
    if not report.ok:
        failed = next((s for s in report.steps if not s.ok), None)
        done = "; ".join(s.line() for s in report.steps)
        raise HarnessError(
            f"{name} stopped at step '{failed.title if failed else '?'}': "
            f"{failed.outcome if failed else 'not run'} [steps: {done}]"
        )
    return out


def region_failover(
    timeout: float = 900,
    poll: float = 5,
    rpo_target_s: float | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Plan 3.3 steps 1-7 on AWS (configuration.region of the target file), each a timed step of the returned
    run report: decision, pre-failover checks (DR database, expected RPO from CloudWatch replica lag against
    `rpo_target_s` or the objectives' postgresql/region-failure RPO, automated
    snapshot, S3 canary replication), promote the DR database, scale the DR app tier, Route 53 to DR and
    TestDNSAnswer, post-failover checks through the DR endpoints, SNS status update."""
    from harness.faults import aws_region

    run, _ = _region_run(
        configuration,
        {"dr-database", "dr-app", "dns", "primary-bucket", "sns", "cache"},
        "region-failover",
        timeout=timeout,
        poll=poll,
        rpo_target_s=_region_rpo_target(rpo_target_s),
    )
    return _run_runbook(
        "region-failover",
        "3.3",
        "promote the DR database and switch traffic to the DR region (AWS)",
        aws_region.failover_steps(run.setup),
        run,
        {},
    )


def region_failback(
    timeout: float = 900,
    poll: float = 5,
    hold_s: float | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Plan 3.4 on AWS: reverse replication, wait caught up, Route 53 weighted canary (held and probed), the
    database switched back, complete DNS failback, DR reset (scale down, DR replica re-created)."""
    from harness.faults import aws_region

    run, _ = _region_run(
        configuration,
        {"primary-database", "dr-database", "dr-app", "dns", "sns", "cache"},
        "region-failback",
        timeout=timeout,
        poll=poll,
    )
    params = {} if hold_s in (None, "") else {"hold_s": str(hold_s)}
    return _run_runbook(
        "region-failback",
        "3.4",
        "resynchronise the primary region and switch traffic back (AWS)",
        aws_region.failback_steps(run.setup),
        run,
        params,
    )


def region_outage(
    configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """Rehearse a region outage the way the target file chose (configuration.region.outage): asg-and-dns scales
    the primary region's app tier to 0 and inverts its Route 53 health check; the undo puts both back.
    fis-cross-region starts FIS aws:network:route-table-disrupt-cross-region-connectivity on the primary
    region's tagged subnets (towards the DR region); the undo stops the experiment and deletes its template."""
    from harness.faults import aws_region

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = aws_region.plan_region_outage(configuration)
    run, clearance = _region_run(configuration, set(), "region-outage", resources=plan.resources)
    if plan.undo_record.get("kind") == "fis-stop-drill-experiment":
        return _inject_staged(plan, configuration, _fis_act(plan, configuration), {}, intent_log)
    record = _undo_record(plan, configuration, clearance)

    def changing_call(journal):
        journal.record_undo(**record)
        return aws_region.outage_act(run), {"region": plan.region, "action": plan.summary}

    log = IntentLog(intent_log) if intent_log else IntentLog()
    id, response = runner.inject_plan(plan, {}, changing_call, log=log, blast=plan.to_dict())
    return {
        "id": id,
        "fault": plan.fault,
        "blast": plan.to_dict(),
        "detail": _jsonable(response),
        "undo": plan.undo_summary,
    }


# -- issue 18: faults driven through the engines AWS has (FIS, SSM), the data faults, DocumentDB, MSK ---------
def _where(plan: FaultPlan, configuration: Configuration, clearance: safety.Clearance) -> dict[str, Any]:
    """Where an undo record acts: the plan's region, the profile, the cleared account."""
    return {
        "region": plan.region,
        "profile": conf(configuration, "aws_profile_name") or None,
        "account": clearance.identity.account if clearance.identity else None,
    }


def _params(arguments: dict[str, Any]) -> dict[str, Any]:
    """An activity's arguments (its `locals()` on entry) for the intent log, without configuration and secrets."""
    return {k: _jsonable(v) for k, v in arguments.items() if k not in ("configuration", "secrets", "intent_log")}


def _inject_staged(
    plan: FaultPlan,
    configuration: Configuration,
    act: Callable[[Any, dict[str, Any]], Any],
    params: dict[str, Any],
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Like _inject, for faults whose undo needs the fault's id or records several steps: `act(journal, where)`
    records each undo itself (journal.record_undo(kind, **where, ...)) before the change it undoes."""
    clearance = _cleared(plan, configuration)
    where = _where(plan, configuration, clearance)
    blast = plan.to_dict()

    def changing_calls(journal):
        result = act(journal, where)  # its ids (FIS experiment, SSM command, ...) go into the intent log too
        return result, {"region": plan.region, "action": plan.summary, "result": _jsonable(result)}

    log = IntentLog(intent_log) if intent_log else IntentLog()
    id, response = runner.inject_plan(plan, params, changing_calls, log=log, blast=blast)
    return {"id": id, "fault": plan.fault, "blast": blast, "detail": _jsonable(response), "undo": plan.undo_summary}


def _fis_act(plan: FaultPlan, configuration: Configuration) -> Callable[[Any, dict[str, Any]], Any]:
    """The one FIS start for every FIS fault (the network faults, region-outage fis-cross-region): the undo
    recorded first (stop the experiments of the template tagged with this fault's id, delete the template),
    then aws_fis.start_experiment (create, start, watch until running)."""
    from harness.faults import aws_fis

    poll = float(conf(configuration, "fis_poll_s", 2))
    required_tags = dict(_clearance(configuration).required_tags or {})  # the template carries them too

    def act(journal, where):
        journal.record_undo("aws_fis_stop_drill_experiment", fault_id=journal.id, poll=poll, **where)
        return aws_fis.start_experiment(plan, journal.id, configuration, poll=poll, tags=required_tags)

    return act


def _fis(plan: FaultPlan, configuration: Configuration, intent_log: str | None, params: dict[str, Any]) -> dict:
    """A FIS fault through the one inject path (_inject_staged) with the one FIS start (_fis_act)."""
    return _inject_staged(plan, configuration, _fis_act(plan, configuration), params, intent_log)


def fis_network_latency(
    target: str,
    role_arn: str,
    ms: int,
    jitter: int = 0,
    duration: str = "PT10M",
    interface: str = "eth0",
    seconds: float | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """network-latency through FIS + SSM (AWSFIS-Run-Network-Latency) on `target`'s instances; `undo` stops it."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_fis import plan_fis_network_latency

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_fis_network_latency(
        target, role_arn, int(ms), int(jitter or 0), duration, interface, seconds, configuration
    )
    return _fis(plan, configuration, intent_log, params)


def fis_network_blackhole(
    target: str,
    role_arn: str,
    port: int | None = None,
    protocol: str = "tcp",
    traffic_type: str | None = None,
    duration: str = "PT10M",
    seconds: float | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """network-blackhole through FIS + SSM (AWSFIS-Run-Network-Blackhole-Port); `undo` stops it."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_fis import plan_fis_network_blackhole

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_fis_network_blackhole(target, role_arn, port, protocol, traffic_type, duration, seconds, configuration)
    return _fis(plan, configuration, intent_log, params)


def fis_disrupt_connectivity(
    dependency: str,
    role_arn: str,
    duration: str = "PT10M",
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """dependency-failure through FIS aws:network:disrupt-connectivity on the app's subnets; `undo` stops it."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_fis import plan_fis_disrupt_connectivity

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_fis_disrupt_connectivity(dependency, role_arn, duration, configuration)
    return _fis(plan, configuration, intent_log, params)


def _ssm_signal(plan: FaultPlan, configuration: Configuration, intent_log: str | None, params: dict) -> dict:
    """List (read-only script) and check first, then record the undo, then signal exactly the listed processes."""
    from harness.faults import aws_ssm

    poll = float(conf(configuration, "ssm_poll_s", 1))
    signal = plan.changes["signal"]

    def act(journal, where):
        listed = aws_ssm.list_processes(plan, configuration)
        if signal == "STOP":
            journal.record_undo("aws_ssm_sigcont", matched=listed["matched"], poll=poll, **where)
        elif plan.changes.get("restart"):
            journal.record_undo(
                "aws_ssm_restart",
                instances=plan.changes["instances"],
                process=plan.changes["process"],
                restart=plan.changes["restart"],
                poll=poll,
                **where,
            )
        else:
            journal.record_undo("noop", reason=plan.undo_summary)
        signalled = aws_ssm.signal_processes(listed["matched"], signal, configuration, f"drill {plan.fault}")
        return {"list_command_id": listed["command_id"], "matched": listed["matched"], "signalled": signalled}

    return _inject_staged(plan, configuration, act, params, intent_log)


def ssm_process_kill(
    target: str,
    process: str | None = None,
    restart: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """process-kill through SSM Run Command: SIGKILL the listed `process` on `target`'s instances."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_ssm import plan_ssm_process_signal

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_ssm_process_signal("process-kill", target, process, restart, configuration)
    return _ssm_signal(plan, configuration, intent_log, params)


def ssm_process_freeze(
    target: str,
    process: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """process-freeze through SSM Run Command: SIGSTOP the listed `process`; `undo` sends SIGCONT."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_ssm import plan_ssm_process_signal

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_ssm_process_signal("process-freeze", target, process, None, configuration)
    return _ssm_signal(plan, configuration, intent_log, params)


def pg_prepare_drill_table(
    table: str = "loads", rows: int = 200, configuration: Configuration = None, secrets: Any = None
) -> dict[str, Any]:
    """Create and fill the drill-owned table drill_owned.<table> through the writer's DSN (configuration
    pg_dsn): the only data the data faults may damage besides tables the target file allowlists."""
    from harness.faults.aws_data import prepare_drill_table

    _clearance(configuration)
    return prepare_drill_table(table, int(rows), configuration)


def sql_damage(
    fault: str,
    table: str,
    statement: str | None = None,
    where: str | None = None,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """db-corruption (statement) / db-accidental-delete (where) on a drill-owned or allowlisted table through the
    writer's DSN. The detail's t_fault is the recovery point rds_pitr_recover learns (old_t_fault)."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_data import plan_sql_damage, run_damage

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_sql_damage(fault, table, statement, where, configuration)

    def act(journal, where_):
        journal.record_undo(
            "noop", reason=f"destructive statement: recover with the pitr procedure (fault {journal.id})"
        )
        return run_damage(plan, configuration)

    return _inject_staged(plan, configuration, act, params, intent_log)


def rds_pitr_recover(
    source_instance: str,
    old_t_fault: str | None = None,
    old_table: str | None = None,
    table: str | None = None,
    restore_time: str | None = None,
    target_instance: str | None = None,
    timeout: float = 3600,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """The pitr procedure on RDS (plan 4.3.1; runbook 8.3 scenario 2), each step timed: restore the source to a
    new instance at the recovery point (1 ms before the data fault's statement, or restore_time), wait until it
    answers, validate the recovered table, switch it into the writer, delete the restored instance."""
    from harness.faults import aws_data

    name = old_table or table
    if not name:
        raise HarnessError("pitr: which table (no data fault in this scenario named one; give table)")
    schema = aws_data.check_table(name, configuration)["schema"]  # the same refusals as the fault
    when = aws_data.restore_time_of(old_t_fault, restore_time)
    target = target_instance or f"{source_instance}-pitr-{int(datetime.now().timestamp())}"
    poll = float(conf(configuration, "rds_poll_s", 10))
    steps: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}

    def step(title: str, fn: Callable[[], str]) -> None:
        started = time.monotonic()
        outcome = fn()
        steps.append({"title": title, "seconds": round(time.monotonic() - started, 3), "outcome": outcome})

    def restore() -> str:
        facts["restore"] = rds_point_in_time_restore(source_instance, target, when, configuration, secrets, intent_log)
        return f"RestoreDBInstanceToPointInTime({source_instance} -> {target}, {when})"

    def wait() -> str:
        rds = client("rds", configuration)
        facts["dsn"] = aws_data.wait_restored(rds, target, schema, name, configuration, float(timeout), poll)
        return f"{target} available, {schema}.{name} answers ({aws_data.masked(facts['dsn'])})"

    def validate() -> str:
        facts["valid"] = aws_data.validate_restored(facts["dsn"], schema, name, configuration)
        v = facts["valid"]
        return f"{v['rows']} rows recovered (damaged: {v['damaged_rows']}), checked against {v['checked_against'] or 'the damaged table'}"

    def switch() -> str:
        return f"{aws_data.switch_table(facts['dsn'], schema, name, configuration)} rows switched into the writer"

    def remove() -> str:
        return "; ".join(s["outcome"] for s in undo(facts["restore"]["id"], intent_log=intent_log)["steps"])

    try:
        step("identify the recovery point", lambda: f"{when} (1 ms before the statement)" if not restore_time else when)
        step("restore to a new instance", restore)
        step("wait until the restored instance answers", wait)
        step("validate the recovered data", validate)
        step("switch the recovered table into the writer", switch)
    finally:
        if "restore" in facts:
            step("delete the restored instance", remove)
    return {
        "procedure": "pitr",
        "restored_instance": target,
        "restore_time": when,
        "steps": steps,
        "seconds": round(sum(s["seconds"] for s in steps), 3),
    }


def docdb_failover(
    cluster_id: str,
    target_instance: str | None = None,
    timeout: float = 600,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """db-primary-crash on DocumentDB (plan 4.3.2): FailoverDBCluster, timed until the replica is the primary."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_docdb import failover_and_time, plan_docdb_failover

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_docdb_failover(cluster_id, target_instance, configuration)

    def act(journal, where):
        journal.record_undo("noop", reason=plan.undo_summary)
        return failover_and_time(plan, configuration, float(timeout))

    return _inject_staged(plan, configuration, act, params, intent_log)


def docdb_point_in_time_restore(
    source_cluster: str,
    target_cluster: str,
    restore_time: str | None = None,
    instance_class: str | None = None,
    timeout: float = 3600,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """pitr on DocumentDB (plan 4.3.2): restore-db-cluster-to-point-in-time + create-db-instance, each timed;
    `undo` deletes the restored instance and cluster."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_docdb import plan_docdb_point_in_time_restore, restore_and_time

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_docdb_point_in_time_restore(source_cluster, target_cluster, restore_time, instance_class, configuration)

    def act(journal, where):
        journal.record_undo(
            "aws_docdb_delete_restored", cluster=plan.changes["target"], instance=plan.changes["instance"], **where
        )
        return restore_and_time(plan, configuration, float(timeout))

    return _inject_staged(plan, configuration, act, params, intent_log)


def msk_reboot_broker(
    cluster_arn: str,
    broker: str = "one",
    timeout: float = 1800,
    configuration: Configuration = None,
    secrets: Any = None,
    intent_log: str | None = None,
) -> dict[str, Any]:
    """Reboot one MSK broker (plan 2.4), timed until the cluster is ACTIVE again; refused unless ACTIVE."""
    params = _params(locals())  # first: before any local name is bound
    from harness.faults.aws_msk import plan_msk_reboot_broker, reboot_and_time

    _clearance(configuration)  # refuse before even describing when not cleared
    plan = plan_msk_reboot_broker(cluster_arn, str(broker), configuration)

    def act(journal, where):
        journal.record_undo("noop", reason=plan.undo_summary)
        return reboot_and_time(plan, configuration, float(timeout))

    return _inject_staged(plan, configuration, act, params, intent_log)


# -- S3 objects on the harness-owned prefix (plan 4.3.4): harness/faults/aws_s3.py -----------------------------
def s3_prepare_objects(
    key: str = "drill-object", versions: int = 3, configuration: Configuration = None, secrets: Any = None
) -> dict[str, Any]:
    """Write the harness's own object (several versions) under configuration.s3.drill_prefix, after the safety
    clearance and the bucket's checks (named, versioning Enabled, the allowlisted tags)."""
    from harness.faults import aws_s3

    _s3_cleared(key, configuration)
    return aws_s3.prepare_objects(key, versions, configuration)


def _s3_cleared(key: str, configuration: Configuration) -> None:
    """The safety clearance, then the bucket (read-only): named, versioning Enabled, and carrying the allowlisted
    tags; SafetyRefused before the first write otherwise."""
    from harness.faults import aws_s3

    clearance = _clearance(configuration)
    setup = aws_s3.s3_setup(configuration)
    key = aws_s3.drill_key(setup, key)
    tags = aws_s3.bucket_checked(client("s3", configuration), setup.bucket)
    objects = [safety.Resource(kind="s3-object", id=f"{setup.bucket}/{key}", tags=tags, role="written")]
    safety.check_blast("s3 drill objects", objects, clearance.limits, clearance.required_tags)


def s3_object_delete(
    key: str = "drill-object", configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """object-delete: delete the harness's object (a delete marker); `undo` copies the last good version over."""
    from harness.faults import aws_s3

    _s3_cleared(key, configuration)  # refuse before even describing the object when not cleared
    plan = aws_s3.plan_s3_object_delete(key, configuration)
    return _inject(plan, configuration, intent_log=intent_log, act=aws_s3.delete_call(plan, configuration))


def s3_object_overwrite(
    key: str = "drill-object", configuration: Configuration = None, secrets: Any = None, intent_log: str | None = None
) -> dict[str, Any]:
    """object-overwrite: a new version with bytes the harness did not seed; `undo` copies the last good one over."""
    from harness.faults import aws_s3

    _s3_cleared(key, configuration)
    plan = aws_s3.plan_s3_object_overwrite(key, configuration)
    return _inject(plan, configuration, intent_log=intent_log, act=aws_s3.overwrite_call(plan, configuration))


def s3_version_restore(
    key: str = "drill-object", configuration: Configuration = None, secrets: Any = None
) -> dict[str, Any]:
    """Procedure s3-version-restore (plan 4.3.4): the newest good version copied over as the newest, timed."""
    from harness.faults import aws_s3

    _s3_cleared(key, configuration)
    return aws_s3.version_restore(key, configuration)


def s3_cross_region_restore(
    key: str = "drill-object", configuration: Configuration = None, secrets: Any = None
) -> dict[str, Any]:
    """Procedure s3-cross-region-restore: the object copied back from the DR bucket as the newest version, timed."""
    from harness.faults import aws_s3

    _s3_cleared(key, configuration)
    return aws_s3.cross_region_restore(key, configuration)
