"""Stage 5: oriented line crops -> how each line is written (handwriting or not).

Azure v3.2 tells per line whether it is handwritten (``appearance.style``); the preview 4.0
shape lists the handwritten spans (``styles``). This stage answers it with a small classifier
over hand-crafted features of the upright line crop, computed with OpenCV and numpy:

* the crop is turned grey, scaled to 32 rows, stretched to full contrast and made dark ink on
  light paper (ink is the minority class of an Otsu threshold);
* gradient orientation histograms (9 unsigned bins) of four horizontal bands and of the whole
  line, and how much they vary between 32-pixel windows along it (print is made of straight,
  upright strokes that repeat; handwriting slants and curves, unevenly);
* stroke statistics of the ink: stroke width (distance transform), horizontal and vertical
  ink runs, connected components (size and height variation, how many per line height), the
  jaggedness of the ink's upper and lower contours, gaps between columns, and the row profile
  of the ink (print has a sharp x-height band).

A two-layer perceptron (weights in ``openread/data/style.npz``, trained by ``train/style.py``
on real handwritten lines and rendered printed and handwritten lines, never on the eval-data)
turns the standardised features into the probability that the line is handwritten. numpy
only: no onnxruntime session, about a tenth of a millisecond of matrix work per line (the
features dominate, see ``bench/style.py``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from ..errors import ModelError
from ..result import Appearance
from .orient import warp
from .recognize import RecognizedLine

__all__ = ["FEATURES", "HEIGHT", "StyleModel", "classify", "features", "label", "probabilities"]

HEIGHT = 32
"""Rows of the scaled crop the features are computed on."""
_MAX_WIDTH = 48 * HEIGHT
"""Longer crops are squeezed to this width (a line's style does not change along it)."""
_BINS = 9
_BANDS = 4
_WINDOW = 32
_PROFILE = 8
FEATURES = _BANDS * _BINS + _BANDS + _BINS + _BINS + 2 + 26 + _PROFILE
"""Length of the feature vector (``features``)."""
FEATURE_VERSION = 1
"""Bumped whenever ``features`` changes; a model file records the version it was trained on."""


PRINT_PRIOR_LOGIT = math.log(0.95 / 0.05)
"""Subtracted from the network's logit: the training mix (about one handwritten line per
printed one, the printed ones rendered) makes the raw network call too many real printed
crops handwriting (receipts' tight fields, scene words). Equivalent to calling a line
handwriting only when the raw probability is at least 0.95, and it keeps the confidences
consistent with the decision. Chosen on half of the dev images (even-indexed pages of
handwriting_en/fr, the sticky note, sroie, icdar15, lines_cyrl/arab/grek: 827 ground-truth
regions) by balanced accuracy (0.969/0.712 handwriting/printed right at the raw 0.5, 0.945/0.905
at 0.95); on the other, held-out half (593 regions) 0.982/0.583 became 0.927/0.803. The network
itself was trained on train-data only (``train/style.py``)."""


@dataclass(frozen=True, slots=True)
class StyleModel:
    """The trained classifier: standardisation then a perceptron with ReLU hidden layers.

    ``mean``, ``scale``: (FEATURES,) float32; ``weights[i]``: (n_in, n_out) float32 and
    ``biases[i]``: (n_out,) float32, the last layer having one output (the logit of
    handwriting)."""

    mean: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]
    weights: tuple[npt.NDArray[np.float32], ...]
    biases: tuple[npt.NDArray[np.float32], ...]
    threshold: float = 0.5
    """Probability of handwriting above which a line is ``handwriting``."""

    @classmethod
    def load(cls, path: Path) -> StyleModel:
        """Read a model written by ``train/style.py`` (``np.savez``; no pickles)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["feature_version"])
                layers = int(data["layers"])
                model = cls(
                    mean=np.asarray(data["mean"], dtype=np.float32),
                    scale=np.asarray(data["scale"], dtype=np.float32),
                    weights=tuple(
                        np.asarray(data[f"w{i}"], dtype=np.float32) for i in range(layers)
                    ),
                    biases=tuple(
                        np.asarray(data[f"b{i}"], dtype=np.float32) for i in range(layers)
                    ),
                    threshold=float(data["threshold"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"model openread-style: cannot read {path}: {exc}") from exc
        if version != FEATURE_VERSION or model.mean.shape != (FEATURES,):
            raise ModelError(
                f"model openread-style: {path} was trained on features v{version} "
                f"({model.mean.shape[0]} values), this code computes v{FEATURE_VERSION} "
                f"({FEATURES})"
            )
        return model

    def predict(self, matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probability of handwriting for each row of ``matrix`` (n, FEATURES) -> (n,)."""
        hidden = (matrix - self.mean) / self.scale
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = hidden @ weight + bias
            if i < last:
                hidden = np.maximum(hidden, 0.0)
        logits = np.clip(hidden[:, 0] - PRINT_PRIOR_LOGIT, -30.0, 30.0)
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)


def label(
    model: StyleModel | None,
    pixels: npt.NDArray[np.uint8],
    lines: Sequence[RecognizedLine],
) -> tuple[RecognizedLine, ...]:
    """``lines`` with their ``appearance`` set (unchanged when there is no ``model``). Each
    line's crop is cut again from ``pixels`` ((H, W, 3) uint8 BGR, the image the quads refer
    to) along its quad, which starts at the text's own top-left corner, so the crop is upright
    whatever the line's direction, also for lines the script stage joined from pieces."""
    if model is None or not lines:
        return tuple(lines)
    crops = [warp(pixels, line.quad) for line in lines]
    return tuple(
        dataclasses.replace(line, appearance=appearance)
        for line, appearance in zip(lines, classify(model, crops), strict=True)
    )


def classify(model: StyleModel, crops: Sequence[npt.NDArray[np.uint8]]) -> tuple[Appearance, ...]:
    """The appearance of each upright line crop ((h, w, 3) uint8 BGR), in order."""
    out = []
    for p in probabilities(model, crops):
        handwriting = bool(p >= model.threshold)
        confidence = float(p) if handwriting else 1.0 - float(p)
        out.append(
            Appearance("handwriting" if handwriting else "other", round(min(1.0, confidence), 3))
        )
    return tuple(out)


def probabilities(
    model: StyleModel, crops: Sequence[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.float32]:
    """Probability of handwriting of each crop, shape (len(crops),)."""
    if not crops:
        return np.zeros(0, dtype=np.float32)
    return model.predict(np.stack([features(crop) for crop in crops]))


def features(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The feature vector (FEATURES,) float32 of an upright line crop (h, w, 3) uint8 BGR
    (or (h, w) grey)."""
    grey = np.asarray(
        pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), dtype=np.uint8
    )
    dark, ink = _normalise(grey)
    return np.concatenate([_gradients(dark), _strokes(ink), _profile(ink)]).astype(np.float32)


def _normalise(
    grey: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The crop scaled to HEIGHT rows as darkness in [0, 1] (ink high) and its ink mask."""
    h, w = grey.shape[:2]
    width = min(_MAX_WIDTH, max(HEIGHT // 2, math.ceil(HEIGHT * w / max(1, h))))
    method = cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR
    scaled = cv2.resize(grey, (width, HEIGHT), interpolation=method).astype(np.float32)
    lo, hi = np.percentile(scaled, (2.0, 98.0))
    light = np.clip((scaled - lo) / max(float(hi - lo), 8.0), 0.0, 1.0)
    level = np.asarray(np.rint(light * 255.0), dtype=np.uint8)
    _, binary = cv2.threshold(level, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary == 0
    if ink.mean() > 0.5:  # light ink on a dark ground
        ink = ~ink
        light = 1.0 - light
    return np.asarray(1.0 - light, dtype=np.float32), np.ascontiguousarray(ink)


def _normalised(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each row of ``counts`` divided by its sum (rows summing to 0 stay 0)."""
    totals = counts.sum(axis=-1, keepdims=True)
    out = np.zeros(counts.shape, dtype=np.float64)
    np.divide(counts, totals, out=out, where=totals > 0)
    return out


def _gradients(dark: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    gx = cv2.Sobel(dark, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(dark, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy).astype(np.float64)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle * (_BINS / np.pi)).astype(np.intp), _BINS - 1)
    width = dark.shape[1]
    band = (np.arange(HEIGHT) // (HEIGHT // _BANDS))[:, np.newaxis]
    per_band = np.asarray(
        np.bincount(
            (band * _BINS + bins).ravel(), weights=magnitude.ravel(), minlength=_BANDS * _BINS
        ),
        dtype=np.float64,
    ).reshape(_BANDS, _BINS)
    bands = _normalised(per_band)
    energy = _normalised(per_band.sum(axis=1))
    whole = _normalised(per_band.sum(axis=0))
    # windows of _WINDOW columns; a last partial window counts if it is over half a window
    windows = len(range(0, max(1, width - _WINDOW // 2), _WINDOW))
    column = np.arange(width) // _WINDOW
    inside = column < windows
    per_window = np.asarray(
        np.bincount(
            (column[np.newaxis, :] * _BINS + bins)[:, inside].ravel(),
            weights=magnitude[:, inside].ravel(),
            minlength=windows * _BINS,
        ),
        dtype=np.float64,
    ).reshape(windows, _BINS)
    spread = np.std(_normalised(per_window), axis=0) if windows > 1 else np.zeros(_BINS)
    peak = float(magnitude.max())
    edge_share = float((magnitude > 0.25 * peak).mean()) if peak > 0 else 0.0
    aspect = math.log(max(1.0, width / HEIGHT))
    return np.concatenate([bands.ravel(), energy, whole, spread, [edge_share, aspect]])


def _runs(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Lengths of the runs of True along each row of ``mask``."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    starts = np.flatnonzero(edges.ravel() == 1)
    stops = np.flatnonzero(edges.ravel() == -1)
    return np.asarray(stops - starts, dtype=np.intp)


def _spread(values: npt.NDArray[np.floating] | npt.NDArray[np.intp]) -> tuple[float, float]:
    """Mean and coefficient of variation (0, 0 when empty)."""
    if values.size == 0:
        return 0.0, 0.0
    mean = float(values.mean())
    return mean, float(values.std()) / mean if mean > 0 else 0.0


def _strokes(ink: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    height = float(HEIGHT)
    share = float(ink.mean())
    if not ink.any():
        return np.zeros(26)
    distance = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    peaks = distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))
    ridge = np.asarray(distance[ink & peaks], dtype=np.float64)
    width_mean, width_cv = _spread(ridge)
    horizontal_mean, horizontal_cv = _spread(_runs(ink))
    vertical_mean, vertical_cv = _spread(_runs(np.ascontiguousarray(ink.T)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    stats = stats[1:]
    stats = stats[stats[:, cv2.CC_STAT_AREA] >= 3]
    span = max(1, ink.shape[1])
    if len(stats):
        heights = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
        widths = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64)
        areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        tops = stats[:, cv2.CC_STAT_TOP].astype(np.float64)
        bottoms = tops + heights
        h_mean, h_cv = _spread(heights)
        w_mean, w_cv = _spread(widths)
        _, a_cv = _spread(areas)
        fill = float(np.mean(areas / np.maximum(1.0, heights * widths)))
        per_height = len(stats) * height / span
        bottom_spread = float(np.std(bottoms)) / height
        top_spread = float(np.std(tops)) / height
        widest = float(widths.max()) / span
    else:
        h_mean = h_cv = w_mean = w_cv = a_cv = fill = per_height = 0.0
        bottom_spread = top_spread = widest = 0.0
    columns = np.asarray(ink.any(axis=0), dtype=np.bool_)
    inked = np.flatnonzero(columns)
    first, last = int(inked[0]), int(inked[-1])
    inside = columns[first : last + 1]
    gaps = _runs(~inside[np.newaxis, :])
    top = ink[:, inked].argmax(axis=0).astype(np.float64)
    bottom = (HEIGHT - 1 - ink[::-1, inked].argmax(axis=0)).astype(np.float64)
    top_jag = float(np.abs(np.diff(top)).mean()) / height if len(top) > 1 else 0.0
    bottom_jag = float(np.abs(np.diff(bottom)).mean()) / height if len(bottom) > 1 else 0.0
    column_ink = ink[:, first : last + 1].sum(axis=0).astype(np.float64)
    _, column_cv = _spread(column_ink)
    return np.array(
        [
            share,
            width_mean / height,
            width_cv,
            horizontal_mean / height,
            horizontal_cv,
            vertical_mean / height,
            vertical_cv,
            h_mean / height,
            h_cv,
            w_mean / height,
            w_cv,
            a_cv,
            fill,
            per_height,
            bottom_spread,
            top_spread,
            widest,
            float((~inside).mean()),
            len(gaps) * height / max(1, len(inside)),
            float(gaps.mean()) / height if len(gaps) else 0.0,
            top_jag,
            bottom_jag,
            float(np.std(top)) / height,
            float(np.std(bottom)) / height,
            column_cv,
            math.log1p(count),
        ]
    )


def _profile(ink: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """The share of ink in each of _PROFILE bands of rows, relative to the fullest band."""
    rows = np.asarray(ink.mean(axis=1), dtype=np.float64).reshape(_PROFILE, -1).mean(axis=1)
    peak = float(rows.max())
    return np.asarray(rows / peak if peak > 0 else rows, dtype=np.float64)
