"""An AWS target file (environment staging/production, safety.aws) as a drill target: the same surface
LocalTarget gives the Gherkin steps, built from the target file instead of the lab.

    target = harness.targets.load("aws-staging")   # AwsTarget
    target.probe("app")            # the file's probes.app spec, ${env:...} expanded
    target.primary("postgresql")   # the RDS cluster writer right now (harness.faults.aws)

Endpoints are the file's `probes:` section and stores its `writers:` section; their specs take values from
the environment (`${env:APP_URL}`), so no address or secret is written into the file. `lab` is None: the
scenario runs faults and procedures only through the file's Chaos Toolkit activities.

`FileTarget` (harness/targets/base.py) is what every file-driven environment shares (endpoints, stores,
health, the steps a file target lacks); AwsTarget adds AWS's preflight (STS identity in the configured
region), primaries and zones, and the blast radius from the read-only planners of harness.faults.aws.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.targets.base import FaultPlanView, FileTarget


class AwsTarget(FileTarget):
    """An AWS target file as a drill target: primaries and zones from the RDS / ElastiCache APIs."""

    provider = "aws"

    def __init__(self, target_file: Any):
        super().__init__(target_file)
        from harness.faults import aws_region

        if aws_region.has_region(target_file.configuration):  # a malformed region section: ConfigError at load
            aws_region.region_setup(target_file.configuration, target_file.path, filled=False)

    def preflight(self, approval: str | None = None, approver: str | None = None, *, whole: bool = True) -> Any:
        """Approval, then who we are (STS) against safety.aws in the region the configuration names
        (aws_region, or AWS_REGION). With a filled-in region section (the region drill), also: both regions on
        the allowlist, the same account in the DR region, and every resource of the section (both regions)
        tagged and named as the limits require, all read-only: SafetyRefused (exit 2) before anything is
        touched."""
        from harness import safety
        from harness.faults.aws import region_of

        clearance = safety.preflight(self.guard, approval, approver, region=region_of(self.target_file.configuration))
        if whole:
            try:
                self._check_region(clearance)
            except HarnessError:
                safety.forget()
                raise
        return clearance

    def backup_status(self, now: float | None, stores: list[str], reports: Path) -> list[dict[str, Any]]:
        """What the file's configuration names (RDS, S3, ElastiCache, DocumentDB, AWS Backup), read-only."""
        from harness.backup import aws as aws_backup

        if stores:
            raise HarnessError("--store: the lab's stores; an AWS target's are the ones its file names")
        return aws_backup.status_rows(self.configuration, self.target_file.path, now)

    def backup_verify(
        self, store: str, *, writes: int, pitr: bool, reports: Path, on_step: Callable[[str], None]
    ) -> Any:
        """The RDS restore test (harness.backup.aws_verify) after the safety preflight: the file's placeholders
        are checked before the STS call."""
        from harness.backup import aws_verify

        if store != "postgres":
            raise HarnessError(f"--store {store}: an AWS target's restore test is its RDS instance's (postgres)")
        aws_verify.restore_setup(self.configuration, str(self.target_file.path))
        self.preflight()
        return aws_verify.verify_rds(
            str(self.target_file.path),
            self.environment,
            self.configuration,
            str(self.target_file.path),
            reports=reports,
            writes=writes,
            pitr=pitr,
            on_step=on_step,
        )

    def region_setup(self) -> Any:
        """The region section (harness.faults.aws_region.RegionSetup) when it is filled in, else None."""
        from harness.faults import aws_region

        if not aws_region.has_region(self.configuration):
            return None
        setup = aws_region.region_setup(self.configuration, self.target_file.path, filled=False)
        return None if setup.placeholders() else setup

    def _check_region(self, clearance: Any) -> None:
        from harness import safety
        from harness.faults import aws_region

        setup = self.region_setup()
        if setup is None:
            return
        run = aws_region.RegionRun(setup, self.configuration)
        aws_region.check_regions_allowed(run, self.guard.safety.aws.regions)
        if setup.primary.region != clearance.identity.region:
            raise safety.SafetyRefused(
                f"{self.target_file.path}: configuration.region.primary.region {setup.primary.region} is not "
                f"the region preflight checked ({clearance.identity.region}); nothing was touched"
            )
        who = safety.check_identity(self.guard.safety, region=setup.dr.region)
        if who.account != clearance.identity.account:
            raise safety.SafetyRefused(
                f"the DR region answers for account {who.account}, not {clearance.identity.account}; "
                "nothing was touched"
            )
        everything = {"primary-database", "dr-database", "primary-app", "dr-app", "dns", "sns"}
        everything |= {"primary-bucket", "dr-bucket", "primary-health-check", "dr-health-check", "cache"}
        resources = aws_region.region_resources(run, everything)
        safety.check_blast("region drill", resources, clearance.limits, clearance.required_tags)

    # -- drill plan ------------------------------------------------------------------------------------------
    def _plan_activity(
        self, view: FaultPlanView, kind: str, name: str, params: dict[str, str], configuration: dict[str, Any]
    ) -> None:
        """The planner of harness.faults.aws for the activity (describe calls only): the concrete resources,
        the API calls, the undo and the blast-radius verdict against the limits. Without an account to ask
        (offline), the resources the activity names and why they could not be listed."""
        from harness import safety
        from harness.faults import aws, aws_data, aws_docdb, aws_fis, aws_msk, aws_region, aws_s3, aws_ssm

        super()._plan_activity(view, kind, name, params, configuration)
        module, func = view.activity.split(":", 1)
        # one module per AWS concern
        planners = (aws, aws_region, aws_fis, aws_ssm, aws_data, aws_docdb, aws_msk, aws_s3)
        planner = next((p for m in planners if (p := m.PLANNERS.get(func)) and module == aws.ACTIVITY_MODULE), None)
        if planner is None:
            if module == aws.ACTIVITY_MODULE:
                view.problem = f"{func} has no planner in harness.faults.aws: its targets cannot be shown"
            return
        try:
            plan = planner(**view.arguments, configuration=configuration)
        except HarnessError as err:
            view.problem = str(err)
            return
        except Exception as err:  # noqa: BLE001 - botocore errors (no credentials, access denied, not found)
            view.problem = f"describe failed: {type(err).__name__}: {err}"
            return
        view.touches = [("touches: " if r.acted else "context: ") + r.line() for r in plan.resources] + [
            f"note: {n}" for n in plan.notes
        ]
        view.calls = plan.calls
        view.undo = plan.undo_summary + (f" ({view.undo})" if view.undo else "")
        guard = self.guard
        required = guard.safety.aws.resource_tags if guard.safety.aws else {}
        try:
            safety.check_blast(plan.fault, plan.resources, guard.safety.limits, required)
            view.blast = "within limits"
        except safety.SafetyRefused as err:
            view.blast = f"WOULD BE REFUSED: {err}"

    def allowlist_lines(self, configuration: dict[str, Any] | None = None) -> list[str]:
        """The AWS allowlist, then who we are now (STS, read-only) and whether `drill run` would be allowed."""
        from harness import safety
        from harness.faults.aws import region_of

        allow = self.guard.safety.aws
        lines = [
            f"aws accounts {', '.join(allow.account_ids)}; regions {', '.join(allow.regions)}; "
            f"tags {allow.resource_tags or '-'}"
        ]
        try:
            who = safety.check_identity(
                self.guard.safety, region=region_of({**self.configuration, **(configuration or {})})
            )
            lines.append(f"caller {who.arn} (account {who.account}, region {who.region}): on the allowlist")
        except HarnessError as err:
            lines.append(f"caller check: drill run WOULD BE REFUSED: {err}")
        return lines

    def book_loads(self, count: int) -> int:
        """`Given N loads are booked through the app` on AWS: the drill's own data, never the app's. The table
        drill_owned.loads is created (again) and filled with `count` rows through the writer's DSN (configuration
        pg_dsn): the only table the data faults may damage here (docs/aws.md)."""
        from harness.faults.aws_data import prepare_drill_table

        return int(prepare_drill_table("loads", count, self.configuration)["rows"])

    def primary(self, service: str) -> str | None:
        """The current primary: the RDS cluster writer for postgresql (configuration rds_cluster_id)."""
        from harness.faults import aws

        if service in ("postgresql", "postgres", "database"):
            cluster = aws.conf(self.configuration, "rds_cluster_id")
            setup = self.region_setup()
            if (not cluster or str(cluster).startswith("<")) and setup is not None:
                return self._region_primary(setup)
            if not cluster or str(cluster).startswith("<"):
                raise self._lacks(
                    f"Then the {service} cluster has a primary again",
                    "no configuration rds_cluster_id in the target file",
                )
            return aws.rds_cluster_writer(str(cluster), self.configuration)
        if service in ("redis", "cache"):
            group = aws.conf(self.configuration, "elasticache_group_id")
            if not group or str(group).startswith("<"):
                raise self._lacks(
                    f"Then the {service} cluster has a primary again",
                    "no configuration elasticache_group_id in the target file",
                )
            found = aws._replication_group(str(group), self.configuration)
            return next(
                (
                    m.get("CacheClusterId")
                    for ng in found.get("NodeGroups", [])
                    for m in ng.get("NodeGroupMembers", [])
                    if m.get("CurrentRole") == "primary"
                ),
                None,
            )
        raise HarnessError(f"unknown service {service!r}: postgresql or redis")

    def _region_primary(self, setup: Any) -> str | None:
        """The region drill's writable database: the one of the section's two that is available and no replica
        (read-replica mode), or the global cluster's writer (aurora-global)."""
        from harness.faults import aws_region

        run = aws_region.RegionRun(setup, self.configuration)
        for side, where in setup.sides():
            if setup.database.mode == "aurora-global":
                found = run.rds(side).describe_global_clusters(GlobalClusterIdentifier=setup.database.global_cluster)
                for m in found["GlobalClusters"][0].get("GlobalClusterMembers", []):
                    if m.get("IsWriter"):
                        return m["DBClusterArn"].split(":")[-1]
                return None
            db = run.rds(side).describe_db_instances(DBInstanceIdentifier=where.database)["DBInstances"][0]
            if db.get("DBInstanceStatus") == "available" and not db.get("ReadReplicaSourceDBInstanceIdentifier"):
                return where.database
        return None

    def component_healthy(self, name: str) -> bool:
        """A component the region section names (configuration.region.components: pg-dr: dr-database, ...):
        a database available in its role (the DR one a replica again, the primary one standalone), an app tier
        with every instance InService and Healthy."""
        from harness.faults import aws_region

        setup = self.region_setup()
        role = setup.components.get(name) if setup is not None else None
        if role is None:
            return super().component_healthy(name)
        run = aws_region.RegionRun(setup, self.configuration)
        side, what = role.split("-", 1)
        where = run.side(side)
        if what == "app" and where.kubernetes is not None:
            from harness.faults import aws_region_apptier

            return aws_region_apptier.healthy(run, side)
        if what == "app":
            group = run.client("autoscaling", where.region).describe_auto_scaling_groups(
                AutoScalingGroupNames=[where.asg]
            )["AutoScalingGroups"][0]
            return all(
                i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy" for i in group["Instances"]
            )
        if setup.database.mode == "aurora-global":
            cluster = run.rds(side).describe_db_clusters(DBClusterIdentifier=where.database)["DBClusters"][0]
            return cluster.get("Status") == "available"
        db = run.rds(side).describe_db_instances(DBInstanceIdentifier=where.database)["DBInstances"][0]
        replica = bool(db.get("ReadReplicaSourceDBInstanceIdentifier"))
        return db.get("DBInstanceStatus") == "available" and replica == (side == "dr")

    def zone_of_primary(self, service: str) -> str:
        """The real AZ of the live RDS writer (postgresql) or ElastiCache primary (redis), through
        harness.faults.aws.resolve_zone; az-a/b/c in a fault's parameters stay as they are (the activity maps
        them)."""
        from harness.faults import aws

        if service in ("postgresql", "postgres", "database"):
            return aws.resolve_zone("@primary-zone", self.configuration)
        if service in ("redis", "cache"):
            return aws.resolve_zone("@cache-primary-zone", self.configuration)
        raise HarnessError(f"unknown service {service!r}: postgresql or redis")

    def other_zones(self, zone: str) -> list[str]:
        """The configured zones (configuration `zones`, real AZ names) other than `zone`."""
        from harness.faults import aws

        zones = [str(z) for z in (aws.conf(self.configuration, "zones") or {}).values()]
        others = [z for z in zones if z != zone and aws.resolve_zone(z, self.configuration) != zone]
        if not others:
            raise HarnessError(f"{self.target_file.path}: configuration zones names no zone other than {zone}")
        return others

    def versions(self) -> dict[str, str]:
        """What the report's environment shows: provider, region, account (from the clearance)."""
        from harness import safety
        from harness.faults import aws

        out = {"provider": self.provider, "environment": self.environment}
        try:
            out["aws.region"] = aws.region_of(self.configuration)
        except HarnessError:
            out["aws.region"] = "unknown"
        clearance = safety.current()
        if clearance is not None and clearance.identity is not None:
            out["aws.account"] = clearance.identity.account
        for dist in ("boto3", "chaostoolkit-aws", "chaostoolkit-lib"):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = "not installed"
        return out
