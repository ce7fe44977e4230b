#!/usr/bin/env bash
# Installs what `make test` and `make drill` need, only where it is missing, so a second run is a no-op:
# Debian packages for the local lab, the project venv, and (once package.json exists) the npm Allure CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages (the lab's real components) -------------------------------------------------
# binary that proves the package is there -> Debian package that provides it
declare -A need=(
  [/usr/lib/postgresql/15/bin/postgres]=postgresql-15
  [/usr/bin/etcd]=etcd-server
  [/usr/bin/etcdctl]=etcd-client
  [/usr/bin/redis-server]=redis-server
  [/usr/bin/redis-sentinel]=redis-sentinel
  [/usr/bin/redis-cli]=redis-tools   # the lab's RDB snapshots (redis-cli --rdb)
  [/usr/bin/pgbackrest]=pgbackrest   # the lab's PostgreSQL backups and WAL archive (harness/lab/backup.py)
  [/usr/sbin/haproxy]=haproxy
  [/usr/sbin/nft]=nftables
  [/usr/sbin/ip]=iproute2
  [/usr/bin/setpriv]=util-linux
  [/usr/bin/chromium]=chromium   # renders the after-action report to check it and to print it to PDF
  [/usr/bin/prometheus]=prometheus   # the lab's monitoring (harness/lab/monitoring.py)
  [/usr/bin/promtool]=prometheus     # checks `drill metrics` output in the tests
  [/usr/bin/prometheus-blackbox-exporter]=prometheus-blackbox-exporter
  [/usr/bin/prometheus-postgres-exporter]=prometheus-postgres-exporter
  [/usr/bin/prometheus-redis-exporter]=prometheus-redis-exporter
  [/usr/bin/prometheus-pushgateway]=prometheus-pushgateway   # `drill metrics --push` in the tests
)
missing=()
for bin in "${!need[@]}"; do [ -x "$bin" ] || missing+=("${need[$bin]}"); done
if [ -f package.json ] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3 python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: missing packages (${missing[*]}) and not root; install them with apt-get and re-run." >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  # Packages installed here must not start system services: the lab runs its own processes only.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv ---------------------------------------------------------------------------------
# Patroni runs as an unprivileged user when we are root, so the interpreter must be one that user
# can read: a venv built on /usr/bin/python3 works, one built on a python under /root does not.
BASE_PY=/usr/bin/python3
[ -x "$BASE_PY" ] || BASE_PY=$(command -v python3)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv from $BASE_PY"
  "$BASE_PY" -m venv .venv
fi
# The dependencies come from requirements.lock (every pin with its hashes, `make lock` writes it), so a drill
# next quarter runs on the same versions; the harness itself is then installed on top, without resolving.
stamp=.venv/.installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the harness and its locked dependencies (requirements.lock) into .venv"
  # quiet_pip drops pip's notes about configured package locations that do not exist on this machine;
  # with pipefail a failing pip still fails the setup.
  quiet_pip() { .venv/bin/pip "$@" 2>&1 | { grep -v 'is ignored: it is neither' || true; }; }
  quiet_pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  quiet_pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
  quiet_pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi

# --- Allure 3 CLI (npm) --------------------------------------------------------------------------
if [ -f package.json ]; then
  want=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f node_modules/.installed ] || [ "$(cat node_modules/.installed)" != "$want" ]; then
    say "installing the Allure report CLI (npm)"
    if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi
    echo "$want" > node_modules/.installed
  fi
fi
say "ready"
