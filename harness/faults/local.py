"""Process-level faults that need no lab: `process-freeze` and `process-kill`.

They are the building blocks (a frozen process is a zombie primary; a killed one a crashed node) and run
against any process the harness may signal. The DR plan's named lab faults live in lab.py.
"""

from __future__ import annotations

import os
import shlex
import signal
from typing import Any

from pydantic import Field, model_validator

from harness.errors import HarnessError
from harness.faults.base import BlastRadius, Fault, FaultParams, Injection, Journal, ProcessRef, register
from harness.faults.undo import cmdline, group_members, process_identity, read_stat

# A freeze converges in a few rounds (a stopped process cannot fork); this only bounds a pathological case.
MAX_FREEZE_ROUNDS = 20


def _victim(pid: int) -> dict[str, Any]:
    """The stat of a process the harness may signal, or a HarnessError saying why not."""
    stat = read_stat(pid)
    if stat is None or stat["state"] in ("Z", "X"):
        raise HarnessError(f"parameter 'pid': no running process {pid}")
    if pid == 1 or stat["ppid"] == 2 or pid == 2:
        raise HarnessError(f"parameter 'pid': refusing to signal {pid} (init or a kernel thread)")
    own = {os.getpid()}
    parent = os.getppid()
    while parent > 1 and parent not in own:  # never the harness itself or anything it runs under
        own.add(parent)
        parent_stat = read_stat(parent)
        parent = parent_stat["ppid"] if parent_stat else 0
    if pid in own:
        raise HarnessError(f"parameter 'pid': refusing to signal {pid}: it is this harness or its parent")
    return stat


@register
class ProcessFreeze(Fault):
    name = "process-freeze"
    plan_section = "6.2 Component Recovery Testing (building block: frozen / zombie process)"
    summary = "SIGSTOP a process (by default its whole process group)"
    undo_summary = "SIGCONT the same processes (identity checked by start time)"

    class Params(FaultParams):
        pid: int = Field(gt=0, description="a process of the group to freeze")
        group: bool = Field(True, description="freeze the whole process group of pid, not just pid")

    def _pgid(self) -> int | None:
        stat = _victim(self.params.pid)
        return stat["pgid"] if self.params.group else None

    def preflight(self, target: Any) -> None:
        pgid = self._pgid()
        if pgid is not None and pgid == os.getpgrp():
            raise HarnessError(
                f"parameter 'pid': refusing to freeze process group {pgid}: the harness is in it "
                "(start the victim with its own session, or pass group=false)"
            )

    def _members(self) -> list[int]:
        pgid = self._pgid()
        return group_members(pgid) if pgid is not None else [self.params.pid]

    def describe(self, target: Any) -> BlastRadius:
        pgid = self._pgid()
        what = f"process group {pgid}" if pgid is not None else f"process {self.params.pid}"
        procs = [
            ProcessRef(pid=p, start_time=(read_stat(p) or {}).get("start_time"), command=cmdline(p))
            for p in self._members()
        ]
        return BlastRadius(
            summary=f"freeze (SIGSTOP) {what}: {len(procs)} process(es)", processes=procs, undo=self.undo_summary
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        stopped: set[int] = set()
        for _ in range(MAX_FREEZE_ROUNDS):
            # Re-scan each round: a member may have forked before it was stopped. Record, THEN stop.
            identities = [i for p in self._members() if p not in stopped and (i := process_identity(p))]
            if not identities:
                break
            journal.record_undo("sigcont", members=identities)
            for identity in identities:
                try:
                    os.kill(identity["pid"], signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                stopped.add(identity["pid"])
        return Injection(detail={"stopped": sorted(stopped), "pgid": self._pgid_or_none()})

    def _pgid_or_none(self) -> int | None:
        stat = read_stat(self.params.pid)
        return stat["pgid"] if stat and self.params.group else None


@register
class ProcessKill(Fault):
    name = "process-kill"
    plan_section = "6.2 Component Recovery Testing (building block: crashed process)"
    summary = "kill -9 a process, optionally restarting it as the undo"
    undo_summary = "run the restart command (if given), once, unless the process is somehow still running"

    class Params(FaultParams):
        pid: int = Field(gt=0)
        restart: str | None = Field(None, description="command line that starts the process again")

        @model_validator(mode="after")
        def _restart_parses(self) -> ProcessKill.Params:
            if self.restart is not None and not shlex.split(self.restart):
                raise ValueError("parameter 'restart': empty command")
            return self

    def preflight(self, target: Any) -> None:
        _victim(self.params.pid)

    def describe(self, target: Any) -> BlastRadius:
        stat = _victim(self.params.pid)
        undo = f"restart with: {self.params.restart}" if self.params.restart else "none (no restart command)"
        return BlastRadius(
            summary=f"kill -9 process {self.params.pid} ({stat['comm']})",
            processes=[
                ProcessRef(pid=self.params.pid, start_time=stat["start_time"], command=cmdline(self.params.pid))
            ],
            undo=undo,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        victim = process_identity(self.params.pid)
        if victim is None:
            raise HarnessError(f"parameter 'pid': process {self.params.pid} exited before the kill")
        if self.params.restart:
            journal.record_undo(
                "restart_command",
                argv=shlex.split(self.params.restart),
                victim=victim,
                cwd=os.getcwd(),
                log=str(journal.state_dir / "restarts" / f"{journal.id}.log"),
            )
        else:
            journal.record_undo("noop", reason=f"process {self.params.pid} was killed; no restart command given")
        os.kill(self.params.pid, signal.SIGKILL)
        return Injection(detail={"killed": self.params.pid})
