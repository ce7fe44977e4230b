"""The ElastiCache Global Datastore of the region drill (optional: configuration.region.cache): its replication
state before the failover, the failover to the DR region's member with the database (plan 3.3 step 3), and the
failback to the primary region's member (3.4).

    cache: {global_datastore: <GlobalReplicationGroupId>, primary_group: <member in the primary region>,
            dr_group: <member in the DR region>}

    check:    DescribeGlobalReplicationGroups(ShowMemberInfo): the datastore is available and the DR member is an
              associated SECONDARY (the state is reported: each member's role and status)
    failover: FailoverGlobalReplicationGroup(PrimaryRegion=DR, PrimaryReplicationGroupId=dr_group), then
              DescribeGlobalReplicationGroups until dr_group is PRIMARY and the datastore available again
    failback: the same towards the primary region's member

moto has no global replication groups: the tests drive these calls through botocore's Stubber with responses
shaped as the ElastiCache API reference documents them (docs/aws.md lists them as stubbed).
Every function takes the RegionRun of harness/faults/aws_region.py.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.safety import Resource


def _client(run: Any, side: str) -> Any:
    return run.client("elasticache", run.side(side).region)


def _group_of(run: Any, side: str) -> str:
    c = run.setup.cache
    return c.primary_group if side == "primary" else c.dr_group


def describe(run: Any, side: str = "dr") -> dict[str, Any]:
    c = run.setup.cache
    found = _client(run, side).describe_global_replication_groups(
        GlobalReplicationGroupId=c.global_datastore, ShowMemberInfo=True
    )["GlobalReplicationGroups"]
    if not found:
        raise HarnessError(f"no ElastiCache Global Datastore {c.global_datastore}")
    return found[0]


def _members(gds: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["ReplicationGroupId"]: m for m in gds.get("Members", [])}


def state(gds: dict[str, Any]) -> str:
    members = ", ".join(
        f"{m['ReplicationGroupId']} ({m.get('ReplicationGroupRegion', '?')}) {m.get('Role', '?')} {m.get('Status', '?')}"
        for m in gds.get("Members", [])
    )
    return f"global datastore {gds.get('GlobalReplicationGroupId')} {gds.get('Status', '?')}: {members}"


def resources(run: Any, acted: bool) -> list[Resource]:
    """The two member replication groups, each described in its own region with its tags."""
    out = []
    for side in ("primary", "dr"):
        ident = _group_of(run, side)
        client = _client(run, side)
        group = client.describe_replication_groups(ReplicationGroupId=ident)["ReplicationGroups"][0]
        tags = client.list_tags_for_resource(ResourceName=group["ARN"]).get("TagList", [])
        out.append(
            Resource(
                kind="elasticache-replication-group",
                id=ident,
                role=f"{side} member of global datastore {run.setup.cache.global_datastore} ({run.side(side).region})",
                tags={t["Key"]: t["Value"] for t in tags},
                state=group.get("Status", ""),
                acted=acted,
            )
        )
    return out


def check(run: Any) -> str:
    """Pre-failover: the datastore available, the DR member an associated secondary; the state reported."""
    gds = describe(run, "dr")
    dr = _members(gds).get(run.setup.cache.dr_group)
    if gds.get("Status") != "available":
        raise HarnessError(f"{state(gds)}: the datastore is not available")
    if dr is None or dr.get("Role") != "SECONDARY" or dr.get("Status") != "associated":
        raise HarnessError(f"{state(gds)}: {run.setup.cache.dr_group} is not an associated SECONDARY")
    run.facts["cache_before"] = state(gds)
    return state(gds)


def failover(run: Any, to_side: str) -> str:
    """Make `to_side`'s member the primary of the datastore; wait until it is and the datastore is available."""
    c, where = run.setup.cache, run.side(to_side)
    group = _group_of(run, to_side)
    _client(run, to_side).failover_global_replication_group(
        GlobalReplicationGroupId=c.global_datastore, PrimaryRegion=where.region, PrimaryReplicationGroupId=group
    )

    def done() -> dict[str, Any] | None:
        gds = describe(run, to_side)
        member = _members(gds).get(group) or {}
        return gds if gds.get("Status") == "available" and member.get("Role") == "PRIMARY" else None

    gds = run.wait(f"{group} to be the primary of global datastore {c.global_datastore}", done)
    return f"FailoverGlobalReplicationGroup -> {group} ({where.region}); {state(gds)}"


def calls(s: Any, to_side: str) -> list[str]:
    c = s.cache
    group, region = (c.dr_group, s.dr.region) if to_side == "dr" else (c.primary_group, s.primary.region)
    return [
        f"elasticache:FailoverGlobalReplicationGroup({c.global_datastore}, PrimaryRegion={region}, "
        f"PrimaryReplicationGroupId={group})",
        f"read: elasticache:DescribeGlobalReplicationGroups({c.global_datastore}) until {group} is PRIMARY",
    ]


# -- runbook steps (ctx.lab is the RegionRun) ----------------------------------------------------------------
def check_step(ctx: Any) -> str:
    return check(ctx.lab)


def failover_step(ctx: Any) -> str:
    return failover(ctx.lab, "dr")


def failback_step(ctx: Any) -> str:
    return failover(ctx.lab, "primary")
