"""MSK (plan 2.4): one Kafka broker rebooted through `kafka reboot-broker`, one broker at a time.

    plan     DescribeCluster (state ACTIVE, tags), ListNodes (the broker ids and their client subnets; the
             subnets' AZs from EC2): the blast radius is the one broker
    act      RebootBroker(ClusterArn, BrokerIds=[that one]) - MSK takes exactly one id per call - then
             DescribeCluster until the cluster is ACTIVE again (REBOOTING_BROKER meanwhile), timed
    undo     none needed: the broker comes back by itself; a reboot that does not finish is reported, not
             retried

Refused while the cluster is not ACTIVE (another operation, or another broker rebooting): one broker at a
time. moto's Kafka has no ListNodes or RebootBroker: the tests stub the kafka client (harness.faults.aws
shared_client) with botocore's Stubber, responses shaped as the API reference shows.
"""

from __future__ import annotations

import time
from typing import Any

from harness.errors import HarnessError
from harness.faults.aws import Configuration, client, conf, region_of, shared_client
from harness.faults.plan import FaultPlan
from harness.safety import Resource


def kafka_client(configuration: Configuration = None) -> Any:
    return shared_client("kafka", configuration)


def _cluster(cluster_arn: str, configuration: Configuration) -> dict[str, Any]:
    if not cluster_arn or str(cluster_arn).startswith("<"):
        raise HarnessError("no MSK cluster ARN (configuration msk_cluster_arn)")
    return kafka_client(configuration).describe_cluster(ClusterArn=cluster_arn)["ClusterInfo"]


def _subnet_azs(subnets: list[str], configuration: Configuration) -> dict[str, str]:
    if not subnets:
        return {}
    found = client("ec2", configuration).describe_subnets(SubnetIds=sorted(set(subnets)))["Subnets"]
    return {s["SubnetId"]: s["AvailabilityZone"] for s in found}


def plan_msk_reboot_broker(cluster_arn: str, broker: str = "one", configuration: Configuration = None) -> FaultPlan:
    """`broker`: "one" (the lowest broker id) or a broker id."""
    info = _cluster(cluster_arn, configuration)
    name, state = info.get("ClusterName", cluster_arn), info.get("State", "")
    if state != "ACTIVE":
        raise HarnessError(
            f"MSK cluster {name} is {state}, not ACTIVE: one broker at a time, and only when no other operation runs"
        )
    nodes = [
        n["BrokerNodeInfo"]
        for n in kafka_client(configuration).list_nodes(ClusterArn=cluster_arn)["NodeInfoList"]
        if n.get("BrokerNodeInfo")
    ]
    ids = sorted(int(n["BrokerId"]) for n in nodes)
    if len(ids) < 2:
        raise HarnessError(
            f"MSK cluster {name} has {len(ids)} broker(s): rebooting one would be an outage, not a drill"
        )
    if broker == "one":
        picked = ids[0]
    elif str(broker).isdigit() and int(broker) in ids:
        picked = int(broker)
    else:
        raise HarnessError(f"broker {broker!r}: 'one' or a broker id of {name} ({', '.join(map(str, ids))})")
    node = next(n for n in nodes if int(n["BrokerId"]) == picked)
    azs = _subnet_azs([n.get("ClientSubnet", "") for n in nodes if n.get("ClientSubnet")], configuration)
    tags = {str(k): str(v) for k, v in (info.get("Tags") or {}).items()}
    return FaultPlan(
        fault="broker-reboot",
        summary=f"reboot broker {picked} of MSK cluster {name} ({len(ids)} brokers; the others keep serving)",
        region=region_of(configuration),
        resources=[
            Resource(kind="msk-cluster", id=name, tags=tags, state=state, acted=False),
            Resource(
                kind="msk-broker",
                id=f"{name}/broker-{picked}",
                az=azs.get(node.get("ClientSubnet", "")),
                role="rebooted",
                tags=tags,
                state=node.get("ClientVpcIpAddress", ""),
            ),
        ],
        zones=[azs[node["ClientSubnet"]]] if node.get("ClientSubnet") in azs else [],
        calls=[
            f"kafka:RebootBroker({cluster_arn}, BrokerIds=[{picked}])",
            "kafka:DescribeCluster (timed until ACTIVE again)",
        ],
        changes={"cluster_arn": cluster_arn, "cluster": name, "broker": str(picked)},
        undo_summary="none needed: the broker comes back by itself",
        undo_record={"kind": "none"},
    )


def reboot_and_time(plan: FaultPlan, configuration: Configuration, timeout: float = 1800) -> dict[str, Any]:
    c = plan.changes
    kafka = kafka_client(configuration)
    poll = float(conf(configuration, "msk_poll_s", 10))
    started = time.monotonic()
    op = kafka.reboot_broker(ClusterArn=c["cluster_arn"], BrokerIds=[c["broker"]])
    # MSK moves the cluster to REBOOTING_BROKER shortly after the call: ACTIVE right after it is not the end.
    settle = float(conf(configuration, "msk_settle_s", 60))
    states: list[str] = []
    while True:
        state = _cluster(c["cluster_arn"], configuration).get("State", "")
        if not states or states[-1] != state:
            states.append(state)
        waited = time.monotonic() - started
        if state == "ACTIVE" and (len(states) > 1 or waited >= settle):
            break  # back to ACTIVE after the reboot, or it never left ACTIVE within msk_settle_s (in `states`)
        if waited > float(timeout):
            raise HarnessError(
                f"MSK cluster {c['cluster']}: still {state} {timeout:g} s after rebooting broker {c['broker']}"
            )
        time.sleep(poll)
    return {
        "cluster": c["cluster"],
        "broker": c["broker"],
        "operation_arn": op.get("ClusterOperationArn"),
        "states": states,
        "seconds": round(time.monotonic() - started, 3),
    }


PLANNERS = {"msk_reboot_broker": plan_msk_reboot_broker}
