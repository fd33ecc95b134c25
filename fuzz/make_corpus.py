"""Write the seed corpora of the fuzz harnesses (generated with Pillow; nothing binary is
committed).

    python fuzz/make_corpus.py            # -> fuzz/corpus/decode/*, fuzz/corpus/request/*

``decode``: small valid images of every format ``openread.pipeline.decode`` accepts (JPEG, PNG,
GIF, BMP, WEBP, ICO, TIFF, MPO) in the modes and encodings that take different paths through
Pillow and
``decode._to_bgr`` (alpha, palette + transparency, 16-bit, float, 1-bit, CMYK, progressive,
interlaced, compressed TIFF, several frames, an EXIF orientation), plus a few tiny ones below the
minimum side.

``request``: raw HTTP/1.1 requests (what ``fuzz_request.py`` takes as input): every route, every
body form (raw bytes, ``image/*``, chunked, multipart, JSON ``{"url": ...}``), both ways of
giving the key, and the query parameters of the spec.

The functions here are also imported by ``fuzz_request.py`` (its in-memory images).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
API_KEY = "fuzz-key-1"
ROOT_PATH = "/proxy"
ANALYZE = "/computervision/imageanalysis:analyze"
QUERY = "api-version=2023-10-01&features=read"


def _picture(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> Image.Image:
    """A small picture with a bit of structure (so encoders do not collapse it to one colour)."""
    image = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle((w // 8, h // 4, w - w // 8, h // 2), outline=(10, 10, 10), width=2)
    draw.line((0, h - 1, w - 1, 0), fill=(200, 30, 30), width=1)
    draw.text((w // 6, h // 2 + 2), "Hi", fill=(0, 0, 0))
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA"):
        alpha = Image.linear_gradient("L").resize(size)
        converted = image.convert(mode[:-1])
        converted.putalpha(alpha)
        return converted
    return image.convert(mode)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    return _save(_picture((80, 56)), "JPEG", exif=exif.tobytes())


def _palette_with_transparency(fmt: str) -> bytes:
    image = _picture().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _save(image, fmt, transparency=0)


def _sixteen_bit_png() -> bytes:
    return _save(Image.linear_gradient("L").resize((64, 64)).convert("I;16"), "PNG")


def _frames(fmt: str, **params: object) -> bytes:
    first, second = _picture(), _picture().transpose(Image.Transpose.ROTATE_90)
    return _save(first, fmt, save_all=True, append_images=[second], **params)


def _float_tiff() -> bytes:
    return _save(Image.linear_gradient("L").resize((64, 64)).convert("F"), "TIFF")


def _int32_tiff() -> bytes:
    return _save(Image.linear_gradient("L").resize((64, 64)).convert("I"), "TIFF")


def decode_seeds() -> dict[str, bytes]:
    """Name -> encoded image, for the ``decode`` corpus."""
    makers: dict[str, Callable[[], bytes]] = {
        "jpeg-rgb.jpg": lambda: _save(_picture(), "JPEG", quality=60),
        "jpeg-gray.jpg": lambda: _save(_picture(mode="L"), "JPEG"),
        "jpeg-cmyk.jpg": lambda: _save(_picture(mode="CMYK"), "JPEG"),
        "jpeg-progressive.jpg": lambda: _save(_picture(), "JPEG", progressive=True),
        "jpeg-exif-orientation.jpg": _exif_rotated_jpeg,
        "mpo-two-frames.mpo": lambda: _frames("MPO"),
        "png-rgb.png": lambda: _save(_picture(), "PNG"),
        "png-rgba.png": lambda: _save(_picture(mode="RGBA"), "PNG"),
        "png-la.png": lambda: _save(_picture(mode="LA"), "PNG"),
        "png-palette-transparency.png": lambda: _palette_with_transparency("PNG"),
        "png-16bit.png": _sixteen_bit_png,
        "png-1bit.png": lambda: _save(_picture(mode="1"), "PNG"),
        "png-interlaced.png": lambda: _save(_picture(), "PNG", interlace=1),
        "png-tiny.png": lambda: _save(_picture((8, 6)), "PNG"),
        "gif.gif": lambda: _save(_picture(), "GIF"),
        "gif-transparency.gif": lambda: _palette_with_transparency("GIF"),
        "gif-animated.gif": lambda: _frames("GIF", duration=50, loop=0),
        "bmp-rgb.bmp": lambda: _save(_picture(), "BMP"),
        "bmp-palette.bmp": lambda: _save(_picture(mode="P"), "BMP"),
        "bmp-1bit.bmp": lambda: _save(_picture(mode="1"), "BMP"),
        "webp-lossy.webp": lambda: _save(_picture(), "WEBP", quality=50),
        "webp-lossless-alpha.webp": lambda: _save(_picture(mode="RGBA"), "WEBP", lossless=True),
        "webp-animated.webp": lambda: _frames("WEBP", duration=50),
        "ico.ico": lambda: _save(_picture(), "ICO", sizes=[(64, 64), (16, 16)]),
        "tiff-raw.tif": lambda: _save(_picture(), "TIFF"),
        "tiff-lzw.tif": lambda: _save(_picture(), "TIFF", compression="tiff_lzw"),
        "tiff-deflate-rgba.tif": lambda: _save(
            _picture(mode="RGBA"), "TIFF", compression="tiff_adobe_deflate"
        ),
        "tiff-packbits.tif": lambda: _save(_picture(mode="L"), "TIFF", compression="packbits"),
        "tiff-group4.tif": lambda: _save(_picture(mode="1"), "TIFF", compression="group4"),
        "tiff-jpeg.tif": lambda: _save(_picture(), "TIFF", compression="jpeg"),
        "tiff-float.tif": _float_tiff,
        "tiff-int32.tif": _int32_tiff,
        "tiff-16bit.tif": lambda: _save(
            Image.linear_gradient("L").resize((64, 64)).convert("I;16"), "TIFF"
        ),
        "tiff-two-pages.tif": lambda: _frames("TIFF"),
        "tiff-tiny.tif": lambda: _save(_picture((5, 9)), "TIFF"),
    }
    return {name: make() for name, make in makers.items()}


# --------------------------------------------------------------------------- requests


def http_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    chunked: bool = False,
    declared_length: int | None = None,
) -> bytes:
    """Raw HTTP/1.1 request bytes (``Content-Length`` or chunked framing added);
    ``declared_length`` sends that ``Content-Length`` whatever the body is."""
    lines = [f"{method} {target} HTTP/1.1", "host: openread.test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if chunked:
        lines.append("transfer-encoding: chunked")
        pieces = [body[i : i + 997] for i in range(0, len(body), 997)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        if declared_length is not None:
            lines.append(f"content-length: {declared_length}")
        elif body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def multipart(image: bytes, boundary: str = "fuzzboundary7MA4YWxk") -> tuple[str, bytes]:
    """A ``multipart/form-data`` content type and body with a text field and a file part."""
    body = (
        (
            f"--{boundary}\r\n"
            'content-disposition: form-data; name="note"\r\n\r\n'
            "hello\r\n"
            f"--{boundary}\r\n"
            'content-disposition: form-data; name="image"; filename="x.png"\r\n'
            "content-type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


def request_images() -> dict[str, bytes]:
    """The images the request fuzzer may put into bodies (small, so reading them is quick)."""
    return {
        "png": _save(_picture(), "PNG"),
        "jpeg": _save(_picture(), "JPEG", quality=60),
        "gif": _save(_picture(), "GIF"),
        "bmp": _save(_picture((52, 50)), "BMP"),
        "webp": _save(_picture(), "WEBP", quality=50),
        "tiny": _save(_picture((8, 6)), "PNG"),
    }


def request_seeds() -> Iterator[tuple[str, bytes]]:
    """Name -> raw HTTP request, for the ``request`` corpus."""
    images = request_images()
    png, jpeg = images["png"], images["jpeg"]
    key = [("ocp-apim-subscription-key", API_KEY)]
    octet = [*key, ("content-type", "application/octet-stream")]
    analyze = f"{ANALYZE}?{QUERY}"
    yield "octet-png", http_request("POST", analyze, octet, png)
    yield "image-jpeg", http_request("POST", analyze, [*key, ("content-type", "image/jpeg")], jpeg)
    yield "no-content-type", http_request("POST", analyze, key, images["gif"])
    yield "chunked", http_request("POST", analyze, octet, images["webp"], chunked=True)
    yield (
        "bearer-root-path",
        http_request(
            "POST",
            f"{ROOT_PATH}{ANALYZE}?features=Read&api-version=2024-02-01",
            [("authorization", f"Bearer {API_KEY}"), ("content-type", "image/bmp")],
            images["bmp"],
        ),
    )
    yield (
        "percent-colon",
        http_request("POST", f"/computervision/imageanalysis%3Aanalyze?{QUERY}", octet, png),
    )
    content_type, body = multipart(png)
    yield "multipart", http_request("POST", analyze, [*key, ("content-type", content_type)], body)
    content_type, body = multipart(png, boundary="b" * 257)
    yield (
        "multipart-long-boundary",
        http_request("POST", analyze, [*key, ("content-type", content_type)], body),
    )
    yield (
        "json-deep",
        http_request(
            "POST", analyze, [*key, ("content-type", "application/json")], b'{"url":' * 2000
        ),
    )
    yield (
        "json-url",
        http_request(
            "POST",
            analyze,
            [*key, ("content-type", "application/json")],
            b'{"url": "https://example.com/image.png"}',
        ),
    )
    yield (
        "all-params",
        http_request(
            "POST",
            f"{ANALYZE}?api-version=2023-10-01&features=read%2CREAD&language=pt"
            "&gender-neutral-caption=False&smartcrops-aspect-ratios=0.9,1.33"
            "&model-version=latest&openread-script=true",
            [*octet, ("x-ms-client-request-id", "client-1")],
            png,
        ),
    )
    yield (
        "caption-feature",
        http_request("POST", f"{ANALYZE}?api-version=2023-10-01&features=caption,read", octet, png),
    )
    yield "tiny-image", http_request("POST", analyze, octet, images["tiny"])
    yield (
        "no-key",
        http_request("POST", analyze, [("content-type", "application/octet-stream")], png),
    )
    yield "wrong-key", http_request("POST", analyze, [("ocp-apim-subscription-key", "nope")], png)
    yield "declared-huge", http_request("POST", analyze, octet, b"", declared_length=99_999_999)
    yield "empty-body", http_request("POST", analyze, octet, b"")
    yield "text-plain", http_request("POST", analyze, [*key, ("content-type", "text/plain")], b"x")
    yield "get-analyze", http_request("GET", analyze, key)
    for route in ("/health", "/ready", "/openread/languages", "/openapi.json", "/nope"):
        yield f"get{route.replace('/', '-')}", http_request("GET", route, key)
    yield "head-health", http_request("HEAD", "/health", [])


def write(directory: Path, seeds: dict[str, bytes] | Iterator[tuple[str, bytes]]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    items = seeds.items() if isinstance(seeds, dict) else seeds
    count = 0
    for name, data in items:
        (directory / name).write_bytes(data)
        count += 1
    return count


def main() -> int:
    decode = write(CORPUS / "decode", decode_seeds())
    request = write(CORPUS / "request", request_seeds())
    print(f"wrote {decode} decode seeds and {request} request seeds under {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
