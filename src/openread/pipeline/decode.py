"""Stage 1: bytes (or a path, PIL image, array) -> a decoded, validated image.

Limits are checked in this order, each before the work it protects: byte size before opening,
format from the header, dimensions and pixel count from the header before the pixels are
decoded, then the full decode (a truncated or corrupt file fails here), then the EXIF
orientation is applied. The result is always 8-bit BGR (the models' training colour order).

WEBP has a lower pixel limit, ``WEBP_MAX_PIXELS`` (48 million, e.g. 16000 x 3000): Pillow's WEBP
decoder needs about 17 bytes a pixel (libwebp's RGBA canvases and Pillow's copy) before the
banded conversion starts, so a 16000 x 5592 WEBP, accepted by the general limit, peaked at
1,375 MiB; at the WEBP limit it peaks under 800 MiB (``python -m bench.memory``). Such an image
gets Azure's ``InvalidImageSize`` error, naming the WEBP limit.
Pillow's global settings are never changed.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from ..errors import (
    ImageBytesSizeError,
    InvalidImageFormatError,
    InvalidImageSizeError,
    InvalidRequestError,
)
from ..settings import ImageLimits

__all__ = ["ACCEPTED_FORMATS", "DecodedImage", "ImageInput", "decode_bytes", "load_image"]

ImageInput = Union[
    bytes,
    bytearray,
    memoryview,
    str,
    "os.PathLike[str]",
    Image.Image,
    npt.NDArray[np.uint8],
]
"""What ``read`` accepts: encoded image bytes, a file path (never a URL: strings are paths),
a PIL image, or an array of shape (H, W) or (H, W, 3) RGB / (H, W, 4) RGBA, dtype uint8."""

WEBP_MAX_PIXELS = 48_000_000
"""Most pixels a WEBP image may have (below ``ImageLimits.max_pixels``: see the module)."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "ICO", "TIFF", "MPO")
"""Azure's accepted formats; for multi-frame files the first frame is read."""
_OPENERS = tuple(f for f in ACCEPTED_FORMATS if f != "MPO")  # Pillow opens MPO as JPEG

# What Pillow raises for malformed files. Pillow also *warns* about damaged metadata; where the
# application turns warnings into errors (``-W error``, pytest), those arrive as exceptions and
# mean the same thing, so they are caught too (``warnings.catch_warnings`` is not thread-safe,
# so filters are never changed here).
DECODE_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    Warning,
)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image ready for the pipeline.

    ``pixels``: shape (height, width, 3), dtype uint8, BGR, C-contiguous; the EXIF orientation
    is already applied, so these are the pixels of "the original image" for every coordinate.
    """

    pixels: npt.NDArray[np.uint8]
    source_format: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def load_image(source: ImageInput, limits: ImageLimits) -> DecodedImage:
    """Decode and validate any accepted input (strings are file paths, never URLs)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return decode_bytes(bytes(source), limits)
    if isinstance(source, str | os.PathLike):
        return decode_bytes(_read_file(Path(source), limits), limits)
    if isinstance(source, Image.Image):
        _check_dimensions(source.size, limits)
        try:  # a lazily opened image is only decoded here
            pixels = _to_bgr(source)
        except DECODE_FAILURES as exc:
            raise InvalidImageFormatError(
                "Image format is not valid", inner_message=f"Image format is not valid: {exc}"
            ) from exc
        return DecodedImage(pixels, source.format or "PIL")
    if isinstance(source, np.ndarray):
        return DecodedImage(_array_to_bgr(source, limits), "ndarray")
    raise InvalidRequestError(
        f"cannot read an image from a {type(source).__name__}; "
        "pass bytes, a file path, a PIL image or a uint8 array"
    )


def decode_bytes(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decode encoded image bytes (JPEG, PNG, GIF, BMP, WEBP, ICO, TIFF, MPO)."""
    if len(data) == 0 or len(data) > limits.max_bytes:
        raise ImageBytesSizeError(
            f"The image size is not allowed to be zero or larger than {limits.max_bytes} bytes."
        )
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _size_error(limits) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageFormatError() from exc
    except DECODE_FAILURES as exc:  # malformed headers
        raise InvalidImageFormatError() from exc
    with image:
        _check_dimensions(image.size, limits)
        _check_webp_size(image, limits)
        try:
            _check_embedded_size(image, data, limits)
            image.load()
            pixels = _to_bgr(image)
        except DECODE_FAILURES as exc:  # truncated or corrupt data
            raise InvalidImageFormatError(
                "Image format is not valid", inner_message=f"Image format is not valid: {exc}"
            ) from exc
        return DecodedImage(pixels, image.format or "unknown")


def _read_file(path: Path, limits: ImageLimits) -> bytes:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageBytesSizeError(
                f"The image size is not allowed to be zero or larger than {limits.max_bytes} bytes."
            )
        return path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or exc
        raise InvalidRequestError(f"cannot read image file {str(path)!r}: {reason}") from exc


def _size_error(limits: ImageLimits) -> InvalidImageSizeError:
    return InvalidImageSizeError(
        f"The image has more than {limits.max_pixels} pixels, which is not allowed."
    )


def _check_embedded_size(image: Image.Image, data: bytes, limits: ImageLimits) -> None:
    """An ICO's entries may embed PNGs far larger than the directory says: check each PNG's own
    header before anything is decoded."""
    if image.format != "ICO":
        return
    for entry in getattr(getattr(image, "ico", None), "entry", ()):
        offset = int(entry.offset)
        header = data[offset : offset + 24]
        if header[:8] == b"\x89PNG\r\n\x1a\n" and len(header) == 24:
            width, height = struct.unpack(">II", header[16:24])
            if max(width, height) > limits.max_side:  # small entries (16x16 icons) are fine
                _check_dimensions((width, height), limits)
            if width * height > limits.max_pixels:
                raise _size_error(limits)


def _check_webp_size(image: Image.Image, limits: ImageLimits) -> None:
    width, height = image.size
    cap = min(limits.max_pixels, WEBP_MAX_PIXELS)
    if image.format == "WEBP" and width * height > cap:
        raise InvalidImageSizeError(
            f"The image has more than {cap} pixels, which is not allowed for a WEBP image."
        )


def _check_dimensions(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    too_small = min(width, height) < (1 if limits.relaxed else limits.min_side)
    if too_small or max(width, height) > limits.max_side:
        raise InvalidImageSizeError(
            f"The image dimension is not allowed to be smaller than {limits.min_side} and "
            f"larger than {limits.max_side}."
        )
    if width * height > limits.max_pixels:
        raise _size_error(limits)


_ROWS_PER_CHUNK = 256
"""Rows converted at a time: temporaries stay at a few MB whatever the image size."""

_TRANSPOSE_ORIENTATIONS = frozenset({5, 6, 7, 8})


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1-8), or 1 when absent or unreadable."""
    try:
        value = image.getexif().get(0x0112, 1)
    except DECODE_FAILURES:
        return 1  # unreadable EXIF: the stored pixel grid is the best we have
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(pixels: npt.NDArray[np.uint8], orientation: int) -> npt.NDArray[np.uint8]:
    """``pixels`` as a viewer shows them (the same result as ``ImageOps.exif_transpose``), with
    numpy views and one copy instead of Pillow's extra full-size images."""
    views = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: a.transpose(1, 0, 2)[::-1],
    }
    view = views.get(orientation)
    return pixels if view is None else np.ascontiguousarray(view(pixels))


def _to_bgr(image: Image.Image) -> npt.NDArray[np.uint8]:
    """8-bit BGR pixels of ``image`` with its EXIF orientation applied.

    Converted in bands of rows: memory is the decoded Pillow image, the 3-byte output and
    band-sized temporaries, plus one output-sized copy only for a rotated/flipped orientation (no
    float64 images, no full-size converted, composited or ``tobytes`` copies).
    """
    orientation = _orientation(image)
    width, height = image.size
    out = np.empty((height, width, 3), dtype=np.uint8)
    deep = image.mode in ("I", "I;16", "I;16B", "I;16L", "F")
    alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    scale = np.float32(255.0 / _brightest(image)) if deep else np.float32(1.0)
    for start in range(0, height, _ROWS_PER_CHUNK):
        stop = min(start + _ROWS_PER_CHUNK, height)
        band = image.crop((0, start, width, stop))
        if deep:
            out[start:stop] = _deep_band(band, scale)[:, :, None]
        elif alpha:
            out[start:stop] = _composited_band(band.convert("RGBA"))
        else:
            rgb = np.asarray(band if band.mode == "RGB" else band.convert("RGB"), dtype=np.uint8)
            out[start:stop] = rgb[:, :, ::-1]
    return _apply_orientation(out, orientation)


def _brightest(image: Image.Image) -> float:
    """The largest pixel value of a deep gray image (1.0 when it is not positive or not finite)."""
    extrema = image.getextrema()
    top = float(extrema[1]) if isinstance(extrema[1], int | float) else 0.0
    return top if np.isfinite(top) and top > 0 else 1.0


def _deep_band(band: Image.Image, scale: np.float32) -> npt.NDArray[np.uint8]:
    """A band of 16/32-bit or float gray -> 8-bit, scaled so the brightest pixel is 255."""
    values = np.asarray(band).astype(np.float32)
    np.nan_to_num(values, copy=False, posinf=255.0 / float(scale), neginf=0.0)
    values *= scale
    np.clip(values, 0, 255, out=values)
    return values.astype(np.uint8)


def _composited_band(band: Image.Image) -> npt.NDArray[np.uint8]:
    """A band of RGBA composited over white -> BGR, in 16-bit integers."""
    rgba = np.asarray(band, dtype=np.uint8)
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    color = rgba[:, :, 2::-1].astype(np.uint16)  # BGR order
    color *= alpha
    color += 255 * (255 - alpha)
    color += 127
    color //= 255
    return color.astype(np.uint8)


def _array_to_bgr(array: npt.NDArray[np.generic], limits: ImageLimits) -> npt.NDArray[np.uint8]:
    if array.dtype != np.uint8:
        raise InvalidRequestError(f"an image array must have dtype uint8, got {array.dtype}")
    if array.ndim == 2:
        rgb = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 3:
        rgb = array
    elif array.ndim == 3 and array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        color = array[:, :, :3].astype(np.float32)
        rgb = (color * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    else:
        raise InvalidRequestError(
            f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    _check_dimensions((int(rgb.shape[1]), int(rgb.shape[0])), limits)
    return np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.uint8)
