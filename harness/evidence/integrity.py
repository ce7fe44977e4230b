"""`drill verify`: is every record, finding and evidence file exactly as it was written?

Beside the chained records it lists the live ones (harness.evidence.record.LiveRecord): a run still going
is shown as in progress; a run that ended without finishing its record (killed, crashed) is a problem,
"incomplete", so an auditor sees that a drill started and left no verdict. A run folder (`runs/<id>/`) that
no record covers is a problem too (harness.evidence.incomplete); `drill recover` seals both.

A run stopped while chaining its record is told apart from tampering: a torn append (the record written, the
index not yet updated; see harness.evidence.chain) and a live file left beside a record already chained are
shown as notes, not problems, and `complete_interrupted()` (run by `drill recover`) finishes both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.evidence import chain as chain_mod
from harness.evidence import paths

_FROM_ENV = object()


@dataclass
class VerifyReport:
    reports_dir: Path
    checks: list[chain_mod.ChainCheck]
    key_used: bool

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks for p in c.problems]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> str | None:
        return self.problems[0] if self.problems else None

    @property
    def rows(self) -> list[chain_mod.EntryCheck]:
        return [r for c in self.checks for r in c.rows]

    @property
    def head(self) -> str:
        """The records chain's head hash: quote it in the drill ticket to anchor the chain outside this disk."""
        return self.checks[0].head

    @property
    def in_progress(self) -> int:
        return sum(1 for r in self.checks[0].rows if r.note.startswith("in progress"))

    @property
    def interrupted(self) -> list[str]:
        """Notes on appends a stopped run left part way (torn append, leftover live file): not tampering."""
        return [f"{r.chain} {r.id}: {r.note}" for r in self.rows if r.note and not r.note.startswith("in progress")]

    def summary(self) -> str:
        records = sum(1 for r in self.checks[0].rows if r.seq > 0)
        findings = len(self.checks[1].rows)
        signing = "signatures checked" if self.key_used else "signatures not checked (no DRILL_SIGNING_KEY)"
        if self.ok:
            running = f", {self.in_progress} run(s) in progress (not chained yet)" if self.in_progress else ""
            if self.interrupted:
                running += f", {len(self.interrupted)} append(s) stopped part way (run `drill recover`)"
            return (
                f"intact: {records} record(s){running}, {findings} finding entr(ies), every evidence file "
                f"matches; {signing}; head {self.head}"
            )
        return f"NOT intact ({len(self.problems)} problem(s)); first: {self.first_problem}"


def verify(reports: str | Path | None = None, key: bytes | None | object = _FROM_ENV) -> VerifyReport:
    """Check the records chain (with every evidence file) and the findings chain, in order.

    `key`: the HMAC key; by default DRILL_SIGNING_KEY from the environment (None: signatures not checked)."""
    base = paths.reports_dir(reports)
    if key is _FROM_ENV:
        key = chain_mod.signing_key()
    records = chain_mod.verify_chain(chain_mod.Chain(paths.records_dir(base), "record"), key, base, "records")
    _add_live(records, base)
    findings = chain_mod.verify_chain(chain_mod.Chain(paths.findings_dir(base), "finding entry"), key, None, "findings")
    return VerifyReport(base, [records, findings], key is not None)


def _add_live(check: chain_mod.ChainCheck, base: Path) -> None:
    """One row per live record (seq 0: not in the chain): in progress, or incomplete (a problem)."""
    from harness.evidence.incomplete import uncovered_run_folders
    from harness.evidence.record import live_records

    chained = {r.id for r in check.rows if r.seq > 0}
    lives = live_records(base)
    for live in lives:
        row = chain_mod.EntryCheck(check.chain, 0, live.id, live.started, None, "-", "-")
        if live.id in chained and not live.running:
            row.note = (
                "leftover live file: its record is chained (the run stopped before removing it); "
                "`drill recover` removes it"
            )
        elif live.running and live.damage is None:
            row.note = "in progress: " + live.describe()
        elif live.running:
            row.problems.append(f"record {live.id} (in progress) is damaged: {live.damage}")
        else:
            row.problems.append(
                f"record {live.id} is incomplete: its run ended without finishing it "
                f"(killed?): {live.describe()}" + (f"; {live.damage}" if live.damage else "")
            )
        check.rows.append(row)
        check.problems.extend(row.problems)
    entries = chain_mod.Chain(paths.records_dir(base), "record").entries()
    for name in uncovered_run_folders(base, entries, {live.id for live in lives}):
        row = chain_mod.EntryCheck(check.chain, 0, f"runs/{name}", None, None, "-", "-")
        row.problems.append(
            f"run folder runs/{name} is covered by no record (a run killed before its record began?); "
            "`drill recover --reports DIR` seals it into the chain as incomplete"
        )
        check.rows.append(row)
        check.problems.extend(row.problems)


def complete_interrupted(reports: str | Path | None = None, key: bytes | None | object = _FROM_ENV) -> list[str]:
    """Finish what a run stopped while chaining left part way: index a torn append (records and findings),
    remove live files of records already chained. Returns one line per thing done. Anything that does not
    match its journal is refused (HarnessError), never indexed."""
    from harness.evidence.record import live_records

    base = paths.reports_dir(reports)
    if key is _FROM_ENV:
        key = chain_mod.signing_key()
    done: list[str] = []
    records = chain_mod.Chain(paths.records_dir(base), "record")
    for chain in (records, chain_mod.Chain(paths.findings_dir(base), "finding entry")):
        line = chain.complete_pending(key)
        if line:
            done.append(line)
    chained = set(records.ids()) if records.dir.is_dir() else set()
    for live in live_records(base):
        if live.id in chained and not live.running:
            live.file.unlink()
            done.append(f"record {live.id}: leftover live file removed (the record is chained)")
    return done
