"""``openread bulk`` on eval-data images mixed with broken files: every row, the error rows,
the Parquet output, and resume after a SIGKILL mid-run (no duplicate, no lost row)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from openread.bulk.inputs import expand
from openread.bulk.output import read_rows
from serving import clean_env, openread_command

pytestmark = [pytest.mark.evaldata, pytest.mark.slow]


def _inputs(eval_data: Path, folder: Path, images: int) -> tuple[list[Path], list[Path]]:
    folder.mkdir()
    good = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:images]
    copies = []
    for path in good:
        shutil.copy(path, folder / path.name)
        copies.append(folder / path.name)
    broken = [folder / "broken.png", folder / "empty.jpg"]
    broken[0].write_bytes(b"not an image at all")
    broken[1].write_bytes(b"")
    return copies, broken


def _bulk(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [*openread_command(), "bulk", *args, "--no-progress"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,
        )


def test_bulk_reads_every_input_and_reports_errors(eval_data: Path, tmp_path: Path) -> None:
    good, broken = _inputs(eval_data, tmp_path / "in", 3)
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "out"
    proc = _bulk([str(tmp_path / "in"), str(missing), "--out", str(out), "--processes", "2"],
                 tmp_path / "log")  # fmt: skip
    assert proc.wait(timeout=240) == 0, (tmp_path / "log").read_text()
    table = pq.read_table(out / "rows.parquet").to_pylist()
    by_source = {row["source"]: row for row in table}
    assert len(table) == len(by_source) == len(good) + len(broken) + 1
    for path in good:
        row = by_source[str(path)]
        assert row["error_code"] is None
        assert (row["width"], row["height"]) == (1280, 720)
        body = json.loads(row["azure_json"])
        lines = [line["text"] for b in body["readResult"]["blocks"] for line in b["lines"]]
        assert row["text"] == "\n".join(lines)
        assert row["seconds"] > 0
    assert by_source[str(broken[0])]["error_code"] == "InvalidImageFormat"
    assert by_source[str(broken[1])]["error_code"] == "InvalidRequest"
    assert by_source[str(missing)]["error_message"] == "no such file"
    assert "3 read, 3 failed" in (tmp_path / "log").read_text()
    # a second run skips everything and changes nothing
    again = _bulk([str(tmp_path / "in"), str(missing), "--out", str(out)], tmp_path / "log2")
    assert again.wait(timeout=120) == 0
    assert "6 already done, 0 read, 0 failed" in (tmp_path / "log2").read_text()
    assert pq.read_table(out / "rows.parquet").num_rows == len(table)


def test_bulk_resumes_after_kill(eval_data: Path, tmp_path: Path) -> None:
    good, broken = _inputs(eval_data, tmp_path / "in", 6)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), "--processes", "1"]
    proc = _bulk(args, tmp_path / "log")
    deadline = time.monotonic() + 180
    while sum(1 for _ in read_rows(out)) < 2:
        assert proc.poll() is None, (tmp_path / "log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [row.source for row in read_rows(out)]
    assert 2 <= len(before) < len(good) + len(broken), "the kill came too late to test resume"
    assert proc.returncode == -signal.SIGKILL
    again = _bulk(args, tmp_path / "log2")
    assert again.wait(timeout=240) == 0, (tmp_path / "log2").read_text()
    sources = [row["source"] for row in pq.read_table(out / "rows.parquet").to_pylist()]
    assert sorted(sources) == sorted(expand([str(tmp_path / "in")]))
    assert len(sources) == len(set(sources))
    assert f"{len(before)} already done" in (tmp_path / "log2").read_text()
