"""train.average: a weighted average of two exported readers (needs the ``train`` extra's onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import numpy_helper  # noqa: E402
from train.average import average  # noqa: E402

from openread.models import HANDWRITING_RECOGNIZER, RECOGNIZER, resolve  # noqa: E402


def _weights(path: Path) -> dict[str, np.ndarray]:
    model = onnx.load(str(path))
    return {
        i.name: numpy_helper.to_array(i)
        for i in model.graph.initializer
        if numpy_helper.to_array(i).dtype.kind == "f"
    }


def test_every_weight_is_interpolated(tmp_path: Path) -> None:
    reader = resolve(HANDWRITING_RECOGNIZER)
    doubled = onnx.load(str(reader))
    for init in doubled.graph.initializer:
        x = numpy_helper.to_array(init)
        if x.dtype.kind == "f":
            init.CopyFrom(numpy_helper.from_array((2 * x).astype(x.dtype), init.name))
    other = tmp_path / "doubled.onnx"
    onnx.save(doubled, str(other))
    out = tmp_path / "avg.onnx"
    count = average(reader, other, 0.25, out)
    before, after = _weights(reader), _weights(out)
    assert count == len(before) > 100
    for name, x in before.items():  # 0.75 x + 0.25 (2 x)
        assert np.allclose(after[name], 1.25 * x, rtol=1e-6, atol=1e-7), name
    assert onnx.load(str(out)).metadata_props == onnx.load(str(reader)).metadata_props


def test_readers_of_other_graphs_and_bad_weights_are_refused(tmp_path: Path) -> None:
    reader = resolve(HANDWRITING_RECOGNIZER)
    with pytest.raises(ValueError, match=r"initializer|shape"):  # three folded conv+bn pairs
        average(reader, resolve(RECOGNIZER), 0.5, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="weight"):
        average(reader, reader, 1.5, tmp_path / "y.onnx")
