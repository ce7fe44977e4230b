"""Headless Chromium: screenshot a page and print it to PDF. Nothing but file:// pages, no network.

Debian's `chromium` package; run as root it needs --no-sandbox. Every run gets a fresh profile directory,
and its own process group so nothing it spawns (zygote, GPU, utility processes) outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import HarnessError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--mute-audio",
)


def chromium_path() -> str | None:
    """$DRILL_CHROMIUM, else the first Chromium/Chrome on PATH."""
    explicit = os.environ.get("DRILL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _run(extra: list[str], page: Path, timeout: float) -> None:
    exe = chromium_path()
    if exe is None:
        raise HarnessError(
            "headless Chromium not found: install it (Debian: apt-get install -y chromium) or set DRILL_CHROMIUM"
        )
    profile = tempfile.mkdtemp(prefix="drill-chromium-")
    args = [exe, *BASE_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise HarnessError(f"headless Chromium did not finish rendering {page.name} within {timeout:g} s") from None
    finally:
        _kill_group(proc.pid)  # helpers it forked, if any are left
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise HarnessError(f"headless Chromium failed (exit {proc.returncode}) on {page.name}: {' | '.join(tail)}")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def screenshot(page: str | Path, png: str | Path, width: int = 1280, height: int = 2000, timeout: float = 120) -> Path:
    """Render `page` (a local HTML file) into a PNG of width x height pixels."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}"], Path(page), timeout)
    if not png.exists():
        raise HarnessError(f"headless Chromium wrote no screenshot for {page}")
    return png


def print_pdf(page: str | Path, pdf: str | Path, timeout: float = 120) -> Path:
    """Print `page` (a local HTML file) to PDF, without the browser's header/footer."""
    pdf = Path(pdf)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    _run([f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer"], Path(page), timeout)
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        raise HarnessError(f"headless Chromium wrote no PDF for {page}")
    return pdf
