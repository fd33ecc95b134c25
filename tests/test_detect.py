"""The detector's input sizing (pure: no model)."""

from __future__ import annotations

import numpy as np
import pytest

from openread.pipeline.detect import DetectOptions, _prepare


@pytest.mark.parametrize(
    ("width", "height", "scale", "shape"),
    [
        (325, 80, 3.0, (256, 992)),  # a label: enlarged 3x, not to 736 px
        (1280, 720, 736 / 720, (736, 1312)),  # a photo: shorter side to 736
        (760, 1000, 1.0, (1024, 768)),  # a form: as it is
        (4000, 3000, (1024 * 1024 / 12e6) ** 0.5, (896, 1184)),  # a large page: 1 Mpx at most
        (1000, 2000, (1024 * 1024 / 2e6) ** 0.5, (1472, 736)),  # a receipt
        (1434, 49, 2000 / 1434, (256, 2016)),  # a long line: padded so the detector has context
    ],
)
def test_detector_input_size(width: int, height: int, scale: float, shape: tuple[int, int]) -> None:
    scaled = _prepare(np.zeros((height, width, 3), dtype=np.uint8), DetectOptions())
    assert scaled.scale == pytest.approx(scale)
    assert scaled.tensor.shape == (1, 3, *shape)
    assert scaled.tensor.dtype == np.float32


def test_long_side_is_bounded_too() -> None:
    scaled = _prepare(np.zeros((100, 3000, 3), dtype=np.uint8), DetectOptions())
    assert scaled.scale == pytest.approx(2000 / 3000)


def test_enlargement_is_bounded_by_option() -> None:
    pixels = np.zeros((80, 325, 3), dtype=np.uint8)
    assert _prepare(pixels, DetectOptions(max_upscale=100.0)).scale == pytest.approx(2000 / 325)
    assert _prepare(pixels, DetectOptions(max_upscale=1.0)).scale == 1.0
