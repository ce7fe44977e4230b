"""A stand-in for the SSM agent, for the SSM process faults against moto (no real account or instance here).

moto's SSM accepts SendCommand and records it (document, instances, the script), but runs nothing: every
GetCommandInvocation answers Success with empty output. The stand-in closes that gap: registered on boto3's
default session (the one the harness uses) at `before-send.ssm.GetCommandInvocation`, it reads the command
moto recorded (ListCommands, through the test's own session), runs its script ONCE per (command, instance)
with /bin/sh on this machine, as the agent would on the instance, and answers with the output in the shape of
the AWS API reference (CommandId, InstanceId, Status, StatusDetails, ResponseCode, StandardOutputContent,
StandardErrorContent). With `namespace_pid` set the script runs inside that process's PID and mount
namespaces (nsenter): a host whose application is PID 1, as in a container.

The processes the scripts see are real processes the test started; the harness's listing, identity checks
and signals are the real ones."""

from __future__ import annotations

import json
import subprocess
from typing import Any


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any):
        yield self.body


class LocalSsmAgent:
    def __init__(self, session: Any, namespace_pid: int | None = None):
        import boto3

        self.ssm = session.client("ssm")
        self.namespace_pid = namespace_pid
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.scripts: list[str] = []  # every script run, in order
        boto3.setup_default_session() if boto3.DEFAULT_SESSION is None else None
        self.events = boto3.DEFAULT_SESSION.events
        self.events.register("before-send.ssm.GetCommandInvocation", self._answer)

    def close(self) -> None:
        self.events.unregister("before-send.ssm.GetCommandInvocation", self._answer)

    def _run(self, command_id: str, instance: str) -> dict[str, Any]:
        key = (command_id, instance)
        if key not in self.runs:
            [command] = self.ssm.list_commands(CommandId=command_id)["Commands"]
            assert command["DocumentName"] == "AWS-RunShellScript" and instance in command["InstanceIds"]
            script = "\n".join(command["Parameters"]["commands"])
            self.scripts.append(script)
            argv = ["sh", "-c", script]
            if self.namespace_pid is not None:
                argv = ["nsenter", "-t", str(self.namespace_pid), "-p", "-m", *argv]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            self.runs[key] = {
                "CommandId": command_id,
                "InstanceId": instance,
                "DocumentName": "AWS-RunShellScript",
                "PluginName": "aws:runShellScript",
                "ResponseCode": done.returncode,
                "Status": "Success" if done.returncode == 0 else "Failed",
                "StatusDetails": "Success" if done.returncode == 0 else "Failed",
                "StandardOutputContent": done.stdout,
                "StandardErrorContent": done.stderr,
            }
        return self.runs[key]

    def _answer(self, request: Any = None, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        body = json.loads(request.body)
        answer = json.dumps(self._run(body["CommandId"], body["InstanceId"])).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "Content-Length": str(len(answer))}
        return AWSResponse(request.url, 200, headers, _Raw(answer))
