"""Findings (append-only, carried into later reports) and the after-action report, rendered in headless
Chromium to check the RTO/RPO table really shows up on screen."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import matplotlib.image as mpimg
import numpy as np
import pytest
from synthetic_drills import make_record, measurement

from harness.errors import HarnessError
from harness.evidence import add_finding, close_finding, findings_for_report, list_findings, load_records
from harness.evidence.audit import RESULTS_TABLE_BG, SECTIONS, write_audit
from harness.evidence.browser import chromium_path, screenshot


def _at(y, m, d):
    return datetime(y, m, d, 9, 0, tzinfo=UTC)


@pytest.fixture
def drills(reports):
    r1 = make_record(
        reports, _at(2024, 7, 20), scenarios=[("redis-primary-kill", measurement(3.1, 0.0, target_rto=60), "passed")]
    )
    r2 = make_record(reports, _at(2024, 10, 18))
    r3 = make_record(
        reports, _at(2025, 1, 17), scenarios=[("postgres-leader-kill", measurement(19.25, 0.4, lost=3), "failed")]
    )
    f1 = add_finding(
        reports,
        r1["id"],
        "Sentinel failover needs manual check",
        "Dana Okafor",
        "2024-09-30",
        "Add a sentinel health probe",
        at=_at(2024, 7, 21),
    )
    f2 = add_finding(
        reports, r1["id"], "Runbook step 4 outdated", "Lee Moreau", "2024-08-31", "Rewrite step 4", at=_at(2024, 7, 21)
    )
    close_finding(reports, f2.id, "DOC-77", at=_at(2024, 9, 1))
    f3 = add_finding(
        reports,
        r2["id"],
        "No alert on replication lag",
        "Ari Chen",
        "2025-01-31",
        "Alert on lag > 1 s",
        at=_at(2024, 10, 19),
    )
    close_finding(reports, f3.id, "PR-512", at=_at(2025, 2, 1))
    f4 = add_finding(
        reports,
        r3["id"],
        "3 acknowledged writes lost on leader kill",
        "Dana Okafor",
        "2025-03-31",
        "Enable synchronous_mode",
        at=_at(2025, 1, 18),
    )
    return (r1, r2, r3), (f1, f2, f3, f4)


def test_findings_lifecycle_and_carry_over(reports, drills, cli):
    (r1, r2, r3), (f1, f2, f3, f4) = drills
    assert [f.id for f in (f1, f2, f3, f4)] == ["F-0001", "F-0002", "F-0003", "F-0004"]
    assert [f.id for f in list_findings(reports, open_only=True)] == ["F-0001", "F-0004"]
    records, found = load_records(reports), list_findings(reports)
    # r2 (2024-10-18): F-0001 still open; F-0002 closed 2024-09-01, before r2; F-0003 is r2's own
    assert [f.id for f in findings_for_report(r2, records, found)] == ["F-0001", "F-0003"]
    # r3 (2025-01-17): F-0001 open; F-0003 closed 2025-02-01, after r3 started; F-0004 own
    assert [f.id for f in findings_for_report(r3, records, found)] == ["F-0001", "F-0003", "F-0004"]
    assert [f.id for f in findings_for_report(r1, records, found)] == ["F-0001", "F-0002"]
    res = cli("finding", "list", "--reports", reports, "--open", "--json")
    assert res.exit_code == 0 and [f["id"] for f in json.loads(res.stdout)] == ["F-0001", "F-0004"]
    res = cli(
        "finding",
        "add",
        "--reports",
        reports,
        "--record",
        r3["id"][:12],
        "--title",
        "Slow DNS",
        "--owner",
        "Ari Chen",
        "--due",
        "2025-06-30",
        "--action",
        "Lower TTL",
    )
    assert res.exit_code == 0 and res.stdout.startswith(f"F-0005 opened on {r3['id']}")
    res = cli("finding", "close", "f-5", "--reports", reports, "--reference", "CHG-2001")
    assert res.exit_code == 0 and "F-0005 closed: CHG-2001" in res.stdout
    assert "closed" in cli("finding", "list", "--reports", reports).stdout


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: add_finding(r, "nope", "t", "o", "2025-01-01", "a"), "record 'nope': no match"),
        (lambda r: add_finding(r, "2025", "t", "o", "31/01/2025", "a"), "is not a date like"),
        (lambda r: add_finding(r, "2025", " ", "o", "2025-01-01", "a"), "non-empty --title"),
        (lambda r: close_finding(r, "F-0002", "again"), "already closed"),
        (lambda r: close_finding(r, "F-0099", "x"), "no finding 'F-0099'"),
        (lambda r: close_finding(r, "F-0001", ""), "needs a --reference"),
    ],
)
def test_finding_bad_input(reports, drills, call, message):
    with pytest.raises(HarnessError, match=re.escape(message)):
        call(reports)


def test_audit_html_has_every_after_action_field(reports, drills, cli):
    (r1, r2, r3), _ = drills
    (reports / "allure-report").mkdir()
    (reports / "allure-report" / "index.html").write_text("<html></html>")
    res = cli("audit", "--reports", reports)  # default: the latest record
    assert res.exit_code == 0
    page = (reports / "audit" / f"{r3['id']}.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    # objectives and scope
    assert "postgresql/primary-instance-failure" in page and "dr-plan.md §5.1.1" in page
    assert "@quarterly and not @cloud" in page and "2025-04-15T09:00:00Z" in page
    # participants with §7.2 roles and the approval
    assert "Sam Rivera" in page and "Infrastructure Lead" in page and "CHG-1042" in page
    # timeline
    assert "fault-injected" in page and "manual-confirmation" in page and "who: Dana Okafor" in page
    # target vs actual with verdicts, margins, uncertainty
    results = page.split('<section id="results">')[1].split("</section>")[0]
    assert 'class="results"' in results
    for text in ("120 s", "19.25 s", "± 0.09 s", "100.75 s", "-0.4 s", "BREACHED", "met"):
        assert text in results, text
    # issues and corrective actions with owners and due dates, carried-over open finding included
    assert "3 acknowledged writes lost on leader kill" in page and "Enable synchronous_mode" in page
    assert "Sentinel failover needs manual check" in page and "(earlier drill)" in page
    assert "2025-03-31" in page and "Runbook step 4 outdated" not in page
    # evidence hashes, verify result, Allure link, sign-off lines
    for e in r3["evidence"]:
        assert e["sha256"] in page
    assert "chain intact" in page and r3["hash"] in page
    assert 'href="../allure-report/index.html"' in page
    signoff = page.split('<section id="signoff">')[1]
    assert "Signature" in signoff and "Sam Rivera" in signoff
    # self-contained: charts inline, nothing fetched, no script
    assert page.count('src="data:image/png;base64,') >= 2
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page.lower()


def test_audit_escapes_record_content_and_reports_a_broken_chain(reports, cli):
    rec = make_record(
        reports,
        _at(2025, 3, 1),
        scenarios=[("<script>alert(1)</script>", measurement(5.0, 0.0), "passed")],
        evidence=False,
    )
    path = reports / "records" / f"{rec['id']}.json"
    path.chmod(0o644)
    path.write_text(path.read_text().replace('"sam"', '"mallory"'))
    res = cli("audit", rec["id"], "--reports", reports, "--out", reports / "a.html")
    assert res.exit_code == 0
    page = (reports / "a.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "chain NOT intact" in page and f"record {rec['id']} (#1) was changed" in page


def test_audit_of_unknown_record(reports, drills):
    with pytest.raises(HarnessError, match="no match"):
        write_audit(reports, "19990101")


needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="headless Chromium not installed (apt-get install -y chromium)"
)


def _bg_mask(png) -> np.ndarray:
    rgb = (mpimg.imread(png)[..., :3] * 255).round().astype(int)
    want = [int(RESULTS_TABLE_BG[i : i + 2], 16) for i in (1, 3, 5)]
    return np.all(np.abs(rgb - want) <= 1, axis=-1)


@needs_chromium
def test_chromium_screenshot_shows_the_rto_rpo_table(reports, drills, tmp_path):
    (_, _, r3), _ = drills
    page, _ = write_audit(reports, r3["id"], tmp_path / "report.html")
    shot = screenshot(page, tmp_path / "report.png", 1280, 2000)
    mask = _bg_mask(shot)
    assert mask.shape == (2000, 1280)
    rows, cols = np.nonzero(mask)
    assert mask.sum() > 20_000, "the RTO/RPO table's background is not on screen"
    # a table-sized block: most of the page width, a header and a row tall, below the page header
    assert cols.max() - cols.min() > 900 and 60 < rows.max() - rows.min() < 600 and rows.min() > 300
    # the same page without the table has none of that colour: it is the table that was seen
    html = page.read_text()
    start = html.index('<section id="results">')
    stripped = tmp_path / "no-table.html"
    stripped.write_text(html[:start] + html[html.index("</section>", start) + len("</section>") :])
    assert _bg_mask(screenshot(stripped, tmp_path / "no-table.png", 1280, 2000)).sum() == 0


@needs_chromium
def test_audit_pdf(reports, drills, cli, tmp_path):
    res = cli("audit", "--reports", reports, "--out", tmp_path / "aar.html", "--pdf")
    assert res.exit_code == 0, res.output
    pdf = (tmp_path / "aar.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2  # the report spans several pages
