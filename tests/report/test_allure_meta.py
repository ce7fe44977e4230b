"""environment.properties, executor.json and categories.json beside the results: content, masking, and that
Allure's own parsers (Node, from node_modules) read them the way we mean."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import harness
from harness.evidence.allure_meta import CATEGORIES, write_metadata
from harness.evidence.allure_report import PROJECT_ROOT

READER = PROJECT_ROOT / "node_modules" / "@allurereport" / "reader" / "dist" / "properties.js"


def _node(script: str, payload: object) -> object:
    """Run an ES module snippet under Node with `payload` on stdin; it prints JSON back."""
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def _allure_parse_properties(text: str) -> dict[str, str]:
    """Allure 3's own .properties parser on `text`."""
    return _node(
        f"import {{ parseProperties }} from {json.dumps(READER.as_uri())};"
        "let s=''; for await (const c of process.stdin) s+=c;"
        "console.log(JSON.stringify(parseProperties(JSON.parse(s))));",
        text,
    )


def test_environment_properties_as_allure_reads_them(tmp_path):
    write_metadata(
        tmp_path,
        target="local",
        environment={
            "postgresql": "15.8",
            "patroni": "4.1.5",
            "operator": "Zoë Müller",
            "note": "a=b: c # d\nsecond line",
        },
    )
    raw = (tmp_path / "environment.properties").read_bytes()
    raw.decode("ascii")  # \uXXXX escapes, no bytes Allure could mis-decode
    env = _allure_parse_properties(raw.decode())
    assert env["target"] == "local"
    assert env["harness.version"] == harness.__version__
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", env["git.revision"])
    assert env["git.dirty"] in ("true", "false", "unknown")
    assert env["python"].startswith("CPython 3.")
    assert env["postgresql"] == "15.8" and env["patroni"] == "4.1.5"
    assert env["operator"] == "Zoë Müller"
    assert env["note"] == "a=b: c # d\nsecond line"  # separators and newlines survive the round trip


def test_no_secret_reaches_the_metadata(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("BUILD_URL", "https://bot:tok3n-abc@ci.example.net/job/drills/42/")
    monkeypatch.setenv("BUILD_NUMBER", "42")
    write_metadata(
        tmp_path,
        target="staging",
        environment={
            "database": "postgresql://drill:s3cr3t-pw@127.0.0.1:5432/freight",
            "cache": "redis://:hunter2@127.0.0.1:6379/0",
            "pgdsn": "host=127.0.0.1 password=pa55word user=drill",
        },
    )
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    for secret in ("s3cr3t-pw", "hunter2", "pa55word", "tok3n-abc"):
        assert secret not in text
    env = _allure_parse_properties((tmp_path / "environment.properties").read_text())
    assert env["database"] == "postgresql://drill:***@127.0.0.1:5432/freight"
    assert (
        json.loads((tmp_path / "executor.json").read_text())["buildUrl"]
        == "https://bot:***@ci.example.net/job/drills/42/"
    )


def test_executor_only_in_ci(tmp_path, monkeypatch):
    write_metadata(tmp_path, target="local")
    assert not (tmp_path / "executor.json").exists()

    monkeypatch.setenv("CI", "true")
    for var, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "freight/dr-drills",
        "GITHUB_RUN_ID": "9876543210",
        "GITHUB_RUN_NUMBER": "17",
        "GITHUB_WORKFLOW": "smoke drills",
    }.items():
        monkeypatch.setenv(var, value)
    write_metadata(tmp_path, target="staging")
    executor = json.loads((tmp_path / "executor.json").read_text())
    assert executor == {
        "name": "GitHub Actions",
        "type": "github",
        "url": "https://github.com/freight/dr-drills",
        "buildOrder": 17,
        "buildName": "smoke drills #17",
        "buildUrl": "https://github.com/freight/dr-drills/actions/runs/9876543210",
    }

    for var in ("GITHUB_ACTIONS", "GITHUB_RUN_ID"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_PIPELINE_IID", "5")
    monkeypatch.setenv("CI_JOB_NAME", "drill")
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/freight/dr/-/jobs/77")
    write_metadata(tmp_path, target="staging")
    executor = json.loads((tmp_path / "executor.json").read_text())
    assert (executor["type"], executor["buildOrder"], executor["buildName"], executor["buildUrl"]) == (
        "gitlab",
        5,
        "drill #5",
        "https://gitlab.example/freight/dr/-/jobs/77",
    )

    monkeypatch.delenv("GITLAB_CI")
    monkeypatch.delenv("CI_PIPELINE_IID")
    write_metadata(tmp_path, target="staging")
    assert json.loads((tmp_path / "executor.json").read_text()) == {"name": "CI", "type": "ci"}

    monkeypatch.delenv("CI")  # a results dir reused outside CI stops claiming the CI build
    write_metadata(tmp_path, target="local")
    assert not (tmp_path / "executor.json").exists()


# (message, status) -> the category Allure must file it under; messages as pytest reports them
CASES = [
    ("AssertionError: RTO breached: measured 31.2 s > target 30 s\nassert 31.2 <= 30", "failed", "RTO breached"),
    ("AssertionError: RPO breached: 40 writes lost over 2.0 s\nassert 2.0 <= 0", "failed", "RPO breached"),
    ("AssertionError: Fault injection failed: nft rule not applied", "failed", "Fault injection failed"),
    ("HarnessError: fault injection failed: no such process", "broken", "Fault injection failed"),
    ("TargetUnhealthy: Target not healthy: replica lag 12 s", "broken", "Target not healthy"),
    ("KeyError: 'leader'", "broken", "Harness error"),
    ("AssertionError: error rate 12 % above 5 %", "failed", None),  # no DR category: Allure's default
    ("AssertionError: latency breached: p99 of app during the fault 812 ms >= 500 ms", "failed", "Latency breached"),
    (
        "AssertionError: degraded too long: 9.20 s slower than the degraded threshold, limit 5 s",
        "failed",
        "Latency breached",
    ),
]


def _first_match(match) -> list[str | None]:
    return [
        next(
            (
                c["name"]
                for c in CATEGORIES
                if status in c["matchedStatuses"] and ("messageRegex" not in c or match(c["messageRegex"], msg))
            ),
            None,
        )
        for msg, status, _ in CASES
    ]


def test_categories_file_and_regexes_in_both_allure_engines(tmp_path):
    write_metadata(tmp_path, target="local")
    assert json.loads((tmp_path / "categories.json").read_text()) == CATEGORIES
    assert [c["name"] for c in CATEGORIES] == [
        "RTO breached",
        "RPO breached",
        "Latency breached",
        "Fault injection failed",
        "Target not healthy",
        "Harness error",
    ]
    want = [expected for *_, expected in CASES]
    # Allure 2 (Java) matches the whole message: Python's fullmatch has the same semantics here
    assert _first_match(lambda rx, msg: re.fullmatch(rx, msg) is not None) == want
    # Allure 3 (JavaScript): new RegExp(messageRegex).test(message)
    js = _node(
        "let s=''; for await (const c of process.stdin) s+=c; const {pairs}=JSON.parse(s);"
        "console.log(JSON.stringify(pairs.map(([rx,m]) => new RegExp(rx).test(m))));",
        {"pairs": [[c["messageRegex"], msg] for c in CATEGORIES if "messageRegex" in c for msg, _, _ in CASES]},
    )
    verdicts = iter(js)
    table = {(c["messageRegex"], msg): next(verdicts) for c in CATEGORIES if "messageRegex" in c for msg, _, _ in CASES}
    assert _first_match(lambda rx, msg: table[(rx, msg)]) == want


@pytest.mark.parametrize("bad", ["RTO  breached", "rto breached", "RPO"])
def test_categories_do_not_match_near_misses(bad):
    assert not any(re.fullmatch(c.get("messageRegex", "(?!)"), f"AssertionError: {bad}") for c in CATEGORIES)
