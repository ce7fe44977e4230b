"""The data faults on AWS end to end: a drill-owned table on a real PostgreSQL behind moto's RDS instance is
damaged through the writer's DSN, the pitr procedure restores the RDS instance to a new one, validates and
switches, and the integrity probe measures the RTO.

moto stands in for AWS (no real account can be used here) and its RDS has no database engine. Two real
PostgreSQL servers stand in for the data: `source` behind the RDS instance (PG_DSN of the writer), and
`restored` behind whatever instance a point-in-time restore creates. The restore stand-in plays RDS's part:
it snapshots the drill table at T0, before the fault (what RDS's continuous backup would hold), and when moto
shows the new instance tagged drill-restored-from, it loads that snapshot into `restored` in one transaction.
The test checks that the harness asked for a restore time between T0 and the fault, so the snapshot is what
RDS would give at that time."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from aws_world import CLUSTER, REGION, CallLog, clear, instances

from harness.chaos import aws as chaos_aws
from harness.dryrun import plan_drill
from harness.errors import HarnessError
from harness.faults import aws_data
from harness.faults.intent import IntentLog
from harness.measure import Measurement, parse_probe_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from measure_helpers import postgres_running  # noqa: E402
from test_plan import staging_world  # noqa: E402

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "freight-staging-db"
RESTORED = "freight-staging-db-pitr"
STAGING = [{"Key": "Environment", "Value": "staging"}]


@pytest.fixture(scope="module")
def source_pg():
    yield from postgres_running()


@pytest.fixture(scope="module")
def restored_pg():
    yield from postgres_running()


def _config(source_pg, restored_pg) -> dict:
    return {
        "aws_region": REGION,
        "pg_dsn": source_pg.dsn,
        "rds_endpoints": {f"{SOURCE}-pitr*": f"127.0.0.1:{restored_pg.port}"},  # a glob: ids carry a time
        "rds_poll_s": 0.05,
    }


class RestoreStandIn:
    """RDS's part of a point-in-time restore, on the `restored` PostgreSQL (see the module docstring)."""

    def __init__(self, session, source_pg, restored_pg):
        self.rds = session.client("rds", region_name=REGION)
        self.source_pg, self.restored_pg = source_pg, restored_pg
        self.snapshot: list[tuple] = []
        self.comment = ""
        self.t0: float | None = None
        self.loaded_at: float | None = None
        self.stop = threading.Event()
        self.error: str | None = None

    def take_snapshot(self) -> None:
        self.t0 = time.time()
        with psycopg.connect(self.source_pg.dsn, autocommit=True) as conn:
            self.snapshot = conn.execute("SELECT id, payload FROM drill_owned.loads ORDER BY id").fetchall()
            self.comment = conn.execute("SELECT obj_description('drill_owned.loads'::regclass, 'pg_class')").fetchone()[
                0
            ]
        with psycopg.connect(self.restored_pg.dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS drill_owned CASCADE")
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        try:
            while not self.stop.wait(0.02):
                found = self.rds.describe_db_instances()["DBInstances"]
                if any(i["DBInstanceIdentifier"] == RESTORED for i in found):
                    self._load()
                    return
        except Exception as err:  # noqa: BLE001 - the test asserts there was none
            self.error = repr(err)

    def _load(self) -> None:
        with psycopg.connect(self.restored_pg.dsn, autocommit=True) as conn, conn.transaction():
            conn.execute("CREATE SCHEMA drill_owned")
            conn.execute("CREATE TABLE drill_owned.loads (id int PRIMARY KEY, payload text NOT NULL)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO drill_owned.loads VALUES (%s, %s)", self.snapshot)
            conn.execute(f"COMMENT ON TABLE drill_owned.loads IS '{self.comment}'")
        self.loaded_at = time.time()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _source_instance(aws) -> None:
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=SOURCE,
        Engine="postgres",
        DBInstanceClass="db.t3.medium",
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        AvailabilityZone=f"{REGION}a",
        Tags=STAGING,
    )


@pytest.mark.parametrize(
    ("fault", "args"),
    [
        ("db-corruption", {"statement": "UPDATE loads SET payload = '{}' WHERE id % 2 = 0"}),
        ("db-accidental-delete", {"where": "id > 50"}),
    ],
)
def test_a_damaged_drill_table_is_recovered_by_pitr_to_a_new_instance_and_the_rto_is_measured(
    aws, source_pg, restored_pg, tmp_path, fault, args
):
    _source_instance(aws)
    clear({"max_instances": 2}, tags={"Environment": "staging"})
    config = _config(source_pg, restored_pg)
    filled = chaos_aws.pg_prepare_drill_table("loads", 200, configuration=config)
    assert filled["rows"] == 200
    standin = RestoreStandIn(aws, source_pg, restored_pg)
    standin.take_snapshot()
    calls = CallLog()
    probe = parse_probe_spec(f"integrity@postgres={source_pg.dsn}|query={aws_data.integrity_query('loads')}")
    try:
        with Measurement(probes=[probe], interval=0.05, stable=0.5, out_dir=tmp_path / "m") as m:
            m.start()
            m.baseline(0.3)
            m.mark_inject(fault)
            out = chaos_aws.sql_damage(fault, "loads", configuration=config, **args)
            pitr = chaos_aws.rds_pitr_recover(
                SOURCE,
                old_t_fault=str(out["detail"]["t_fault"]),
                old_table="loads",
                target_instance=RESTORED,
                configuration=config,
            )
            assert m.wait_recovered(30)
            result = m.stop()
    finally:
        standin.close()
    assert standin.error is None and standin.loaded_at is not None
    damaged = out["detail"]["rows"]
    assert damaged == (100 if fault == "db-corruption" else 150)
    # the harness asked RDS for the moment just before the statement: after the snapshot, before the fault
    [restore] = [p for n, p in calls.calls if n == "rds:RestoreDBInstanceToPointInTime"]
    assert restore["SourceDBInstanceIdentifier"] == SOURCE and restore["TargetDBInstanceIdentifier"] == RESTORED
    assert standin.t0 < restore["RestoreTime"].timestamp() < out["detail"]["t_fault"]
    assert [s["title"] for s in pitr["steps"]] == [
        "identify the recovery point",
        "restore to a new instance",
        "wait until the restored instance answers",
        "validate the recovered data",
        "switch the recovered table into the writer",
        "delete the restored instance",
    ]
    assert chaos_aws.undo(out["id"])["undone"] is False  # the drill's rollback: nothing to undo, pitr recovered
    # the table is whole again, and the restored instance is gone
    with psycopg.connect(source_pg.dsn, autocommit=True) as conn:
        assert conn.execute(aws_data.integrity_query("loads")).fetchone()[0] == 1
    left = [i["DBInstanceIdentifier"] for i in aws.client("rds").describe_db_instances()["DBInstances"]]
    assert RESTORED not in left and IntentLog().pending() == []
    # the integrity probe saw the outage: from the statement until the switch, within the measurement's uncertainty
    assert result.recovered and not result.no_outage_observed
    until_switch = sum(s["seconds"] for s in pitr["steps"][:5])
    assert until_switch - result.uncertainty_s <= result.rto_s <= pitr["seconds"] + result.uncertainty_s + 0.5
    print(f"\n{fault}: {damaged} rows damaged, pitr {pitr['seconds']:.3f} s, RTO {result.rto_s:.3f} s")


def test_a_table_the_drill_does_not_own_is_refused_before_any_statement(aws, source_pg, restored_pg):
    config = _config(source_pg, restored_pg)
    clear()
    with psycopg.connect(source_pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS drill_owned")
        conn.execute("DROP TABLE IF EXISTS drill_owned.orders")
        conn.execute("CREATE TABLE drill_owned.orders (id int)")  # in the schema, but not made by the harness
        conn.execute("INSERT INTO drill_owned.orders VALUES (1)")
    with pytest.raises(HarnessError, match="not marked drill-owned"):
        chaos_aws.sql_damage("db-accidental-delete", "orders", where="true", configuration=config)
    with pytest.raises(HarnessError, match="no table drill_owned.shipments"):
        chaos_aws.sql_damage("db-accidental-delete", "shipments", where="true", configuration=config)
    with psycopg.connect(source_pg.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM drill_owned.orders").fetchone()[0] == 1
    assert IntentLog().pending() == []


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE loads SET payload = ''; DROP TABLE loads", "one statement"),
        ("UPDATE public.loads SET payload = ''", "must be UPDATE"),
        ("UPDATE loads SET payload = (SELECT max(x) FROM public.other)", "schema-qualified"),
        ("DROP TABLE loads", "must be UPDATE"),
    ],
)
def test_a_statement_that_could_reach_beyond_the_table_is_refused(statement, message):
    with pytest.raises(HarnessError, match=message):
        aws_data.plan_sql_damage("db-corruption", "loads", statement=statement, configuration={"aws_region": REGION})


def test_drill_plan_of_the_quarterly_drills_on_aws_shows_every_new_activity_and_changes_nothing(
    aws, source_pg, restored_pg, monkeypatch
):
    # moto stands in for AWS (no real account here); the writer's DSN is the real `source` PostgreSQL
    staging_world(aws, monkeypatch)  # the smoke drills' world (cluster, FIS instances, cache, ALB)
    _source_instance(aws)
    app = instances(aws, {"eu-west-1a": 2}, tags=[*STAGING, {"Key": "Role", "Value": "app"}])["eu-west-1a"]
    ec2 = aws.client("ec2")
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == f"{REGION}a")
    ec2.create_tags(Resources=subnets, Tags=[{"Key": "Tier", "Value": "app"}, *STAGING])
    aws_data.prepare_drill_table("loads", 200, configuration={"aws_region": REGION, "pg_dsn": source_pg.dsn})
    monkeypatch.setenv("PG_DSN", source_pg.dsn)
    monkeypatch.setenv("RDS_INSTANCE_ID", SOURCE)
    calls = CallLog()
    features = [
        str(ROOT / "features" / f) for f in ("network.feature", "dependency_failure.feature", "data_corruption.feature")
    ]
    view = plan_drill("aws-staging.example", features=features, tags="quarterly")
    text = "\n".join(view.lines())
    assert calls.changing() == [], calls.changing()
    steps = {}
    for s in view.steps:
        steps.setdefault(s.name, s)
    latency = steps["network-latency"]
    assert latency.activity == "harness.chaos.aws:fis_network_latency" and latency.blast == "within limits"
    assert any(
        c.startswith("fis:CreateExperimentTemplate(") and "AWSFIS-Run-Network-Latency" in c for c in latency.calls
    )
    assert all(any(i in t for t in latency.touches) for i in app)
    assert "fis:StopExperiment" in latency.undo
    blackhole = steps["network-blackhole"]
    assert any('\\"Port\\": \\"5432\\"' in c and '\\"TrafficType\\": \\"egress\\"' in c for c in blackhole.calls), (
        blackhole.calls
    )
    dependency = steps["dependency-failure"]
    # the example's prefix list is a placeholder: the plan says so instead of guessing
    assert "prefix_list_id" in (dependency.problem or ""), dependency
    corruption = steps["db-corruption"]
    assert any("pg-table drill_owned.loads" in t for t in corruption.touches) and corruption.blast == "within limits"
    assert source_pg.password not in text  # the writer's DSN is shown masked
    pitr = steps["pitr"]
    assert any(f"RestoreDBInstanceToPointInTime({SOURCE}" in c for c in pitr.calls), pitr
    assert CLUSTER in text


def test_on_aws_booking_loads_fills_the_drill_table_and_the_integrity_probe_judges_only_it(source_pg, monkeypatch):
    # `Given 200 loads are booked through the app` and `probes on ... integrity` of the data drills, on the
    # example AWS target: the drill's own table through the writer's DSN, never the app's data
    from harness.targets import load

    monkeypatch.setenv("PG_DSN", source_pg.dsn)
    target = load("aws-staging.example")
    query = target.probe("integrity").options["query"]
    with psycopg.connect(source_pg.dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS drill_owned CASCADE")
        assert conn.execute(query).fetchone()[0] == 1  # no drill data: healthy (every probe is a health check)
        assert target.book_loads(50) == 50
        assert conn.execute(query).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM drill_owned.loads").fetchone()[0] == 50
        conn.execute("DELETE FROM drill_owned.loads WHERE id = 7")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match="drill_owned.loads is damaged"):
            conn.execute(query)
