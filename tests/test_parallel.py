"""The owner of parallelism: onnxruntime session options and the server's defaults."""

from __future__ import annotations

import onnxruntime as ort

from openread import Settings
from openread.parallel import session_options


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
