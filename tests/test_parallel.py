"""The owner of parallelism: onnxruntime session options and the server's defaults."""

from __future__ import annotations

import threading

import onnxruntime as ort
import pytest

from openread import Settings
from openread.parallel import session_options, thread_map


def test_model_sessions_do_not_spin_and_use_the_thread_setting() -> None:
    options = session_options(3)
    assert isinstance(options, ort.SessionOptions)
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    # a spinning pool burns a core between calls, and two images in flight fight for the cores
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_two_images_are_read_at_once_by_default() -> None:
    settings = Settings()
    assert settings.workers == 2
    assert Settings.from_env({}).workers == 2


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_map_keeps_order_and_stops_starting_items_once_one_satisfies_until(
    threads: int,
) -> None:
    assert thread_map(lambda x: x * x, [1, 2, 3, 4], threads) == [1, 4, 9, 16]
    started: list[int] = []
    lock = threading.Lock()

    def square(x: int) -> int:
        with lock:
            started.append(x)
        return x * x

    items = list(range(1, 21))
    results = thread_map(square, items, threads, until=lambda r: r >= 25)
    assert results[:5] == [1, 4, 9, 16, 25]
    # items are started in order, and none after the satisfying one but those already running
    # when it finished (at most one per other thread)
    assert sorted(started) == list(range(1, len(started) + 1))
    assert len(started) <= 5 + (threads - 1)
    for x, r in zip(items, results, strict=True):
        assert r == (x * x if x in started else None)


def test_thread_map_re_raises_the_first_error() -> None:
    def fail_on_three(x: int) -> int:
        if x == 3:
            raise RuntimeError("three")
        return x

    for threads in (1, 2):
        with pytest.raises(RuntimeError, match="three"):
            thread_map(fail_on_three, [1, 2, 3, 4], threads)
