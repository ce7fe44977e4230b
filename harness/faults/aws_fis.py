"""Network faults on AWS through AWS Fault Injection Service (FIS): one experiment template per fault, created
for the drill, started, watched, stopped and deleted by the harness.

    network-latency     aws:ssm:send-command + SSM document AWSFIS-Run-Network-Latency on the EC2 instances
                        of a named target (selected by tags, every one must carry the allowlist's tags)
    network-blackhole   aws:ssm:send-command + AWSFIS-Run-Network-Blackhole-Port (one port of the target)
    dependency-failure  aws:network:disrupt-connectivity on the app's subnets, scoped to the dependency (a
                        managed prefix list holding its addresses, or s3 / dynamodb, or all traffic)

The harness never injects on machines it does not own by itself: FIS runs the documents (through the SSM
agent) or changes the subnets' network ACLs, and FIS puts them back when the experiment is stopped.

Lifecycle of one fault (harness.chaos.aws runs it through the one inject path):
1. plan (read-only): the instances or subnets the template will name by ARN (exactly these, no fresh query at
   start time), the template body, the calls;
2. the undo is recorded FIRST (kind aws_fis_stop_drill_experiment: the drill tag of the template), then
   CreateExperimentTemplate (tagged `drill-fault`, `drill-run` and the allowlist's tags, described after the
   drill run) and StartExperiment;
3. watched: GetExperiment until `running` (the fault is in force) or a terminal state (the inject failed and
   what was recorded is undone);
4. the undo (the target file's rollback, an abort guard firing, `drill recover` after a crash) finds the
   template by its drill tag, StopExperiment on its experiments still pending/initiating/running, waits for a
   terminal state and deletes the template. The experiment id and its final state are the undo's outcome,
   written in the intent log.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.aws import Configuration, client, conf, region_of, tag_dict, undo_config
from harness.faults.plan import FaultPlan
from harness.safety import Resource

DRILL_TAG = "drill-fault"  # the template's tag the undo finds it by: the fault's id in the intent log
RUN_TAG = "drill-run"
# `drill run` hands its child the run directory in this variable; the directory's name is the run id. Read
# here rather than imported: the faults layer sits below harness.drills.
RUN_DIR_ENV = "DRILL_RUN_EVENTS"
TERMINAL = ("completed", "stopped", "failed", "cancelled")
LIVE = ("pending", "initiating", "running")
DOCUMENTS = {
    "network-latency": "AWSFIS-Run-Network-Latency",
    "network-blackhole": "AWSFIS-Run-Network-Blackhole-Port",
}
SCOPES = ("all", "availability-zone", "dynamodb", "prefix-list", "s3")


def run_name() -> str | None:
    """The id of the drill run this process belongs to (`drill run`'s child), or None (a plain chaos run)."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    return Path(run_dir).name if run_dir else None


def _seconds(duration: str) -> int:
    """ISO 8601 PTnHnMnS -> seconds (the form FIS durations take)."""
    import re

    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration or "")
    if not m or not any(m.groups()):
        raise HarnessError(f"duration {duration!r}: an ISO 8601 duration like PT10M or PT90S")
    h, mi, s = (int(g or 0) for g in m.groups())
    total = h * 3600 + mi * 60 + s
    if not 1 <= total <= 43200:
        raise HarnessError(f"duration {duration!r}: FIS actions last between 1 s and 12 h")
    return total


def _duration(duration: str, seconds: float | str | None) -> str:
    """The FIS duration: `seconds` (the vocabulary's parameter) when given, else `duration`."""
    if seconds in (None, ""):
        return duration
    return f"PT{math.ceil(float(seconds))}S"


def _role(role_arn: str) -> str:
    if not role_arn or str(role_arn).startswith("<"):
        raise HarnessError(
            "a FIS experiment needs role_arn (an IAM role FIS may assume, configuration fis_role_arn); "
            "the harness never creates IAM roles"
        )
    return str(role_arn)


def _account(configuration: Configuration) -> str:
    return client("sts", configuration).get_caller_identity()["Account"]


def instance_target(target: str, configuration: Configuration) -> dict[str, Any]:
    """A target name -> its EC2 instances' tags (and port, traffic_type, process) from configuration
    `instance_targets` (shared by the FIS network faults and the SSM process faults)."""
    targets = conf(configuration, "instance_targets") or {}
    if target not in targets:
        raise HarnessError(
            f"target {target!r}: not in configuration instance_targets (known: {', '.join(sorted(targets)) or 'none'}); "
            "map it to the tags of its EC2 instances, e.g. {app: {tags: {Role: app}, port: 8080}}"
        )
    spec = targets[target] or {}
    if not spec.get("tags"):
        raise HarnessError(f"configuration instance_targets.{target}: needs tags (the instances to act on)")
    return spec


def running_instances(tags: dict[str, str], configuration: Configuration) -> list[dict[str, Any]]:
    filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": ["running"]})
    pages = client("ec2", configuration).get_paginator("describe_instances").paginate(Filters=filters)
    found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    return sorted(found, key=lambda i: i["InstanceId"])


def _template_tags(fault: str, configuration: Configuration) -> dict[str, str]:
    tags = {"drill": fault}
    tags.update({str(k): str(v) for k, v in (conf(configuration, "fis_template_tags") or {}).items()})
    return tags


def _stop_conditions(configuration: Configuration) -> list[dict[str, str]]:
    alarm = conf(configuration, "fis_stop_alarm_arn")
    if alarm and not str(alarm).startswith("<"):  # FIS itself stops the experiment when this alarm fires
        return [{"source": "aws:cloudwatch:alarm", "value": str(alarm)}]
    return [{"source": "none"}]


def _template(
    fault: str,
    description: str,
    role: str,
    configuration: Configuration,
    target: tuple[str, str, str],
    arns: list[str],
    action_id: str,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """One FIS experiment template: one action on exactly the listed resources (selectionMode ALL), the
    configuration's stop conditions, tagged with the fault and the run. `target` is (the template's target
    name, its resourceType, the action's target key)."""
    name, resource_type, key = target
    return {
        "description": description,
        "roleArn": role,
        "stopConditions": _stop_conditions(configuration),
        "targets": {name: {"resourceType": resource_type, "resourceArns": arns, "selectionMode": "ALL"}},
        "actions": {fault: {"actionId": action_id, "parameters": parameters, "targets": {key: name}}},
        "tags": _template_tags(fault, configuration),
    }


def _plan(
    fault: str,
    summary: str,
    resources: list[Resource],
    template: dict[str, Any],
    configuration: Configuration,
    notes: list[str],
) -> FaultPlan:
    return FaultPlan(
        fault=fault,
        summary=summary,
        region=region_of(configuration),
        resources=resources,
        zones=sorted({r.az for r in resources if r.az and r.acted}),
        calls=[
            "fis:CreateExperimentTemplate(" + json.dumps(template, sort_keys=True) + ")",
            "fis:StartExperiment(the new template)",
            "fis:GetExperiment (watched until running)",
        ],
        changes={"template": template},
        undo_summary="fis:StopExperiment on the drill's experiment, wait until stopped, then "
        "fis:DeleteExperimentTemplate (found by its drill-fault tag)",
        undo_record={"kind": "fis-stop-drill-experiment"},
        notes=notes,
    )


def plan_fis_network_latency(
    target: str,
    role_arn: str,
    ms: int,
    jitter: int = 0,
    duration: str = "PT10M",
    interface: str = "eth0",
    seconds: float | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    """network-latency: AWSFIS-Run-Network-Latency (tc netem delay, run by the SSM agent) on every running
    instance of `target` (configuration instance_targets). `jitter` is accepted only as 0: the document adds a
    fixed delay. `seconds` (the vocabulary's "undo by itself after this long") becomes the action's duration."""
    duration = _duration(duration, seconds)
    if int(jitter or 0):
        raise HarnessError(
            "parameter 'jitter': AWSFIS-Run-Network-Latency adds a fixed delay only; use jitter 0 on AWS "
            "(AWSFIS-Run-Network-Latency-Sources has no jitter either)"
        )
    if not 1 <= int(ms) <= 60_000:
        raise HarnessError(f"parameter 'ms': {ms} is outside 1..60000")
    document_parameters = {
        "DelayMilliseconds": str(int(ms)),
        "Interface": interface,
        "DurationSeconds": str(_seconds(duration)),
        "InstallDependencies": "True",
    }
    return _ssm_fault_plan(
        "network-latency",
        target,
        role_arn,
        duration,
        document_parameters,
        f"add {int(ms)} ms to every packet of {target}'s instances ({interface})",
        configuration,
    )


def plan_fis_network_blackhole(
    target: str,
    role_arn: str,
    port: int | None = None,
    protocol: str = "tcp",
    traffic_type: str | None = None,
    duration: str = "PT10M",
    seconds: float | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    """network-blackhole: AWSFIS-Run-Network-Blackhole-Port (iptables drop, run by the SSM agent) on one port of
    every running instance of `target`; the port from the argument or configuration instance_targets.T.port."""
    duration = _duration(duration, seconds)
    spec = instance_target(target, configuration)
    port = port if port not in (None, "") else spec.get("port")
    traffic_type = traffic_type or str(spec.get("traffic_type", "ingress"))
    if port is None:
        raise HarnessError(
            f"target {target!r}: no port (argument port or configuration instance_targets.{target}.port)"
        )
    if protocol not in ("tcp", "udp") or traffic_type not in ("ingress", "egress"):
        raise HarnessError("protocol must be tcp or udp, traffic_type ingress or egress (the document's values)")
    document_parameters = {
        "Protocol": protocol,
        "Port": str(int(port)),
        "TrafficType": traffic_type,
        "DurationSeconds": str(_seconds(duration)),
        "InstallDependencies": "True",
    }
    return _ssm_fault_plan(
        "network-blackhole",
        target,
        role_arn,
        duration,
        document_parameters,
        f"drop {traffic_type} {protocol} port {int(port)} on {target}'s instances",
        configuration,
    )


def _ssm_fault_plan(
    fault: str,
    target: str,
    role_arn: str,
    duration: str,
    document_parameters: dict[str, str],
    what: str,
    configuration: Configuration,
) -> FaultPlan:
    role = _role(role_arn)
    _seconds(duration)
    spec = instance_target(target, configuration)
    instances = running_instances(dict(spec["tags"]), configuration)
    if not instances:
        raise HarnessError(f"target {target!r}: no running EC2 instance carries tags {json.dumps(spec['tags'])}")
    region, account = region_of(configuration), _account(configuration)
    arns = [f"arn:aws:ec2:{region}:{account}:instance/{i['InstanceId']}" for i in instances]
    template = _template(
        fault,
        f"drill {fault} on {target}",
        role,
        configuration,
        ("instances", "aws:ec2:instance", "Instances"),
        arns,
        "aws:ssm:send-command",
        {
            "documentArn": f"arn:aws:ssm:{region}::document/{DOCUMENTS[fault]}",
            "documentParameters": json.dumps(document_parameters, sort_keys=True),
            "duration": duration,
        },
    )
    resources = [
        Resource(
            kind="ec2-instance",
            id=i["InstanceId"],
            az=i.get("Placement", {}).get("AvailabilityZone"),
            role=f"{DOCUMENTS[fault]} ({target})",
            tags=tag_dict(i.get("Tags")),
            state=i["State"]["Name"],
        )
        for i in instances
    ]
    notes = [
        f"the SSM agent on each instance runs {DOCUMENTS[fault]} for at most {duration}; "
        "stopping the experiment cancels the command and the document removes its rule"
    ]
    return _plan(fault, f"FIS: {what} for at most {duration}", resources, template, configuration, notes)


def plan_fis_disrupt_connectivity(
    dependency: str,
    role_arn: str,
    duration: str = "PT10M",
    configuration: Configuration = None,
) -> FaultPlan:
    """dependency-failure: aws:network:disrupt-connectivity on the app's subnets (configuration
    app_subnet_tags), scoped to the dependency (configuration dependencies.<name>: {scope, prefix_list_id})."""
    role = _role(role_arn)
    _seconds(duration)
    deps = conf(configuration, "dependencies") or {}
    if dependency not in deps:
        raise HarnessError(
            f"dependency {dependency!r}: not in configuration dependencies (known: {', '.join(sorted(deps)) or 'none'}); "
            "e.g. {db: {scope: prefix-list, prefix_list_id: pl-...}}"
        )
    spec = deps[dependency] or {}
    scope = str(spec.get("scope", "prefix-list"))
    if scope not in SCOPES:
        raise HarnessError(f"configuration dependencies.{dependency}.scope {scope!r}: one of {', '.join(SCOPES)}")
    parameters: dict[str, str] = {"duration": duration, "scope": scope}
    if scope == "prefix-list":
        pl = spec.get("prefix_list_id")
        if not pl or str(pl).startswith("<"):
            raise HarnessError(
                f"configuration dependencies.{dependency}: scope prefix-list needs prefix_list_id "
                "(a managed prefix list holding the dependency's addresses)"
            )
        parameters["prefixListIdentifier"] = str(pl)
    subnet_tags = conf(configuration, "app_subnet_tags") or {}
    if not subnet_tags:
        raise HarnessError("configuration app_subnet_tags: the tags of the app's subnets (whose traffic is cut)")
    filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in subnet_tags.items()]
    subnets = sorted(
        client("ec2", configuration).describe_subnets(Filters=filters)["Subnets"], key=lambda s: s["SubnetId"]
    )
    if not subnets:
        raise HarnessError(f"no subnet carries the app's subnet tags {json.dumps(subnet_tags)}")
    region, account = region_of(configuration), _account(configuration)
    arns = [f"arn:aws:ec2:{region}:{account}:subnet/{s['SubnetId']}" for s in subnets]
    template = _template(
        "dependency-failure",
        f"drill dependency-failure of {dependency}",
        role,
        configuration,
        ("subnets", "aws:ec2:subnet", "Subnets"),
        arns,
        "aws:network:disrupt-connectivity",
        parameters,
    )
    resources = [
        Resource(
            kind="subnet",
            id=s["SubnetId"],
            az=s.get("AvailabilityZone"),
            role=f"traffic to {dependency} ({scope}) denied by a network ACL",
            tags=tag_dict(s.get("Tags")),
        )
        for s in subnets
    ]
    where = f"prefix list {parameters['prefixListIdentifier']}" if scope == "prefix-list" else scope
    notes = ["FIS clones each subnet's network ACL with deny rules and restores the original when it stops"]
    return _plan(
        "dependency-failure",
        f"FIS: cut the app's subnets off from {dependency} ({where}) for at most {duration}",
        resources,
        template,
        configuration,
        notes,
    )


CROSS_REGION_ACTION = "aws:network:route-table-disrupt-cross-region-connectivity"


def plan_fis_cross_region(
    role_arn: str,
    isolate_region: str,
    subnet_tags: dict[str, str],
    duration: str = "PT30M",
    fault: str = "region-outage",
    configuration: Configuration = None,
) -> FaultPlan:
    """The FIS cross-region connectivity action on the subnets of the experiment region (configuration
    aws_region) carrying `subnet_tags`: their route tables stop routing to `isolate_region` (parameters `region`
    and `duration`, target `Subnets` of resource type aws:ec2:subnet, as the FIS actions reference gives them).
    The subnets are named by ARN (exactly the ones described now, no fresh selection at start time)."""
    role = _role(role_arn)
    _seconds(duration)
    if not subnet_tags:
        raise HarnessError("the subnets to cut off need tags (configuration.region.outage_subnet_tags)")
    filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in subnet_tags.items()]
    subnets = sorted(
        client("ec2", configuration).describe_subnets(Filters=filters)["Subnets"], key=lambda s: s["SubnetId"]
    )
    region = region_of(configuration)
    if not subnets:
        raise HarnessError(f"no subnet in {region} carries the outage's subnet tags {json.dumps(subnet_tags)}")
    account = _account(configuration)
    arns = [f"arn:aws:ec2:{region}:{account}:subnet/{s['SubnetId']}" for s in subnets]
    template = _template(
        fault,
        f"drill {fault}: {region} cut off from {isolate_region}",
        role,
        configuration,
        ("subnets", "aws:ec2:subnet", "Subnets"),
        arns,
        CROSS_REGION_ACTION,
        {"region": isolate_region, "duration": duration},
    )
    # No `az` on these resources: a region outage takes every AZ of the region by definition (limits.max_azs
    # bounds AZ faults); the region drill is bounded by the allowlisted regions and the required tags instead.
    resources = [
        Resource(
            kind="subnet",
            id=s["SubnetId"],
            role=f"routes to {isolate_region} cut ({s.get('AvailabilityZone', '?')}, vpc {s.get('VpcId', '?')})",
            tags=tag_dict(s.get("Tags")),
        )
        for s in subnets
    ]
    notes = [
        "FIS replaces each subnet's route table with one that drops traffic to the other region's address "
        "ranges and puts the original association back when the experiment stops or its duration ends",
    ]
    return _plan(
        fault,
        f"FIS {CROSS_REGION_ACTION}: {len(subnets)} subnets of {region} cut off from {isolate_region} for at most "
        f"{duration}",
        resources,
        template,
        configuration,
        notes,
    )


# -- acting: create, start, watch; and the undo ----------------------------------------------------------------
def start_experiment(
    plan: FaultPlan,
    fault_id: str,
    configuration: Configuration,
    timeout: float = 300,
    poll: float = 2,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """CreateExperimentTemplate (tagged with the fault id and the run) + StartExperiment, then watch until the
    experiment runs. HarnessError when it ends before running (the caller's inject path undoes it)."""
    fis = client("fis", configuration)
    body = json.loads(json.dumps(plan.changes["template"]))
    run = run_name()
    body["tags"] = {**(tags or {}), **body["tags"], DRILL_TAG: fault_id, **({RUN_TAG: run} if run else {})}
    body["description"] = f"{body['description']} ({run or fault_id})"[:512]
    template = fis.create_experiment_template(clientToken=fault_id, **body)["experimentTemplate"]
    experiment = fis.start_experiment(clientToken=fault_id, experimentTemplateId=template["id"], tags=body["tags"])[
        "experiment"
    ]
    state = watch_experiment(experiment["id"], ("running", *TERMINAL), timeout, poll, configuration)
    if state["status"] != "running":
        raise HarnessError(
            f"FIS experiment {experiment['id']} ended {state['status']} before running: {state.get('reason', '')}"
        )
    return {"template_id": template["id"], "experiment_id": experiment["id"], "state": state["status"]}


def watch_experiment(
    experiment_id: str, until: tuple[str, ...], timeout: float, poll: float, configuration: Configuration
) -> dict[str, Any]:
    """GetExperiment until its state is one of `until`; HarnessError after `timeout` seconds."""
    fis = client("fis", configuration)
    deadline = time.monotonic() + float(timeout)
    while True:
        state = fis.get_experiment(id=experiment_id)["experiment"]["state"]
        if state["status"] in until:
            return state
        if time.monotonic() >= deadline:
            raise HarnessError(f"FIS experiment {experiment_id}: still {state['status']} after {float(timeout):g} s")
        time.sleep(float(poll))


def fis_experiment_state(experiment_id: str, configuration: Configuration = None) -> str:
    """Probe: the state of a FIS experiment (pending, initiating, running, stopping, stopped, completed, failed)."""
    return client("fis", configuration).get_experiment(id=experiment_id)["experiment"]["state"]["status"]


def stop_drill_experiments(fault_id: str, configuration: Configuration, timeout: float = 300, poll: float = 2) -> str:
    """Stop every live experiment of the template tagged drill-fault=fault_id, wait until each is terminal,
    delete the template. Idempotent: nothing tagged is nothing to do."""
    fis = client("fis", configuration)
    templates = [
        t
        for page in fis.get_paginator("list_experiment_templates").paginate()
        for t in page["experimentTemplates"]
        if (t.get("tags") or {}).get(DRILL_TAG) == fault_id
    ]
    if not templates:
        return f"no FIS template tagged {DRILL_TAG}={fault_id} (never created, or already deleted)"
    out = []
    for t in templates:
        experiments = [
            e
            for page in fis.get_paginator("list_experiments").paginate(experimentTemplateId=t["id"])
            for e in page["experiments"]
        ]
        for e in experiments:
            status = e["state"]["status"]
            if status in LIVE:
                fis.stop_experiment(id=e["id"])
            final = watch_experiment(e["id"], TERMINAL, timeout, poll, configuration)["status"]
            out.append(f"experiment {e['id']} {'stopped' if status in LIVE else 'had ended'} (final state: {final})")
        fis.delete_experiment_template(id=t["id"])
        out.append(f"template {t['id']} deleted")
    return "; ".join(out)


@undo_actions.undo_action("aws_fis_stop_drill_experiment")
def _undo_stop_drill_experiment(record: dict[str, Any]) -> str:
    return stop_drill_experiments(record["fault_id"], undo_config(record), poll=float(record.get("poll", 2)))


PLANNERS = {
    "fis_network_latency": plan_fis_network_latency,
    "fis_network_blackhole": plan_fis_network_blackhole,
    "fis_disrupt_connectivity": plan_fis_disrupt_connectivity,
}
