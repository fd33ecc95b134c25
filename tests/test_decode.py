"""Stage 1 (decode/validate): every bad input gets the right error from the taxonomy."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from openread import (
    ImageBytesSizeError,
    ImageLimits,
    InvalidImageFormatError,
    InvalidImageSizeError,
    InvalidRequestError,
)
from openread.pipeline.decode import WEBP_MAX_PIXELS, decode_bytes, load_image

LIMITS = ImageLimits()


def encoded(size: tuple[int, int], fmt: str, mode: str = "RGB", **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white" if mode in ("RGB", "L") else 0).save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "ICO"])
def test_accepted_formats_decode(fmt: str) -> None:
    size = (64, 64) if fmt == "ICO" else (120, 80)
    image = decode_bytes(encoded(size, fmt), LIMITS)
    assert image.pixels.shape == (size[1], size[0], 3)
    assert image.pixels.dtype == np.uint8


def test_transparent_png_is_composited_on_white() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(buffer, format="PNG")
    image = decode_bytes(buffer.getvalue(), LIMITS)
    assert int(image.pixels.min()) == 255


def test_sixteen_bit_grayscale_decodes() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((60, 60), 40000, dtype=np.uint16)).save(buffer, format="PNG")
    assert decode_bytes(buffer.getvalue(), LIMITS).pixels.shape == (60, 60, 3)


def test_empty_and_oversize_bytes() -> None:
    with pytest.raises(ImageBytesSizeError):
        decode_bytes(b"", LIMITS)
    with pytest.raises(ImageBytesSizeError):
        decode_bytes(b"\xff" * 101, ImageLimits(max_bytes=100))


def test_garbage_and_unsupported_formats() -> None:
    with pytest.raises(InvalidImageFormatError):
        decode_bytes(b"this is not an image at all", LIMITS)
    with pytest.raises(InvalidImageFormatError):
        decode_bytes(encoded((100, 100), "PPM"), LIMITS)  # a real image, not an Azure format


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_truncated_files_are_format_errors(fmt: str) -> None:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(buffer, format=fmt)
    data = buffer.getvalue()
    with pytest.raises(InvalidImageFormatError):
        decode_bytes(data[: len(data) // 2], LIMITS)


@pytest.mark.parametrize("size", [(49, 100), (100, 49), (16001, 60)])
def test_dimension_limits(size: tuple[int, int]) -> None:
    with pytest.raises(InvalidImageSizeError) as info:
        decode_bytes(encoded(size, "PNG", mode="L"), LIMITS)
    assert info.value.inner_code == "InvalidImageSize"


def test_dimension_edges_are_accepted() -> None:
    assert decode_bytes(encoded((50, 50), "PNG"), LIMITS).width == 50


def test_relaxed_limits_accept_tiny_images() -> None:
    tiny = encoded((20, 12), "PNG")
    with pytest.raises(InvalidImageSizeError):
        decode_bytes(tiny, LIMITS)
    assert decode_bytes(tiny, ImageLimits(relaxed=True)).pixels.shape == (12, 20, 3)


def test_pixel_bomb_is_refused_before_decoding() -> None:
    # a 10000x10000 PNG of one colour compresses to a few KB but would be 300 MB decoded
    bomb = encoded((10000, 10000), "PNG", mode="1")
    assert len(bomb) < 100_000
    with pytest.raises(InvalidImageSizeError):
        decode_bytes(bomb, ImageLimits(max_pixels=50_000_000))


def test_paths_arrays_and_wrong_types(tmp_path: Path) -> None:
    file = tmp_path / "x.png"
    file.write_bytes(encoded((80, 60), "PNG"))
    assert load_image(str(file), LIMITS).width == 80
    with pytest.raises(InvalidRequestError):
        load_image(tmp_path / "missing.png", LIMITS)
    gray = np.zeros((60, 70), dtype=np.uint8)
    assert load_image(gray, LIMITS).pixels.shape == (60, 70, 3)
    with pytest.raises(InvalidRequestError):
        load_image(np.zeros((60, 70), dtype=np.float32), LIMITS)
    with pytest.raises(InvalidRequestError):
        load_image(12345, LIMITS)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=4096))
def test_arbitrary_bytes_never_escape_the_taxonomy(data: bytes) -> None:
    try:
        image = decode_bytes(data, LIMITS)
    except InvalidRequestError:
        return
    assert image.pixels.ndim == 3


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_real_images_never_escape_the_taxonomy(data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]))
    original = bytearray(encoded((64, 64), fmt))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(original)))
    with contextlib.suppress(InvalidRequestError):
        decode_bytes(bytes(original[:cut]), LIMITS)


# --------------------------------------------------------------------------- memory per pixel


def _ico_embedding_png(width: int, height: int) -> bytes:
    """An ICO whose directory says 256x256 but whose embedded PNG is ``width`` x ``height``."""
    import struct

    png = io.BytesIO()
    Image.new("1", (width, height), 1).save(png, "PNG")
    payload = png.getvalue()
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(payload), 6 + 16)
    return header + entry + payload


@pytest.mark.filterwarnings("ignore:Image was not the expected size:UserWarning")
def test_ico_with_an_oversized_embedded_png_is_refused_before_decoding() -> None:
    # a server does not run with warnings as errors: Pillow only warns about the mismatch
    with pytest.raises(InvalidImageSizeError):
        decode_bytes(_ico_embedding_png(16_500, 60), ImageLimits())


@pytest.mark.parametrize("mode", ["I;16", "RGBA", "LA"])
def test_deep_and_alpha_images_decode_within_a_few_bytes_per_pixel(mode: str) -> None:
    # before: float64 copies (16-bit) and full-size compositing images (alpha) took ~25 bytes
    # per pixel; now the output (3 B/px), the source at its own depth and chunks remain
    import tracemalloc

    side = 2000
    if mode == "I;16":
        source = Image.fromarray(np.full((side, side), 40_000, dtype=np.uint16))
    else:
        source = Image.new(mode, (side, side))
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    data = buffer.getvalue()
    tracemalloc.start()
    try:
        decoded = decode_bytes(data, ImageLimits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.pixels.shape == (side, side, 3)
    assert peak / (side * side) < 12, f"{peak / (side * side):.1f} bytes per pixel"


def test_webp_has_its_own_pixel_limit() -> None:
    # before: a 16000 x 5592 lossless WEBP was decoded (1,375 MiB peak, bench.memory)
    width = 16_000
    over = io.BytesIO()
    Image.new("RGB", (width, WEBP_MAX_PIXELS // width + 1), "white").save(
        over, "WEBP", lossless=True, method=0
    )
    with pytest.raises(InvalidImageSizeError, match=f"more than {WEBP_MAX_PIXELS} pixels"):
        decode_bytes(over.getvalue(), ImageLimits())
    small = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(small, "WEBP", lossless=True)
    assert decode_bytes(small.getvalue(), ImageLimits()).pixels.shape == (200, 300, 3)
