"""The data faults on an AWS database (`db-corruption`, `db-accidental-delete`) and their recovery, `pitr` as
plan 4.3.1 / runbook 8.3 scenario 2 do it on RDS: restore to a NEW instance at the recovery point, validate,
switch.

A destructive statement on a shared staging database may only touch data the drill owns:
- the harness creates and fills a **drill-owned table** in the schema `drill_owned` (marked by a comment on the
  schema and on the table: `prepare_drill_table`), through the writer's DSN (configuration `pg_dsn`, from the
  environment; never printed or stored);
- or a table the target file names explicitly (configuration `data_fault_tables: [schema.table, ...]`).
The fault's `table` is the vocabulary's name (`loads`): it means drill_owned.loads, or the allowlisted
`<schema>.loads`. The statement runs with search_path set to that schema only, must be ONE statement whose
verb acts on that table (UPDATE / DELETE FROM / INSERT INTO / TRUNCATE), and must not name another schema.

Recovery (`pitr_steps`, each step timed; harness.chaos.aws.rds_pitr_recover runs them):
1. recovery point: the wall time just before the statement (the fault's t_fault, learned as old_t_fault);
2. RestoreDBInstanceToPointInTime(source -> a new instance tagged drill-restored-from), through the AWS
   point-in-time restore activity, whose undo (delete the restored instance) is in the intent log;
3. wait until the new instance is available and answers (configuration `rds_endpoints` maps an instance id, or
   a glob of ids, to the host:port this machine reaches it on, a tunnel or a bastion's forwarded port; default its Endpoint);
4. validate: the recovered table is whole (a drill-owned table: its fill fingerprint; an allowlisted table:
   it differs from the damaged one and is not empty);
5. switch: the recovered rows replace the damaged ones in the writer, in one transaction (TRUNCATE + INSERT).
   A drill-owned table is the only data the drill may switch on a shared staging database: repointing the
   application's connection string at the restored instance would switch every other team's data too;
6. the restored instance is deleted (the restore's undo).
"""

from __future__ import annotations

import fnmatch
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import HarnessError
from harness.faults.aws import Configuration, conf, region_of
from harness.faults.plan import FaultPlan
from harness.redact import mask
from harness.safety import Resource

SCHEMA = "drill_owned"
OWNED = "drill-owned: created and filled by the DR drill harness"
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
VERBS = re.compile(
    r"^\s*(UPDATE|DELETE\s+FROM|INSERT\s+INTO|TRUNCATE(\s+TABLE)?)\s+\"?([A-Za-z_][A-Za-z0-9_]*)\"?", re.I
)


def writer_dsn(configuration: Configuration) -> str:
    dsn = conf(configuration, "pg_dsn")
    if not dsn or str(dsn).startswith("<"):
        raise HarnessError("no writer DSN: set configuration pg_dsn (from the environment, e.g. PG_DSN)")
    return str(dsn)


def masked(dsn: str) -> str:
    """The DSN with its password replaced (harness.redact, the one place secrets are masked): what a plan, an
    outcome or an error may show."""
    return str(mask(dsn))


def _connect(dsn: str, timeout: float = 5) -> Any:
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as err:
        raise HarnessError(f"cannot reach {masked(dsn)}: {str(err).strip().splitlines()[0]}") from None


def _owned_schema_of(table: str, configuration: Configuration) -> str:
    """The schema a vocabulary table name acts in: drill_owned, or the one of an allowlisted schema.table."""
    if not IDENT.match(table):
        raise HarnessError(f"parameter 'table': {table!r} is not a plain lower-case table name")
    for entry in conf(configuration, "data_fault_tables") or []:
        schema, _, name = str(entry).rpartition(".")
        if name == table:
            return schema or "public"
    return SCHEMA


def check_table(table: str, configuration: Configuration) -> dict[str, Any]:
    """Refuse a table the drill does not own and the target file does not allowlist; returns its schema, row
    count and (drill-owned) fill fingerprint."""
    schema = _owned_schema_of(table, configuration)
    with _connect(writer_dsn(configuration)) as conn:
        found = conn.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r'",
            (schema, table),
        ).fetchone()
        if found is None:
            raise HarnessError(
                f"parameter 'table': no table {schema}.{table}; a drill-owned table is created by "
                "prepare_drill_table (or name an existing one in configuration data_fault_tables)"
            )
        comment = found[0] or ""
        if schema == SCHEMA and not comment.startswith(OWNED):
            raise HarnessError(f"table {schema}.{table} is not marked drill-owned: refusing to damage it")
        rows = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    fingerprint = comment.split("fingerprint=", 1)[1].split()[0] if "fingerprint=" in comment else None
    return {"schema": schema, "rows": rows, "fingerprint": fingerprint}


def _digest(conn: Any, schema: str, table: str) -> tuple[int, str]:
    row = conn.execute(
        f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{schema}\".\"{table}\" t"
    ).fetchone()
    return int(row[0]), str(row[1])


def prepare_drill_table(table: str = "loads", rows: int = 200, configuration: Configuration = None) -> dict[str, Any]:
    """Create (again) and fill drill_owned.<table> through the writer's DSN: rows id 1..N with a payload the
    integrity query can check (md5 of the id); the schema and table comments mark them drill-owned, the table's
    comment also holds its row count and fingerprint (what validation compares the recovered table with)."""
    if not IDENT.match(table) or not 1 <= int(rows) <= 1_000_000:
        raise HarnessError("prepare_drill_table: a plain lower-case table name and 1..1000000 rows")
    with _connect(writer_dsn(configuration)) as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"COMMENT ON SCHEMA {SCHEMA} IS '{OWNED}'")
        conn.execute(f'DROP TABLE IF EXISTS {SCHEMA}."{table}"')
        conn.execute(f'CREATE TABLE {SCHEMA}."{table}" (id int PRIMARY KEY, payload text NOT NULL)')
        conn.execute(
            f'INSERT INTO {SCHEMA}."{table}" SELECT i, md5(i::text) FROM generate_series(1, %s) i', (int(rows),)
        )
        count, digest = _digest(conn, SCHEMA, table)
        conn.execute(f"COMMENT ON TABLE {SCHEMA}.\"{table}\" IS '{OWNED} rows={count} fingerprint={digest}'")
    return {"table": f"{SCHEMA}.{table}", "rows": count, "fingerprint": digest}


def integrity_query(table: str = "loads") -> str:
    """A query for a postgres probe (`integrity@postgres=DSN|query=...`) that errors while drill_owned.<table>
    is not whole (row count as filled, every payload the md5 of its id), and answers 1 while there is no such
    table (no drill data to judge: `Given the target is healthy` checks every probe of the file). The check runs
    through query_to_xml so the statement parses without the table. No '|' in it: it separates options."""
    rel = f"{SCHEMA}.{table}"
    filled = f"split_part(split_part(obj_description(to_regclass('{rel}'), 'pg_class'), 'rows=', 2), ' ', 1)::int"
    whole = f"SELECT count(*) = {filled} AND coalesce(bool_and(payload = md5(id::text)), false) AS ok FROM {rel}"
    return (
        f"SELECT CASE WHEN to_regclass('{rel}') IS NULL THEN 1 "
        f"WHEN (xpath('/row/ok/text()', query_to_xml($q${whole}$q$, false, true, '')))[1]::text = 'true' THEN 1 "
        f"ELSE concat('integrity: {rel} is damaged (', {filled}, ' rows filled)')::int END"
    )


def _statement_for(fault: str, table: str, statement: str | None, where: str | None) -> str:
    if fault == "db-accidental-delete":
        if not where or not str(where).strip():
            raise HarnessError("parameter 'where': a SQL condition ('true' deletes every row)")
        statement = f'DELETE FROM "{table}" WHERE {where}'
    if not statement or not str(statement).strip():
        raise HarnessError("parameter 'statement': the corrupting statement")
    text = str(statement).strip().rstrip(";")
    if ";" in text:
        raise HarnessError("parameter 'statement': one statement only (no ';')")
    m = VERBS.match(text)
    if not m or m.group(3).lower() != table:
        raise HarnessError(
            f"parameter 'statement': it must be UPDATE / DELETE FROM / INSERT INTO / TRUNCATE on {table} itself"
        )
    if re.search(r"[A-Za-z_\"]\.[A-Za-z_\"]", re.sub(r"'[^']*'", "''", text)):
        raise HarnessError("parameter 'statement': no schema-qualified names (it runs in the table's schema only)")
    return text


def plan_sql_damage(
    fault: str,
    table: str,
    statement: str | None = None,
    where: str | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    """db-corruption / db-accidental-delete on a drill-owned (or allowlisted) table, through the writer's DSN."""
    if fault not in ("db-corruption", "db-accidental-delete"):
        raise HarnessError(f"fault {fault!r}: db-corruption or db-accidental-delete")
    text = _statement_for(fault, table, statement, where)
    found = check_table(table, configuration)
    rel = f"{found['schema']}.{table}"
    return FaultPlan(
        fault=fault,
        summary=f"run on the writer ({masked(writer_dsn(configuration))}), in schema {found['schema']}: {text}",
        region=region_of(configuration),
        resources=[
            Resource(
                kind="pg-table",
                id=rel,
                role="drill-owned" if found["schema"] == SCHEMA else "allowlisted in data_fault_tables",
                state=f"{found['rows']} rows",
            )
        ],
        calls=[f"SQL (writer): SET LOCAL search_path TO {found['schema']}; {text}"],
        changes={"schema": found["schema"], "statement": text, "table": table},
        undo_summary="none: the recovery is the pitr procedure (restore to a new instance, validate, switch)",
        undo_record={"kind": "none"},
    )


def run_damage(plan: FaultPlan, configuration: Configuration) -> dict[str, Any]:
    """The statement, in one transaction with search_path = the table's schema only; t_fault is the wall time
    just before it (the recovery point)."""
    schema, text = plan.changes["schema"], plan.changes["statement"]
    with _connect(writer_dsn(configuration)) as conn:
        with conn.transaction():
            conn.execute(f'SET LOCAL search_path TO "{schema}"')
            t_fault = time.time()
            rows = conn.execute(text).rowcount
    return {"table": plan.changes["table"], "schema": schema, "t_fault": t_fault, "rows": rows}


# -- pitr on RDS -----------------------------------------------------------------------------------------------
def restore_time_of(old_t_fault: float | str | None, restore_time: str | None) -> str:
    """The recovery point as RestoreTime (ISO 8601 UTC): explicit, or 1 ms before the fault's statement."""
    if restore_time:
        return restore_time
    if old_t_fault in (None, ""):
        raise HarnessError("pitr: no recovery point (no data fault in this scenario gave t_fault; give restore_time)")
    t = float(old_t_fault) - 0.001
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def restored_dsn(instance: dict[str, Any], configuration: Configuration) -> str:
    """The writer DSN pointed at a restored instance (same user, password and database: a restore keeps them)."""
    ident = instance["DBInstanceIdentifier"]
    endpoints = conf(configuration, "rds_endpoints") or {}  # instance id or glob -> host:port
    where = endpoints.get(ident) or next((v for k, v in endpoints.items() if fnmatch.fnmatchcase(ident, k)), None)
    if where is None:
        endpoint = instance.get("Endpoint") or {}
        if not endpoint.get("Address"):
            raise HarnessError(f"restored instance {instance['DBInstanceIdentifier']} has no endpoint yet")
        where = f"{endpoint['Address']}:{endpoint.get('Port', 5432)}"
    parts = urlsplit(writer_dsn(configuration))
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=(f"{auth}@" if auth else "") + str(where)))


def wait_restored(
    rds: Any, instance_id: str, schema: str, table: str, configuration: Configuration, timeout: float, poll: float
) -> str:
    """Until the restored instance is available and its copy of the table answers; returns its DSN."""
    deadline = time.monotonic() + float(timeout)
    last = "not created yet"
    while time.monotonic() < deadline:
        found = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        if found.get("DBInstanceStatus") == "available":
            dsn = restored_dsn(found, configuration)
            try:
                with _connect(dsn, timeout=2) as conn:
                    conn.execute(f'SELECT 1 FROM "{schema}"."{table}" LIMIT 1')
                return dsn
            except Exception as err:  # noqa: BLE001 - not answering yet: keep polling until the deadline
                last = str(err).splitlines()[0]
        else:
            last = f"status {found.get('DBInstanceStatus')}"
        time.sleep(float(poll))
    raise HarnessError(f"restored instance {instance_id}: not usable after {float(timeout):g} s ({last})")


def validate_restored(restored: str, schema: str, table: str, configuration: Configuration) -> dict[str, Any]:
    with _connect(restored) as conn:
        rows, digest = _digest(conn, schema, table)
        comment = conn.execute(f"SELECT obj_description('\"{schema}\".\"{table}\"'::regclass, 'pg_class')").fetchone()[
            0
        ]
    with _connect(writer_dsn(configuration)) as conn:
        damaged_rows, damaged = _digest(conn, schema, table)
    want = comment.split("fingerprint=", 1)[1].split()[0] if comment and "fingerprint=" in comment else None
    if want is not None and digest != want:
        raise HarnessError(f"recovered {schema}.{table} does not match its fill fingerprint ({rows} rows)")
    if want is None and (rows == 0 or digest == damaged):
        raise HarnessError(f"recovered {schema}.{table} is empty or the same as the damaged one")
    return {"rows": rows, "damaged_rows": damaged_rows, "fingerprint": digest, "checked_against": want and "fill"}


def switch_table(restored: str, schema: str, table: str, configuration: Configuration) -> int:
    """The recovered rows replace the damaged ones in the writer, in one transaction."""
    with _connect(restored) as src:
        cols = [c.name for c in src.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT 0').description]
        rows = src.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    with _connect(writer_dsn(configuration)) as conn, conn.transaction():
        conn.execute(f'TRUNCATE "{schema}"."{table}"')
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{schema}"."{table}" ({names}) VALUES ({marks})', rows)
    return len(rows)


def plan_rds_pitr_recover(
    source_instance: str,
    old_t_fault: str | None = None,
    old_table: str | None = None,
    table: str | None = None,
    restore_time: str | None = None,
    target_instance: str | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    """What `drill plan` shows for the pitr procedure: the restore's plan (the source, the new instance), then
    the SQL steps. Before the scenario ran, the recovery point is the data fault's t_fault (not known yet)."""
    from harness.faults.aws import plan_rds_point_in_time_restore

    target = target_instance or f"{source_instance}-pitr-<time>"
    when = restore_time or (restore_time_of(old_t_fault, None) if old_t_fault else None)
    plan = plan_rds_point_in_time_restore(source_instance, target, when, configuration)
    name = old_table or table or "<the data fault's table>"
    plan.summary = f"pitr: {plan.summary}; validate and switch {SCHEMA}.{name} back into the writer"
    plan.calls += [
        "rds:DescribeDBInstances (until the new instance is available and answers)",
        f"SQL (restored instance): read {name}, compare with its fill fingerprint",
        f"SQL (writer): TRUNCATE {name} + INSERT the recovered rows, one transaction",
        f"rds:DeleteDBInstance({target}) (the restore's undo)",
    ]
    if not when:
        plan.notes.append("recovery point: 1 ms before the data fault's statement (its t_fault, learned at run time)")
    return plan


PLANNERS = {"sql_damage": plan_sql_damage, "rds_pitr_recover": plan_rds_pitr_recover}
