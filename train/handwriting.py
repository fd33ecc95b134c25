"""Fine-tune PP-OCRv6 small's recogniser on handwriting: openread's handwriting line reader.

    pip install '.[train]'                     # torch, onnx2torch, onnx (training only)
    bash scripts/system-deps --dev             # the handwriting and printed fonts rendered below
    python -m train.handwriting --minutes 60   # convert, fine-tune, checkpoint, export, verify
    python -m train.handwriting --minutes 60 --resume   # go on from the last checkpoint
    python -m train.handwriting --minutes 60 --init src/openread/data/handwriting_rec.onnx
                                               # go on from an exported reader (no checkpoint)

One command does everything:

1. **convert** the shipped recogniser (``rapidocr/models/PP-OCRv6_rec_small.onnx``, verified
   against the models manifest) to PyTorch with onnx2torch. Its three ``SAME_UPPER`` paddings
   (2x2 stride-1 convolutions and max pool of the stem) become explicit ``Pad`` nodes (zeros
   for the convolutions, edge values for the max pool, which equals ONNX's padding for a
   2-wide window), and its final softmax is dropped so that CTC trains on the logits;
2. **fine-tune** it with CTC on a mix of real French handwritten lines
   (``../shared/train-data/handwriting_fr``, CC-BY-4.0), English lines rendered in Debian's
   handwriting fonts from real English words (wordfreq) and printed lines rendered as
   ``train/style.py`` renders them (replay, so that print is not forgotten). Handwriting
   augmentation: slant, stroke width, elastic distortion, blur, paper backgrounds. The crops
   have the geometry the service feeds (48 px high, width scaled with the aspect, padded with
   the normalised 0 to at least 320 px); batches are bucketed by width and capped in pixels;
   BatchNorm stays in eval mode and the first ``--freeze`` convolutions are frozen;
3. **checkpoint** every few minutes outside the repository (``--checkpoints``, default
   ``/work/ckpt/hw21``) and resume from it (``--resume``); where the checkpoint is lost,
   ``--init`` goes on from an exported reader instead (its weights loaded back into the
   converted graph exactly, its record's runs carried over; the optimizer starts afresh and
   warms up again);
4. **export** to ONNX (softmax put back, the dictionary copied into the metadata) and
   **verify** the export against PyTorch on held-out lines (probabilities and greedy text);
5. record the data, seed, settings, losses and held-out CER next to the model
   (``src/openread/data/handwriting.json``) so that it can be rebuilt.

Never trained on ``../shared/eval-data``: that is for evaluation only. A part of the training
lines (``--holdout``) is kept aside to measure the held-out CER before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from train import style as style_train

REPO = Path(__file__).resolve().parent.parent
TRAIN_DATA = style_train.TRAIN_DATA
OUT = REPO / "src" / "openread" / "data" / "handwriting_rec.onnx"
CHECKPOINTS = Path("/work/ckpt/hw21")
FONTS = style_train.FONTS

HEIGHT = 48
MIN_WIDTH = 320
STRIDE = 8


@dataclass(frozen=True)
class Config:
    seed: int = 20261203
    batch: int = 16
    max_pixels: int = 16 * 640
    """A batch holds at most this many columns in all (width of its widest crop x crops)."""
    max_width: int = 1024
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup: int = 40
    min_lr: float = 0.1
    """The cosine schedule (over the time budget) ends at this fraction of ``lr``."""
    freeze: int = 40
    """The first convolutions (in graph order) that are not trained."""
    mix: tuple[tuple[str, float], ...] = (("fr", 0.5), ("en", 0.25), ("print", 0.25))
    holdout: int = 200
    """French training lines kept aside (never trained on) to measure the CER."""
    print_dev: int = 150
    """Rendered printed lines (their own seed) to measure what print loses."""
    hand_dev: int = 150
    """Rendered English handwritten lines (their own seed)."""
    checkpoint_minutes: float = 5.0
    clip: float = 5.0


# --- conversion -------------------------------------------------------------------------


def shipped_recognizer() -> Path:
    from openread.models import RECOGNIZER, resolve

    return resolve(RECOGNIZER)


def _explicit_padding(model: Any) -> Any:
    """The ONNX model with SAME_UPPER paddings as explicit Pad nodes and no final softmax."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    nodes = list(graph.node)
    new_nodes = []
    for node in nodes:
        attrs = {a.name: a for a in node.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"].s == b"SAME_UPPER":
            kernel = list(helper.get_attribute_value(attrs["kernel_shape"]))
            strides = list(helper.get_attribute_value(attrs["strides"]))
            if any(s != 1 for s in strides):
                raise ValueError(f"{node.name}: SAME_UPPER with stride {strides}")
            begins = [(k - 1) // 2 for k in kernel]
            ends = [(k - 1) - b for k, b in zip(kernel, begins, strict=True)]
            pads_name = f"{node.name}.explicit_pads"
            graph.initializer.append(
                numpy_helper.from_array(
                    np.array([0, 0, *begins, 0, 0, *ends], dtype=np.int64), pads_name
                )
            )
            padded = f"{node.input[0]}.padded_for_{node.name}"
            mode = "edge" if node.op_type == "MaxPool" else "constant"
            new_nodes.append(
                helper.make_node(
                    "Pad", [node.input[0], pads_name], [padded], name=f"{node.name}.pad", mode=mode
                )
            )
            node.input[0] = padded
            kept = [a for a in node.attribute if a.name != "auto_pad"]
            del node.attribute[:]
            node.attribute.extend(kept)
        new_nodes.append(node)
    last = new_nodes[-1]
    if last.op_type != "Softmax" or last.output[0] != graph.output[0].name:
        raise ValueError("the recogniser does not end with its softmax")
    new_nodes[-1] = helper.make_node("Identity", [last.input[0]], [last.output[0]], name="logits")
    del graph.node[:]
    graph.node.extend(new_nodes)
    onnx.checker.check_model(model)
    return model


def convert(path: Path) -> tuple[Any, tuple[str, ...], dict[str, str]]:
    """The recogniser as a PyTorch module (N, 3, 48, W) -> logits (N, W/8, classes), its
    charset (index 0 the CTC blank, the last a space) and its ONNX metadata."""
    import onnx
    from onnx2torch import convert as onnx2torch_convert

    model = onnx.load(str(path))
    metadata = {p.key: p.value for p in model.metadata_props}
    charset = ("", *metadata["character"].split("\n"), " ")
    return onnx2torch_convert(_explicit_padding(model)), charset, metadata


def load_exported(model: Any, path: Path) -> float:
    """Put the weights of a reader exported by :func:`export` back into ``model`` (a fresh
    :func:`convert` of the base recogniser), so that training goes on from the shipped reader
    when its checkpoint is lost. The export keeps every parameter under its own name
    (``inner.<name>``) except the three convolutions that ONNX export folds with the batch norm
    after them: those take the folded weight and bias (the batch norm becomes ``x + bias``).
    Returns the largest probability difference to the export itself on random inputs, and
    refuses a mismatch (> 1e-3)."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = model.state_dict()
    loaded = {k: torch.from_numpy(init["inner." + k].copy()) for k in state if "inner." + k in init}
    folded = [
        (init[n.input[1]], init[n.input[2]])
        for n in graph.node
        if n.op_type == "Conv" and not n.input[1].startswith("inner.") and len(n.input) > 2
    ]
    pairs = []
    for node in model.graph.nodes:
        if node.op == "call_module" and isinstance(
            model.get_submodule(node.target), torch.nn.BatchNorm2d
        ):
            conv = node.args[0]
            if conv.op != "call_module" or not isinstance(
                model.get_submodule(conv.target), torch.nn.Conv2d
            ):
                raise ValueError(f"{node.target} does not follow a convolution")
            pairs.append((str(conv.target), str(node.target)))
    if len(pairs) != len(folded):
        raise ValueError(f"{len(folded)} folded convolutions for {len(pairs)} conv+bn pairs")
    for (conv, bn), (weight, bias) in zip(pairs, folded, strict=True):
        norm = model.get_submodule(bn)
        loaded[f"{conv}.weight"] = torch.from_numpy(weight.copy())
        if f"{conv}.bias" in state:
            loaded[f"{conv}.bias"] = torch.zeros_like(state[f"{conv}.bias"])
        loaded[f"{bn}.weight"] = torch.ones_like(state[f"{bn}.weight"])
        loaded[f"{bn}.bias"] = torch.from_numpy(bias.copy())
        loaded[f"{bn}.running_mean"] = torch.zeros_like(state[f"{bn}.running_mean"])
        loaded[f"{bn}.running_var"] = torch.full_like(state[f"{bn}.running_var"], 1 - norm.eps)
    model.load_state_dict({**state, **loaded})
    model.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 3, HEIGHT, 400)))
    with torch.no_grad():
        mine = torch.softmax(model(x.float()), dim=2).numpy()
    theirs = session.run(None, {"x": x.float().numpy()})[0]
    diff = float(np.abs(mine - theirs).max())
    if diff > 1e-3:
        raise ValueError(f"{path}: the loaded weights differ from the export ({diff:.2e})")
    return diff


def conv_parameters(module: Any) -> list[list[Any]]:
    """The parameters of each convolution, in graph order."""
    import torch

    out = []
    for node in module.graph.nodes:
        if node.op == "call_module":
            sub = module.get_submodule(node.target)
            if isinstance(sub, torch.nn.Conv2d):
                out.append(list(sub.parameters()))
    return out


# --- data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    source: str
    text: str
    pixels: npt.NDArray[np.uint8]
    """(h, w, 3) uint8 BGR, any height (scaled to 48 rows in the batch)."""


def encode(text: str, index: dict[str, int]) -> list[int]:
    return [index[c] for c in text if c in index]


def in_charset(text: str, index: dict[str, int]) -> str:
    return " ".join("".join(c for c in text if c in index).split())


def french_lines() -> list[tuple[str, str]]:
    records = [json.loads(x) for x in (TRAIN_DATA / "lines.jsonl").read_text().splitlines()]
    return [(str(TRAIN_DATA / r["image"]), r["text"]) for r in records]


def slant(grey: npt.NDArray[np.uint8], shear: float) -> npt.NDArray[np.uint8]:
    """Shear a dark-on-white line horizontally (positive: leaning right), widening it."""
    h, w = grey.shape
    extra = math.ceil(abs(shear) * h)
    matrix = np.float32([[1, -shear, shear * h if shear > 0 else 0.0], [0, 1, 0]])
    return np.asarray(
        cv2.warpAffine(
            grey, matrix, (w + extra, h), borderMode=cv2.BORDER_CONSTANT, borderValue=255
        ),
        dtype=np.uint8,
    )


def elastic(
    grey: npt.NDArray[np.uint8], rng: random.Random, alpha: float, sigma: float
) -> npt.NDArray[np.uint8]:
    """Elastic distortion: a smooth random displacement field of ``alpha`` pixels."""
    h, w = grey.shape
    nprng = np.random.default_rng(rng.randrange(2**32))
    dx = cv2.GaussianBlur(nprng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(nprng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    dx *= alpha / norm
    dy *= alpha / norm
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.asarray(
        cv2.remap(
            grey,
            xs + dx,
            ys + dy,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=255,
        ),
        dtype=np.uint8,
    )


def hand_geometry(grey: npt.NDArray[np.uint8], rng: random.Random, strength: float) -> Any:
    """Slant, stroke width and elastic distortion of a dark-on-light grey line (h, w)."""
    h = grey.shape[0]
    if rng.random() < 0.6 * strength + 0.2:
        grey = slant(grey, rng.uniform(-0.35, 0.35) * strength)
    r = rng.random()
    k = max(2, round(h / 24))
    if r < 0.2:
        grey = cv2.erode(grey, np.ones((k, k), np.uint8))  # thicker ink
    elif r < 0.35:
        grey = cv2.dilate(grey, np.ones((2, 2), np.uint8))  # thinner ink
    if rng.random() < 0.5 * strength + 0.1:
        grey = elastic(grey, rng, alpha=rng.uniform(0.5, 2.5) * h / 48 * 2, sigma=h / 8)
    if rng.random() < 0.3:  # squeeze or stretch horizontally
        f = rng.uniform(0.8, 1.25)
        grey = cv2.resize(grey, (max(8, int(grey.shape[1] * f)), h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(grey, dtype=np.uint8)


def paper(grey: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """A grey dark-on-light line on a coloured paper background, blurred and noisy -> BGR."""
    nprng = np.random.default_rng(rng.randrange(2**32))
    img = grey.astype(np.float32) / 255.0
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / max(hi - lo, 1e-3)
    h, w = img.shape
    ground = np.array([rng.uniform(0.6, 1.0) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.4:  # yellowed / sticky-note paper
        ground *= np.array([rng.uniform(0.6, 0.9), rng.uniform(0.85, 1.0), 1.0], np.float32)
    ink = np.array([rng.uniform(0.0, 0.45) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.3:  # blue ink
        ink = np.array([rng.uniform(0.35, 0.7), rng.uniform(0.1, 0.3), rng.uniform(0.0, 0.2)])
    colour = img[..., None] * ground + (1.0 - img[..., None]) * ink.astype(np.float32)
    if rng.random() < 0.5:
        gx = np.linspace(rng.uniform(0.75, 1.1), rng.uniform(0.75, 1.1), w, dtype=np.float32)
        colour *= gx[None, :, None]
    if rng.random() < 0.4:
        scale = rng.choice((4, 8, 16))
        small = nprng.normal(0, rng.uniform(0.02, 0.08), (max(1, h // scale), max(1, w // scale)))
        colour += cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)[
            ..., None
        ]
    if rng.random() < 0.1:  # ruled paper
        step = int(h * rng.uniform(0.7, 1.0))
        y = rng.randrange(max(1, step))
        line = np.array([rng.uniform(0.5, 0.9) for _ in range(3)], dtype=np.float32)
        colour[y : y + 1] = np.minimum(colour[y : y + 1], line)
    if rng.random() < 0.4:
        colour = cv2.GaussianBlur(colour, (0, 0), rng.uniform(0.3, 1.2) * h / 48)
    if rng.random() < 0.3:
        factor = rng.uniform(0.35, 0.8)
        small_img = cv2.resize(
            colour, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA
        )
        colour = cv2.resize(small_img, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4:
        colour += nprng.normal(0, rng.uniform(0.005, 0.04), colour.shape).astype(np.float32)
    out = np.asarray(np.clip(colour * 255.0, 0, 255), dtype=np.uint8)
    if rng.random() < 0.4:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(40, 95)])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(out, dtype=np.uint8)


def english_text(rng: random.Random, words: Sequence[str], texts: style_train.Texts) -> str:
    r = rng.random()
    if r < 0.75:
        count = rng.randint(1, 9)
        text = " ".join(rng.choice(words) for _ in range(count))
        if rng.random() < 0.5:
            text = text[0].upper() + text[1:]
        if rng.random() < 0.3:
            text += rng.choice(".,;:!?")
        if rng.random() < 0.1:
            month = rng.choice(
                (
                    "Jan",
                    "Feb",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "Aug",
                    "Sept",
                    "Oct",
                    "Nov",
                    "Dec",
                )
            )
            text = f"{month} {rng.randint(1, 31)} {rng.randint(1850, 2025)}"
        return text
    if r < 0.9:
        return texts.latin()
    return texts.short()


class Mix:
    """Draws training lines from the configured sources (never the held-out ones)."""

    def __init__(
        self, config: Config, index: dict[str, int], rng: random.Random, held_out: set[int]
    ) -> None:
        import wordfreq

        self.config = config
        self.index = index
        self.rng = rng
        lines = french_lines()
        self.french = [
            (p, in_charset(t, index))
            for i, (p, t) in enumerate(lines)
            if i not in held_out and in_charset(t, index)
        ]
        self.texts = style_train.Texts([t for _, t in self.french], rng)
        self.english = [w for w in wordfreq.top_n_list("en", 20000) if in_charset(w, index) == w]
        self.hand_fonts = [FONTS / f for f in style_train.HAND_FONTS if (FONTS / f).is_file()]
        self.print_fonts = [FONTS / f for f in style_train.LATIN_PRINT if (FONTS / f).is_file()]
        if not self.hand_fonts or not self.print_fonts:
            raise SystemExit("fonts missing: run bash scripts/system-deps --dev")
        names = [name for name, _ in config.mix]
        weights = [w for _, w in config.mix]
        self.draw_source: Callable[[], str] = lambda: rng.choices(names, weights)[0]

    def sample(self) -> Line:
        while True:
            source = self.draw_source()
            line = getattr(self, f"_{source}")()
            if line is not None and line.text:
                width = math.ceil(HEIGHT * line.pixels.shape[1] / max(1, line.pixels.shape[0]))
                if width <= self.config.max_width and len(line.text) <= width // STRIDE // 2:
                    return line

    def _fr(self) -> Line | None:
        path, text = self.rng.choice(self.french)
        grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if grey is None:
            return None
        if self.rng.random() < 0.7:
            grey = hand_geometry(grey, self.rng, strength=0.4)
            pixels = paper(grey, self.rng)
        else:
            pixels = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        return Line("fr", text, pixels)

    def _en(self) -> Line | None:
        text = in_charset(english_text(self.rng, self.english, self.texts), self.index)
        if not text:
            return None
        font = self.rng.choice(self.hand_fonts)
        drawn = style_train._drawable(text, font)
        grey = style_train.render(drawn, font, self.rng.randint(28, 60), self.rng)
        grey = hand_geometry(grey, self.rng, strength=1.0)
        return Line("en", in_charset(drawn, self.index), paper(grey, self.rng))

    def _print(self) -> Line | None:
        rng = self.rng
        r = rng.random()
        text = (
            self.texts.short()
            if r < 0.3
            else self.texts.receipt()
            if r < 0.5
            else (self.texts.latin() if rng.random() < 0.8 else self.texts.latin().upper())
        )
        text = in_charset(text, self.index)
        if not text:
            return None
        font = rng.choice(self.print_fonts)
        drawn = style_train._drawable(text, font)
        grey = style_train.render(drawn, font, rng.randint(22, 60), rng)
        return Line("print", in_charset(drawn, self.index), style_train.augment(grey, rng))


def to_input(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """A crop (h, w, 3) BGR -> (3, 48, w') float32 as ``pipeline.recognize`` feeds it."""
    width = max(1, math.ceil(HEIGHT * pixels.shape[1] / max(1, pixels.shape[0])))
    method = cv2.INTER_AREA if pixels.shape[0] > HEIGHT else cv2.INTER_LINEAR
    img = cv2.resize(pixels, (width, HEIGHT), interpolation=method)
    return np.ascontiguousarray((img.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1))


def batches(lines: Sequence[Line], config: Config) -> list[list[int]]:
    """Indices of ``lines`` grouped by width, each group within the pixel budget."""
    widths = [math.ceil(HEIGHT * ln.pixels.shape[1] / max(1, ln.pixels.shape[0])) for ln in lines]
    order = sorted(range(len(lines)), key=lambda i: widths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        wide = max(MIN_WIDTH, widths[i])
        full = bool(current) and (len(current) + 1) * wide > config.max_pixels
        if full or len(current) >= config.batch:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def tensor_batch(lines: Sequence[Line]) -> tuple[Any, list[int]]:
    import torch

    inputs = [to_input(ln.pixels) for ln in lines]
    width = max(MIN_WIDTH, *(x.shape[2] for x in inputs))
    batch = np.zeros((len(inputs), 3, HEIGHT, width), dtype=np.float32)
    for row, x in enumerate(inputs):
        batch[row, :, :, : x.shape[2]] = x
    return torch.from_numpy(batch), [x.shape[2] for x in inputs]


# --- evaluation -------------------------------------------------------------------------


def greedy(probabilities: npt.NDArray[np.float32], frames: int, charset: Sequence[str]) -> str:
    best = probabilities[:frames].argmax(axis=1)
    out = []
    previous = -1
    for symbol in best:
        k = int(symbol)
        if k not in {previous, 0} and k < len(charset):
            out.append(charset[k])
        previous = k
    return " ".join("".join(out).split())


def distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(pairs: Sequence[tuple[str, str]]) -> float:
    errors = sum(distance(p, t) for p, t in pairs)
    return errors / max(1, sum(len(t) for _, t in pairs))


def read_onnx(path: Path, lines: Sequence[Line], charset: Sequence[str]) -> list[str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    texts = [""] * len(lines)
    for group in batches(lines, Config()):
        batch, widths = tensor_batch([lines[i] for i in group])
        probs = session.run(None, {"x": batch.numpy()})[0]
        for row, i in enumerate(group):
            texts[i] = greedy(probs[row], math.ceil(widths[row] / STRIDE), charset)
    return texts


def evaluate_onnx(
    path: Path, dev: dict[str, list[Line]], charset: Sequence[str]
) -> dict[str, float]:
    return {
        name: round(
            cer(list(zip(read_onnx(path, lines, charset), [ln.text for ln in lines], strict=True))),
            4,
        )
        for name, lines in dev.items()
    }


def read_torch(model: Any, lines: Sequence[Line], charset: Sequence[str]) -> list[str]:
    import torch

    texts = [""] * len(lines)
    with torch.no_grad():
        for group in batches(lines, Config()):
            batch, widths = tensor_batch([lines[i] for i in group])
            probs = torch.softmax(model(batch), dim=2).numpy()
            for row, i in enumerate(group):
                texts[i] = greedy(probs[row], math.ceil(widths[row] / STRIDE), charset)
    return texts


def held_out_french(config: Config, index: dict[str, int]) -> tuple[list[Line], set[int]]:
    """The ``config.holdout`` French lines never trained on (their own seed), and the
    indices of all held-out lines in ``french_lines()``."""
    lines = french_lines()
    rng = random.Random(config.seed + 1)
    held = set(rng.sample(range(len(lines)), config.holdout))
    fr = []
    for i in sorted(held):
        path, text = lines[i]
        grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if grey is not None and in_charset(text, index):
            fr.append(Line("fr", in_charset(text, index), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)))
    return fr, held


def dev_sets(config: Config, index: dict[str, int]) -> tuple[dict[str, list[Line]], set[int]]:
    """Held-out French lines and rendered hand/print lines with their own seeds."""
    fr, held = held_out_french(config, index)
    mix = Mix(
        dataclasses_replace(config, mix=(("en", 1.0),)), index, random.Random(config.seed + 2), held
    )
    en = [mix.sample() for _ in range(config.hand_dev)]
    mix = Mix(
        dataclasses_replace(config, mix=(("print", 1.0),)),
        index,
        random.Random(config.seed + 3),
        held,
    )
    printed = [mix.sample() for _ in range(config.print_dev)]
    return {"fr_held_out": fr, "en_rendered": en, "print_rendered": printed}, held


def dataclasses_replace(config: Config, **changes: Any) -> Config:
    import dataclasses

    return dataclasses.replace(config, **changes)


def evaluate(model: Any, dev: dict[str, list[Line]], charset: Sequence[str]) -> dict[str, float]:
    return {
        name: round(
            cer(
                list(zip(read_torch(model, lines, charset), [ln.text for ln in lines], strict=True))
            ),
            4,
        )
        for name, lines in dev.items()
    }


# --- export -----------------------------------------------------------------------------


def export(model: Any, metadata: dict[str, str], out: Path) -> None:
    import onnx
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return torch.softmax(self.inner(x), dim=2)

    wrapper = WithSoftmax(model).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 3, HEIGHT, MIN_WIDTH),),
        str(tmp),
        input_names=["x"],
        output_names=["fetch_name_0"],
        dynamic_axes={"x": {0: "batch", 3: "width"}, "fetch_name_0": {0: "batch", 1: "frames"}},
        opset_version=17,
        dynamo=False,
    )
    exported = onnx.load(str(tmp))
    del exported.metadata_props[:]
    for key, value in metadata.items():
        entry = exported.metadata_props.add()
        entry.key = key
        entry.value = value
    onnx.save(exported, str(out))
    tmp.unlink()


def verify(model: Any, path: Path, lines: Sequence[Line], charset: Sequence[str]) -> dict[str, Any]:
    """The export's probabilities against PyTorch's, batch by batch, and its greedy text."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    same = 0
    for group in batches(lines, Config()):
        batch, widths = tensor_batch([lines[i] for i in group])
        with torch.no_grad():
            expected = torch.softmax(model(batch), dim=2).numpy()
        got = session.run(None, {"x": batch.numpy()})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
        for row in range(len(group)):
            frames = math.ceil(widths[row] / STRIDE)
            same += greedy(got[row], frames, charset) == greedy(expected[row], frames, charset)
    return {"lines": len(lines), "max_probability_difference": worst, "same_text": same}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- training ---------------------------------------------------------------------------


@dataclass
class State:
    step: int = 0
    seconds: float = 0.0
    samples: dict[str, int] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)


def save_checkpoint(
    path: Path, *, model: Any, optimizer: Any, state: State, rng: random.Random, config: Config
) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": asdict(state),
            "rng": rng.getstate(),
            "config": asdict(config),
        },
        tmp,
    )
    tmp.replace(path)


def train(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    config = Config(
        mix=args.mix,
        seed=args.seed,
        lr=args.lr,
        freeze=args.freeze,
        batch=args.batch,
        checkpoint_minutes=args.checkpoint_minutes,
        holdout=args.holdout,
        print_dev=args.dev_lines,
        hand_dev=args.dev_lines,
    )
    torch.set_num_threads(args.threads)
    torch.manual_seed(config.seed)
    base = shipped_recognizer()
    source = base
    earlier: dict[str, Any] = {}
    if args.init is not None:
        # Go on from an exported reader (the shipped one, when its checkpoint is lost): a copy,
        # since --out may be the same file, and the record of its earlier runs.
        args.checkpoints.mkdir(parents=True, exist_ok=True)
        source = args.checkpoints / "init.onnx"
        shutil.copyfile(args.init, source)
        if args.init.with_suffix(".json").is_file():
            earlier = json.loads(args.init.with_suffix(".json").read_text())
    model, charset, metadata = convert(base)
    if args.init is not None:
        diff = load_exported(model, source)
        print(f"started from {args.init} (max probability difference {diff:.1e})", flush=True)
    index = {c: i for i, c in enumerate(charset) if c}
    dev, held = dev_sets(config, index)
    model.eval()  # BatchNorm statistics stay those of PP-OCRv6
    frozen = [p for params in conv_parameters(model)[: config.freeze] for p in params]
    frozen_ids = {id(p) for p in frozen}
    for p in frozen:
        p.requires_grad_(False)
    trainable = [p for p in model.parameters() if id(p) not in frozen_ids]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    state = State()
    if earlier:
        state = State(
            step=int(earlier["steps"]),
            seconds=float(earlier["train_seconds"]),
            samples=dict(earlier["samples"]),
            losses=[(int(a), float(b)) for a, b in earlier["losses"]],
            runs=[{**r, "from": "init"} for r in earlier["runs"]],
        )
    checkpoint = args.checkpoints / "last.pt"
    resumed = bool(args.resume and checkpoint.is_file())
    if resumed:
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = State(**saved["state"])
        rng.setstate(saved["rng"])
        print(f"resumed from {checkpoint} at step {state.step}", flush=True)
    mix = Mix(config, index, rng, held)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    budget = args.minutes * 60.0
    if args.until:
        hour, minute = (int(x) for x in args.until.split(":"))
        now = time.gmtime()
        left = (hour * 60 + minute) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
        budget = min(budget, left - args.reserve * 60.0)
        print(
            f"training for {budget / 60:.1f} min (until {args.until} UTC less "
            f"{args.reserve} min to export and measure)",
            flush=True,
        )
    run_start = time.monotonic()
    last_save = run_start
    first_step = state.step
    warm_from = 0 if resumed else first_step
    pool: list[Line] = []
    queue: list[list[int]] = []
    window: list[float] = []
    while True:
        elapsed = time.monotonic() - run_start
        if elapsed >= budget or (args.steps and state.step - first_step >= args.steps):
            break
        if not queue:
            pool = [mix.sample() for _ in range(config.batch * 8)]
            queue = batches(pool, config)
            rng.shuffle(queue)
        group = [pool[i] for i in queue.pop()]
        fraction = min(1.0, elapsed / budget)
        lr = config.lr * (
            config.min_lr + (1 - config.min_lr) * 0.5 * (1 + math.cos(math.pi * fraction))
        )
        if state.step - warm_from < config.warmup:  # a fresh optimizer warms up
            lr *= (state.step - warm_from + 1) / config.warmup
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch, widths = tensor_batch(group)
        labels = [encode(ln.text, index) for ln in group]
        logits = model(batch)
        frames = logits.shape[1]
        log_probs = torch.log_softmax(logits, dim=2).transpose(0, 1)
        input_lengths = torch.tensor([min(frames, math.ceil(w / STRIDE)) for w in widths])
        target_lengths = torch.tensor([len(x) for x in labels])
        targets = torch.tensor([k for x in labels for k in x], dtype=torch.long)
        loss = ctc(log_probs, targets, input_lengths, target_lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.clip)
        optimizer.step()
        state.step += 1
        for ln in group:
            state.samples[ln.source] = state.samples.get(ln.source, 0) + 1
        window.append(float(loss.detach()))
        if state.step % 10 == 0:
            mean = float(np.mean(window))
            window = []
            state.losses.append((state.step, round(mean, 4)))
            now = time.monotonic() - run_start
            print(
                f"step {state.step} loss {mean:.3f} lr {lr:.2e} width {batch.shape[3]} "
                f"{now:.0f} s ({now / max(1, state.step - first_step):.2f} s/step)",
                flush=True,
            )
        if time.monotonic() - last_save >= config.checkpoint_minutes * 60:
            state.seconds += time.monotonic() - last_save
            last_save = time.monotonic()
            save_checkpoint(
                checkpoint, model=model, optimizer=optimizer, state=state, rng=rng, config=config
            )
            print(f"checkpoint {checkpoint} at step {state.step}", flush=True)
    state.seconds += time.monotonic() - last_save
    state.runs.append(
        {
            "steps": state.step - first_step,
            "seconds": round(time.monotonic() - run_start, 1),
            "resumed": bool(args.resume and first_step > 0),
            "threads": args.threads,
        }
    )
    save_checkpoint(
        checkpoint, model=model, optimizer=optimizer, state=state, rng=rng, config=config
    )
    print(
        f"trained {state.step - first_step} steps in {time.monotonic() - run_start:.0f} s; "
        f"checkpoint {checkpoint}",
        flush=True,
    )
    export(model, metadata, args.out)
    check = verify(model, args.out, dev["fr_held_out"][:32] + dev["print_rendered"][:16], charset)
    print(f"export {args.out}: {check}", flush=True)
    if check["same_text"] != check["lines"] or check["max_probability_difference"] > 1e-3:
        raise SystemExit(f"the export differs from PyTorch: {check}")
    baseline = evaluate_onnx(source, dev, charset)
    after = evaluate_onnx(args.out, dev, charset)
    print(f"held-out CER (greedy, onnxruntime): before {baseline} -> trained {after}", flush=True)
    import onnx
    import onnx2torch

    record: dict[str, Any] = {
        "model": args.out.name,
        "sha256": sha256(args.out),
        "size": args.out.stat().st_size,
        "base": {"file": "rapidocr/models/PP-OCRv6_rec_small.onnx", "sha256": sha256(base)},
        "init": (
            {
                "file": str(args.init),
                "sha256": sha256(source),
                "command": earlier.get("command", "?"),
                "held_out_cer": earlier.get("held_out_cer", {}),
            }
            if args.init is not None
            else None
        ),
        "command": "python -m train.handwriting " + " ".join(args.argv),
        "config": asdict(config),
        "data": {
            "fr": f"{TRAIN_DATA.relative_to(REPO.parent)} ({len(mix.french)} lines trained on, "
            f"{len(dev['fr_held_out'])} held out), CC-BY-4.0, see its README",
            "en": "lines of wordfreq's 20,000 most frequent English words (and train/style.py "
            "texts) rendered in Debian handwriting fonts (train/style.py HAND_FONTS)",
            "print": "Latin lines, receipt fields and short tokens rendered in printed fonts and "
            "augmented by train/style.py (replay)",
            "eval_data": "never used",
        },
        "steps": state.step,
        "train_seconds": round(state.seconds, 1),
        "samples": state.samples,
        "runs": state.runs,
        "losses": state.losses,
        "held_out_cer": {
            "shipped" if args.init is None else "init": baseline,
            "trained": after,
            "lines": {k: len(v) for k, v in dev.items()},
        },
        "export_check": check,
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnx2torch": getattr(onnx2torch, "__version__", "?"),
            **style_train._versions(),
        },
    }
    args.record.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} and {args.record}", flush=True)
    return record


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    """``fr=0.6,en=0.15,print=0.25`` -> the weights of the training sources."""
    out = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("fr", "en", "print"):
            raise argparse.ArgumentTypeError(f"unknown source {name!r} (fr, en, print)")
        out.append((name, float(weight)))
    return tuple(out)


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--minutes",
        type=float,
        default=60.0,
        help="training time of this run (then it checkpoints and exports)",
    )
    parser.add_argument(
        "--until",
        default="",
        help="HH:MM UTC: stop training --reserve minutes before it, whatever --minutes says",
    )
    parser.add_argument("--reserve", type=float, default=6.0)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps too")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    parser.add_argument("--checkpoint-minutes", type=float, default=Config.checkpoint_minutes)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--record", type=Path, default=None, help="provenance JSON (default: next to --out, .json)"
    )
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--lr", type=float, default=Config.lr)
    parser.add_argument("--freeze", type=int, default=Config.freeze)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--holdout", type=int, default=Config.holdout)
    parser.add_argument("--dev-lines", type=int, default=Config.print_dev)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this exported reader (e.g. the shipped one) instead of PP-OCRv6 small; "
        "its .json record is carried over",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=Config.mix,
        help="source weights, e.g. fr=0.6,en=0.15,print=0.25",
    )
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.record is None:
        args.record = args.out.with_suffix(".json")
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
