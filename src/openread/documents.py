"""Documents for the v3.x Read API: bytes -> pages (an image, the pages of a PDF, the frames of a
multi-page TIFF), opened once, rendered one page at a time.

    open_document(bytes, settings) -> Document      validates what can be checked up front
    Document.select(pages)         -> page numbers  the ``pages`` query (``1,3-5``, ``2-``, ``-4``)
    Document.page(number)          -> Page          renders and decodes that one page

PDFs are rendered with PDFium (``pypdfium2``) to pixels and read like any image: a PDF's embedded
text layer is never used (it need not be what is visible). PDF pages are measured in inches, as
Azure does (``unit: inch``); image and TIFF pages in pixels. Limits (Azure's v3.2): at most
``settings.max_document_bytes`` bytes and ``settings.max_pages`` pages, PDF pages at most 17 x 17
inches, each page's pixels within ``settings.limits`` (sides, pixel count).

Memory stays bounded for any page count: the document's bytes are held once, a page is rendered
only when asked for and dropped by the caller after it was read; nothing holds every page. PDFium
is not thread-safe, so every call into it holds one process-wide lock (rendering pages of several
documents is serialised; reading the rendered pixels is not).
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import threading
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from .errors import (
    DocumentLimitError,
    ImageBytesSizeError,
    InvalidDocumentError,
    InvalidPageRangeError,
    InvalidRequestError,
)
from .pipeline import decode
from .settings import ImageLimits, Settings

__all__ = [
    "MAX_PDF_INCHES",
    "PDF_DPI",
    "Document",
    "Page",
    "kind_of",
    "open_document",
    "parse_pages",
]

PDF_DPI = 200.0
"""Resolution PDF pages are rendered at (lowered for pages that would exceed the pixel limits,
raised for pages too small for the minimum side)."""
MAX_PDF_INCHES = 17.0
"""Azure's largest PDF page side."""
_POINTS_PER_INCH = 72.0
_PAGE_ITEM = re.compile(r"^(\d+|\d+-\d+|\d+-|-\d+)$")
_PDFIUM = threading.Lock()
"""Held around every PDFium call (PDFium is not thread-safe)."""

_FAILURES = decode.DECODE_FAILURES
"""What Pillow raises (or warns, under ``-W error``) for a malformed file (``decode``'s list)."""

Kind = Literal["image", "pdf", "tiff"]
Unit = Literal["pixel", "inch"]


@dataclass(frozen=True, slots=True)
class PageRange:
    """One item of a ``pages`` selection: ``first``..``last`` inclusive (None: to the end)."""

    first: int
    last: int | None


def parse_pages(text: str | None) -> tuple[PageRange, ...]:
    """The ``pages`` query parameter (``InvalidPageRangeError`` if malformed); () = all pages."""
    if text is None or not text.strip():
        return ()
    ranges = []
    for raw in text.split(","):
        item = raw.strip()
        if not _PAGE_ITEM.fullmatch(item):
            raise InvalidPageRangeError(f"The page range '{item[:40]}' is invalid.")
        start, dash, end = item.partition("-")
        first = int(start) if start else 1
        last = (int(end) if end else None) if dash else first
        if first < 1 or (last is not None and last < first):
            raise InvalidPageRangeError(f"The page range '{item[:40]}' is invalid.")
        ranges.append(PageRange(first, last))
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class Page:
    """One page ready for the engine.

    ``width``/``height`` are in ``unit``; ``scale`` is pixels per unit (1 for pixel pages, the
    render resolution for PDF pages), so a pixel coordinate divided by ``scale`` is in ``unit``."""

    number: int
    image: decode.DecodedImage
    unit: Unit
    width: float
    height: float
    scale: float


class Document:
    """An opened document; ``page`` may be called from any thread."""

    def __init__(
        self, kind: Kind, page_count: int, data: bytes, limits: ImageLimits, pdf: object = None
    ) -> None:
        self.kind = kind
        self.page_count = page_count
        self._data = data
        self._limits = limits
        self._pdf = pdf

    def select(self, ranges: tuple[PageRange, ...]) -> tuple[int, ...]:
        """The page numbers ``ranges`` selects in this document, in order, each once
        (``InvalidPageRangeError`` when it selects none)."""
        if not ranges:
            return tuple(range(1, self.page_count + 1))
        chosen: dict[int, None] = {}
        for item in ranges:
            last = self.page_count if item.last is None else min(item.last, self.page_count)
            chosen.update(dict.fromkeys(range(item.first, last + 1)))
        if not chosen:
            raise InvalidPageRangeError(
                f"The page range selects no page of this document ({self.page_count} pages)."
            )
        return tuple(sorted(chosen))

    def check_sizes(self, numbers: tuple[int, ...]) -> None:
        """Refuse PDF pages among ``numbers`` that are over 17 x 17 inches (without rendering)."""
        if self.kind != "pdf":
            return
        for number in numbers:
            width_pt, height_pt = self._pdf_size(number)
            check_pdf_page(number, width_pt / _POINTS_PER_INCH, height_pt / _POINTS_PER_INCH)

    def page(self, number: int) -> Page:
        """Render (PDF) or decode (image, TIFF frame) page ``number`` (1-based) and check it
        against the limits. Raises an ``InvalidRequestError`` for a page that cannot be read."""
        if not 1 <= number <= self.page_count:
            raise InvalidPageRangeError(f"The document has no page {number}.")
        if self.kind == "pdf":
            return self._pdf_page(number)
        if self.kind == "tiff":
            with Image.open(io.BytesIO(self._data), formats=["TIFF"]) as image:
                try:
                    image.seek(number - 1)
                    frame = image.copy()
                except _FAILURES as exc:
                    raise InvalidDocumentError(
                        f"TIFF page {number} cannot be decoded: {type(exc).__name__}"
                    ) from exc
            decoded = decode.load_image(frame, self._limits)
        else:
            decoded = decode.decode_bytes(self._data, self._limits)
        return Page(number, decoded, "pixel", decoded.width, decoded.height, 1.0)

    def close(self) -> None:
        """Release PDFium's document (the object is unusable afterwards)."""
        pdf, self._pdf = self._pdf, None
        if pdf is not None:
            with _PDFIUM:
                pdf.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _pdf_size(self, number: int) -> tuple[float, float]:
        with _PDFIUM:
            width, height = self._pdf.get_page_size(number - 1)  # type: ignore[attr-defined]
        return float(width), float(height)

    def _pdf_page(self, number: int) -> Page:
        import pypdfium2

        width_pt, height_pt = self._pdf_size(number)
        width_in, height_in = width_pt / _POINTS_PER_INCH, height_pt / _POINTS_PER_INCH
        check_pdf_page(number, width_in, height_in)
        dpi = render_dpi(width_in, height_in, self._limits)
        try:
            with _PDFIUM:
                page = self._pdf[number - 1]  # type: ignore[index]
                try:
                    bitmap = page.render(scale=dpi / _POINTS_PER_INCH, may_draw_forms=True)
                    image = bitmap.to_pil()
                    bitmap.close()
                finally:
                    page.close()
        except pypdfium2.PdfiumError as exc:
            raise InvalidDocumentError(f"PDF page {number} cannot be rendered: {exc}") from exc
        decoded = decode.load_image(image, self._limits)
        scale = decoded.width / width_in
        return Page(number, decoded, "inch", round(width_in, 4), round(height_in, 4), scale)


def check_pdf_page(number: int, width_in: float, height_in: float) -> None:
    """Refuse a PDF page larger than Azure's 17 x 17 inches (or of no size)."""
    if not (0 < width_in <= MAX_PDF_INCHES and 0 < height_in <= MAX_PDF_INCHES):
        raise DocumentLimitError(
            f"PDF page {number} is {width_in:.1f} x {height_in:.1f} inches; the maximum PDF "
            f"dimension is {MAX_PDF_INCHES:.0f} x {MAX_PDF_INCHES:.0f} inches."
        )


def render_dpi(width_in: float, height_in: float, limits: ImageLimits) -> float:
    """``PDF_DPI``, lowered to keep the rendered page within the side and pixel limits and
    raised (as far as those allow) to give its shorter side at least the minimum side."""
    dpi = PDF_DPI
    dpi = max(dpi, (limits.min_side + 1) / min(width_in, height_in))
    dpi = min(dpi, (limits.max_side - 1) / max(width_in, height_in))
    return min(dpi, math.sqrt(limits.max_pixels / (width_in * height_in)) * 0.999)


def _kind(data: bytes) -> Kind:
    if data[:5] == b"%PDF-" or (b"%PDF-" in data[:1024] and data.lstrip()[:5] == b"%PDF-"):
        return "pdf"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return "image"


def kind_of(data: bytes) -> Kind:
    """What ``open_document`` opens ``data`` as, from its first bytes (nothing is decoded)."""
    return _kind(data)


def open_document(data: bytes, settings: Settings) -> Document:
    """Open ``data`` as a document and check what can be checked without rendering it: the byte
    limit, the format, the page count, PDF page sizes, and for a single image its decoding.

    Raises ``ImageBytesSizeError``, ``InvalidDocumentError`` (broken or password protected),
    ``DocumentLimitError`` (too many pages, PDF pages over 17 inches) or the image errors."""
    max_bytes = settings.max_document_bytes
    if not data or len(data) > max_bytes:
        raise ImageBytesSizeError(
            f"The image size is not allowed to be zero or larger than {max_bytes} bytes."
        )
    limits = dataclasses.replace(settings.limits, max_bytes=max_bytes)
    kind = _kind(data)
    if kind == "pdf":
        return _open_pdf(data, settings, limits)
    if kind == "tiff":
        return _open_tiff(data, settings, limits)
    decode.decode_bytes(data, limits)  # validates the image now: a 400, not a failed job
    return Document("image", 1, data, limits)


def _too_many(count: str, settings: Settings) -> DocumentLimitError:
    return DocumentLimitError(
        f"The document has {count} pages; at most {settings.max_pages} pages are accepted."
    )


def _open_pdf(data: bytes, settings: Settings, limits: ImageLimits) -> Document:
    import pypdfium2

    try:
        with _PDFIUM:
            pdf = pypdfium2.PdfDocument(data)
            count = len(pdf)
    except pypdfium2.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise InvalidDocumentError(
                "The input data is not a valid image or password protected: "
                "the PDF is protected by a password."
            ) from exc
        raise InvalidDocumentError(
            f"The input data is not a valid image or password protected: {message}"
        ) from exc
    document = Document("pdf", count, data, limits, pdf)
    try:
        if count < 1:
            raise InvalidDocumentError("The PDF has no page.")
        if count > settings.max_pages:
            raise _too_many(str(count), settings)
    except InvalidRequestError:
        document.close()
        raise
    return document


def _open_tiff(data: bytes, settings: Settings, limits: ImageLimits) -> Document:
    try:
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as image:
            count = 0
            # Count frames one by one so that a page bomb stops at the limit.
            while True:
                count += 1
                if count > settings.max_pages:
                    raise _too_many(f"more than {settings.max_pages}", settings)
                try:
                    image.seek(count)
                except EOFError:
                    break
            image.seek(0)
            decode.load_image(image.copy(), limits)  # the first page must be a readable image
    except InvalidRequestError:
        raise
    except _FAILURES as exc:
        raise InvalidDocumentError(
            f"The input data is not a valid image or password protected: {type(exc).__name__}"
        ) from exc
    return Document("tiff", count, data, limits)
