"""The lab's archive_command, run by a real shell the way PostgreSQL runs it (%p and %f substituted).

It once was `test ! -f W/%f && cp %p W/%f`: a segment re-offered after a kill -9 or a failover failed for
ever and every later segment queued behind it (a CI run's PITR drill then timed out waiting for the archive).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.lab.postgres import archive_command


def _archive(wal: Path, segment: Path) -> int:
    cmd = archive_command(wal).replace("%p", str(segment)).replace("%f", segment.name)
    return subprocess.run(["sh", "-c", cmd], check=False).returncode


def test_a_new_segment_is_archived_under_its_name_and_no_temporary_is_left(tmp_path):
    wal, seg = tmp_path / "wal", tmp_path / "000000010000000000000003"
    wal.mkdir()
    seg.write_bytes(b"wal bytes " * 100)
    assert _archive(wal, seg) == 0
    assert (wal / seg.name).read_bytes() == seg.read_bytes()
    assert sorted(p.name for p in wal.iterdir()) == [seg.name]


def test_a_segment_already_archived_with_the_same_bytes_is_accepted_again(tmp_path):
    wal, seg = tmp_path / "wal", tmp_path / "000000010000000000000003"
    wal.mkdir()
    seg.write_bytes(b"same")
    assert _archive(wal, seg) == 0
    assert _archive(wal, seg) == 0  # re-offered after a crash: success, so the archiver moves on


def test_a_different_segment_under_an_archived_name_is_refused_and_the_archive_kept(tmp_path):
    wal, seg = tmp_path / "wal", tmp_path / "000000010000000000000003"
    wal.mkdir()
    (wal / seg.name).write_bytes(b"archived first")
    seg.write_bytes(b"diverged")
    assert _archive(wal, seg) != 0
    assert (wal / seg.name).read_bytes() == b"archived first"
