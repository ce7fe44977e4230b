"""The feature files a `drill run` is given, checked before anything starts.

Users keep drills in their own repositories, so a feature file may live anywhere: paths are shown relative to
the working directory as typed (`../my-drills/x.feature`), and pytest's rootdir is widened to a folder holding
the project and every feature (allure-pytest-bdd makes each feature's path relative to the rootdir and fails
on one outside it). A feature file larger than MAX_FEATURE_BYTES, more than MAX_FEATURE_FILES of them, or one
with no `Feature:` is refused here with one error, before the parser spends minutes and gigabytes on it."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError

# The catalog's largest feature is about 3 KiB; a hand-written drill is far below these.
MAX_FEATURE_BYTES = 256 * 1024
MAX_FEATURE_FILES = 200


def shown(path: Path) -> str:
    """A feature's path for a person: relative to the working directory (with ../ when beside it), absolute
    when that would climb more than two levels."""
    try:
        rel = os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)
    return str(path) if rel.startswith(os.path.join("..", "..", "..")) else Path(rel).as_posix()


def feature_files(root: Path, given: list[str]) -> list[Path]:
    """The .feature files to run: every one under features/ by default; each given path must exist."""
    if not given:
        return sorted((root / "features").rglob("*.feature"))
    out = []
    for raw in given:
        path = Path(raw) if Path(raw).is_absolute() else Path.cwd() / raw
        path = Path(os.path.normpath(path))
        if path.is_dir():
            out.extend(sorted(path.rglob("*.feature")))
        elif path.is_file() and path.suffix == ".feature":
            out.append(path)
        else:
            raise HarnessError(f"{raw}: no such feature file or folder")
        if len(out) > MAX_FEATURE_FILES:
            raise HarnessError(f"{raw}: more than {MAX_FEATURE_FILES} feature files; select fewer (or a folder)")
    if not out:
        raise HarnessError(f"no .feature files in {', '.join(given)}")
    return out


def check_gherkin(files: list[Path]) -> None:
    """Parse every feature before anything starts: a malformed one is one error naming file and line."""
    from pytest_bdd.exceptions import GherkinParseError
    from pytest_bdd.feature import get_feature

    for path in files:
        size = path.stat().st_size
        if size > MAX_FEATURE_BYTES:
            raise HarnessError(
                f"{shown(path)}: {size} bytes; a feature file may have at most {MAX_FEATURE_BYTES} bytes"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise HarnessError(f"{shown(path)}: not UTF-8 text (byte {err.start})") from None
        if not any(line.strip().startswith("Feature:") for line in text.splitlines()):
            what = "empty" if not text.strip() else "no 'Feature:' line"
            raise HarnessError(f"{shown(path)}: not a valid feature file: {what}")
        try:
            get_feature(str(path.parent), path.name)
        except GherkinParseError as err:
            raise HarnessError(f"{shown(path)}: {err}") from None
        except Exception as err:  # noqa: BLE001 - the gherkin parser raises several kinds
            raise HarnessError(f"{shown(path)}: not a valid feature file: {err}") from None


def pytest_rootdir(root: Path, files: list[Path]) -> Path:
    """A rootdir holding the project and every feature file (the project itself when they are all in it)."""
    return Path(os.path.commonpath([root.resolve(), *(f.resolve().parent for f in files)]))
