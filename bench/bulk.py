"""Bulk throughput: ``openread bulk`` (local process pool) against one process reading the same
images in a loop. Prints images/s and pages/s side by side and the peak RSS of the processes.

    python -m bench.bulk [--images 16] [--eval-data ../shared/eval-data]

Each side runs in its own subprocess (``openread bulk`` with default settings; the loop with one
``Engine`` and its default threads). Not yet here: a RapidOCR row.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_LOOP = (
    "import sys; from pathlib import Path; from openread import Engine, Settings; "
    "e = Engine.load(Settings.from_env()); "
    "[e.read(Path(p).read_bytes()) for p in sys.argv[1:]]"
)


def _run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB) of the largest process the command left behind."""
    env = dict(os.environ) if env is None else env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return seconds, peak


def _ray(cli: list[str], paths: list[str]) -> tuple[float, float]:
    """``openread bulk --ray`` on a local cluster (``ray start --head --num-cpus 2``) started
    and stopped here; the seconds include Ray Data's start-up but not the cluster's."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = dict(os.environ, RAY_TMPDIR=temp)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    start = [ray, "start", "--head", "--num-cpus", "2", "--port", str(port), "--temp-dir", temp]
    start += ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false"]
    subprocess.run(start, check=True, env=env, capture_output=True)
    try:
        with tempfile.TemporaryDirectory() as out:
            args = ["bulk", *paths, "--out", out, "--no-progress", "--ray", f"127.0.0.1:{port}"]
            return _run([*cli, *args, "--processes", "2"], env)
    finally:
        subprocess.run([ray, "stop", "--force"], check=False, env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--eval-data", type=Path, default=REPO.parent / "shared" / "eval-data")
    args = parser.parse_args()
    images = sorted((args.eval_data / "icdar15" / "images").glob("*.jpg"))[: args.images]
    paths = [str(p) for p in images]
    with tempfile.TemporaryDirectory() as out:
        cli = [sys.executable, "-c", "import sys; from openread.cli import main; sys.exit(main())"]
        bulk = _run([*cli, "bulk", *paths, "--out", out, "--no-progress"])
    loop = _run([sys.executable, "-c", _LOOP, *paths])
    on_ray = _ray(cli, paths)
    print(f"{len(paths)} icdar15 images (1 page each), {os.cpu_count()} CPUs")
    print(f"{'engine':<28} {'images/s':>9} {'pages/s':>8} {'seconds':>8}")
    sides = [("openread bulk (local)", bulk), ("openread bulk (ray, 2 actors)", on_ray)]
    for name, (seconds, _) in [*sides, ("openread loop (1 proc)", loop)]:
        rate = len(paths) / seconds
        print(f"{name:<28} {rate:>9.2f} {rate:>8.2f} {seconds:>8.1f}")
    print(f"peak RSS of the largest child process (ru_maxrss): {max(bulk[1], loop[1]):.0f} MiB")


if __name__ == "__main__":
    main()
