"""MSK broker reboot (harness/faults/aws_msk.py). moto's Kafka has no ListNodes or RebootBroker, so the kafka
client the harness uses is stubbed with botocore's Stubber (responses shaped as the AWS API reference shows;
botocore checks parameters and response shapes against the service model). Stubbed: DescribeCluster,
ListNodes, RebootBroker. STS (the safety preflight) and EC2 (the brokers' subnets -> AZs) are moto's."""

from __future__ import annotations

import pytest
from aws_world import MOTO_ACCOUNT, REGION, clear
from botocore.stub import Stubber

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.errors import HarnessError
from harness.faults import aws_msk
from harness.faults.intent import IntentLog

CONFIG = {"aws_region": REGION, "msk_poll_s": 0.05, "msk_settle_s": 5}
ARN = f"arn:aws:kafka:{REGION}:{MOTO_ACCOUNT}:cluster/freight-msk/0c9a1b2c-3d4e-5f60-7182-93a4b5c6d7e8-2"


def info(state: str, tags: dict | None = None) -> dict:
    return {
        "ClusterInfo": {
            "ClusterArn": ARN,
            "ClusterName": "freight-msk",
            "State": state,
            "NumberOfBrokerNodes": 3,
            "Tags": {"Environment": "staging"} if tags is None else tags,
        }
    }


def nodes(subnets: list[str]) -> dict:
    return {
        "NodeInfoList": [
            {
                "NodeARN": f"arn:aws:kafka:{REGION}:{MOTO_ACCOUNT}:broker/freight-msk/{i}",
                "NodeType": "BROKER",
                "BrokerNodeInfo": {
                    "BrokerId": float(i),
                    "ClientSubnet": subnets[i - 1],
                    "ClientVpcIpAddress": f"10.0.{i}.10",
                },
            }
            for i in (3, 1, 2)
        ]
    }


@pytest.fixture
def stub(aws):
    with Stubber(aws_msk.kafka_client(CONFIG)) as s:
        yield s
        s.assert_no_pending_responses()


@pytest.fixture
def subnets(aws):
    found = sorted(aws.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    return [s["SubnetId"] for s in found[:3]], [s["AvailabilityZone"] for s in found[:3]]


def test_one_broker_is_rebooted_and_timed_until_the_cluster_is_active_again(aws, stub, subnets):
    ids, azs = subnets
    clear({"max_azs": 1}, tags={"Environment": "staging"})
    stub.add_response("describe_cluster", info("ACTIVE"), {"ClusterArn": ARN})
    stub.add_response("list_nodes", nodes(ids), {"ClusterArn": ARN})
    stub.add_response(
        "reboot_broker",
        {
            "ClusterArn": ARN,
            "ClusterOperationArn": f"arn:aws:kafka:{REGION}:{MOTO_ACCOUNT}:cluster-operation/freight-msk/op-1",
        },
        {"ClusterArn": ARN, "BrokerIds": ["1"]},  # exactly one broker, the lowest id
    )
    for state in ("REBOOTING_BROKER", "REBOOTING_BROKER", "ACTIVE"):
        stub.add_response("describe_cluster", info(state), {"ClusterArn": ARN})
    out = chaos_aws.msk_reboot_broker(ARN, configuration=CONFIG)
    d = out["detail"]
    assert d["broker"] == "1" and d["states"] == ["REBOOTING_BROKER", "ACTIVE"]
    assert d["seconds"] >= 2 * CONFIG["msk_poll_s"]
    [acted] = [r for r in out["blast"]["resources"] if r["acted"]]
    assert acted["id"] == "freight-msk/broker-1" and acted["az"] == azs[0]
    assert chaos_aws.undo(out["id"])["undone"] is False and IntentLog().pending() == []


def test_a_cluster_that_is_not_active_is_refused_one_broker_at_a_time(aws, stub):
    clear(tags={"Environment": "staging"})
    stub.add_response("describe_cluster", info("REBOOTING_BROKER"), {"ClusterArn": ARN})
    with pytest.raises(HarnessError, match="one broker at a time"):
        chaos_aws.msk_reboot_broker(ARN, configuration=CONFIG)
    assert IntentLog().pending() == []


def test_a_cluster_without_the_allowlisted_tag_is_refused_before_the_reboot(aws, stub, subnets):
    clear(tags={"Environment": "staging"})
    stub.add_response("describe_cluster", info("ACTIVE", tags={"Environment": "production"}), {"ClusterArn": ARN})
    stub.add_response("list_nodes", nodes(subnets[0]), {"ClusterArn": ARN})
    with pytest.raises(safety.SafetyRefused, match="without tag Environment=staging"):
        chaos_aws.msk_reboot_broker(ARN, broker="2", configuration=CONFIG)
