"""``openread bulk --ray`` on a real Ray cluster started here on loopback
(``ray start --head --num-cpus 2``), stopped after: every row, the error rows, and a multi-page
TIFF's pages."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from serving import clean_env, openread_command
from test_documents import tiff_bytes

pytest.importorskip("ray")
pytestmark = [pytest.mark.evaldata, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[str, dict[str, str]]]:
    ray = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are limited
    env = clean_env(RAY_TMPDIR=temp)
    port = _free_port()
    start = [ray, "start", "--head", "--num-cpus", "2", "--port", str(port)]
    start += ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--temp-dir", temp]
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run(
            [ray, "stop", "--force"], check=False, env=env, capture_output=True, timeout=120
        )
        shutil.rmtree(temp, ignore_errors=True)


def test_bulk_on_ray(
    eval_data: Path, tmp_path: Path, ray_cluster: tuple[str, dict[str, str]]
) -> None:
    address, env = ray_cluster
    folder = tmp_path / "in"
    folder.mkdir()
    good = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:3]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "scan.tif").write_bytes(tiff_bytes(2))
    out = tmp_path / "out"
    command = [*openread_command(), "bulk", str(folder), "--out", str(out), "--no-progress"]
    command += ["--ray", address, "--processes", "2"]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out / "rows.parquet").to_pylist()
    pages = sorted(
        (r["page"], r["pages"], r["shape"]) for r in table if r["source"].endswith("tif")
    )
    assert pages == [(1, 2, "3.2"), (2, 2, "3.2")]  # a multi-page TIFF: one row per page
    rows = {row["source"]: row for row in table if not row["source"].endswith("tif")}
    assert len(rows) == 4
    for path in good:
        row = rows[str(folder / path.name)]
        assert row["error_code"] is None
        assert (row["width"], row["height"]) == (1280, 720)
        assert row["text"]
    assert rows[str(folder / "broken.png")]["error_code"] == "InvalidImageFormat"
    assert "5 read, 1 failed" in done.stderr
