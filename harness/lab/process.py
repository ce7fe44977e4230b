"""Starting and stopping the lab's processes safely.

Each process starts in its own session (so it has its own process group and survives the `drill` that
started it). We record pid, process group and the kernel start time; before any signal we check the start
time again, so a recycled PID is never hit.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ProcessRecord:
    """What the state file keeps about one running process."""

    pid: int
    pgid: int
    start_time: int  # /proc/<pid>/stat field 22, clock ticks since boot
    argv: list[str]
    log: str
    user: str
    env: dict[str, str] = field(default_factory=dict)  # extra environment (never secrets)

    def to_dict(self) -> dict:
        return asdict(self)


def proc_start_time(pid: int) -> int | None:
    """Kernel start time of `pid`, or None if there is no such (non-zombie) process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # zombie/dead: gone for our purposes
        return None
    return int(fields[19])


def is_running(rec: dict | ProcessRecord) -> bool:
    """True if the recorded process is still the same process (pid and start time match)."""
    r = rec if isinstance(rec, dict) else rec.to_dict()
    return r.get("pid") is not None and proc_start_time(r["pid"]) == r.get("start_time")


def _reap(pid: int) -> None:
    # If we are the parent (same Python process started it), collect the zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def spawn(
    argv: list[str], log: Path, *, user: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> ProcessRecord:
    """Start `argv` in a new session with stdout+stderr appended to `log`, as `user` if given (we are root)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    kwargs: dict = {}
    run_as = pwd.getpwuid(os.geteuid()).pw_name
    if user and os.geteuid() == 0 and user != run_as:
        pw = pwd.getpwnam(user)
        # Popen(user=, group=) rather than runuser: runuser SIGKILLs its child ~2 s after a SIGTERM.
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid))
        full_env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
        run_as = user
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )
    start = None
    for _ in range(50):  # /proc entry appears at once; loop only for paranoia
        start = proc_start_time(proc.pid)
        if start is not None:
            break
        time.sleep(0.01)
    return ProcessRecord(
        pid=proc.pid,
        pgid=proc.pid,
        start_time=start or 0,
        argv=list(argv),
        log=str(log),
        user=run_as,
        env=dict(env or {}),
    )


def signal_group(rec: dict, sig: int) -> bool:
    """Send `sig` to the recorded process group, only if the leader is still the recorded process."""
    if not is_running(rec):
        return False
    try:
        os.killpg(rec["pgid"], sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(rec: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(rec["pid"])
        if not is_running(rec):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop(rec: dict, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds. A no-op if it is already gone."""
    if signal_group(rec, signal.SIGTERM):
        # A stopped (frozen) process can't act on SIGTERM: let it run so it can shut down cleanly.
        signal_group(rec, signal.SIGCONT)
        if not wait_gone(rec, grace):
            signal_group(rec, signal.SIGKILL)
            wait_gone(rec, 5.0)
    _reap(rec["pid"])


def pids_with_in_cmdline(needle: str) -> list[int]:
    """PIDs whose command line contains `needle` (the lab's state folder): the sweep after `down`."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in cmd and proc_start_time(int(entry)) is not None:
            found.append(int(entry))
    return found


def kill_verified(pid: int, needle: str, sig: int = signal.SIGKILL) -> None:
    """Signal `pid` only if its command line still contains `needle` (guards against PID reuse)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        if needle in cmd:
            os.kill(pid, sig)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass


def memory_bytes(pids: list[int]) -> dict[str, int]:
    """Memory of `pids` and all their descendants, each process once: {"rss": sum of RSS (counts shared
    pages once per process, so it overstates), "pss": sum of PSS (shared pages split between sharers)}."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        stack.extend(children.get(p, []))
    total = {"rss": 0, "pss": 0}
    for p in seen:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in ("Rss", "Pss"):
                    total[key.lower()] += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total
