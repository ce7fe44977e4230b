"""The metadata files that sit beside Allure results: environment.properties, executor.json, categories.json.

They tell the report's reader what was tested (target, lab component versions), with what (harness version,
git revision, Python) and by whom (the CI build), and sort failures into the DR vocabulary: an objective
breached is not the same finding as a harness bug. Every value is masked: results are evidence and are kept.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path

import harness
from harness.evidence.chain import replace_file
from harness.evidence.record import git_revision
from harness.redact import mask

# Allure's categories, first match wins. The drill steps raise AssertionErrors whose messages start with
# these phrases. `[\s\S]*` rather than `.*`: Allure 2 (Java) matches the whole message, which spans lines
# (pytest appends the failing expression), and `[\s\S]` crosses newlines in both Java and JavaScript (Allure
# 3) regexes. `[Ff]`/`[Tt]`: the phrases may start a message or follow a prefix in lower case.
CATEGORIES: list[dict] = [
    {"name": "RTO breached", "messageRegex": r"[\s\S]*RTO breached[\s\S]*", "matchedStatuses": ["failed"]},
    {"name": "RPO breached", "messageRegex": r"[\s\S]*RPO breached[\s\S]*", "matchedStatuses": ["failed"]},
    # slow is not down: a service that stayed up but too slow, or too long degraded, is its own finding
    {
        "name": "Latency breached",
        "messageRegex": r"[\s\S]*(latency breached|degraded too long)[\s\S]*",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Fault injection failed",
        "messageRegex": r"[\s\S]*[Ff]ault injection failed[\s\S]*",
        "matchedStatuses": ["failed", "broken"],
    },
    {
        "name": "Target not healthy",
        "messageRegex": r"[\s\S]*[Tt]arget not healthy[\s\S]*",
        "matchedStatuses": ["failed", "broken"],
    },
    # anything else that broke (an exception, not a failed assertion) is the harness's own problem
    {"name": "Harness error", "matchedStatuses": ["broken"]},
]

ENVIRONMENT_FILE = "environment.properties"
EXECUTOR_FILE = "executor.json"
CATEGORIES_FILE = "categories.json"


def write_metadata(results_dir: Path, *, target: str, environment: dict[str, str] | None = None) -> None:
    """Write environment.properties, categories.json and (only when $CI is set) executor.json into
    `results_dir`. `environment` adds lab component versions, e.g. {"postgresql": "15.8", "patroni": "4.1.5"}.
    Every value is masked with harness.redact: no secret reaches the report."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    props = {"target": target, **run_environment(), **(environment or {})}
    _write_text(results_dir / ENVIRONMENT_FILE, to_properties(props))
    _write_text(results_dir / CATEGORIES_FILE, json.dumps(CATEGORIES, indent=2) + "\n")
    executor = ci_executor(os.environ)
    if executor is not None:
        _write_text(results_dir / EXECUTOR_FILE, json.dumps(executor, indent=2) + "\n")
    else:
        # a results dir reused from a CI run must not claim a CI build it no longer comes from
        (results_dir / EXECUTOR_FILE).unlink(missing_ok=True)


def run_environment() -> dict[str, str]:
    """What ran the drill: harness version, git revision and whether tracked files had local changes, Python."""
    git = git_revision()
    dirty = git["dirty"]
    return {
        "harness.version": harness.__version__,
        "git.revision": git["revision"],
        "git.dirty": "unknown" if dirty is None else str(dirty).lower(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def ci_executor(env: Mapping[str, str]) -> dict | None:
    """Allure's executor.json for the CI build this runs in, or None when $CI is not set.
    GitHub Actions (GITHUB_*) and GitLab CI (CI_*) are recognised; any other CI gets a generic executor."""
    if not env.get("CI"):
        return None
    if env.get("GITHUB_ACTIONS") or env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
        build_url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None
        executor = {
            "name": "GitHub Actions",
            "type": "github",
            "url": f"{server}/{repo}" if repo else server,
            "buildOrder": _int(env.get("GITHUB_RUN_NUMBER")),
            "buildName": " #".join(filter(None, [env.get("GITHUB_WORKFLOW"), env.get("GITHUB_RUN_NUMBER")])) or None,
            "buildUrl": build_url,
        }
    elif env.get("GITLAB_CI") or env.get("CI_PIPELINE_ID"):
        executor = {
            "name": "GitLab CI",
            "type": "gitlab",
            "url": env.get("CI_PROJECT_URL"),
            "buildOrder": _int(env.get("CI_PIPELINE_IID") or env.get("CI_PIPELINE_ID")),
            "buildName": " #".join(filter(None, [env.get("CI_JOB_NAME"), env.get("CI_PIPELINE_IID")])) or None,
            "buildUrl": env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"),
        }
    else:
        executor = {
            "name": "CI",
            "type": "ci",
            "buildName": env.get("BUILD_NUMBER") or None,
            "buildUrl": env.get("BUILD_URL") or None,
            "buildOrder": _int(env.get("BUILD_NUMBER")),
        }
    return {k: (mask(v) if isinstance(v, str) else v) for k, v in executor.items() if v is not None}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def to_properties(values: dict[str, object]) -> str:
    """Java .properties text (what Allure reads), ASCII-only with \\uXXXX escapes, values masked."""
    lines = []
    for key, value in values.items():
        text = mask("" if value is None else str(value)) or ""
        lines.append(f"{_escape(str(key), key=True)}={_escape(text, key=False)}")
    return "\n".join(lines) + "\n"


def _escape(text: str, *, key: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch in "\\=:#!" or (ch == " " and (key or i == 0)):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not (0x20 <= ord(ch) < 0x7F):
            out.append("".join(f"\\u{u:04x}" for u in _utf16(ch)))
        else:
            out.append(ch)
    return "".join(out)


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _write_text(path: Path, text: str) -> None:
    replace_file(path, text.encode("ascii" if path.suffix == ".properties" else "utf-8"))
