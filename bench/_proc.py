"""Helpers shared by the speed and load benchmarks: process memory read from ``/proc`` (no
psutil), percentiles, and a real ``openread serve`` subprocess on a free loopback port.

Memory figures are in MiB. ``VmRSS`` is the resident set now, ``VmHWM`` its high-water mark
since the process image was created (reset by ``execve``), and ``ru_maxrss`` is what
``getrusage(RUSAGE_SELF)`` reports as the peak (kept across ``execve`` on Linux, so it is at least
the parent's size at fork time; the benchmarks' parents stay small).
"""

from __future__ import annotations

import math
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "MemInfo",
    "ServerProcess",
    "cpu_seconds",
    "mem_self",
    "percentile",
    "rss_tree_mib",
    "start_server",
]

REPO = Path(__file__).resolve().parent.parent
_KIB = 1024.0
_RUNNING = re.compile(r"Uvicorn running on (https?)://127\.0\.0\.1:(\d+)")


# --- memory ----------------------------------------------------------------------------------


def _status_kib(pid: int | str, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``None`` if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text(encoding="ascii").split()]
        except OSError:
            continue
    return found


def rss_tree_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` and all its descendants, in MiB (``None`` if it is gone)."""
    own = _status_kib(pid, "VmRSS")
    if own is None:
        return None
    total, todo = own, _children(pid)
    while todo:
        child = todo.pop()
        total += _status_kib(child, "VmRSS") or 0
        todo += _children(child)
    return total / _KIB


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far, all its threads (``None`` if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class MemInfo:
    """This process's memory now: RSS, its high-water mark and ``ru_maxrss`` (MiB)."""

    rss_mib: float
    hwm_mib: float
    maxrss_mib: float


def mem_self() -> MemInfo:
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return MemInfo(
        rss_mib=(_status_kib("self", "VmRSS") or 0) / _KIB,
        hwm_mib=(_status_kib("self", "VmHWM") or 0) / _KIB,
        maxrss_mib=maxrss / _KIB,
    )


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (numpy's default); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- server ----------------------------------------------------------------------------------


def openread_command() -> list[str]:
    """The ``openread`` console script next to this interpreter, or an equivalent ``-c``."""
    script = Path(sys.executable).with_name("openread")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from openread.cli import main; sys.exit(main())"]


@dataclass
class ServerProcess:
    """A running ``openread serve`` whose output goes to ``log_path``."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    command: tuple[str, ...]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        """Terminate it (SIGTERM, then SIGKILL after 15 s); its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(args: Sequence[str], log_path: Path, timeout: float = 180.0) -> ServerProcess:
    """Start ``openread serve ARGS`` on 127.0.0.1 and a free port (``--port 0``; the port is read
    from uvicorn's start-up line) and wait until ``GET /ready`` answers 200. ``OPENREAD_*``
    variables are removed from its environment: ``ARGS`` alone configure it."""
    command = (*openread_command(), "serve", "--host", "127.0.0.1", "--port", "0", *args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENREAD_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    server = ServerProcess("", process, log_path, command)
    deadline = time.monotonic() + timeout
    try:
        while not server.base_url:
            match = _RUNNING.search(server.log())
            if match:
                server.base_url = f"{match[1]}://127.0.0.1:{match[2]}"
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openread serve did not start:\n{server.log()[-4000:]}")
            else:
                time.sleep(0.05)
        with httpx.Client() as client:
            while True:
                try:
                    if client.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                        return server
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"openread serve never got ready:\n{server.log()[-4000:]}")
                time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
