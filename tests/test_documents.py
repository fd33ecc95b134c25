"""``documents``: PDF (pypdfium2) and multi-page TIFF pages, the ``pages`` selection, and the
v3.2 limits and errors (broken, password-protected, page-bombed and oversized PDFs)."""

from __future__ import annotations

import io

import pypdfium2
import pytest
from PIL import Image

from openread import Engine, Settings
from openread.documents import open_document, parse_pages
from openread.errors import (
    DocumentLimitError,
    ImageBytesSizeError,
    InvalidDocumentError,
    InvalidImageFormatError,
    InvalidPageRangeError,
)
from test_read_v32 import page_image, pdf_bytes

SETTINGS = Settings()


def blank_pdf(pages: int, width_pt: float = 612, height_pt: float = 792) -> bytes:
    pdf = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(width_pt, height_pt)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def tiff_bytes(pages: int) -> bytes:
    images = [page_image(n + 1) for n in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_parse_pages() -> None:
    assert parse_pages(None) == ()
    assert [(r.first, r.last) for r in parse_pages("1, 3-5,7-,-2")] == [
        (1, 1),
        (3, 5),
        (7, None),
        (1, 2),
    ]
    for bad in ("0", "a", "3-1", "1--2", "1,,2", "-"):
        with pytest.raises(InvalidPageRangeError):
            parse_pages(bad)


def test_pdf_pages_are_rendered_and_read(engine: Engine) -> None:
    with open_document(pdf_bytes(3), SETTINGS) as document:
        assert (document.kind, document.page_count) == ("pdf", 3)
        assert document.select(parse_pages("2-")) == (2, 3)
        page = document.page(3)
        assert (page.unit, page.width, page.height) == ("inch", 8.5, 11.0)
        assert page.image.width == 1700  # 200 dpi
        assert abs(page.scale - 200) < 0.01
        result = engine.read_decoded(page.image)
        assert result.lines[0].text == "Page number 3"


def test_tiff_pages(engine: Engine) -> None:
    with open_document(tiff_bytes(3), SETTINGS) as document:
        assert (document.kind, document.page_count) == ("tiff", 3)
        page = document.page(2)
        assert (page.unit, page.width, page.height, page.scale) == ("pixel", 850, 1100, 1.0)
        assert engine.read_decoded(page.image).lines[0].text == "Page number 2"
        with pytest.raises(InvalidPageRangeError):
            document.select(parse_pages("4-"))


def test_single_image_is_one_page() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(buffer, format="PNG")
    with open_document(buffer.getvalue(), SETTINGS) as document:
        assert (document.kind, document.page_count) == ("image", 1)
        assert document.page(1).unit == "pixel"
    with pytest.raises(InvalidImageFormatError):
        open_document(b"not an image at all", SETTINGS)


def test_broken_and_empty_documents() -> None:
    with pytest.raises(InvalidDocumentError):
        open_document(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", SETTINGS)
    with pytest.raises(ImageBytesSizeError):
        open_document(b"", SETTINGS)
    with pytest.raises(ImageBytesSizeError):
        open_document(b"%PDF-" + b"0" * 100, SETTINGS.replace(max_document_bytes=50))


def test_password_protected_pdf() -> None:
    """A PDF whose standard security handler has a user password: PDFium cannot open it."""
    data = blank_pdf(1)
    head, _, _ = data.rpartition(b"trailer")
    encrypt = (
        b"trailer\n<< /Size 10 /Root 1 0 R /ID [<0123456789abcdef0123456789abcdef>"
        b" <0123456789abcdef0123456789abcdef>] /Encrypt << /Filter /Standard /V 1 /R 2"
        b" /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >> >>\n%%EOF\n"
    )
    with pytest.raises(InvalidDocumentError):
        open_document(head + encrypt, SETTINGS)


def test_page_bomb_and_page_size_limits() -> None:
    with pytest.raises(DocumentLimitError, match="at most 2000 pages"):
        open_document(blank_pdf(2001), SETTINGS)
    with open_document(blank_pdf(5), SETTINGS.replace(max_pages=5)) as document:
        assert document.page_count == 5
    with open_document(blank_pdf(1, 18 * 72, 5 * 72), SETTINGS) as document:
        with pytest.raises(DocumentLimitError, match="17 x 17 inches"):
            document.check_sizes((1,))
        with pytest.raises(DocumentLimitError):
            document.page(1)


def test_big_document_renders_page_by_page() -> None:
    """300 pages are opened without rendering any; a page is rendered only when asked for."""
    with open_document(blank_pdf(300), SETTINGS) as document:
        assert document.select(()) == tuple(range(1, 301))
        for number in (1, 150, 300):
            assert document.page(number).image.width == 1700
