"""atheris harness for stage 1 (``openread.pipeline.decode``).

    python fuzz/make_corpus.py
    python fuzz/fuzz_decode.py -atheris_runs=10000 fuzz/corpus/decode

Each input is taken as the bytes of an uploaded image and goes through ``load_image`` with the
default limits (Azure's) and then with the relaxed limits (sides below 50 px accepted, which
reaches the pixel conversion with images the default limits refuse). Either the result is a
valid image (uint8, H x W x 3, C-contiguous, sides within the limits) or an
``openread.errors.OpenReadError`` subclass is raised. Anything else (another exception, an
invalid image, a crash, a timeout, running out of memory) is a finding.

Python warnings are errors here (as under pytest's ``-W error``); ``FUZZ_WARNINGS=default``
runs with the interpreter's normal warning filters instead (as the server does).
"""

from __future__ import annotations

import os
import sys
import warnings

import atheris

with atheris.instrument_imports(include=["openread", "PIL"]):
    from PIL import Image

    Image.init()  # import every format plugin now, so that they are instrumented too
    from openread.errors import OpenReadError
    from openread.pipeline.decode import DecodedImage, load_image
    from openread.settings import ImageLimits

DEFAULT_LIMITS = ImageLimits()
RELAXED_LIMITS = ImageLimits(relaxed=True)


class FindingError(AssertionError):
    """The decode stage broke its contract for this input."""


def check(image: DecodedImage, limits: ImageLimits) -> None:
    pixels = image.pixels
    if pixels.dtype.name != "uint8" or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise FindingError(f"bad pixel array: dtype {pixels.dtype}, shape {pixels.shape}")
    if not pixels.flags.c_contiguous:
        raise FindingError("pixels are not C-contiguous")
    low = 1 if limits.relaxed else limits.min_side
    sides = (image.width, image.height)
    if min(sides) < low or max(sides) > limits.max_side:
        raise FindingError(f"decoded {sides}, outside the side limits")
    if image.width * image.height > limits.max_pixels:
        raise FindingError(f"decoded {sides}, more than {limits.max_pixels} pixels")


def test_one_input(data: bytes) -> None:
    for limits in (DEFAULT_LIMITS, RELAXED_LIMITS):
        try:
            image = load_image(data, limits)
        except OpenReadError:
            continue
        check(image, limits)


def main() -> None:
    if os.environ.get("FUZZ_WARNINGS", "error") == "error":
        warnings.simplefilter("error")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
