"""A weighted average of two exported handwriting readers of the same graph.

    python -m train.average A.onnx B.onnx --weight 0.3 --out AVG.onnx

Every float initializer becomes ``(1 - weight) * A + weight * B``; the graph, the metadata
(dictionary) and everything else are A's. Both files must come from ``train.handwriting``'s
export (one goes on from the other with ``--init``), so that their initializers have the same
names and shapes: a mismatch is an error, not a silent skip. To measure the average in the
service, put it at ``src/openread/data/handwriting_rec.onnx`` with its sha256 and size in
``models.py``, then run ``bench.handwriting`` and ``bench.accuracy`` (README, "Handwriting
reader").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def average(a: Path, b: Path, weight: float, out: Path) -> int:
    """Write the average to ``out``; the number of initializers averaged."""
    import onnx
    from onnx import numpy_helper

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    first, second = onnx.load(str(a)), onnx.load(str(b))
    others = {init.name: init for init in second.graph.initializer}
    count = 0
    for init in first.graph.initializer:
        x = numpy_helper.to_array(init)
        if x.dtype.kind != "f":
            continue
        if init.name not in others:
            raise ValueError(f"{b} has no initializer {init.name!r}")
        y = numpy_helper.to_array(others[init.name])
        if y.shape != x.shape:
            raise ValueError(f"{init.name}: shape {x.shape} in {a}, {y.shape} in {b}")
        mixed = (1.0 - weight) * x.astype(np.float64) + weight * y.astype(np.float64)
        init.CopyFrom(numpy_helper.from_array(mixed.astype(x.dtype), init.name))
        count += 1
    onnx.save(first, str(out))
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.average", description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--weight", type=float, required=True, help="B's share, 0..1")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    count = average(args.a, args.b, args.weight, args.out)
    print(f"averaged {count} initializers -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
