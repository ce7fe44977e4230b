"""Running faults: validate → blast radius → intend → inject → injected, and undo that always runs.

    id = runner.inject("process-freeze", {"pid": 1234})      # fault stays in force; undo later
    runner.undo(id)
    with runner.injecting("process-freeze", {"pid": 1234}) as inj:
        ...                                                   # undone on exit, whatever happens
    runner.recover()                                          # a fresh process puts back everything pending

Undo runs from the intent log's records only (harness/faults/undo.py), never from the fault object, so the same
path serves the context manager, `drill fault undo` and `drill recover` after a kill -9.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import EXIT_NOT_RECOVERED, FaultParamError, HarnessError
from harness.faults import registry
from harness.faults import undo as undo_actions
from harness.faults.base import BlastRadius, Fault, Injection, Journal
from harness.faults.intent import Intent, IntentLog
from harness.faults.plan import FaultPlan


class UndoFailed(HarnessError):
    """An undo step failed: the fault may still be in force. `drill recover` retries it."""

    exit_code = EXIT_NOT_RECOVERED


class Terminated(SystemExit):
    """Raised by the SIGTERM handler installed while a fault is held, so every finally block runs."""

    def __init__(self, signum: int = signal.SIGTERM):
        self.signum = signum
        super().__init__(128 + signum)


@dataclass
class UndoReport:
    id: str
    fault: str
    ok: bool
    steps: list[tuple[str, str]] = field(default_factory=list)  # (kind, outcome or error)
    note: str = ""

    def line(self) -> str:
        if self.ok and not self.steps and self.note == "already undone":
            return f"{self.id} {self.fault}: already undone"
        status = "undone" if self.ok else "UNDO FAILED"
        steps = "; ".join(f"{kind}: {outcome}" for kind, outcome in self.steps) or "no undo steps"
        return f"{self.id} {self.fault}: {status} — {steps}" + (f" ({self.note})" if self.note else "")


def new_id(fault_name: str) -> str:
    return f"{fault_name}-{uuid.uuid4().hex[:8]}"


def prepare(name: str, params: dict[str, Any], target: Any = None) -> tuple[Fault, BlastRadius]:
    """Validate and describe without touching anything or writing anything."""
    cls = registry.get(name)
    fault = cls.from_raw(params)
    try:
        fault.preflight(target)
        return fault, fault.describe(target)
    except FaultParamError:
        raise
    except HarnessError as err:
        raise FaultParamError(f"fault '{name}': {err}") from None


def inject(
    name: str,
    params: dict[str, Any],
    target: Any = None,
    *,
    log: IntentLog | None = None,
    show: Callable[[BlastRadius], None] | None = None,
    id: str | None = None,
) -> str:
    """Inject a fault of the vocabulary and leave it in force. Returns its id. If the inject breaks half-way (or
    is interrupted), what it had recorded is undone before the error propagates."""
    fault, blast = prepare(name, params, target)  # bad input stops here: nothing written, nothing touched

    def act(journal: Journal) -> tuple[None, dict[str, Any]]:
        return None, fault.inject(target, journal).detail

    id = id or new_id(name)
    put_in_force(id, name, fault.params_dict(), blast, act, log=log, show=show)
    return id


def inject_plan(
    plan: FaultPlan,
    params: dict[str, Any],
    act: Callable[[Journal], tuple[Any, dict[str, Any]]],
    *,
    name: str | None = None,
    log: IntentLog | None = None,
    show: Callable[[BlastRadius], None] | None = None,
    blast: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """Put an AWS or Kubernetes fault's plan in force under the vocabulary's `name` (default: the plan's):
    `act(journal)` records each undo (journal.record_undo) before the change it undoes and returns (result,
    detail for the log). `blast` is what the intent log keeps (default: the plan's blast radius). Returns
    (id, result)."""
    name = name or plan.fault
    id = new_id(name)
    result = put_in_force(id, name, params, plan.blast(), act, log=log, show=show, logged_blast=blast)
    return id, result


def put_in_force(
    id: str,
    name: str,
    params: dict[str, Any],
    blast: BlastRadius,
    act: Callable[[Journal], tuple[Any, dict[str, Any]]],
    *,
    log: IntentLog | None = None,
    show: Callable[[BlastRadius], None] | None = None,
    logged_blast: dict[str, Any] | None = None,
) -> Any:
    """The one inject path of every fault (lab, AWS, Kubernetes): show the blast radius, intend (with it) ->
    act (each undo recorded, fsync'd, before the side effect it undoes) -> injected. A failure half-way undoes
    what was recorded, then the error propagates. Returns what `act` returned first."""
    log = log or IntentLog()
    if show is not None:
        show(blast)
    # Holding the undo lock while injecting means a concurrent `recover` waits until the fault is either fully
    # in force or fully undone, never undoes a record whose side effect happens a moment later.
    with log.undo_lock():
        log.intend(id, name, params, blast=logged_blast or blast.model_dump(mode="json"))
        try:
            result, detail = act(Journal(log, id))
        except BaseException as err:
            log.inject_failed(id, f"{type(err).__name__}: {err}")
            with _deferred_signals():
                report = _undo_locked(log, id)
            if not report.ok:
                err.add_note(f"undo after the failed inject also failed: {report.line()}")
            raise
        log.injected(id, detail)
    return result


def undo(id: str, *, log: IntentLog | None = None) -> UndoReport:
    """Undo one fault from its recorded undo steps (newest first). Idempotent: undone → nothing to do."""
    log = log or IntentLog()
    with log.undo_lock():
        return _undo_locked(log, id)


def undo_all(*, log: IntentLog | None = None) -> list[UndoReport]:
    """Undo every pending fault, newest first (the reverse of the order they were put in)."""
    log = log or IntentLog()
    return [undo(intent.id, log=log) for intent in reversed(log.pending())]


def recover(*, log: IntentLog | None = None) -> list[UndoReport]:
    """Replay every pending undo in reverse order and report each — the thing to run after a crashed drill."""
    log = log or IntentLog()
    reports = []
    for intent in reversed(log.pending()):
        report = undo(intent.id, log=log)
        owner = intent.owner
        if (
            owner.get("pid") not in (None, os.getpid())
            and owner.get("start_time") is not None
            and undo_actions.same_process(owner)
        ):
            report.note = f"the process that injected it (pid {owner['pid']}) is still running"
        reports.append(report)
    return reports


def pending(*, log: IntentLog | None = None) -> list[Intent]:
    return (log or IntentLog()).pending()


@contextmanager
def injecting(
    name: str,
    params: dict[str, Any],
    target: Any = None,
    *,
    log: IntentLog | None = None,
    show: Callable[[BlastRadius], None] | None = None,
) -> Iterator[Injection]:
    """Hold a fault for the duration of the block. The exit ALWAYS undoes it: normal exit, exception,
    KeyboardInterrupt, and SIGTERM (a handler raising `Terminated` is installed while the block runs, in the
    main thread, and the previous handler restored afterwards). Signals arriving during the undo are deferred
    until it finished, then re-raised."""
    log = log or IntentLog()
    id = new_id(name)  # chosen up front so the finally below knows it even if a signal lands mid-inject
    with _sigterm_raises():
        body_error: BaseException | None = None
        try:
            inject(name, params, target, log=log, show=show, id=id)
            intent = log.get(id)
            yield Injection(id=id, fault=name, detail=intent.detail)
        except BaseException as err:
            body_error = err
            raise
        finally:
            report = None
            with _deferred_signals() as deferred:
                if id in log.intents():
                    report = undo(id, log=log)
            if report is not None and not report.ok:
                failure = UndoFailed(f"fault {id} could not be undone; run `drill recover`: {report.line()}")
                if body_error is None:
                    raise failure
                body_error.add_note(str(failure))
            if body_error is None:
                deferred.reraise()


# -- signals -----------------------------------------------------------------------------------------------
def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    if not _in_main_thread():  # signal handlers can only be set from the main thread
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Deferred:
    def __init__(self) -> None:
        self.signals: list[int] = []

    def reraise(self) -> None:
        """After the undo (and only when no exception is already leaving): act on a signal noted during it."""
        if not self.signals:
            return
        if self.signals[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(self.signals[0])


@contextmanager
def _deferred_signals() -> Iterator[_Deferred]:
    """While undoing, Ctrl-C or SIGTERM must not cut the undo short: note them and act afterwards."""
    deferred = _Deferred()
    if not _in_main_thread():
        yield deferred
        return

    def note(signum: int, frame: Any) -> None:
        deferred.signals.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield deferred
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# -- undo --------------------------------------------------------------------------------------------------
def _undo_locked(log: IntentLog, id: str) -> UndoReport:
    intent = log.get(id)
    if not intent.pending:
        return UndoReport(intent.id, intent.fault, True, note="already undone")
    steps, failures = [], []
    for index in reversed(range(len(intent.undo))):
        record = intent.undo[index]
        kind = str(record.get("kind"))
        if index in intent.done_steps:
            steps.append((kind, "done earlier"))
            continue
        try:
            outcome = undo_actions.perform(record)
        except Exception as err:  # one failed step must not stop the others
            failures.append(f"{kind}: {err}")
            steps.append((kind, f"FAILED: {err}"))
            continue
        log.undo_step(intent.id, index, outcome)
        steps.append((kind, outcome))
    if failures:
        log.undo_failed(intent.id, "; ".join(failures))
        return UndoReport(intent.id, intent.fault, False, steps)
    log.undone(intent.id)
    return UndoReport(intent.id, intent.fault, True, steps)


# -- the undo timer of timed faults (harness.faults.base.start_undo_timer) ---------------------------------------
def undo_after(fault_id: str, seconds: float, log_path: str, until: float | None = None) -> None:
    """Wait, then undo the fault, unless it was undone earlier (then exit at once)."""
    log = IntentLog(Path(log_path))
    if until is not None:
        seconds = min(seconds, max(0.0, until - time.time()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        intent = log.intents().get(fault_id)
        if intent is not None and not intent.pending:
            print(f"{fault_id}: already undone; timer exits")
            return
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    print(undo(fault_id, log=log).line())


def main(argv: list[str]) -> int:
    if len(argv) in (4, 5) and argv[0] == "undo-after":
        undo_after(argv[1], float(argv[2]), argv[3], float(argv[4]) if len(argv) == 5 else None)
        return 0
    print("usage: python -m harness.faults.runner undo-after ID SECONDS INTENT_LOG [UNTIL_WALL_TIME]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
