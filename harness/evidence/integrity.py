"""`drill verify`: is every record, finding and evidence file exactly as it was written?"""

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

    def summary(self) -> str:
        records = len(self.checks[0].rows)
        findings = len(self.checks[1].rows)
        signing = "signatures checked" if self.key_used else "signatures not checked (no DRILL_SIGNING_KEY)"
        if self.ok:
            return (f"intact: {records} record(s), {findings} finding entr(ies), every evidence file matches; "
                    f"{signing}; head {self.head}")
        return f"NOT intact ({len(self.problems)} problem(s)); first: {self.first_problem}"


def verify(reports: str | Path | None = None, key: bytes | None | object = _FROM_ENV) -> VerifyReport:
    """Check the records chain (with every evidence file) and the findings chain, in order.

    `key`: the HMAC key; by default DRILL_SIGNING_KEY from the environment (None: signatures not checked)."""
    base = paths.reports_dir(reports)
    if key is _FROM_ENV:
        key = chain_mod.signing_key()
    records = chain_mod.verify_chain(chain_mod.Chain(paths.records_dir(base), "record"), key, base, "records")
    findings = chain_mod.verify_chain(chain_mod.Chain(paths.findings_dir(base), "finding entry"), key, None,
                                      "findings")
    return VerifyReport(base, [records, findings], key is not None)
