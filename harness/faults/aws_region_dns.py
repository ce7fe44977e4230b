"""The DNS part of the region drill (plan 3.3 step 5, 3.4 steps 4-5): the Route 53 records of configuration.region
in either form the file declares (`routing`), their plan lines, the switch to one region, and what the name
answers.

    routing: weighted   two weighted records (one per region, each with its health check). Failover: weights
                        primary 0 / DR 100; failback: the canary weights (10 %, 50 %, ...) then 100 / 0.
    routing: failover   two failover records, PRIMARY (the primary region) and SECONDARY (DR), each with its
                        health check. Failover: the roles are swapped (UPSERT: the DR record becomes PRIMARY,
                        the primary's SECONDARY); failback swaps them back. No weighted canary (see canary()).

Why failover records are switched by swapping roles, not by inverting the primary's health check: Route 53
answers the PRIMARY record while its health check is healthy and the SECONDARY otherwise; inverting the check
is the way AWS documents to make a healthy endpoint count as unhealthy, and the harness uses exactly that for
the region-outage rehearsal (asg-and-dns), whose undo puts the check back. A failover done by the same
inversion would be undone with the fault, sending traffic back to the primary region before the failback
(its database is no longer the writer). Swapping the roles is a record change that stays until the failback
changes it again, is checked with GetChange INSYNC like the weights, and leaves the health checks to the
outage rehearsal.

Every function takes the RegionRun of harness/faults/aws_region.py (`run.setup`, `run.route53()`, `run.wait`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _other(side: str) -> str:
    return "dr" if side == "primary" else "primary"


# -- plan lines ----------------------------------------------------------------------------------------------
def weights_call(s: Any, primary: int, dr: int) -> str:
    return (
        f"route53:ChangeResourceRecordSets({s.dns.zone_id}, UPSERT {s.dns.name} {s.dns.type} "
        f"{s.primary.set_identifier}={primary}, {s.dr.set_identifier}={dr})"
    )


def failover_call(s: Any, primary_side: str) -> str:
    first, second = (s.primary, s.dr) if primary_side == "primary" else (s.dr, s.primary)
    return (
        f"route53:ChangeResourceRecordSets({s.dns.zone_id}, UPSERT {s.dns.name} {s.dns.type} "
        f"{first.set_identifier}=PRIMARY, {second.set_identifier}=SECONDARY)"
    )


def switch_calls(s: Any, to_side: str) -> list[str]:
    """The calls that make the name answer `to_side`'s endpoint, then the check."""
    where = s.dr if to_side == "dr" else s.primary
    change = (
        failover_call(s, to_side)
        if s.routing == "failover"
        else weights_call(s, *((0, 100) if to_side == "dr" else (100, 0)))
    )
    return [change, f"read: route53:TestDNSAnswer({s.dns.name} {s.dns.type}) == {where.endpoint}"]


def canary_calls(s: Any) -> list[str]:
    if s.routing == "failover":
        return []  # not applicable: canary() says why
    return [weights_call(s, w, 100 - w) for w in s.canary_weights if w < 100]


# -- changes ---------------------------------------------------------------------------------------------------
def _record(run: Any, side: str) -> dict[str, Any]:
    s, where = run.setup, run.side(side)
    rrset: dict[str, Any] = {
        "Name": s.dns.name,
        "Type": s.dns.type,
        "SetIdentifier": where.set_identifier,
        "TTL": s.dns.ttl,
        "ResourceRecords": [{"Value": where.endpoint}],
    }
    if where.health_check:
        rrset["HealthCheckId"] = where.health_check
    return rrset


def _change(run: Any, comment: str, rrsets: list[dict[str, Any]]) -> str:
    s = run.setup
    r53 = run.route53()
    change = r53.change_resource_record_sets(
        HostedZoneId=s.dns.zone_id,
        ChangeBatch={"Comment": comment, "Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in rrsets]},
    )["ChangeInfo"]
    run.wait(
        f"Route 53 change {change['Id']} to be INSYNC",
        lambda: r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC",
    )
    return change["Id"]


def set_weights(run: Any, primary: int, dr: int) -> str:
    rrsets = [{**_record(run, side), "Weight": w} for side, w in (("primary", primary), ("dr", dr))]
    return _change(run, f"drill: weights primary {primary} / dr {dr}", rrsets)


def set_failover(run: Any, primary_side: str) -> str:
    """UPSERT both failover records: `primary_side`'s record PRIMARY, the other SECONDARY."""
    rrsets = [
        {**_record(run, side), "Failover": "PRIMARY" if side == primary_side else "SECONDARY"}
        for side in ("primary", "dr")
    ]
    return _change(run, f"drill: {primary_side} region's record is PRIMARY", rrsets)


# -- what the name answers -------------------------------------------------------------------------------------
def dns_answer(run: Any) -> tuple[list[str], str]:
    """What the record answers with: TestDNSAnswer; where the endpoint lacks it (moto), Route 53's routing
    worked out from the record sets and the health checks' settings, and the answer says so."""
    from botocore.exceptions import ClientError

    s = run.setup
    r53 = run.route53()
    try:
        found = r53.test_dns_answer(HostedZoneId=s.dns.zone_id, RecordName=s.dns.name, RecordType=s.dns.type)
        return sorted(found.get("RecordData", [])), "TestDNSAnswer"
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status not in (404, 501) and code not in ("InvalidAction", "NotImplemented", "404"):
            raise
    sets = r53.list_resource_record_sets(
        HostedZoneId=s.dns.zone_id, StartRecordName=s.dns.name, StartRecordType=s.dns.type
    )["ResourceRecordSets"]
    name = s.dns.name.rstrip(".") + "."
    key = "Failover" if s.routing == "failover" else "Weight"
    mine = [r for r in sets if r["Name"] == name and r["Type"] == s.dns.type and key in r]

    def healthy(r: dict) -> bool:
        if not r.get("HealthCheckId"):
            return True
        cfg = r53.get_health_check(HealthCheckId=r["HealthCheckId"])["HealthCheck"].get("HealthCheckConfig", {})
        return not cfg.get("Inverted") and not cfg.get("Disabled")

    live = [r for r in mine if healthy(r)]
    if s.routing == "failover":
        # PRIMARY while healthy, else SECONDARY while healthy, else (both unhealthy) PRIMARY, as Route 53 does
        ranked = sorted(mine, key=lambda r: r["Failover"] != "PRIMARY")
        chosen = [next((r for r in ranked if r in live), ranked[0])] if ranked else []
    else:
        chosen = [r for r in live if r["Weight"] > 0] or live or mine
    values = sorted(v["Value"] for r in chosen for v in r.get("ResourceRecords", []))
    return values, "record sets + health checks (this endpoint has no TestDNSAnswer)"


def switch_to(run: Any, side: str) -> str:
    """Make the name answer `side`'s endpoint (weights 0/100 or 100/0; or swap the failover roles), wait INSYNC
    and until the answer is that endpoint alone."""
    s, where = run.setup, run.side(side)
    if s.routing == "failover":
        change = set_failover(run, side)
        what = f"{where.set_identifier} PRIMARY / {run.side(_other(side)).set_identifier} SECONDARY"
    else:
        weights = (0, 100) if side == "dr" else (100, 0)
        change = set_weights(run, *weights)
        what = f"weights {s.primary.set_identifier} {weights[0]} / {s.dr.set_identifier} {weights[1]}"
    answer, how = run.wait(
        f"{s.dns.name} to answer {where.endpoint}", lambda: (a := dns_answer(run))[0] == [where.endpoint] and a
    )
    return f"{s.dns.name} {what} ({change}); answers {', '.join(answer)} ({how})"


def canary(run: Any, hold: float, probe_hold: Callable[[Any, float], int]) -> str:
    """Failback's gradual transition. Weighted records: each canary weight below 100 set and held `hold` s
    while `probe_hold` probes the primary region. Failover records: not applicable. Route 53 does not allow
    weighted and failover records of one name and type side by side, so a temporary weighted pair would mean
    deleting the failover records first: a window where the name answers nothing, and records that differ from
    what the file (and the infrastructure code) declares. The failback then switches all at once, after the
    database is back and the primary region was verified."""
    s = run.setup
    if s.routing == "failover":
        return (
            "not applicable to failover records (no weights; Route 53 cannot mix weighted and failover records "
            "of one name): the complete DNS failback switches all traffic at once"
        )
    done = []
    for weight in s.canary_weights:
        if weight == 100:
            break  # 100 % is the complete DNS failback, after the database is back
        t0 = time.monotonic()
        set_weights(run, weight, 100 - weight)
        checks = probe_hold(run, hold)
        done.append(f"{weight}% held {hold:g} s ({checks} app checks ok, {time.monotonic() - t0:.1f} s)")
    return "canary to the primary region: " + ", ".join(done)
