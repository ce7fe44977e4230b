"""The lab's state folder (`.lab/` at the repo root, or $DRILL_LAB_DIR): paths, the state file, secrets.

Everything needed to stop a lab lives in `state.json`, written after every process start, so `drill lab
down` works from the file alone after a crashed `drill`. Passwords live in `secrets.json` (mode 600) and
never leave it except into files that need them (Patroni config, libpq passfiles, all mode 600).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets as _secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab.topology import PG_APP_USER, PG_REPL_USER, PG_SUPERUSER

STATE_VERSION = 1


def default_state_dir() -> Path:
    """`$DRILL_LAB_DIR`, else `.lab/` at the repository root (the folder holding pyproject.toml)."""
    env = os.environ.get("DRILL_LAB_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (Path(__file__).resolve().parents[2] / ".lab").resolve()


@dataclass(frozen=True)
class LabPaths:
    """Where each thing of one lab lives. All absolute, so `pgrep -f <root>` finds the lab's processes."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def pgpass(self) -> Path:
        """libpq passfile for the harness and the apps (user drill + postgres + replicator), mode 600."""
        return self.root / "pgpass"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def backup(self) -> Path:
        return self.root / "backup"

    @property
    def wal_archive(self) -> Path:
        return self.backup / "wal"

    @property
    def base_backup(self) -> Path:
        return self.backup / "base"

    @property
    def base_backup_status(self) -> Path:
        return self.backup / "base.status"

    def component_dir(self, name: str) -> Path:
        return self.root / "run" / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def ensure_dir(path: Path, mode: int = 0o755, owner: tuple[int, int] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, *owner)
    return path


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Write a file that may hold a secret: created 0600 before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if owner is not None:
            os.fchown(fd, *owner)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def load_or_create_secrets(paths: LabPaths) -> dict[str, str]:
    """Per-lab passwords (superuser, replication, app user). Kept across restarts of the same lab."""
    if paths.secrets_file.exists():
        return json.loads(paths.secrets_file.read_text())
    values = {user: _secrets.token_urlsafe(24) for user in (PG_SUPERUSER, PG_REPL_USER, PG_APP_USER)}
    write_private(paths.secrets_file, json.dumps(values))
    return values


def pgpass_text(secrets: dict[str, str]) -> str:
    """A libpq passfile line per user; host/port/db wildcards so one file serves every endpoint."""
    return "".join(f"*:*:*:{user}:{pw}\n" for user, pw in secrets.items())


@contextmanager
def state_lock(paths: LabPaths, timeout: float = 120.0) -> Iterator[None]:
    """Serialise `up`/`down` of one lab between processes."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock_file, "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"another `drill lab` command holds {paths.lock_file}; try again") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_state(paths: LabPaths) -> dict[str, Any] | None:
    try:
        return json.loads(paths.state_file.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise HarnessError(
            f"{paths.state_file}: unreadable lab state ({err}); remove it after checking "
            "that no lab process is left (pgrep -f the state folder)"
        ) from None


def write_state(paths: LabPaths, state: dict[str, Any]) -> None:
    """Atomic replace, so a crash mid-write never leaves half a state file."""
    state["version"] = STATE_VERSION
    tmp = paths.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, paths.state_file)
