"""The plan of an AWS or Kubernetes fault: what it will do, found by read-only calls before anything changes.

One type for both (the lab's faults describe themselves with `Fault.describe`): shown before it runs (`drill
plan`, the blast radius in the intent log), checked against the target's limits, and the only thing the act
touches. harness.faults.runner.inject_plan puts a plan in force.

    plan = aws.plan_rds_cluster_failover("freight-staging")      # or k8s.plan_drain_zone(cluster, "zone-a")
    plan.resources, plan.calls, plan.undo_summary                # what it touches, the changing calls, the undo
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from harness.faults.base import BlastRadius
from harness.safety import Resource


class FaultPlan(BaseModel):
    """What one fault will do, found by reads only."""

    fault: str
    summary: str  # what it does, in words
    region: str | None = None  # AWS: where it acts
    namespace: str | None = None  # Kubernetes: where it acts
    resources: list[Resource] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    calls: list[str] = Field(default_factory=list)  # the changing API calls, e.g. "rds:FailoverDBCluster(...)"
    changes: dict[str, Any] = Field(default_factory=dict)  # exactly what the executor does (Kubernetes)
    undo_summary: str = ""
    undo_record: dict[str, Any] = Field(default_factory=dict)  # what the undo replays (harness/faults/undo.py)
    notes: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # refusals found while planning (checked before acting)

    def blast(self) -> BlastRadius:
        """The blast radius in the form every fault shows (`drill fault pending`, the drill record)."""
        return BlastRadius(
            summary=self.summary,
            zones=self.zones,
            undo=self.undo_summary,
            components=[self.namespace] if self.namespace else [],
            resources=[r.line() for r in self.resources],
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan with every resource as data (kind, id, az, tags, acted): what an AWS action returns."""
        return {
            "fault": self.fault,
            "action": self.summary,
            "region": self.region,
            "resources": [r.model_dump(exclude_none=True) for r in self.resources],
            "calls": self.calls,
            "undo": self.undo_summary,
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        out = [self.summary] + ([f"region: {self.region}"] if self.region else [])
        out += [("touches: " if r.acted else "context: ") + r.line() for r in self.resources]
        out += [f"call: {c}" for c in self.calls]
        out.append(f"undo: {self.undo_summary}")
        out += [f"note: {n}" for n in self.notes]
        return out
