"""Where each lab zone lives on the network: loopback (everything on 127.0.0.1) or one network namespace
per zone, so a partition is a real packet drop.

Contract used by the rest of the lab and by the faults (keep it stable):

    net = LabNetwork(state_dir, mode="netns" | "loopback", zones=["az-a", "az-b", "az-c", "dr"], prefix="drill")
    net.setup()                    # idempotent; creates namespaces/links/addresses (netns) or nothing
    net.host(zone) -> str          # address a service in `zone` binds to and is reached at
    net.edge_host() -> str         # address of the root namespace ("the edge") as seen from the zones
    net.exec_prefix(zone) -> list  # argv prefix that runs a command inside the zone ([] in loopback)
    net.partition(a, b) / net.heal(a, b)      # drop / restore both directions between two zones
    net.isolate(zone) / net.heal_zone(zone)   # drop / restore everything in and out of a zone (except its lo)
    net.heal_all()                 # remove every drop rule
    net.partitions() -> dict       # what is in force now, read from the kernel: {"partitions": [[a, b]], "isolated": [z]}
    net.teardown()                 # idempotent; removes everything setup() made, from the state file
    LabNetwork.netns_available() -> (bool, reason)
    LabNetwork.load(state_dir, prefix) -> LabNetwork      # rebuild from the state file (recovery)
    teardown_from_state(state_dir, prefix) -> bool        # undo a crashed harness's network from the file alone

Topology in netns mode (prefix "drill", zones numbered from 1 in the order given):

    root namespace ("the edge": HAProxy, harness, probes)
      bridge drill-br, address 127.100.0.1/16, plus a route for 127.100.0.0/16 in the `local` table so the
      root namespace sends those addresses out of the bridge instead of to its own `lo`
        veth drill-az-a  <->  netns drill-az-a: veth0 127.100.1.2/16, lo narrowed to 127.0.0.1/32
        veth drill-az-b  <->  netns drill-az-b: veth0 127.100.2.2/16
        ...
    route_localnet=1 on the bridge and inside every zone namespace (127/8 is otherwise never routed).
    Only 127.0.0.0/8 addresses are used: the lab never touches a real network.

Faults are nftables rules in one table per zone namespace, `inet <prefix>_lab`, rendered from the desired
state kept in the state file and replaced atomically (one nft transaction per namespace).

Crash safety: every resource is appended to `<state_dir>/network-<prefix>.json` (fsync'd) BEFORE it is
created, so teardown() in any later process undoes it from the file alone. Other prefixes get another
second octet (derived from the prefix), so a test network never collides with a running lab.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from harness.errors import HarnessError, LabNetworkMissing

NetworkMode = Literal["netns", "loopback"]

STATE_VERSION = 1
LOOPBACK_HOST = "127.0.0.1"
NS_LINK = "veth0"  # name of a zone's end of its veth pair, inside the zone namespace
IFNAMSIZ = 15  # Linux limit on interface name length
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_ZONE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
_FAULT_COMMENT_RE = re.compile(r"^(partition|isolate)(?: (\S+))?$")
_LOOPBACK_FAULT_HINT = (
    "network partitions need --network netns (a network namespace per zone); in loopback mode the "
    "fallback is a process freeze or the TCP fault proxy, chosen by the fault"
)


def _run(argv: list[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run one command; a failure becomes a HarnessError naming the command and its stderr."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise HarnessError(f"network: `{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _default_octet(prefix: str) -> int:
    """Second octet of the lab's 127.X.0.0/16: 100 for the real lab, a stable other one for test prefixes."""
    return 100 if prefix == "drill" else 101 + zlib.crc32(prefix.encode()) % 99


class LabNetwork:
    def __init__(
        self,
        state_dir: Path,
        mode: NetworkMode,
        zones: list[str],
        prefix: str = "drill",
        octet: int | None = None,
    ):
        if mode not in ("netns", "loopback"):
            raise HarnessError(f"network mode must be 'netns' or 'loopback', not {mode!r}")
        if not _PREFIX_RE.match(prefix):
            raise HarnessError(
                f"network prefix {prefix!r} must be 1-12 lowercase letters/digits, starting with a letter"
            )
        if len(set(zones)) != len(zones) or not zones:
            raise HarnessError(f"network zones must be a non-empty list of distinct names, got {zones!r}")
        for zone in zones:
            if not _ZONE_RE.match(zone):
                raise HarnessError(f"zone name {zone!r} must be 1-16 lowercase letters, digits or '-'")
        if len(zones) > 250:
            raise HarnessError("at most 250 zones")
        self.state_dir = Path(state_dir)
        self.mode: NetworkMode = mode
        self.zones = list(zones)
        self.prefix = prefix
        self.octet = _default_octet(prefix) if octet is None else int(octet)
        if not 1 <= self.octet <= 254:
            raise HarnessError(f"network octet must be 1..254, got {self.octet}")

    # ---- names and addresses -------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / f"network-{self.prefix}.json"

    @property
    def table(self) -> str:
        return f"{self.prefix}_lab"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def subnet(self) -> str:
        return f"127.{self.octet}.0.0/16"

    def netns(self, zone: str) -> str:
        self._check_zone(zone)
        return f"{self.prefix}-{zone}"

    def host_link(self, zone: str) -> str:
        """Root-namespace end of the zone's veth pair."""
        self._check_zone(zone)
        name = f"{self.prefix}-{zone}"
        return name if len(name) <= IFNAMSIZ else f"{self.prefix[:9]}-v{self.zones.index(zone) + 1}"

    def host(self, zone: str) -> str:
        """Address a service in `zone` binds to and is reached at (from the edge and from other zones)."""
        self._check_zone(zone)
        if self.mode == "loopback":
            return LOOPBACK_HOST
        return f"127.{self.octet}.{self.zones.index(zone) + 1}.2"

    def edge_host(self) -> str:
        """Address of the root namespace as the zones see it (bind edge services here or on 0.0.0.0)."""
        return LOOPBACK_HOST if self.mode == "loopback" else f"127.{self.octet}.0.1"

    def exec_prefix(self, zone: str, user: str | None = None) -> list[str]:
        """argv prefix that runs a command inside `zone`; every step execs, so the PID is the command's own.

        `ip netns exec` needs root: to run as an unprivileged user (PostgreSQL), pass `user` so the
        privileges are dropped AFTER entering the namespace (Popen(user=...) around it cannot work).
        """
        self._check_zone(zone)
        drop = _drop_privileges(user) if user else []
        if self.mode == "loopback":
            return drop
        return ["ip", "netns", "exec", self.netns(zone)] + drop

    def _check_zone(self, zone: str) -> None:
        if zone not in self.zones:
            raise HarnessError(f"unknown zone {zone!r}; known zones: {', '.join(self.zones)}")

    # ---- availability ----------------------------------------------------------------------------------
    @staticmethod
    def netns_available() -> tuple[bool, str]:
        """Can this machine run netns mode? Creates and removes a throwaway namespace to find out."""
        if os.geteuid() != 0:
            return False, "netns mode needs root (network namespaces, veth links and nftables)"
        for tool in ("ip", "nft", "sysctl"):
            if shutil.which(tool) is None:
                return False, f"netns mode needs the `{tool}` command (packages iproute2 / nftables)"
        if shutil.which("unshare") is None:
            return False, "netns mode needs the `unshare` command (package util-linux)"
        listed = _run(["ip", "netns", "list"], check=False)
        if listed.returncode != 0:
            return False, f"`ip netns` does not work here: {listed.stderr.strip()}"
        # The probe runs in an anonymous namespace that dies with the command: nothing can leak from it.
        probe = "ip link add p0 type veth peer name p1 && nft add table inet probe"
        tried = _run(["unshare", "--net", "--", "sh", "-c", probe], check=False)
        if tried.returncode != 0:
            return False, f"network namespaces with veth links and nftables do not work here: {tried.stderr.strip()}"
        return True, "root, ip netns, veth and nftables all work"

    # ---- state file ------------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise setup/teardown/fault changes across processes."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / f"network-{self.prefix}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{self.state_file}: unreadable network state: {exc}") from exc

    def _write_state(self, state: dict[str, Any]) -> None:
        """Atomic and durable: a crash leaves either the old or the new file, never half of one."""
        tmp = self.state_file.with_suffix(".json.tmp")
        with open(tmp, "w") as fh:
            json.dump(state, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_file)
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _new_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "prefix": self.prefix,
            "mode": self.mode,
            "zones": self.zones,
            "octet": self.octet,
            "bridge": self.bridge,
            "edge": self.edge_host(),
            "addresses": {zone: self.host(zone) for zone in self.zones},
            "resources": [],
            "faults": {"partitions": [], "isolated": []},
            "setup_complete": False,
        }

    def _record(self, state: dict[str, Any], resource: dict[str, Any]) -> None:
        """Write down a resource before creating it (write-ahead), unless it is already recorded."""
        if resource not in state["resources"]:
            state["resources"].append(resource)
            self._write_state(state)

    @classmethod
    def load(cls, state_dir: Path, prefix: str = "drill") -> LabNetwork:
        """The network a (possibly crashed) harness set up, rebuilt from its state file alone."""
        path = Path(state_dir) / f"network-{prefix}.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabNetworkMissing(f"{path}: no lab network recorded") from None
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{path}: unreadable network state: {exc}") from exc
        return cls(state_dir, state["mode"], state["zones"], prefix=state["prefix"], octet=state["octet"])

    # ---- setup -----------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the namespaces, bridge, links and (empty) rule tables; repairs whatever is missing."""
        if self.mode == "loopback":
            return
        ok, reason = self.netns_available()
        if not ok:
            raise HarnessError(f"cannot set up netns mode: {reason}")
        with self._locked():
            state = self._read_state()
            if state is not None and (state["zones"] != self.zones or state["octet"] != self.octet):
                raise HarnessError(
                    f"{self.state_file}: a lab network with zones {state['zones']} (127.{state['octet']}.0.0/16) "
                    "is already recorded; tear it down first"
                )
            if state is None:
                state = self._new_state()
                self._write_state(state)
            self._setup_bridge(state)
            for zone in self.zones:
                self._setup_zone(state, zone)
            for zone in self.zones:
                self._apply_rules(state, zone)
            state["setup_complete"] = True
            self._write_state(state)

    def _setup_bridge(self, state: dict[str, Any]) -> None:
        br = self.bridge
        self._record(state, {"kind": "link", "name": br})
        if not _link_exists(br):
            _run(["ip", "link", "add", br, "type", "bridge"])
        # Per-device sysctl: it disappears with the bridge, the root namespace's defaults stay untouched.
        _set_sysctl(state, self, f"net.ipv4.conf.{br}.route_localnet", "1", netns=None, scope="link")
        if f"{self.edge_host()}/16" not in _addresses(br):
            _run(["ip", "addr", "add", f"{self.edge_host()}/16", "dev", br])
        _run(["ip", "link", "set", br, "up"])
        # Without this the root namespace's `local 127.0.0.0/8 dev lo` would swallow the zones' addresses.
        route = {"kind": "route", "table": "local", "dst": self.subnet, "dev": br}
        self._record(state, route)
        existing = _run(["ip", "route", "show", "table", "local", self.subnet], check=False).stdout.strip()
        if existing and f"dev {br}" not in existing:
            raise HarnessError(f"{self.subnet} is already routed elsewhere in the root namespace: {existing}")
        if not existing:
            _run(["ip", "route", "add", self.subnet, "dev", br, "src", self.edge_host(), "table", "local"])

    def _setup_zone(self, state: dict[str, Any], zone: str) -> None:
        ns, link, addr = self.netns(zone), self.host_link(zone), self.host(zone)
        self._record(state, {"kind": "netns", "name": ns})
        if ns not in _netns_names():
            _run(["ip", "netns", "add", ns])
        for key in ("net.ipv4.conf.all.route_localnet", "net.ipv4.conf.default.route_localnet"):
            _set_sysctl(state, self, key, "1", netns=ns, scope="netns")
        # Narrow lo: 127.x addresses other than 127.0.0.1 must leave the namespace instead of being local.
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        lo_addrs = _addresses("lo", ns)
        if "127.0.0.1/8" in lo_addrs:
            _run(["ip", "-n", ns, "addr", "del", "127.0.0.1/8", "dev", "lo"])
        if "127.0.0.1/32" not in _addresses("lo", ns):
            _run(["ip", "-n", ns, "addr", "add", "127.0.0.1/32", "dev", "lo"])
        self._record(state, {"kind": "link", "name": link})
        if not _link_exists(link):
            if _link_exists(NS_LINK, ns):  # orphan end of a half-made pair
                _run(["ip", "-n", ns, "link", "del", NS_LINK])
            _run(["ip", "link", "add", link, "type", "veth", "peer", "name", NS_LINK, "netns", ns])
        _run(["ip", "link", "set", link, "master", self.bridge, "up"])
        _set_sysctl(state, self, f"net.ipv4.conf.{NS_LINK}.route_localnet", "1", netns=ns, scope="netns")
        if f"{addr}/16" not in _addresses(NS_LINK, ns):
            _run(["ip", "-n", ns, "addr", "add", f"{addr}/16", "dev", NS_LINK])
        _run(["ip", "-n", ns, "link", "set", NS_LINK, "up"])
        self._record(state, {"kind": "nft_table", "netns": ns, "family": "inet", "name": self.table})

    # ---- faults ----------------------------------------------------------------------------------------
    def partition(self, a: str, b: str) -> None:
        """Drop every packet between zones a and b, both directions, existing connections included."""
        self._fault_precheck(a, b)
        if a == b:
            raise HarnessError(f"cannot partition zone {a!r} from itself")
        pair = sorted([a, b])
        with self._locked():
            state = self._ready_state()
            if pair not in state["faults"]["partitions"]:
                state["faults"]["partitions"].append(pair)
                self._write_state(state)
            self._apply_rules(state, a)
            self._apply_rules(state, b)

    def isolate(self, zone: str) -> None:
        """Drop everything in and out of `zone` (the edge included) except its own loopback."""
        self._fault_precheck(zone)
        with self._locked():
            state = self._ready_state()
            if zone not in state["faults"]["isolated"]:
                state["faults"]["isolated"].append(zone)
                self._write_state(state)
            self._apply_rules(state, zone)

    def heal(self, a: str, b: str) -> None:
        """Undo partition(a, b). A no-op if it is not in force (or in loopback mode)."""
        self._check_zone(a)
        self._check_zone(b)
        if self.mode == "loopback":
            return
        pair = sorted([a, b])
        with self._locked():
            state = self._read_state()
            if state is None:  # torn down already: nothing to heal (undo must be idempotent)
                return
            state["faults"]["partitions"] = [p for p in state["faults"]["partitions"] if p != pair]
            self._write_state(state)
            self._apply_rules_where_present(state, [a, b])

    def heal_zone(self, zone: str) -> None:
        """Undo isolate(zone) and every partition that involves `zone`."""
        self._check_zone(zone)
        if self.mode == "loopback":
            return
        with self._locked():
            state = self._read_state()
            if state is None:
                return
            touched = {zone} | {z for p in state["faults"]["partitions"] if zone in p for z in p}
            state["faults"]["isolated"] = [z for z in state["faults"]["isolated"] if z != zone]
            state["faults"]["partitions"] = [p for p in state["faults"]["partitions"] if zone not in p]
            self._write_state(state)
            self._apply_rules_where_present(state, sorted(touched))

    def heal_all(self) -> None:
        """Remove every drop rule in every zone. Safe to call any time, also when nothing is set up."""
        if self.mode == "loopback":
            return
        with self._locked():
            state = self._read_state()
            if state is None:
                return
            state["faults"] = {"partitions": [], "isolated": []}
            self._write_state(state)
            self._apply_rules_where_present(state, self.zones)

    def partitions(self) -> dict[str, list]:
        """What is in force now, read from the kernel's rules: {"partitions": [[a, b]], "isolated": [z]}."""
        found: dict[str, list] = {"partitions": [], "isolated": []}
        if self.mode == "loopback":
            return found
        names = _netns_names()
        for zone in self.zones:
            ns = self.netns(zone)
            if ns not in names:
                continue
            for comment in _rule_comments(ns, self.table):
                match = _FAULT_COMMENT_RE.match(comment)
                if not match:
                    continue
                if match[1] == "isolate" and zone not in found["isolated"]:
                    found["isolated"].append(zone)
                elif match[1] == "partition" and match[2] in self.zones:
                    pair = sorted([zone, match[2]])
                    if pair not in found["partitions"]:
                        found["partitions"].append(pair)
        found["partitions"].sort()
        found["isolated"].sort()
        return found

    def _fault_precheck(self, *zones: str) -> None:
        for zone in zones:
            self._check_zone(zone)
        if self.mode == "loopback":
            raise HarnessError(_LOOPBACK_FAULT_HINT)

    def _ready_state(self) -> dict[str, Any]:
        state = self._read_state()
        if state is None or not state.get("setup_complete"):
            raise HarnessError(f"the lab network '{self.prefix}' is not set up (call setup() first)")
        return state

    def _apply_rules_where_present(self, state: dict[str, Any], zones: list[str]) -> None:
        """Healing skips zones whose namespace is gone (a half-made or half-removed network)."""
        present = _netns_names()
        for zone in zones:
            if self.netns(zone) in present:
                self._apply_rules(state, zone)

    def _apply_rules(self, state: dict[str, Any], zone: str) -> None:
        """Replace the zone's rule table with one rendered from the desired state, in one nft transaction."""
        ns, table = self.netns(zone), self.table
        faults = state["faults"]
        rules_in: list[str] = []
        rules_out: list[str] = []
        if zone in faults["isolated"]:
            rules_in.append('iifname != "lo" counter drop comment "isolate"')
            rules_out.append('oifname != "lo" counter drop comment "isolate"')
        for a, b in faults["partitions"]:
            if zone in (a, b):
                peer = b if zone == a else a
                addr = self.host(peer)
                rules_in.append(f'ip saddr {addr} counter drop comment "partition {peer}"')
                rules_out.append(f'ip daddr {addr} counter drop comment "partition {peer}"')

        def chain(name: str, hook: str, rules: list[str]) -> str:
            body = "".join(f"\t\t{rule}\n" for rule in rules)
            return f"\tchain {name} {{\n\t\ttype filter hook {hook} priority -150; policy accept;\n{body}\t}}\n"

        script = (
            f"table inet {table}\n"  # create-if-missing so the delete below never fails
            f"delete table inet {table}\n"
            f"table inet {table} {{\n{chain('input', 'input', rules_in)}{chain('output', 'output', rules_out)}}}\n"
        )
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script)

    # ---- teardown --------------------------------------------------------------------------------------
    def teardown(self, stop_processes: bool = True) -> None:
        """Remove everything recorded in the state file (and anything named like this network), in reverse.

        Idempotent and crash-safe: works in a fresh process after the harness was killed mid-setup.
        With stop_processes, anything still running inside a lab namespace (only the harness puts processes
        there) gets SIGTERM, then SIGKILL after a grace, because it would keep the namespace alive.
        """
        with self._locked():
            state = self._read_state()
            resources = list(state["resources"]) if state else []
            if self.mode == "netns":
                # Sweep the names this instance would have made, in case the state file is gone.
                resources = [{"kind": "link", "name": self.bridge}] + resources
                for zone in self.zones:
                    for extra in (
                        {"kind": "netns", "name": self.netns(zone)},
                        {"kind": "link", "name": self.host_link(zone)},
                    ):
                        if extra not in resources:
                            resources.append(extra)
            if not resources:
                return
            existing_ns = _netns_names()
            namespaces = [r["name"] for r in resources if r["kind"] == "netns" and r["name"] in existing_ns]
            if stop_processes:
                _stop_processes_in(namespaces)
            errors: list[str] = []
            for res in reversed(resources):
                try:
                    _undo(res, existing_ns)
                except HarnessError as exc:
                    errors.append(str(exc))
            _wait_gone(namespaces, [r["name"] for r in resources if r["kind"] == "link"])
            if errors:
                raise HarnessError("network teardown left something behind:\n  " + "\n  ".join(errors))
            if state is not None:
                self.state_file.unlink(missing_ok=True)


def teardown_from_state(state_dir: Path, prefix: str = "drill") -> bool:
    """Undo the network recorded in `state_dir` for `prefix`. False when nothing was recorded."""
    try:
        net = LabNetwork.load(state_dir, prefix)
    except HarnessError:
        if not (Path(state_dir) / f"network-{prefix}.json").exists():
            return False
        raise
    net.teardown()
    return True


# ---- small helpers around ip / nft / sysctl -------------------------------------------------------------
def _drop_privileges(user: str) -> list[str]:
    """setpriv argv that becomes `user` (its uid, primary gid and groups), then execs the command."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise HarnessError(f"no such user {user!r} to run a lab process as") from None
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"]


def _netns_names() -> set[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return _run(argv, check=False).returncode == 0


def _addresses(dev: str, netns: str | None = None) -> set[str]:
    argv = ["ip", "-j"] + (["-n", netns] if netns else []) + ["addr", "show", "dev", dev]
    proc = _run(argv, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return set()
    return {f"{a['local']}/{a['prefixlen']}" for link in json.loads(proc.stdout) for a in link.get("addr_info", [])}


def _sysctl_argv(netns: str | None) -> list[str]:
    return (["ip", "netns", "exec", netns] if netns else []) + ["sysctl", "-n"]


def _set_sysctl(state: dict[str, Any], net: LabNetwork, key: str, value: str, *, netns: str | None, scope: str) -> None:
    """Set a sysctl, recording its old value first (scope says what it dies with: link, netns or root)."""
    current = _run(_sysctl_argv(netns) + [key]).stdout.strip()
    recorded = any(r["kind"] == "sysctl" and r["key"] == key and r.get("netns") == netns for r in state["resources"])
    if not recorded:
        net._record(state, {"kind": "sysctl", "key": key, "old": current, "new": value, "netns": netns, "scope": scope})
    if current != value:
        _run((["ip", "netns", "exec", netns] if netns else []) + ["sysctl", "-qw", f"{key}={value}"])


def _rule_comments(netns: str, table: str) -> list[str]:
    proc = _run(["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "inet", table], check=False)
    if proc.returncode != 0:
        return []
    items = json.loads(proc.stdout).get("nftables", [])
    return [item["rule"]["comment"] for item in items if "rule" in item and "comment" in item["rule"]]


def _stop_processes_in(namespaces: list[str], grace: float = 3.0) -> None:
    def pids() -> set[int]:
        found: set[int] = set()
        for ns in namespaces:
            out = _run(["ip", "netns", "pids", ns], check=False).stdout
            found |= {int(p) for p in out.split() if p.isdigit()}
        return found

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        remaining = pids()
        if not remaining:
            return
        for pid in remaining:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids():
            time.sleep(0.1)


def _undo(res: dict[str, Any], existing_ns: set[str]) -> None:
    kind = res["kind"]
    if kind == "nft_table":
        if res["netns"] in existing_ns:
            _run(
                ["ip", "netns", "exec", res["netns"], "nft", "delete", "table", res["family"], res["name"]], check=False
            )
    elif kind == "link":
        if _link_exists(res["name"]):  # deleting one end of a veth pair deletes both
            _run(["ip", "link", "del", res["name"]])
    elif kind == "route":
        shown = _run(["ip", "route", "show", "table", res["table"], res["dst"]], check=False).stdout
        if f"dev {res['dev']}" in shown:
            _run(["ip", "route", "del", res["dst"], "dev", res["dev"], "table", res["table"]])
    elif kind == "netns":
        if res["name"] in existing_ns:
            _run(["ip", "netns", "del", res["name"]])
    elif kind == "sysctl":
        # link- and netns-scoped values vanish with their device/namespace; only root-wide ones need restoring.
        if res.get("scope") == "root":
            _run(["sysctl", "-qw", f"{res['key']}={res['old']}"])
    else:
        raise HarnessError(f"unknown network resource kind {kind!r} in the state file")


def _wait_gone(namespaces: list[str], links: list[str], timeout: float = 5.0) -> None:
    """Namespace destruction is asynchronous in the kernel: wait until the names and links are really gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (set(namespaces) & _netns_names()) and not any(_link_exists(link) for link in links):
            return
        time.sleep(0.05)
    left = sorted(set(namespaces) & _netns_names()) + [link for link in links if _link_exists(link)]
    raise HarnessError(f"network teardown: still present after {timeout:.0f} s: {', '.join(left)}")
