"""One error type for everything a user can get wrong, and the exit codes the CLI promises."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BREACHED = 1  # measured, recovered, but an objective was breached
EXIT_USAGE = 2  # bad input, or the target was not healthy before the fault: nothing was injected
EXIT_NOT_RECOVERED = 3  # the system did not become stable before the deadline


class HarnessError(Exception):
    """A problem the user can fix. The message is shown as is, once, and the CLI exits 2."""

    exit_code = EXIT_USAGE


class ConfigError(HarnessError):
    """A malformed input file: the message names the file, the entry or line, and the field."""

    def __init__(self, path: str, where: str, problem: str):
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


class TargetUnhealthy(HarnessError):
    """The system under test was not healthy before the fault, so nothing was injected."""


class LabNotRunning(HarnessError):
    """No lab state in the folder: nothing is running there (an undo then has nothing left to act on)."""


class LabStartIncomplete(HarnessError):
    """The lab's state says `drill lab up` has not finished (killed half way, or still starting): its processes
    may run and even look healthy, but it is not the lab a drill may use until `drill lab up` completes."""


class LabNetworkMissing(HarnessError):
    """No network state recorded for the lab (it was never made, or `drill lab down` removed it)."""


class FaultParamError(HarnessError):
    """A fault's parameters or preconditions are wrong; the message already names the fault."""
