#!/usr/bin/env bash
# `make drill` until the Gherkin catalog lands: bring the local lab up, run the smoke drills with
# `drill measure` around real faults, bring the lab down, and print measured RTO/RPO against the plan.
# Each drill is the public contract a user can run by hand: drill measure ... --fault 'drill fault inject X'.
set -uo pipefail
cd "$(dirname "$0")/.."
D=.venv/bin/drill
PY=.venv/bin/python
OUT=reports/smoke/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

$D lab up || exit 2
cleanup() { $D recover >/dev/null 2>&1; $D lab down >/dev/null 2>&1 || $D lab down; }
trap cleanup EXIT

APP=$($PY -c 'from harness.lab import Lab; print(Lab.load().app_url)')
DSN=$($PY -c 'from harness.lab import Lab; print(Lab.load().pg_dsn())')   # carries a passfile, no password
target() { $D objectives -c "$1" -s "$2" --json | $PY -c "import json,sys; print(json.load(sys.stdin)[0]['$3']['judged_s'])"; }

status=0
run() {  # run NAME COMPONENT SCENARIO FAULT...
  local name=$1 comp=$2 scen=$3; shift 3
  echo; echo "=== smoke drill: $name (plan: $comp / $scen) ==="
  $D measure --probe "app@http=$APP/health" --writer "postgres=$DSN" \
             --rto "$(target "$comp" "$scen" rto)" --rpo "$(target "$comp" "$scen" rpo)" \
             --timeout 180 --out "$OUT/$name" --fault "$*"
  local rc=$?
  $D recover >/dev/null 2>&1
  $PY -c 'from harness.lab import Lab; Lab.load().wait_healthy(120)' || { echo "lab did not become healthy again"; rc=3; }
  [ $rc -gt $status ] && status=$rc
  return 0
}
run db-primary-crash postgresql primary-instance-failure "$D fault inject db-primary-crash"
ZONE=$($PY -c 'from harness.lab import Lab; l=Lab.load(); print(l.components[l.postgres_leader()]["zone"])')
run az-outage        postgresql az-failure "$D fault inject az-outage zone=$ZONE"

echo
$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
from rich.console import Console
from rich.table import Table
out = Path(sys.argv[1])
t = Table(title="Smoke drills: measured vs DR plan targets")
for c in ("drill", "RTO target", "RTO measured", "RPO target", "RPO measured", "lost / acked", "verdict"):
    t.add_column(c)
for res in sorted(out.glob("*/result.json")):
    r = json.loads(res.read_text()); v = r.get("verdict") or {}
    rto, rpo = v.get("rto") or {}, v.get("rpo") or {}
    t.add_row(res.parent.name, f"{rto.get('target_s', '-')} s",
              f"{r['rto_s']:.2f} ± {r['uncertainty_s']:.2f} s" if r.get("recovered") else "not recovered",
              f"{rpo.get('target_s', '-')} s", f"{r['rpo_s']:.2f} s" if r.get("rpo_s") is not None else "-",
              f"{r.get('lost_writes', 0)} / {r.get('acked_writes', 0)}",
              "[green]PASS[/]" if v.get("passed") else "[red]FAIL[/]")
c = Console()
(c if c.is_terminal else Console(width=120)).print(t)
print(f"results, samples and timeline charts: {out}/")
PYEOF
exit $status
