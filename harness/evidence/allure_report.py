"""Turn Allure results into the HTML report an auditor opens, with Allure 3 (npm package `allure`, pinned in
package.json, installed by `make setup` into node_modules/).

One `allure generate` run writes two renderings of the same results, so history is appended once per build:
- `<out>/index.html` + assets: the multi-file report, to serve (`drill report --serve`); it fetches its
  data, so browsers refuse to open it from file://.
- `<out>/report.html`: one self-contained file (data, images and scripts inlined) that opens offline from
  file://: the one to attach to a ticket or archive.

Allure 3 does not clear its output folder and its templates embed a Google Analytics tag: we build into a
fresh staging folder, strip the tag, then swap it into place. History (`allure-history.jsonl`, one line per
build) lives outside the output folder so clearing the report keeps the trends.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

import harness
from harness.errors import HarnessError
from harness.evidence import browser
from harness.evidence.allure_meta import CATEGORIES, CATEGORIES_FILE
from harness.evidence.paths import reports_dir
from harness.redact import mask

PROJECT_ROOT = Path(harness.__file__).resolve().parent.parent
ALLURE_ENV = "DRILL_ALLURE"  # an explicit Allure 3 CLI, for installs outside a checkout
HISTORY_FILE = "allure-history.jsonl"
DEFAULT_OUT = "allure-report"
SINGLE_FILE_NAME = "report.html"
# Written into every report folder we build: only a folder carrying it (or an empty one) is ever cleared,
# so `--out .` by mistake cannot wipe a work tree.
MARKER = ".drill-allure-report"
# Plugin ids are the sub-folders Allure writes each rendering to inside the staging folder.
SITE_ID, SINGLE_ID = "site", "single"
GENERATE_TIMEOUT_S = 600

# A <script> element that loads or calls Google Analytics (the tag's loader and its inline gtag() set-up).
_ANALYTICS_SCRIPT = re.compile(
    r"<script\b[^>]*>(?:(?!</script>).)*?(?:googletagmanager|google-analytics|gtag\()"
    r"(?:(?!</script>).)*</script>\s*",
    re.DOTALL | re.IGNORECASE,
)
_ANALYTICS_SRC = re.compile(
    r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*(?:googletagmanager|google-analytics)[^>]*>"
    r"\s*</script>\s*",
    re.IGNORECASE,
)
# What must not survive in any output file. Not a bare "gtag": base64 data may contain it by chance.
ANALYTICS_MARKERS = ("googletagmanager", "google-analytics", "gtag(")


@dataclass
class Report:
    out_dir: Path
    index_html: Path  # multi-file report: serve out_dir
    single_file: Path | None  # self-contained, opens from file://


def build_report(
    results_dirs: list[Path],
    out_dir: Path,
    *,
    name: str = "DR drills",
    history_path: Path | None = None,
    single_file: bool = True,
) -> Report:
    """Generate the Allure 3 report for `results_dirs` into `out_dir` (cleared first), appending this build to
    the history at `history_path` (default reports/allure-history.jsonl) so trends show across runs."""
    results = [check_results_dir(d) for d in results_dirs] if results_dirs else []
    if not results:
        raise HarnessError(
            "no Allure results given: pass a directory holding *-result.json files "
            "(e.g. reports/runs/<run-id>/allure-results)"
        )
    cli = allure_cli()
    out_dir = Path(out_dir).resolve()
    history = Path(history_path) if history_path else reports_dir() / HISTORY_FILE
    history = history.resolve()
    history.parent.mkdir(parents=True, exist_ok=True)
    _check_clearable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    # staging beside out_dir: same filesystem, so the final swap is a rename
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        config = staging / "allurerc.mjs"
        config.write_text(
            allurerc(
                name=name,
                output=staging / "out",
                history_path=history,
                categories=categories_for(results),
                single_file=single_file,
            )
        )
        _generate(cli, config, results)
        site, single = _locate_outputs(staging / "out", single_file)
        if single is not None:
            shutil.move(single, site / SINGLE_FILE_NAME)
        for path in site.rglob("*"):
            if path.suffix in (".html", ".js") and path.is_file():
                strip_analytics(path)
        (site / MARKER).write_text("built by `drill report`; cleared and rebuilt by it\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        site.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Report(
        out_dir=out_dir,
        index_html=out_dir / "index.html",
        single_file=out_dir / SINGLE_FILE_NAME if single_file else None,
    )


def allure_cli() -> Path:
    """The Allure 3 CLI: $DRILL_ALLURE, else node_modules/.bin/allure of this checkout."""
    explicit = os.environ.get(ALLURE_ENV)
    cli = Path(explicit) if explicit else PROJECT_ROOT / "node_modules" / ".bin" / "allure"
    if not cli.exists():
        raise HarnessError(
            f"the Allure 3 report CLI is not installed ({cli} is missing): run `make setup` (needs Node.js and npm)"
        )
    if shutil.which("node") is None:
        raise HarnessError("Node.js is not installed, and the Allure 3 report CLI needs it: run `make setup`")
    return cli


def check_results_dir(path: Path) -> Path:
    """`path` resolved, if it is a directory holding Allure results (*-result.json); else a clear error."""
    path = Path(path)
    if not path.is_dir():
        raise HarnessError(f"{path}: not a directory of Allure results")
    if not any(path.glob("*-result.json")):
        raise HarnessError(
            f"{path}: no Allure results in it (no *-result.json files); run the drills first "
            "(`drill run`) or pass the allure-results directory of a run"
        )
    return path.resolve()


def latest_results(reports: Path | None = None) -> Path:
    """The newest `allure-results` directory with results under the reports directory (by modification time)."""
    root = reports_dir(reports)
    candidates = [d for d in root.glob("**/allure-results") if d.is_dir() and any(d.glob("*-result.json"))]
    if not candidates:
        raise HarnessError(
            f"{root}: no allure-results directory with results under it; run the drills first "
            "(`drill run`) or pass a results directory"
        )
    return max(candidates, key=lambda d: max(f.stat().st_mtime for f in d.glob("*-result.json")))


def categories_for(results: list[Path]) -> list[dict]:
    """The categories written beside the results (write_metadata), else the harness's own.
    Allure 3's report takes categories from its config only, not from categories.json: pass them through."""
    for directory in results:
        path = directory / CATEGORIES_FILE
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise HarnessError(f"{path}: not valid JSON ({err})") from None
            if isinstance(data, list) and all(isinstance(c, dict) and c.get("name") for c in data):
                return data
            raise HarnessError(f"{path}: expected a list of categories, each with a name")
    return CATEGORIES


def allurerc(*, name: str, output: Path, history_path: Path, categories: list[dict], single_file: bool) -> str:
    """The Allure 3 config (allurerc.mjs) for one build. Values go in as JSON: no quoting surprises."""
    plugins = {
        SITE_ID: {"import": "@allurereport/plugin-awesome", "options": {"reportName": name, "singleFile": False}}
    }
    if single_file:
        plugins[SINGLE_ID] = {
            "import": "@allurereport/plugin-awesome",
            "options": {"reportName": name, "singleFile": True},
        }
    config = {
        "name": name,
        "output": str(output),
        "historyPath": str(history_path),
        "appendHistory": True,
        "categories": {"rules": categories},
        "plugins": plugins,
    }
    return (
        "// generated by `drill report` for one build; not kept\nexport default " + json.dumps(config, indent=2) + ";\n"
    )


def _generate(cli: Path, config: Path, results: list[Path]) -> None:
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", "ALLURE_NO_ANALYTICS": "true"}
    args = [str(cli), "generate", "--config", str(config), *map(str, results)]
    with Console(stderr=True).status(f"Allure 3: generating the report from {len(results)} results folder(s)"):
        try:
            proc = subprocess.run(
                args, cwd=config.parent, env=env, capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(f"allure generate did not finish within {GENERATE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise HarnessError(f"allure generate failed (exit {proc.returncode}): {mask(tail)}")


def _locate_outputs(output: Path, single_file: bool) -> tuple[Path, Path | None]:
    """Allure writes one sub-folder per plugin, except with one plugin, when it flattens it into `output`."""
    if not single_file:
        site = output / SITE_ID if (output / SITE_ID / "index.html").is_file() else output
        single = None
    else:
        site, single = output / SITE_ID, output / SINGLE_ID / "index.html"
        if not single.is_file():
            raise HarnessError(f"allure generate wrote no single-file report ({single} missing)")
    if not (site / "index.html").is_file():
        raise HarnessError(f"allure generate wrote no report ({site / 'index.html'} missing)")
    return site, single


def _check_clearable(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MARKER).exists())):
        raise HarnessError(
            f"{out_dir}: exists and is not a report built by `drill report`; refusing to clear it "
            "(pick another --out, or remove it yourself)"
        )


def strip_analytics(path: Path) -> int:
    """Remove the Google Analytics tag from a generated HTML/JS file; returns how many script elements went."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    removed = 0
    if path.suffix == ".html":
        text, n1 = _ANALYTICS_SRC.subn("", text)
        text, n2 = _ANALYTICS_SCRIPT.subn("", text)
        removed = n1 + n2
        if removed:
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
    left = [m for m in ANALYTICS_MARKERS if m in text]
    if left:
        # pinned Allure version: a new embedding means the pin moved without this being updated
        raise HarnessError(
            f"{path}: still references analytics ({', '.join(left)}) after stripping; "
            "update harness/evidence/allure_report.py for this Allure version"
        )
    return removed


def single_file_data(html: Path) -> dict[str, bytes]:
    """The data files a single-file report carries inline (e.g. "widgets/categories.json", attachments)."""
    text = Path(html).read_text(encoding="utf-8")
    return {name: base64.b64decode(value) for name, value in re.findall(r'\bd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', text)}


# --- checking the rendered report ------------------------------------------------------------------------
# Allure 3 is a JS app: a plain headless screenshot catches its blank loading page. A virtual-time budget
# lets the page's timers and scripts run to completion before Chromium dumps the DOM or takes the picture.
# (harness.evidence.browser has no virtual-time or DOM-dump option, hence this small runner beside it.)
RENDER_BUDGET_MS = 15_000


def render_dom(page: Path, fragment: str = "", budget_ms: int = RENDER_BUDGET_MS, timeout: float = 120) -> str:
    """The DOM of a local HTML page after its scripts ran for `budget_ms` of virtual time (headless Chromium).
    `fragment` selects a view of the report, e.g. a test result's id opens that result."""
    return _chromium(["--dump-dom"], page, fragment, budget_ms, timeout).decode("utf-8", errors="replace")


def render_screenshot(
    page: Path,
    png: Path,
    width: int = 1280,
    height: int = 900,
    fragment: str = "",
    budget_ms: int = RENDER_BUDGET_MS,
    timeout: float = 120,
) -> Path:
    """A PNG of a local HTML page after its scripts ran for `budget_ms` of virtual time (headless Chromium)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _chromium([f"--screenshot={png}", f"--window-size={width},{height}"], page, fragment, budget_ms, timeout)
    if not png.is_file():
        raise HarnessError(f"headless Chromium wrote no screenshot of {page}")
    return png


def _chromium(extra: list[str], page: Path, fragment: str, budget_ms: int, timeout: float) -> bytes:
    exe = browser.chromium_path()
    if exe is None:
        raise HarnessError(
            "headless Chromium not found: install it (Debian: apt-get install -y chromium) or set DRILL_CHROMIUM"
        )
    profile = tempfile.mkdtemp(prefix="drill-chromium-")
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms > 0 else []
    args = [
        exe,
        *browser.BASE_FLAGS,
        f"--user-data-dir={profile}",
        *budget,
        *extra,
        Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else ""),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        browser._kill_group(proc.pid)
        proc.communicate()
        raise HarnessError(
            f"headless Chromium did not finish rendering {Path(page).name} within {timeout:g} s"
        ) from None
    finally:
        browser._kill_group(proc.pid)  # zygote/utility processes it forked, if any are left
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise HarnessError(
            f"headless Chromium failed (exit {proc.returncode}) on {Path(page).name}: {' | '.join(tail)}"
        )
    return out


# --- serving ---------------------------------------------------------------------------------------------
@dataclass
class ReportServer:
    """A report served over HTTP on 127.0.0.1 only, from a background thread. Close it (or use `with`)."""

    url: str
    out_dir: Path
    _server: http.server.ThreadingHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReportServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # one line per asset would bury the URL the user needs


def serve_report(out_dir: Path, port: int = 0) -> ReportServer:
    """Serve the multi-file report in `out_dir` on 127.0.0.1:`port` (0 = any free port)."""
    out_dir = Path(out_dir).resolve()
    if not (out_dir / "index.html").is_file():
        raise HarnessError(f"{out_dir}: no report to serve (no index.html); build it with `drill report` first")
    handler = functools.partial(_QuietHandler, directory=str(out_dir))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as err:
        raise HarnessError(f"cannot serve the report on 127.0.0.1:{port}: {err.strerror or err}") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="drill-report-server", daemon=True)
    thread.start()
    return ReportServer(
        url=f"http://127.0.0.1:{server.server_address[1]}/", out_dir=out_dir, _server=server, _thread=thread
    )
