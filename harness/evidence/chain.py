"""An append-only hash chain of JSON entries in one directory, with an index, optional HMAC signing.

Each entry is `<id>.json` carrying `prev_hash` (the previous entry's hash; the first one has 64 zeros) and
`hash` = SHA-256 of the entry's canonical JSON without `hash` and `signature`. Changing a byte of an entry
breaks its own hash; removing or reordering one breaks the next entry's `prev_hash`; `chain.json` lists the
ids in order with the head hash, so removing the *last* entry is caught too.

With DRILL_SIGNING_KEY set, entries and the index carry `signature` = HMAC-SHA256(key, canonical JSON): then
rebuilding the whole chain after an edit needs the key, not just sha256sum. The key is never stored or printed.

An append writes two files (the entry, then the index), so a kill between them must not read as tampering.
Before the entry is written, a journal (`chain.pending`) names its id, hash and the head it chains onto. A
verify that finds an entry outside the index which the journal names, and which chains onto the head intact,
reports a *torn append* (`TornAppend`: the run was stopped while chaining) rather than tampering, and
`complete_pending()` (run by `drill recover`) adds it to the index. Any entry outside the index that the
journal does not vouch for, or that does not match it, is still "added outside the chain".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

GENESIS = "0" * 64
INDEX = "chain.json"
JOURNAL = "chain.pending"  # not *.json: it is never mistaken for an entry
SIGNING_KEY_ENV = "DRILL_SIGNING_KEY"


def canonical_json(obj: Any) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UTF-8, no NaN (not valid JSON)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def serialize(entry: dict[str, Any]) -> bytes:
    """The exact bytes of an entry's file. verify compares them too, so even a whitespace edit is caught."""
    return json.dumps(entry, indent=2, ensure_ascii=False, allow_nan=False).encode() + b"\n"


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "signature")}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def sign(entry: dict[str, Any], key: bytes) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "signature")}
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def signing_key() -> bytes | None:
    """The key from the environment, or None. Only ever used in memory."""
    value = os.environ.get(SIGNING_KEY_ENV)
    return value.encode() if value else None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _durable_tmp(path: Path, data: bytes) -> str:
    """A fsync'd temporary file beside `path` holding `data`; the caller links or renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def write_new_file(path: Path, data: bytes, mode: int = 0o444) -> None:
    """Write atomically and refuse to overwrite: hard link a durable tmp file to the final name (fails if
    the name exists), fsync the directory."""
    tmp = _durable_tmp(path, data)
    try:
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise HarnessError(f"{path} already exists; evidence is never rewritten") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def replace_file(path: Path, data: bytes) -> None:
    """Atomic replace (tmp + rename) for the index, which is the one file that changes."""
    tmp = _durable_tmp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Chain:
    """One chained directory: drill records (reports/records) or findings (reports/findings)."""

    def __init__(self, directory: str | Path, label: str = "record"):
        self.dir = Path(directory)
        self.label = label

    @property
    def index_path(self) -> Path:
        return self.dir / INDEX

    @property
    def journal_path(self) -> Path:
        return self.dir / JOURNAL

    def read_journal(self) -> dict[str, Any] | None:
        """The pending append, if an append was under way (or was stopped); None when there is none."""
        try:
            journal = json.loads(self.journal_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"unreadable": True}
        if not isinstance(journal, dict) or not _plain_id(journal.get("id")):
            return {"unreadable": True}  # an id like ../x would name a file outside the chain
        return journal

    def read_index(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {"version": 1, "ids": [], "head": GENESIS}
        try:
            return json.loads(self.index_path.read_text())
        except (OSError, ValueError) as err:
            raise HarnessError(f"{self.index_path}: unreadable chain index: {err}") from None

    def ids(self) -> list[str]:
        return list(self.read_index().get("ids", []))

    def load(self, entry_id: str) -> dict[str, Any]:
        path = self.dir / f"{entry_id}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise HarnessError(f"no {self.label} '{entry_id}' in {self.dir}") from None
        except ValueError as err:
            raise HarnessError(f"{path}: not valid JSON: {err}") from None

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in chain order (as the index lists them); missing files are skipped (verify names them)."""
        out = []
        for entry_id in self.ids():
            with contextlib.suppress(HarnessError):
                out.append(self.load(entry_id))
        return out

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise appends (two drills finishing at once must not both chain onto the same head)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, entry: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
        """Chain `entry` (which has an `id`) onto the head and write it. Call inside `locked()`."""
        index = self.read_index()
        entry = dict(entry)
        entry["prev_hash"] = index.get("head", GENESIS)
        entry.pop("hash", None)
        entry.pop("signature", None)
        entry["hash"] = entry_hash(entry)
        if key:
            entry["signature"] = sign(entry, key)
        journal = {"id": entry["id"], "hash": entry["hash"], "prev_hash": entry["prev_hash"]}
        replace_file(self.journal_path, json.dumps(journal).encode() + b"\n")
        write_new_file(self.dir / f"{entry['id']}.json", serialize(entry))
        self._write_index(index, entry, key)
        self._drop_journal()
        return entry

    def _write_index(self, index: dict[str, Any], entry: dict[str, Any], key: bytes | None) -> None:
        ids = [*index.get("ids", []), entry["id"]]
        new_index: dict[str, Any] = {"version": 1, "ids": ids, "head": entry["hash"], "count": len(ids)}
        if key:
            new_index["signature"] = sign(new_index, key)
        replace_file(self.index_path, json.dumps(new_index, indent=2).encode() + b"\n")

    def _drop_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()
        _fsync_dir(self.dir)

    def complete_pending(self, key: bytes | None) -> str | None:
        """Finish an append that was stopped part way (see the module doc); returns what was done, or None
        when no append was pending. Refuses (HarnessError) to index an entry the journal does not vouch for."""
        if not self.dir.is_dir():
            return None
        with self.locked():
            journal = self.read_journal()
            if journal is None:
                return None
            index = self.read_index()
            torn = torn_append(self, index, journal, key)
            if torn is not None and torn.ok and key is None and ("signature" in torn.entry or "signature" in index):
                raise HarnessError(
                    f"{self.label} {torn.id}: its append was stopped part way and the chain is signed: "
                    f"set {SIGNING_KEY_ENV} to complete it (the index must be signed again)"
                )
            if torn is not None and torn.ok:
                self._write_index(index, torn.entry, key)
                self._drop_journal()
                return f"{self.label} {torn.id}: its append was stopped before {INDEX} was updated; completed"
            entry_id = str(journal.get("id", ""))
            if entry_id and entry_id in index.get("ids", []):
                self._drop_journal()
                return f"{self.label} {entry_id}: already chained; its leftover append journal removed"
            if entry_id and not (self.dir / f"{entry_id}.json").exists():
                self._drop_journal()
                return f"{self.label} {entry_id}: its append was stopped before it was written; nothing was chained"
            reason = torn.problem if torn is not None else "the journal is unreadable"
            raise HarnessError(f"{self.dir / JOURNAL}: not completing the pending append: {reason}")


def _plain_id(value: Any) -> bool:
    return (
        isinstance(value, str) and bool(value) and not value.startswith(".") and "/" not in value and "\\" not in value
    )


# --- verification ------------------------------------------------------------------------------------


@dataclass
class TornAppend:
    """An entry written but not yet in the index, as the append journal says; `problem` when it does not
    hold up (then it is treated as added outside the chain)."""

    id: str
    entry: dict[str, Any]
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def torn_append(
    chain: Chain, index: dict[str, Any], journal: dict[str, Any] | None, key: bytes | None
) -> TornAppend | None:
    """The entry a stopped append left outside the index, checked against the journal; None if there is none."""
    if not journal or journal.get("unreadable"):
        return None
    entry_id = str(journal.get("id", ""))
    path = chain.dir / f"{entry_id}.json"
    if not entry_id or entry_id in index.get("ids", []) or not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        entry = json.loads(raw)
    except (OSError, ValueError):
        return TornAppend(entry_id, {}, "it is not valid JSON")
    if not isinstance(entry, dict):
        return TornAppend(entry_id, {}, "it is not a JSON object")
    head = index.get("head", GENESIS)
    problem = None
    if entry.get("id") != entry_id or raw != serialize(entry):
        problem = "it differs from the form it was written in"
    elif entry.get("hash") != entry_hash(entry) or entry.get("hash") != journal.get("hash"):
        problem = "its content hash does not match the one the journal recorded"
    elif entry.get("prev_hash") != head or journal.get("prev_hash") != head:
        problem = f"it does not chain onto the head of {INDEX}"
    elif key is not None and not (
        entry.get("signature") and hmac.compare_digest(str(entry["signature"]), sign(entry, key))
    ):
        problem = "its signature does not match"
    return TornAppend(entry_id, entry, problem)


@dataclass
class EntryCheck:
    """One row of the verify table."""

    chain: str
    seq: int
    id: str
    when: str | None
    hash: str | None
    signature: str  # "valid", "INVALID", "unsigned", "not checked (no key)"
    evidence: str  # "3/3 ok", "-", "1 changed"
    problems: list[str] = field(default_factory=list)
    note: str = ""  # shown instead of "ok" for a row that is fine but not a chained entry (a run in progress)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ChainCheck:
    chain: str
    rows: list[EntryCheck]
    problems: list[str]
    head: str
    torn: str | None = None  # id of an entry whose append was stopped before the index was updated


def verify_chain(chain: Chain, key: bytes | None, base_dir: Path | None = None, name: str = "records") -> ChainCheck:
    """Walk `chain` in index order and list, in order, every problem found.

    `base_dir` resolves the `evidence` paths entries carry (relative to the reports dir)."""
    problems: list[str] = []
    rows: list[EntryCheck] = []
    index_exists = chain.index_path.exists()
    on_disk = sorted(p.stem for p in chain.dir.glob("*.json") if p.name != INDEX) if chain.dir.exists() else []
    first = torn_append(chain, {"ids": [], "head": GENESIS}, chain.read_journal(), key) if on_disk else None
    if not index_exists and not (first is not None and first.ok and on_disk == [first.id]):
        if on_disk:
            problems.append(
                f"{chain.dir.name}/{INDEX} is missing but {len(on_disk)} {chain.label}(s) exist: the index was removed"
            )
        return ChainCheck(name, rows, problems, GENESIS)
    try:
        # no index yet: the very first append was stopped before it wrote one (a torn append, below)
        index = json.loads(chain.index_path.read_text()) if index_exists else {"ids": [], "head": GENESIS}
        ids = list(index["ids"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        return ChainCheck(name, rows, [f"{chain.dir.name}/{INDEX} is unreadable or malformed: {err}"], GENESIS)

    prev = GENESIS
    signed_seen = False
    checked: list[tuple[EntryCheck, dict[str, Any]]] = []
    for seq, entry_id in enumerate(ids, start=1):
        path = chain.dir / f"{entry_id}.json"
        row = EntryCheck(name, seq, entry_id, None, None, "-", "-")
        rows.append(row)
        if not path.exists():
            row.problems.append(f"{chain.label} {entry_id} (#{seq}) was removed: {path.name} is missing")
            prev = None  # the next link can't be checked against a missing file; this row already fails
            continue
        try:
            raw = path.read_bytes()
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as err:
            row.problems.append(f"{chain.label} {entry_id} (#{seq}) was changed: not valid JSON ({err})")
            prev = None
            continue
        row.when = entry.get("started") or entry.get("at")
        stored, actual = entry.get("hash"), entry_hash(entry)
        row.hash = stored
        if stored == actual and raw != serialize(entry):
            row.problems.append(
                f"{chain.label} {entry_id} (#{seq}) was changed: its bytes differ from the "
                f"form it was written in (whitespace or escaping edited)"
            )
        if entry.get("id") != entry_id:
            row.problems.append(f"{chain.label} {entry_id} (#{seq}) was changed: its id field says '{entry.get('id')}'")
        if stored != actual:
            row.problems.append(
                f"{chain.label} {entry_id} (#{seq}) was changed: content hash {actual[:12]}… "
                f"does not match its recorded hash {str(stored)[:12]}…"
            )
        if prev is not None and entry.get("prev_hash") != prev:
            before = ids[seq - 2] if seq > 1 else "the start of the chain"
            row.problems.append(
                f"{chain.label} {entry_id} (#{seq}): prev_hash does not match {before}: "
                f"a {chain.label} before it was removed, inserted or reordered"
            )
        row.signature = _check_signature(entry, key, row, chain.label, seq)
        signed_seen |= "signature" in entry
        row.evidence = _check_evidence(entry, base_dir, row, chain.label) if base_dir else "-"
        checked.append((row, entry))
        prev = stored

    head = index.get("head", GENESIS)
    last_hash = rows[-1].hash if rows else GENESIS
    if rows and rows[-1].hash is not None and head != last_hash:
        problems.append(
            f"{chain.dir.name}/{INDEX}: head {str(head)[:12]}… is not the hash of the last "
            f"{chain.label} {ids[-1]}: the index was edited"
        )
    if index.get("count", len(ids)) != len(ids):
        problems.append(
            f"{chain.dir.name}/{INDEX}: count {index.get('count')} but {len(ids)} ids listed: "
            f"the index was edited (a last {chain.label} removed?)"
        )
    if key is not None:
        if "signature" not in index:
            if signed_seen or ids:
                problems.append(f"{chain.dir.name}/{INDEX} is unsigned but a signing key is set")
        elif not hmac.compare_digest(str(index["signature"]), sign(index, key)):
            problems.append(
                f"{chain.dir.name}/{INDEX}: signature does not match (wrong key, or the index was "
                f"edited: e.g. its last {chain.label} removed)"
            )
    torn = torn_append(chain, index, chain.read_journal(), key)
    torn_id = None
    if torn is not None and torn.ok:
        torn_id = torn.id
        row = EntryCheck(name, len(ids) + 1, torn.id, torn.entry.get("started") or torn.entry.get("at"), None, "-", "-")
        row.hash = torn.entry.get("hash")
        row.signature = _check_signature(torn.entry, key, row, chain.label, row.seq)
        row.evidence = _check_evidence(torn.entry, base_dir, row, chain.label) if base_dir else "-"
        checked.append((row, torn.entry))
        row.note = f"torn append: written, not yet in {INDEX} (stopped while chaining); `drill recover` completes it"
        rows.append(row)
    for stray in sorted(set(on_disk) - set(ids) - {torn_id}):
        why = f" (the append journal names it, but {torn.problem})" if torn is not None and torn.id == stray else ""
        problems.append(f"{chain.label} {stray} is not in {chain.dir.name}/{INDEX}: added outside the chain{why}")
    if base_dir is not None:
        _check_folders(checked, base_dir, chain.label)
    ordered = [p for r in rows for p in r.problems] + problems
    return ChainCheck(name, rows, ordered, head, torn_id)


def _check_signature(entry: dict[str, Any], key: bytes | None, row: EntryCheck, label: str, seq: int) -> str:
    sig = entry.get("signature")
    if key is None:
        return "not checked (no key)" if sig else "unsigned"
    if not sig:
        # With a key set every entry must be signed: otherwise stripping the signature and recomputing the
        # hash would turn a forged entry into an "unsigned" one that passes.
        row.problems.append(f"{label} {row.id} (#{seq}) is unsigned but a signing key is set")
        return "UNSIGNED"
    if not hmac.compare_digest(str(sig), sign(entry, key)):
        row.problems.append(f"{label} {row.id} (#{seq}): signature does not match (wrong key, or forged)")
        return "INVALID"
    return "valid"


def _check_evidence(entry: dict[str, Any], base_dir: Path, row: EntryCheck, label: str) -> str:
    files = entry.get("evidence") or []
    bad = 0
    for item in files:
        rel = str(item.get("path", ""))
        path = base_dir / rel
        if not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
            row.problems.append(f"{label} {row.id}: evidence path '{rel}' is not inside the reports dir")
            bad += 1
        elif not path.is_file():
            row.problems.append(f"evidence file {rel} of {label} {row.id} was removed")
            bad += 1
        elif file_sha256(path) != item.get("sha256") or path.stat().st_size != item.get("size"):
            row.problems.append(f"evidence file {rel} of {label} {row.id} was changed (SHA-256 differs)")
            bad += 1
    if not files:
        return "-"
    return f"{len(files)}/{len(files)} ok" if not bad else f"{bad} of {len(files)} BAD"


def _check_folders(checked: list[tuple[EntryCheck, dict[str, Any]]], base_dir: Path, label: str) -> None:
    """Every file in a folder a record covers (`evidence_folders`) must be listed by some record: a file
    planted there afterwards (a forged Allure result) is named. Records older than the field list no folders."""
    listed = {str(item.get("path", "")) for _row, entry in checked for item in entry.get("evidence") or []}
    for row, entry in checked:
        extra: list[str] = []
        for folder in entry.get("evidence_folders") or []:
            rel = str(folder)
            root = base_dir / rel
            if not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
                row.problems.append(f"{label} {row.id}: evidence folder '{rel}' is not inside the reports dir")
                continue
            if not root.is_dir():
                row.problems.append(f"evidence folder {rel}/ of {label} {row.id} was removed")
                continue
            for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
                name = path.relative_to(base_dir).as_posix()
                if name not in listed:
                    extra.append(name)
        for name in extra:
            row.problems.append(
                f"evidence file {name} is in a folder {label} {row.id} covers but no {label} lists it "
                f"(added after the {label} was written)"
            )
        if extra:
            row.evidence = f"{row.evidence}, {len(extra)} extra" if row.evidence != "-" else f"{len(extra)} extra"
