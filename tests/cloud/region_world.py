"""The region drill's AWS staging, two regions, in the moto server (moto stands in for AWS: no account here).

    world = region_world(session)      # RDS primary + cross-region replica, ASGs, buckets, Route 53, SNS->SQS
    standin = RegionStandIn(world, pg_primary, pg_dr, lag_s=1.0)   # what AWS would do that moto does not

moto keeps metadata only: nothing runs behind its RDS instances, S3 replication is not performed, CloudWatch has
no metrics of its own and Route 53 resolves nothing. The stand-in does those parts, bound to moto's state:

- two real PostgreSQL servers are the two regions' databases; while moto says a database is a read replica,
  the stand-in copies the drill's ledger into it from the other region (rows older than `lag_s`) and publishes
  its CloudWatch `ReplicaLag` (= lag_s). A region whose Route 53 health check is inverted is dark: replication
  out of it stops at once (one last copy up to the moment it went dark minus lag_s), its database unreachable.
- the writer's endpoint is a TCP proxy to the region whose database is writable (not a replica) and not dark;
  with both writable, the one the Route 53 weights prefer (ties: primary). A change of region cuts every
  connection. The ground truth (rows copied, when each region went dark) is kept for the test.
- S3: new objects of the primary bucket are copied to the DR bucket (cross-region replication).
- the app: /health 200 while the region Route 53 answers for has in-service instances and is not dark and a
  database is writable; per region /primary/health and /dr/health the same for that region.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

PRIMARY, DR = "eu-west-1", "eu-central-1"
ACCOUNT = "123456789012"
STAGING = [{"Key": "Environment", "Value": "staging"}]
DB, DB_DR = "freight-staging-db", "freight-staging-db-dr"
ASG, ASG_DR = "freight-staging-app", "freight-staging-app-dr"
BUCKET, BUCKET_DR = "freight-staging-assets", "freight-staging-assets-dr"
ZONE_NAME, RECORD = "freight.test.", "app.freight.test"
ENDPOINT, ENDPOINT_DR = "primary-alb.freight.test", "dr-alb.freight.test"
TOPIC = "freight-staging-dr-status"
POLL_S = 0.05


@dataclass
class World:
    zone_id: str
    health_checks: dict[str, str]  # side -> id
    topic_arn: str
    queue_url: str
    session: Any

    def client(self, service: str, region: str) -> Any:
        return self.session.client(service, region_name=region)


def _asg(s: Any, region: str, name: str, desired: int, tags: list[dict]) -> None:
    ec2 = s.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )
    s.client("autoscaling", region_name=region).create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=desired,
        AvailabilityZones=[f"{region}a", f"{region}b"],
        Tags=[{**t, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"} for t in tags],
    )


def region_world(s: Any, tags: list[dict] | None = None, untagged: str | None = None) -> World:
    """Both regions' resources, tagged Environment=staging (except `untagged`: a resource id left without)."""
    tags = STAGING if tags is None else tags

    def t(ident: str) -> list[dict]:
        return [] if ident == untagged else tags

    rds_p, rds_d = s.client("rds", region_name=PRIMARY), s.client("rds", region_name=DR)
    arn = rds_p.create_db_instance(
        DBInstanceIdentifier=DB,
        Engine="postgres",
        DBInstanceClass="db.r5.large",
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        BackupRetentionPeriod=7,
        Tags=t(DB),
    )["DBInstance"]["DBInstanceArn"]
    rds_d.create_db_instance_read_replica(
        DBInstanceIdentifier=DB_DR,
        SourceDBInstanceIdentifier=arn,
        SourceRegion=PRIMARY,
        DBInstanceClass="db.r5.large",
        Tags=t(DB_DR),
    )
    _asg(s, PRIMARY, ASG, 2, t(ASG))
    _asg(s, DR, ASG_DR, 0, t(ASG_DR))
    for region, bucket in ((PRIMARY, BUCKET), (DR, BUCKET_DR)):
        s3 = s.client("s3", region_name=region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if t(bucket):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": t(bucket)})
    r53 = s.client("route53", region_name=PRIMARY)
    zone_id = r53.create_hosted_zone(Name=ZONE_NAME, CallerReference=f"drill-{time.time()}")["HostedZone"]["Id"]
    zone_id = zone_id.split("/")[-1]
    if t("zone"):
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=t("zone"))
    checks = {}
    for side, endpoint in (("primary", ENDPOINT), ("dr", ENDPOINT_DR)):
        hc = r53.create_health_check(
            CallerReference=f"drill-{side}-{time.time()}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": endpoint,
                "Port": 443,
                "ResourcePath": "/health",
            },
        )["HealthCheck"]["Id"]
        if t(f"hc-{side}"):
            r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hc, AddTags=t(f"hc-{side}"))
        checks[side] = hc
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "CNAME",
                        "SetIdentifier": side,
                        "Weight": weight,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": endpoint}],
                        "HealthCheckId": checks[side],
                    },
                }
                for side, endpoint, weight in (("primary", ENDPOINT, 100), ("dr", ENDPOINT_DR, 0))
            ]
        },
    )
    sns = s.client("sns", region_name=DR)
    topic = sns.create_topic(Name=TOPIC, Tags=t(TOPIC))["TopicArn"]
    sqs = s.client("sqs", region_name=DR)
    queue = sqs.create_queue(QueueName="drill-status-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    return World(zone_id, checks, topic, queue, s)


def status_messages(world: World) -> list[dict]:
    """What the SNS topic delivered (through its SQS subscription)."""
    sqs = world.client("sqs", DR)
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=m["ReceiptHandle"])


# -- the stand-in ------------------------------------------------------------------------------------------------
def _shutdown(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RoutingProxy:
    """127.0.0.1:port -> the PostgreSQL port `route()` names now (None: refuse). A new route cuts every
    connection."""

    def __init__(self):
        self.upstream: int | None = None
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.every: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def route(self, port: int | None) -> None:
        with self.lock:
            if port == self.upstream:
                return
            self.upstream, pairs, self.pairs = port, self.pairs, []
        for pair in pairs:
            _shutdown(*pair)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                upstream = self.upstream
            self.every.append(client)
            if upstream is None:
                _shutdown(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", upstream), timeout=5)
                server.settimeout(None)
            except OSError:
                _shutdown(client)
                continue
            self.every.append(server)
            with self.lock:
                if self.upstream != upstream:
                    _shutdown(client, server)
                    continue
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                th = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                self.threads.append(th)
                th.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(src, dst)

    def close(self) -> None:
        self.closed = True
        self.route(None)
        self.acceptor.join(timeout=5)
        self.listener.close()
        for th in self.threads:
            th.join(timeout=5)
        for s in self.every:
            s.close()


@dataclass
class RegionTruth:
    dark_at: list[float] = field(default_factory=list)  # each time the primary region went dark (time.time())
    # rows copied into each side's database: (when, run id, seq)
    copied: dict[str, list[tuple[float, str, int]]] = field(default_factory=lambda: {"primary": [], "dr": []})
    routes: list[tuple[float, str | None]] = field(default_factory=list)  # (when, side the writer endpoint reached)
    s3_copied: list[str] = field(default_factory=list)
    error: str | None = None


class RegionStandIn:
    def __init__(self, world: World, pg_primary: Any, pg_dr: Any, lag_s: float, app_tier: dict | None = None):
        """`app_tier`: side -> a callable giving that region's serving app instances, for a region whose app
        tier is not its ASG (a Kubernetes deployment: ready replicas, read from the API stand-in)."""
        self.world, self.lag_s = world, lag_s
        self.app_tier = dict(app_tier or {})
        self.pg = {"primary": pg_primary, "dr": pg_dr}
        self.proxy = RoutingProxy()
        self.truth = RegionTruth()
        self.rds = {"primary": world.client("rds", PRIMARY), "dr": world.client("rds", DR)}
        self.asg = {"primary": world.client("autoscaling", PRIMARY), "dr": world.client("autoscaling", DR)}
        self.cw = {"primary": world.client("cloudwatch", PRIMARY), "dr": world.client("cloudwatch", DR)}
        self.r53 = world.client("route53", PRIMARY)
        self.s3 = {"primary": world.client("s3", PRIMARY), "dr": world.client("s3", DR)}
        self.names = {"primary": (DB, ASG), "dr": (DB_DR, ASG_DR)}
        self.state: dict[str, Any] = {}
        self.state_lock = threading.Lock()
        self._last_metric = 0.0
        self.stopped = threading.Event()
        self._tick()  # the first view (and metrics) before anyone looks
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.app = _App(self)

    def dsn(self, side: str | None = None) -> str:
        """The writer's endpoint (None) or one region's database directly."""
        pg = self.pg[side] if side else None
        port = pg.port if pg else self.proxy.port
        password = self.pg["primary"].password if side is None else pg.password
        return f"postgresql://drill:{password}@127.0.0.1:{port}/postgres"

    # -- one look at moto, and what follows from it ------------------------------------------------------------
    def _db(self, side: str) -> dict | None:
        try:
            return self.rds[side].describe_db_instances(DBInstanceIdentifier=self.names[side][0])["DBInstances"][0]
        except Exception:  # noqa: BLE001 - renamed away for a moment (failback): no database of that name
            return None

    def _view(self) -> dict[str, Any]:
        view: dict[str, Any] = {}
        for side in ("primary", "dr"):
            db = self._db(side)
            if side in self.app_tier:
                inservice = self.app_tier[side]()
            else:
                group = self.asg[side].describe_auto_scaling_groups(AutoScalingGroupNames=[self.names[side][1]])
                inservice = sum(
                    1 for i in group["AutoScalingGroups"][0]["Instances"] if i["LifecycleState"] == "InService"
                )
            hc = self.r53.get_health_check(HealthCheckId=self.world.health_checks[side])["HealthCheck"]
            view[side] = {
                "replica": bool(db and db.get("ReadReplicaSourceDBInstanceIdentifier")),
                "exists": db is not None and db.get("DBInstanceStatus") == "available",
                "inservice": inservice,
                "dark": bool(hc["HealthCheckConfig"].get("Inverted")),
            }
        sets = self.r53.list_resource_record_sets(HostedZoneId=self.world.zone_id)["ResourceRecordSets"]
        # failover records (routing: failover) answer like weights 100 (PRIMARY) / 0 (SECONDARY): the PRIMARY
        # while it is not dark, else the live one
        weights = {
            r["SetIdentifier"]: r.get("Weight", 100 if r.get("Failover") == "PRIMARY" else 0)
            for r in sets
            if r.get("SetIdentifier")
        }
        view["weights"] = weights
        live = [s for s in ("primary", "dr") if not view[s]["dark"]]
        answered = [s for s in live if weights.get(s, 0) > 0] or live
        view["dns"] = answered
        writable = [
            s for s in ("primary", "dr") if view[s]["exists"] and not view[s]["replica"] and not view[s]["dark"]
        ]
        if len(writable) == 2:
            writable.sort(key=lambda s: (-weights.get(s, 0), s != "primary"))
        view["writer"] = writable[0] if writable else None
        return view

    def _copy(self, into: str, cutoff: float) -> None:
        src, dst = self.pg["dr" if into == "primary" else "primary"], self.pg[into]
        with psycopg.connect(self.dsn_of(src), autocommit=True, connect_timeout=2) as a:
            exists = a.execute("SELECT to_regclass('drill_ledger') IS NOT NULL").fetchone()[0]
            if not exists:
                return
            rows = a.execute(
                "SELECT run_id, seq, extract(epoch FROM client_ts) FROM drill_ledger WHERE client_ts <= to_timestamp(%s)",
                (cutoff,),
            ).fetchall()
        with psycopg.connect(self.dsn_of(dst), autocommit=True, connect_timeout=2) as b:
            b.execute(
                "CREATE TABLE IF NOT EXISTS drill_ledger (run_id text, seq bigint, client_ts timestamptz,"
                " PRIMARY KEY (run_id, seq))"
            )
            have = {(r, s) for r, s in b.execute("SELECT run_id, seq FROM drill_ledger").fetchall()}
            new = [r for r in rows if (r[0], r[1]) not in have]
            with b.cursor() as cur:
                cur.executemany(
                    "INSERT INTO drill_ledger VALUES (%s, %s, to_timestamp(%s)) ON CONFLICT DO NOTHING", new
                )
        now = time.time()
        self.truth.copied[into].extend((now, run, seq) for run, seq, _ in new)

    @staticmethod
    def dsn_of(pg: Any) -> str:
        return f"postgresql://drill:{pg.password}@127.0.0.1:{pg.port}/postgres"

    def _s3(self) -> None:
        src, dst = self.s3["primary"], self.s3["dr"]
        have = {o["Key"] for o in dst.list_objects_v2(Bucket=BUCKET_DR).get("Contents", [])}
        for o in src.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            if o["Key"] not in have and o["Key"] not in self.truth.s3_copied:
                body = src.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                dst.put_object(Bucket=BUCKET_DR, Key=o["Key"], Body=body)
                self.truth.s3_copied.append(o["Key"])

    def _tick(self) -> None:
        view = self._view()
        now = time.time()
        went_dark = view["primary"]["dark"] and not self.state.get("primary", {}).get("dark", False)
        if went_dark:
            self.truth.dark_at.append(now)
            self.proxy.route(None)  # cut first: every write acknowledged so far is on the primary
            if view["dr"]["replica"]:
                self._copy("dr", now - self.lag_s)  # what had arrived when the region went dark
        for side in ("primary", "dr"):
            other = "dr" if side == "primary" else "primary"
            if view[side]["replica"] and not view[other]["dark"]:
                self._copy(side, now - self.lag_s)
        port = self.pg[view["writer"]].port if view["writer"] else None
        if not self.truth.routes or self.truth.routes[-1][1] != view["writer"]:
            self.truth.routes.append((now, view["writer"]))
        self.proxy.route(port)
        self._s3()
        if now - self._last_metric >= 1.0:
            self._last_metric = now
            for side in ("primary", "dr"):
                if view[side]["replica"]:
                    self.cw[side].put_metric_data(
                        Namespace="AWS/RDS",
                        MetricData=[
                            {
                                "MetricName": "ReplicaLag",
                                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": self.names[side][0]}],
                                "Timestamp": datetime.now(UTC),
                                "Value": self.lag_s,
                                "Unit": "Seconds",
                            }
                        ],
                    )
        with self.state_lock:
            self.state = view

    def _run(self) -> None:
        while not self.stopped.wait(POLL_S):
            try:
                self._tick()
            except Exception as err:  # noqa: BLE001 - the test asserts there was none
                self.truth.error = repr(err)
                return

    def healthy(self, side: str | None) -> bool:
        with self.state_lock:
            v = self.state
        if not v or v.get("writer") is None:
            return False
        sides = [side] if side else v["dns"]
        return any(v[s]["inservice"] > 0 and not v[s]["dark"] for s in sides)

    def close(self) -> RegionTruth:
        self.stopped.set()
        self.thread.join(timeout=30)
        self.app.close()
        self.proxy.close()
        return self.truth


class _App:
    """/health (through Route 53's answer), /primary/health and /dr/health (one region's app)."""

    def __init__(self, standin: RegionStandIn):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                side = {"/primary/health": "primary", "/dr/health": "dr"}.get(self.path)
                ok = standin.healthy(side) if (side or self.path == "/health") else False
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def use_failover_records(world: World) -> None:
    """Replace the weighted pair by failover records: the primary region's PRIMARY, DR's SECONDARY, each with
    its region's health check (routing: failover)."""
    r53 = world.client("route53", PRIMARY)
    sets = r53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    weighted = [r for r in sets if "Weight" in r]
    created = [
        {
            "Name": RECORD,
            "Type": "CNAME",
            "SetIdentifier": side,
            "Failover": role,
            "TTL": 60,
            "ResourceRecords": [{"Value": endpoint}],
            "HealthCheckId": world.health_checks[side],
        }
        for side, endpoint, role in (("primary", ENDPOINT, "PRIMARY"), ("dr", ENDPOINT_DR, "SECONDARY"))
    ]
    r53.change_resource_record_sets(
        HostedZoneId=world.zone_id,
        ChangeBatch={
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in weighted]
            + [{"Action": "CREATE", "ResourceRecordSet": r} for r in created]
        },
    )


def failover_roles(world: World) -> dict[str, str]:
    """SetIdentifier -> Failover role of the record (the test's own eyes on moto)."""
    sets = world.client("route53", PRIMARY).list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Failover"] for r in sets if "Failover" in r}
