"""The shipped handwriting reader on the held-out French train-data lines, read the way the
service reads them, at several widths.

    python -m train.heldout [--widths 1 --widths 1.5 --widths 1,1.5] [--threads 1]

The lines are the ones ``train.handwriting`` holds out (the same seed and count: never
trained on, and not the eval-data). Each ``--widths`` option is one row: the lines read by
``pipeline.handwriting.read`` with ``HandwritingOptions(widths=...)`` (the lexicon
correction included, as in the service; several widths: the most confident reading kept).
The ``greedy`` row is the export read without the lexicon, as ``train.handwriting`` scores
it. The last two rows are the engine's rule (``pipeline.handwriting.reread``): PP-OCRv6 small
reads every line, and the reader's reading replaces it when it is kept and at least as
confident, on every line or only on the lines small read below ``HandwritingOptions.below``.
Only onnxruntime and the service's code are needed (no torch).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from openread.models import HANDWRITING_RECOGNIZER, ModelStore, resolve
from openread.pipeline import handwriting, recognize
from openread.pipeline.orient import LineCrop
from train.handwriting import Config, cer, held_out_french, read_onnx


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.heldout", description=__doc__)
    parser.add_argument("--widths", action="append", help="comma-separated factors; repeatable")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    rows = args.widths or ["1", "1.25", "1.5", "1.75", "2", "1,1.5"]
    store = ModelStore.load(args.threads, scripts=False)
    if store.handwriting is None:
        raise SystemExit("the store has no handwriting reader")
    charset = store.charset
    lines, _ = held_out_french(Config(), store.symbol_index)
    truths = [line.text for line in lines]
    quad = np.zeros((4, 2), dtype=np.float32)
    crops = [LineCrop(quad, line.pixels, 0) for line in lines]
    print(f"{len(lines)} held-out French lines, reader {HANDWRITING_RECOGNIZER.path}")
    print()
    print("| reading | CER |")
    print("| --- | --- |")
    greedy = read_onnx(resolve(HANDWRITING_RECOGNIZER), lines, charset)
    print(f"| greedy, 1x (no lexicon) | {cer(list(zip(greedy, truths, strict=True))):.4f} |")
    for row in rows:
        options = handwriting.HandwritingOptions(widths=tuple(float(w) for w in row.split(",")))
        texts = [" ".join(x.text.split()) for x in handwriting.read(store, crops, options)]
        print(f"| widths {row} | {cer(list(zip(texts, truths, strict=True))):.4f} |", flush=True)
    small = recognize.recognize(store, crops)
    again = handwriting.read(store, crops)
    below = handwriting.HandwritingOptions().below
    for gate, label in ((1.01, "every line"), (below, f"lines small read below {below:g}")):
        chosen = [
            new
            if old.confidence < gate and recognize.kept(new) and new.confidence >= old.confidence
            else old
            for old, new in zip(small, again, strict=True)
        ]
        count = sum(old.confidence < gate for old in small)
        texts = [" ".join(x.text.split()) for x in chosen]
        print(
            f"| engine rule, {label} ({count} read again) "
            f"| {cer(list(zip(texts, truths, strict=True))):.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
