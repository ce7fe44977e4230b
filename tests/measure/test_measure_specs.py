"""Spec parsing, validation and secret masking: bad input is one clear message naming the option."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.measure import Measurement, parse_probe_spec, parse_writer_spec
from harness.measure.session import resolve_timeout
from harness.redact import mask


def test_probe_specs_parse_with_names_and_options():
    p = parse_probe_spec("api@http=http://127.0.0.1:8080/health|status=204|contains=ok")
    assert (p.name, p.kind, p.target, p.options) == (
        "api",
        "http",
        "http://127.0.0.1:8080/health",
        {"status": "204", "contains": "ok"},
    )
    assert parse_probe_spec("tcp=127.0.0.1:5432").name == "tcp:127.0.0.1:5432"
    c = parse_probe_spec("cmd=pg_isready | grep -q accepting")
    assert c.target == "pg_isready | grep -q accepting" and c.options == {}
    pg = parse_probe_spec("postgres=postgresql://u:hunter2@127.0.0.1:5432/db|query=SELECT 2")
    assert pg.options == {"query": "SELECT 2"} and "hunter2" not in pg.name and "hunter2" not in pg.display


@pytest.mark.parametrize(
    "spec, words",
    [
        ("http:/x", "KIND=TARGET"),
        ("ftp=ftp://x", "unknown kind 'ftp'"),
        ("tcp=127.0.0.1", "HOST:PORT"),
        ("tcp=127.0.0.1:99999", "HOST:PORT"),
        ("http=127.0.0.1:8080", "http:// or https://"),
        ("http=http://x/|colour=red", "bad option"),
        ("http=http://x/|status=abc", "status"),
        ("redis=http://x", "redis://"),
        ("postgres=mysql://u:pw@x/db", "postgresql://"),
    ],
)
def test_bad_probe_specs_name_the_option_and_the_problem(spec, words):
    with pytest.raises(HarnessError) as err:
        parse_probe_spec(spec)
    assert str(err.value).startswith("--probe") and words in str(err.value)


def test_bad_probe_spec_error_masks_the_password():
    with pytest.raises(HarnessError) as err:
        parse_probe_spec("postgres=postgresql://u:hunter2@x/db|bogus=1")
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_writer_specs():
    w = parse_writer_spec("postgres=postgresql://u:pw@127.0.0.1:5432/db|rate=50|table=ledger2", rate=20)
    assert (w.kind, w.rate, w.options, w.name) == (
        "postgres",
        50.0,
        {"table": "ledger2"},
        "postgres-writer:127.0.0.1:5432",
    )
    assert parse_writer_spec("redis=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/m", rate=5).rate == 5.0
    for bad, words in [
        ("mysql=x", "KIND=TARGET"),
        ("postgres=postgresql://x/db|rate=0", "rate must be > 0"),
        ("postgres=postgresql://x/db|table=a;drop", "identifier"),
        ("redis=x", "redis://"),
    ]:
        with pytest.raises(HarnessError, match=words):
            parse_writer_spec(bad)


@pytest.mark.parametrize(
    "interval, budget, words",
    [
        (0, None, "--interval must be > 0"),
        (-1, None, "--interval must be > 0"),
        (0.005, None, ">= 0.01"),
        (0.05, 0, "--budget must be a positive"),
        (0.05, -1, "--budget must be a positive"),
        (0.05, float("nan"), "--budget must be a positive"),
        (0.05, float("inf"), "--budget must be a positive"),
    ],
)
def test_interval_and_budget_validation(interval, budget, words):
    with pytest.raises(HarnessError, match=words):
        resolve_timeout(interval, budget)


def test_budget_is_independent_of_the_interval():
    # slow is not down: a budget above the interval is the normal case now (checks overlap)
    assert resolve_timeout(0.05, 1.0) == 1.0 and resolve_timeout(0.01, None) is None
    assert parse_probe_spec("http=http://127.0.0.1:1/").budget_s() == 1.0
    assert parse_probe_spec("tcp=127.0.0.1:1").budget_s() == 0.5
    assert parse_probe_spec("tcp=127.0.0.1:1").budget_s(default=2.0) == 2.0
    m = Measurement(
        probes=[parse_probe_spec("a@http=http://127.0.0.1:1/"), parse_probe_spec("b@tcp=127.0.0.1:1|budget=0.3")],
        interval=0.01,
    )
    assert m.budgets == {"a": 1.0, "b": 0.3} and m.probe_timeout == 1.0


@pytest.mark.parametrize(
    "spec, budget, degraded",
    [
        ("app@http=http://127.0.0.1:8080/health|budget=1|degraded=0.3", 1.0, 0.3),
        ("app@http=http://127.0.0.1:8080/health;budget=1;degraded=0.3", 1.0, 0.3),
        ("postgres=postgresql://u:p@127.0.0.1:5432/db|query=SELECT 1|budget=0.25", 0.25, None),
        ("cmd=pg_isready -h 127.0.0.1 | cat;budget=2;degraded=0.5", 2.0, 0.5),
    ],
)
def test_budget_and_degraded_in_specs(spec, budget, degraded):
    p = parse_probe_spec(spec)
    assert (p.budget, p.degraded) == (budget, degraded) and "budget" not in p.options
    if p.kind == "cmd":
        assert p.target == "pg_isready -h 127.0.0.1 | cat"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("tcp=127.0.0.1:1|budget=0", "budget must be a positive"),
        ("tcp=127.0.0.1:1|budget=abc", "budget must be a number"),
        ("tcp=127.0.0.1:1|budget=nan", "budget must be a positive"),
        ("tcp=127.0.0.1:1|budget=0.2|degraded=0.3", "above the budget"),
        ("tcp=127.0.0.1:1|degraded=0.6", "above the budget"),  # the tcp default budget is 0.5 s
    ],
)
def test_bad_budgets_name_the_probe(spec, words):
    with pytest.raises(HarnessError, match=words) as err:
        parse_probe_spec(spec)
    assert "tcp=127.0.0.1:1" in str(err.value)


def test_run_wide_degraded_above_a_probe_budget_is_refused():
    with pytest.raises(HarnessError, match="above the budget"):
        Measurement(probes=[parse_probe_spec("x@tcp=127.0.0.1:1|budget=0.1")], degraded=0.2)


def test_postgres_dsn_with_several_hosts_is_split_into_members():
    from harness.measure.probes import members_of_dsn

    members = members_of_dsn("host=127.0.0.1,127.0.0.2 port=5432,5433 dbname=db user=u password=pw")
    assert [("127.0.0.1" in m and "5432" in m, "127.0.0.2" in m and "5433" in m) for m in members] == [
        (True, False),
        (False, True),
    ]
    assert members_of_dsn("postgresql://u@127.0.0.1:5432/db") == ["postgresql://u@127.0.0.1:5432/db"]


def test_duplicate_names_are_rejected():
    with pytest.raises(HarnessError, match="duplicate"):
        Measurement(probes=[parse_probe_spec("tcp=127.0.0.1:1"), parse_probe_spec("tcp=127.0.0.1:1")])


@pytest.mark.parametrize(
    "text, secret",
    [
        ("postgresql://drill:p@ss@127.0.0.1:5432/db", "p@ss"),
        ("redis://:topsecret@127.0.0.1:6379/0", "topsecret"),
        ("host=127.0.0.1 password=topsecret dbname=x", "topsecret"),
        ("PGPASSWORD=topsecret psql -h x", "topsecret"),
        ("http://x/health?token=topsecret&a=1", "topsecret"),
    ],
)
def test_mask_removes_secrets(text, secret):
    masked = mask(text)
    assert secret not in masked and "***" in masked
