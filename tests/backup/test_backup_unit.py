"""What `drill backup` decides without a lab: the policy's numbers, the pgBackRest configuration and commands
the lab gets, the history across records, and bad input refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.backup.policy import POLICIES
from harness.backup.status import StoreStatus, backup_records, with_history
from harness.cli import app
from harness.commands.backup import _moment
from harness.errors import ConfigError, HarnessError
from harness.lab import backup
from harness.lab.context import LabContext
from harness.lab.network import LabNetwork
from harness.lab.state import LabPaths


@pytest.fixture
def ctx(tmp_path: Path) -> LabContext:
    net = LabNetwork(tmp_path, "loopback", ["az-a", "az-b", "az-c", "dr"])
    return LabContext(paths=LabPaths(tmp_path), net=net, replication="sync", secrets={})


def test_policy_takes_rpo_and_rto_from_the_objectives():
    pg, redis = POLICIES["postgres"], POLICIES["redis"]
    assert pg.age_limit()[0] == 300  # §1.1 Databases: RPO 5 minutes (continuous store: WAL archive)
    assert "RPO 5 minutes" in pg.age_limit()[1]
    assert pg.rto().rto.judged_s == 3600  # §5.1.1 Data Corruption: 30-60 minutes
    assert redis.age_limit()[0] == backup.LAB_DAY_S * 1.5  # a snapshot store: its schedule, not the RPO
    assert pg.retention == backup.PG_RETENTION_FULL and redis.retention == backup.REDIS_RETENTION == 7


def test_pgbackrest_config_keeps_everything_in_the_lab_folder(ctx: LabContext, tmp_path: Path):
    text = backup.config_text(ctx)
    assert f"repo1-path={tmp_path}/backup/pgbackrest" in text
    assert f"repo1-retention-full={backup.PG_RETENTION_FULL}" in text
    for key in ("log-path", "lock-path", "spool-path"):
        line = next(x for x in text.splitlines() if x.startswith(key + "="))
        assert line.split("=", 1)[1].startswith(str(tmp_path)), line  # never pgBackRest's system-wide defaults


def test_archive_command_names_its_own_node_and_no_connection_options(ctx: LabContext, tmp_path: Path):
    cmd = backup.archive_command(ctx, "pg-b")
    assert f"--pg1-path={tmp_path}/run/pg-b/data" in cmd and cmd.endswith('archive-push "%p"')
    assert "--pg1-port" not in cmd and "--pg1-socket-path" not in cmd  # archive-push refuses them (error 031)
    assert "archive-get %f" in backup.restore_command(ctx, "pg-dr")
    # The DR region archives into its own stanza: two clusters promoting to the same timeline number must
    # never write the same segment names into one archive (a region outage's split brain).
    assert f"--stanza={backup.DR_STANZA}" in backup.archive_command(ctx, "pg-dr")
    assert f"--stanza={backup.STANZA} " in backup.restore_command(ctx, "pg-dr")  # following the primary's
    assert f"--stanza={backup.STANZA} " in cmd
    assert "test ! -f" not in cmd  # the hand-made command that wedged after many failovers


def test_jobs_log_skips_a_line_cut_by_a_killed_scheduler(ctx: LabContext):
    backup.jobs_file(ctx).parent.mkdir(parents=True)
    backup.record_job(ctx, {"store": "redis", "ok": True, "started": "2026-12-01T10:00:00+00:00"})
    with backup.jobs_file(ctx).open("a") as f:
        f.write('{"store": "redis", "ok": fa')
    assert [j["store"] for j in backup.read_jobs(ctx)] == ["redis"]


def _status(size: int) -> StoreStatus:
    return StoreStatus("postgres", "row", "lab", None, None, None, None, 1.0, 300.0, "RPO", 1, 2, size)


def test_size_trend_and_last_restore_test_come_from_the_records():
    records = [
        {"id": "r1", "path": "measure", "started": "a", "scenarios": [{"backup": {"store": "postgres", "size": 1}}]},
        {"id": "r2", "path": "backup", "started": "b", "scenarios": [{"backup": {"store": "redis", "size": 5}}]},
        {
            "id": "r3",
            "path": "backup",
            "started": "c",
            "scenarios": [
                {"backup": {"store": "postgres", "size": 1000}, "status": "passed", "measured": {"rto_s": 2}}
            ],
        },
    ]
    history = backup_records(records, "postgres")
    assert [h["record"] for h in history] == ["r3"]  # a measure record and another store's test don't count
    out = with_history(_status(1500), history)
    assert out["size_trend"] == {"previous": 1000, "now": 1500, "change": 500}
    assert out["last_restore_test"]["restore_s"] == 2 and out["ok"] is True


def test_at_accepts_epoch_iso_and_offsets_and_names_bad_input():
    assert _moment("1700000000") == 1700000000.0
    assert _moment("2023-11-14T22:13:20Z") == 1700000000.0
    assert _moment("2023-11-14T22:13:20") == 1700000000.0  # naive = UTC
    with pytest.raises(HarnessError, match="--at: 'yesterday'"):
        _moment("yesterday")


def test_cli_refuses_an_unknown_store_and_a_non_lab_target():
    # HarnessError reaches `drill`'s main, which prints it and exits 2 (EXIT_USAGE); nothing is contacted.
    bad = CliRunner().invoke(app, ["backup", "verify", "--store", "mongo"])
    assert isinstance(bad.exception, HarnessError) and bad.exception.exit_code == 2
    assert "--store: 'mongo' is not one of postgres, redis" in str(bad.exception)
    # an AWS file is restore-tested (tests/cloud/test_aws_backup_verify.py); the example's placeholders are
    # refused before anything is contacted (no STS call either)
    aws = CliRunner().invoke(app, ["backup", "verify", "--target", "targets/aws-staging.example.yaml"])
    assert isinstance(aws.exception, ConfigError) and aws.exception.where == "configuration rds_instance_id"
    k8s_verify = CliRunner().invoke(app, ["backup", "verify", "--target", "targets/k8s-staging.example.yaml"])
    assert isinstance(k8s_verify.exception, HarnessError) and "not built for this provider" in str(k8s_verify.exception)
    k8s = CliRunner().invoke(app, ["backup", "status", "--target", "targets/k8s-staging.example.yaml"])
    assert isinstance(k8s.exception, HarnessError) and "not built for this provider" in str(k8s.exception)
    # status reads an AWS target (tests/cloud/test_aws_backup_status.py); the example's placeholders are refused
    example = CliRunner().invoke(app, ["backup", "status", "--target", "targets/aws-staging.example.yaml"])
    assert isinstance(example.exception, ConfigError) and example.exception.where == "configuration rds_cluster_id"
