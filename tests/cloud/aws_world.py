"""Staging-like AWS resources created in the moto server (moto stands in for AWS: no real account here)."""

from __future__ import annotations

from typing import Any

from harness import safety

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"  # the account moto's STS answers with
STAGING = [{"Key": "Environment", "Value": "staging"}]
CLUSTER = "freight-staging"


def aurora_cluster(s: Any, tags: list[dict] | None = None) -> dict[str, str]:
    """An Aurora PostgreSQL cluster with a writer in eu-west-1a and a reader in eu-west-1b."""
    rds = s.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        Tags=STAGING if tags is None else tags,
    )
    for name, az in ((f"{CLUSTER}-a", "eu-west-1a"), (f"{CLUSTER}-b", "eu-west-1b")):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier=CLUSTER,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r5.large",
            AvailabilityZone=az,
            Tags=STAGING,
        )
    return {"writer": f"{CLUSTER}-a", "reader": f"{CLUSTER}-b"}


_IMAGE: list[str] = []  # moto's Amazon images survive its reset; listing them takes seconds, so once per session


def instances(s: Any, per_az: dict[str, int], tags: list[dict] | None = None) -> dict[str, list[str]]:
    """EC2 instances: {az: count} -> {az: [ids]}."""
    ec2 = s.client("ec2")
    if not _IMAGE:
        _IMAGE.append(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
    image = _IMAGE[0]
    out: dict[str, list[str]] = {}
    for az, count in per_az.items():
        spec: dict[str, Any] = {
            "ImageId": image,
            "MinCount": count,
            "MaxCount": count,
            "InstanceType": "t3.micro",
            "Placement": {"AvailabilityZone": az},
        }
        if tags if tags is not None else STAGING:
            spec["TagSpecifications"] = [{"ResourceType": "instance", "Tags": STAGING if tags is None else tags}]
        out[az] = sorted(i["InstanceId"] for i in ec2.run_instances(**spec)["Instances"])
    return out


def states(s: Any, ids: list[str]) -> dict[str, str]:
    found = s.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}


class CallLog:
    """Every AWS API operation boto3 sends in this process (a botocore `before-parameter-build` hook on the default
    session that harness.faults.aws and chaostoolkit-aws share): proof of which requests went out."""

    READ_ONLY = ("Describe", "Get", "List", "Head")

    def __init__(self) -> None:
        import boto3

        boto3.setup_default_session()
        self.calls: list[tuple[str, dict]] = []
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._record)

    def _record(self, model: Any = None, params: Any = None, **_: Any) -> None:
        self.calls.append((f"{model.service_model.service_name}:{model.name}", params))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def changing(self) -> list[str]:
        return [n for n in self.names() if not n.split(":", 1)[1].startswith(self.READ_ONLY)]


def clear(
    limits: dict | None = None,
    accounts: tuple[str, ...] = (MOTO_ACCOUNT,),
    tags: dict | None = None,
    environment: str = "staging",
) -> safety.Clearance:
    """Preflight a staging target whose allowlist holds moto's account (or not) with these limits."""
    section = safety.validate_section(
        environment,
        {
            "aws": {"account_ids": list(accounts), "regions": [REGION], "resource_tags": tags or {}},
            "limits": limits or {},
        },
        "test target",
    )
    return safety.preflight(section)
