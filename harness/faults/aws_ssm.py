"""Process faults on EC2 through SSM Run Command (`AWS-RunShellScript`): `process-kill` and `process-freeze` on
the instances of a named target (configuration instance_targets: their tags, every one must carry the
allowlist's tags), with the same identity rules the lab's process faults follow (harness/faults/local.py):

- never PID 1, never a kernel thread (parent 2), never the SSM agent that runs the script;
- a process is named by its exact command name (`pgrep -x`), and what matched is LISTED first, by a read-only
  script, and shown (instance, pid, start time, command line) before any signal;
- the signal goes only to the listed processes, each checked by its start time (field 22 of /proc/PID/stat)
  right before it is signalled, so a recycled PID is left alone;
- the freeze's undo (SIGCONT, identity checked the same way) is recorded before the SIGSTOP is sent;
- a kill's undo is the target's restart command when one is given (run only where the process is not running
  again), else none (the supervisor, systemd or the Auto Scaling group, restarts it: that is the drill).

Sequence: ssm:SendCommand(list) -> ssm:GetCommandInvocation per instance (watched until it ends) -> checks ->
undo recorded -> ssm:SendCommand(signal) -> GetCommandInvocation per instance. The command ids go into the
intent log.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any

from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.aws import Configuration, client, conf, region_of, tag_dict, undo_config
from harness.faults.aws_fis import instance_target, running_instances
from harness.faults.plan import FaultPlan
from harness.redact import mask
from harness.safety import Resource

DOCUMENT = "AWS-RunShellScript"
NAME = re.compile(r"^[A-Za-z0-9_.:+-]{1,15}$")  # a command name as the kernel keeps it (comm: at most 15 chars)
DONE = ("Success", "Failed", "Cancelled", "TimedOut", "Cancelling")
MAX_MATCHES = 20  # per instance: more than this is not "a process", it is a fleet

# Read-only: one line per process whose command name is exactly NAME: MATCH pid ppid starttime cmdline.
LIST_SCRIPT = """set -u
for pid in $(pgrep -x -- {name}); do
  if [ "$pid" = "$$" ] || [ "$pid" = "$PPID" ]; then continue; fi
  stat=$(cat /proc/$pid/stat 2>/dev/null) || continue
  rest=${{stat##*) }}
  set -- $rest
  ppid=$2; start=${{20}}
  cmd=$(tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | cut -c1-200)
  echo "MATCH $pid $ppid $start $cmd"
done
echo END"""

# Signals each pid:starttime only if it is still that process (and never 1 or a kernel thread).
SIGNAL_SCRIPT = """set -u
for ident in {idents}; do
  pid=${{ident%%:*}}; want=${{ident##*:}}
  if [ "$pid" -le 1 ]; then echo "REFUSED $pid"; continue; fi
  stat=$(cat /proc/$pid/stat 2>/dev/null) || {{ echo "GONE $pid"; continue; }}
  rest=${{stat##*) }}
  set -- $rest
  if [ "$2" = 2 ] || [ "${{20}}" != "$want" ]; then echo "CHANGED $pid"; continue; fi
  kill -s {signal} "$pid" && echo "SIGNALLED $pid" || echo "FAILED $pid"
done
echo END"""

RESTART_SCRIPT = """set -u
if pgrep -x -- {name} >/dev/null; then echo "RUNNING"; else {restart}; echo "RESTARTED"; fi"""


def _process_name(process: str) -> str:
    if not NAME.match(str(process)):
        raise HarnessError(
            f"process {process!r}: an exact command name as /proc/PID/comm shows it (letters, digits, ._:+-, at "
            "most 15 characters); it is matched with pgrep -x"
        )
    return str(process)


def plan_ssm_process_signal(
    fault: str,
    target: str,
    process: str | None = None,
    restart: str | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    """process-kill (SIGKILL) or process-freeze (SIGSTOP) of the process named `process` (or
    instance_targets.<target>.process) on every running instance of `target`."""
    if fault not in ("process-kill", "process-freeze"):
        raise HarnessError(f"fault {fault!r}: process-kill or process-freeze")
    spec = instance_target(target, configuration)
    name = _process_name(process or spec.get("process") or "")
    if restart is not None and not shlex.split(str(restart)):
        raise HarnessError("parameter 'restart': empty command")
    if fault == "process-freeze" and restart:
        raise HarnessError("parameter 'restart': only process-kill restarts; a freeze is undone by SIGCONT")
    found = running_instances(dict(spec["tags"]), configuration)
    if not found:
        raise HarnessError(f"target {target!r}: no running EC2 instance carries tags {spec['tags']}")
    ids = [i["InstanceId"] for i in found]
    sig = "KILL" if fault == "process-kill" else "STOP"
    resources = [
        Resource(
            kind="ec2-instance",
            id=i["InstanceId"],
            az=i.get("Placement", {}).get("AvailabilityZone"),
            role=f"SIG{sig} {name} (run command)",
            tags=tag_dict(i.get("Tags")),
            state=i["State"]["Name"],
        )
        for i in found
    ]
    if fault == "process-freeze":
        undo = f"ssm:SendCommand({DOCUMENT}, SIGCONT the same processes, start time checked)"
    elif restart:
        undo = f"ssm:SendCommand({DOCUMENT}, `{restart}` where {name} is not running again)"
    else:
        undo = f"none: {name}'s supervisor restarts it (give restart to run a command instead)"
    return FaultPlan(
        fault=fault,
        summary=f"SIG{sig} the {name} processes on {len(ids)} instance(s) of {target} through SSM Run Command",
        region=region_of(configuration),
        resources=resources,
        zones=sorted({r.az for r in resources if r.az}),
        calls=[
            f"ssm:SendCommand({DOCUMENT}, {', '.join(ids)}, list: pgrep -x {name}) - read-only, shown first",
            f"ssm:SendCommand({DOCUMENT}, {', '.join(ids)}, kill -s {sig} <each listed pid, start time checked>)",
        ],
        changes={"process": name, "signal": sig, "instances": ids, "restart": restart},
        undo_summary=undo,
        undo_record={"kind": "ssm"},
        notes=[
            "refused when a listed process is PID 1 or a kernel thread, or nothing matches on an instance",
            "the processes are found at inject time (SSM lists them); `drill plan` cannot list them without a command",
        ],
    )


# -- running commands ------------------------------------------------------------------------------------------
def run_script(
    instance_ids: list[str], script: str, comment: str, configuration: Configuration, timeout: float = 120
) -> dict[str, Any]:
    """SendCommand(AWS-RunShellScript) and wait for every instance's invocation: {command_id, outputs:
    {instance: (status, stdout)}}."""
    ssm = client("ssm", configuration)
    command = ssm.send_command(
        InstanceIds=list(instance_ids),
        DocumentName=DOCUMENT,
        Comment=comment[:100],
        Parameters={"commands": [script]},
        TimeoutSeconds=max(30, int(timeout)),
    )["Command"]
    poll = float(conf(configuration, "ssm_poll_s", 1))
    outputs = {}
    deadline = time.monotonic() + float(timeout)
    for instance in instance_ids:
        while True:
            try:
                inv = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance)
            except ssm.exceptions.InvocationDoesNotExist:
                inv = {"Status": "Pending"}
            if inv["Status"] in DONE:
                outputs[instance] = (inv["Status"], inv.get("StandardOutputContent", ""))
                break
            if time.monotonic() >= deadline:
                raise HarnessError(
                    f"SSM command {command['CommandId']} on {instance}: still {inv['Status']} after {timeout:g} s"
                )
            time.sleep(poll)
    return {"command_id": command["CommandId"], "outputs": outputs}


def parse_listing(instance: str, status: str, output: str) -> list[dict[str, Any]]:
    """The MATCH lines of the listing script, checked: refuses PID 1 and kernel threads, an instance whose script
    failed or was cut short (no END), no match, or more than MAX_MATCHES."""
    if status != "Success" or "END" not in output.split():
        raise HarnessError(f"instance {instance}: the listing command ended {status}: {output[-300:]!r}")
    matches = []
    for line in output.splitlines():
        if not line.startswith("MATCH "):
            continue
        _, pid, ppid, start, *cmd = line.split(" ")
        command = mask(" ".join(cmd))  # a command line may carry a password: never stored as is
        matches.append({"pid": int(pid), "ppid": int(ppid), "start_time": int(start), "command": command})
    bad = [m for m in matches if m["pid"] <= 1 or m["ppid"] == 2 or m["pid"] == 2]
    if bad:
        raise HarnessError(
            f"instance {instance}: refusing: {', '.join(str(m['pid']) for m in bad)} is PID 1 or a kernel thread "
            f"({bad[0]['command'] or '?'}); nothing was signalled"
        )
    if not matches:
        raise HarnessError(f"instance {instance}: no process matches; nothing was signalled")
    if len(matches) > MAX_MATCHES:
        raise HarnessError(f"instance {instance}: {len(matches)} processes match (more than {MAX_MATCHES}); refusing")
    return matches


def list_processes(plan: FaultPlan, configuration: Configuration) -> dict[str, Any]:
    name, ids = plan.changes["process"], plan.changes["instances"]
    out = run_script(ids, LIST_SCRIPT.format(name=shlex.quote(name)), f"drill: list {name}", configuration)
    matched = {i: parse_listing(i, *out["outputs"][i]) for i in ids}
    return {"command_id": out["command_id"], "matched": matched}


def signal_processes(
    matched: dict[str, list[dict[str, Any]]], signal: str, configuration: Configuration, comment: str
) -> dict[str, Any]:
    """One SendCommand per instance (each instance has its own pids): {instance: {command_id, result lines}}."""
    results = {}
    for instance, procs in matched.items():
        idents = " ".join(f"{p['pid']}:{p['start_time']}" for p in procs)
        out = run_script([instance], SIGNAL_SCRIPT.format(idents=idents, signal=signal), comment, configuration)
        status, output = out["outputs"][instance]
        results[instance] = {
            "command_id": out["command_id"],
            "status": status,
            "lines": [line for line in output.splitlines() if line and line != "END"],
        }
    return results


@undo_actions.undo_action("aws_ssm_sigcont")
def _undo_sigcont(record: dict[str, Any]) -> str:
    config = {**undo_config(record), "ssm_poll_s": record.get("poll", 1)}
    done = signal_processes(record["matched"], "CONT", config, "drill: undo freeze (SIGCONT)")
    return "; ".join(f"{i}: {', '.join(r['lines']) or r['status']}" for i, r in done.items())


@undo_actions.undo_action("aws_ssm_restart")
def _undo_restart(record: dict[str, Any]) -> str:
    config = {**undo_config(record), "ssm_poll_s": record.get("poll", 1)}
    script = RESTART_SCRIPT.format(name=shlex.quote(record["process"]), restart=record["restart"])
    out = run_script(record["instances"], script, "drill: undo kill (restart)", config)
    return "; ".join(f"{i}: {status} {stdout.strip()}" for i, (status, stdout) in out["outputs"].items())


PLANNERS = {
    "ssm_process_kill": lambda target, process=None, restart=None, configuration=None: plan_ssm_process_signal(
        "process-kill", target, process, restart, configuration
    ),
    "ssm_process_freeze": lambda target, process=None, configuration=None: plan_ssm_process_signal(
        "process-freeze", target, process, None, configuration
    ),
}
