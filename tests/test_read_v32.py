"""The v3.x Read API and the Read container's routes against a real ``openread serve``.

Driven by the official v3.2 Python SDK (azure-cognitiveservices-vision-computervision 0.9.1:
``read_in_stream`` with its chunked body, ``read`` with a URL, ``get_read_result`` polling) and by
plain HTTP (v3.1 and v3.2 analyze + poll, the container's ``syncAnalyze``), with a generated
multi-page PDF (``unit: inch``, one entry per page) and bad input (v3 error body, 4xx).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.computervision import ComputerVisionClient
from azure.cognitiveservices.vision.computervision.models import (
    ComputerVisionOcrErrorException,
    OperationStatusCodes,
)
from msrest.authentication import CognitiveServicesCredentials
from PIL import Image, ImageDraw, ImageFont

from serving import API_KEY, ImageHost, ServerProcess, image_host, server_logs, shared_server

__all__ = ["image_host", "server_logs"]

FONT = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
HEADERS = {"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/octet-stream"}


def page_image(number: int) -> Image.Image:
    if not FONT.is_file():
        pytest.skip(f"font {FONT} missing (scripts/system-deps --dev installs fonts-noto-core)")
    image = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 44)
    draw.text((80, 100), f"Page number {number}", fill="black", font=font)
    draw.text((80, 220), "The quick brown fox", fill="black", font=font)
    return image


def pdf_bytes(pages: int) -> bytes:
    """A ``pages``-page PDF of 8.5 x 11 inch pages (images at 100 dpi)."""
    images = [page_image(n + 1) for n in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=100)
    return buffer.getvalue()


def png_page(number: int = 1) -> bytes:
    buffer = io.BytesIO()
    page_image(number).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def read_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    """Keys on, URL input on (127.0.0.1 allowed), root path ``/proxy``, its own data dir."""
    args = ["--api-key", API_KEY, "--root-path", "/proxy", "--data-dir", str(server_logs / "v32")]
    args += ["--url-fetch", "--url-allow", "127.0.0.1"]
    return shared_server(request, "read-v32", args, server_logs)


def sdk_client(server: ServerProcess) -> ComputerVisionClient:
    return ComputerVisionClient(server.base_url, CognitiveServicesCredentials(API_KEY))


def sdk_wait(client: ComputerVisionClient, operation_id: str) -> object:
    deadline = time.monotonic() + 120
    seen = set()
    while time.monotonic() < deadline:
        result = client.get_read_result(operation_id)
        seen.add(result.status)
        if result.status not in (OperationStatusCodes.not_started, OperationStatusCodes.running):
            return result
        time.sleep(0.3)
    raise AssertionError(f"operation {operation_id} did not finish (seen {seen})")


def poll(url: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = httpx.get(url, headers=headers or {"Ocp-Apim-Subscription-Key": API_KEY})
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        assert body["status"] in ("notStarted", "running", "succeeded", "failed")
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{url} did not finish")


def texts(page: dict[str, object]) -> list[str]:
    lines = page["lines"]
    assert isinstance(lines, list)
    return [str(line["text"]) for line in lines]


def test_sdk_read_in_stream_chunked_pdf(read_server: ServerProcess) -> None:
    client = sdk_client(read_server)
    raw = client.read_in_stream(io.BytesIO(pdf_bytes(3)), raw=True)
    location = raw.headers["Operation-Location"]
    assert location.startswith(read_server.base_url + "/vision/v3.2/read/analyzeResults/")
    result = sdk_wait(client, location.split("/")[-1])
    assert result.status == OperationStatusCodes.succeeded
    pages = result.analyze_result.read_results
    assert [p.page for p in pages] == [1, 2, 3]
    for number, page in enumerate(pages, start=1):
        assert page.unit == "inch"
        assert (page.width, page.height) == (8.5, 11.0)
        assert abs(page.angle) < 2
        assert [line.text for line in page.lines] == [
            f"Page number {number}",
            "The quick brown fox",
        ]
        first = page.lines[0]
        assert len(first.bounding_box) == 8
        assert all(0 <= v <= 11 for v in first.bounding_box)
        assert first.appearance.style.name in ("handwriting", "other")
        assert all(0 <= w.confidence <= 1 for w in first.words)


def test_sdk_read_url_with_pages(read_server: ServerProcess, image_host: ImageHost) -> None:
    url = image_host.add("/doc.pdf", pdf_bytes(4))
    client = sdk_client(read_server)
    raw = client.read(url, pages=["2", "4-"], raw=True)
    result = sdk_wait(client, raw.headers["Operation-Location"].split("/")[-1])
    assert [p.page for p in result.analyze_result.read_results] == [2, 4]
    assert result.analyze_result.read_results[1].lines[0].text == "Page number 4"


def test_sdk_error_is_ocr_exception(read_server: ServerProcess) -> None:
    client = sdk_client(read_server)
    with pytest.raises(ComputerVisionOcrErrorException) as caught:
        client.read_in_stream(io.BytesIO(b"%PDF-1.7 not really"), raw=True)
    assert caught.value.error.code == "InvalidImage"
    assert caught.value.response.status_code == 400


def test_plain_http_v31_image(read_server: ServerProcess) -> None:
    url = read_server.url("/proxy/vision/v3.1/read/analyze", "language=en")
    response = httpx.post(url, content=png_page(7), headers=HEADERS)
    assert response.status_code == 202, response.text
    assert response.content == b""
    location = response.headers["operation-location"]
    assert location.startswith(read_server.base_url + "/proxy/vision/v3.1/read/analyzeResults/")
    body = poll(location)
    assert body["status"] == "succeeded"
    result = body["analyzeResult"]
    assert isinstance(result, dict)
    assert result["version"] == "3.1.0"
    (page,) = result["readResults"]
    assert (page["page"], page["unit"], page["width"], page["height"]) == (1, "pixel", 850, 1100)
    assert texts(page) == ["Page number 7", "The quick brown fox"]
    assert "appearance" not in page["lines"][0]  # v3.2 only
    assert all(isinstance(v, int) for v in page["lines"][0]["boundingBox"])


def test_plain_http_v32_operations_alias_and_forwarded_host(read_server: ServerProcess) -> None:
    headers = {**HEADERS, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ocr.example"}
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", "readingOrder=natural&model-version=latest"),
        content=png_page(),
        headers=headers,
    )
    assert response.status_code == 202, response.text
    location = response.headers["operation-location"]
    assert location.startswith("https://ocr.example/vision/v3.2/read/analyzeResults/")
    operation_id = location.rsplit("/", 1)[1]
    body = poll(read_server.url(f"/vision/v3.2/read/operations/{operation_id}", ""))
    assert body["status"] == "succeeded"
    assert "createdDateTime" in body
    assert "lastUpdatedDateTime" in body


def test_container_sync_analyze(read_server: ServerProcess) -> None:
    response = httpx.post(
        read_server.url("/vision/v3.2/read/syncAnalyze", "pages=1-2"),
        content=pdf_bytes(3),
        headers=HEADERS,
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    pages = body["analyzeResult"]["readResults"]
    assert [(p["page"], p["unit"]) for p in pages] == [(1, "inch"), (2, "inch")]
    assert texts(pages[1])[0] == "Page number 2"


def test_container_sync_analyze_error(read_server: ServerProcess) -> None:
    response = httpx.post(
        read_server.url("/vision/v3.2/read/syncAnalyze", ""), content=b"\x00" * 200, headers=HEADERS
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "Failed"
    assert body["code"] == "InvalidImageFormat"
    assert body["error"]["innererror"]["code"] == "InvalidImageFormat"
    assert body["requestId"] == response.headers["apim-request-id"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("pages=0", "InvalidPageRange"),
        ("pages=3-1", "InvalidPageRange"),
        ("pages=9", "InvalidPageRange"),  # selects no page of a 2-page PDF
        ("readingOrder=sideways", "InvalidReadingOrder"),
        ("model-version=newest", "BadArgument"),
    ],
)
def test_bad_query_is_400(read_server: ServerProcess, query: str, code: str) -> None:
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", query), content=pdf_bytes(2), headers=HEADERS
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_unknown_operation_and_key(read_server: ServerProcess) -> None:
    missing = read_server.url("/vision/v3.2/read/analyzeResults/not-an-id", "")
    response = httpx.get(missing, headers={"Ocp-Apim-Subscription-Key": API_KEY})
    assert response.status_code == 404
    assert response.json()["code"] == "404"
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", ""),
        content=png_page(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 401
    assert httpx.get(read_server.url("/ContainerLiveness", "")).status_code == 200
    assert httpx.get(read_server.url("/status", "")).status_code == 401
    status = httpx.get(
        read_server.url("/status", ""), headers={"Ocp-Apim-Subscription-Key": API_KEY}
    )
    assert status.json() == {"status": "ready"}


def test_job_metrics(read_server: ServerProcess) -> None:
    """A real v3.2 job: ``openread_jobs{state}`` from the store, its pages and stages counted,
    and its polls labelled by the route template (not ``other``, not the id)."""
    from test_metrics import _samples, _value

    before = _samples(read_server)
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", ""), content=pdf_bytes(3), headers=HEADERS
    )
    assert response.status_code == 202, response.text
    operation_id = response.headers["operation-location"].rsplit("/", 1)[1]
    polls = 0
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline
        polled = httpx.get(
            read_server.url(f"/vision/v3.2/read/analyzeResults/{operation_id}", ""),
            headers={"Ocp-Apim-Subscription-Key": API_KEY},
        )
        polls += 1
        if polled.json()["status"] == "succeeded":
            break
        time.sleep(0.3)
    after = _samples(read_server)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("openread_jobs", state="succeeded") == 1
    assert _value(after, "openread_jobs", state="running") == 0
    assert ("openread_jobs", (("state", "failed"),)) in after  # every state, even at 0
    assert delta("openread_pages_read_total") == 3
    for stage in ("decode", "detect", "recognize", "scriptid", "style", "layout"):
        assert delta("openread_stage_seconds_count", stage=stage) == 3, stage
        assert delta("openread_stage_seconds_sum", stage=stage) > 0, stage
    poll_route = "/vision/v3.2/read/analyzeResults/{operation_id}"
    ok = {"route": poll_route, "api_version": "", "status": "200", "code": ""}
    assert delta("openread_requests_total", **ok) == polls
    submit = {"route": "/vision/v3.2/read/analyze", "api_version": "", "status": "202", "code": ""}
    assert delta("openread_requests_total", **submit) == 1


def tiff_bytes(pages: int) -> bytes:
    images = [page_image(n + 1) for n in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_pdf_and_tiff_content_types(read_server: ServerProcess) -> None:
    key = {"Ocp-Apim-Subscription-Key": API_KEY}
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", ""),
        content=pdf_bytes(2),
        headers={**key, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 202, response.text
    body = poll(response.headers["operation-location"])
    pages = body["analyzeResult"]["readResults"]  # type: ignore[index]
    assert [(p["page"], p["unit"]) for p in pages] == [(1, "inch"), (2, "inch")]
    response = httpx.post(
        read_server.url("/vision/v3.2/read/syncAnalyze", ""),
        content=tiff_bytes(2),
        headers={**key, "Content-Type": "image/tiff"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    pages = response.json()["analyzeResult"]["readResults"]
    assert [(p["page"], p["unit"]) for p in pages] == [(1, "pixel"), (2, "pixel")]
    assert texts(pages[1])[0] == "Page number 2"
    response = httpx.post(  # the 4.0 route reads images only, as Azure's
        read_server.url(),
        content=pdf_bytes(1),
        headers={**key, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["innererror"]["code"] == "UnsupportedMediaType"


def _is_v3_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code", "message", "requestId"}, body
    assert body["code"] == code
    assert body["error"]["code"] == code
    assert body["requestId"] == response.headers["apim-request-id"]


def test_v3_errors_use_the_v3_body(read_server: ServerProcess) -> None:
    key = {"Ocp-Apim-Subscription-Key": API_KEY}
    missing = "0b0e2a8e-3f7a-4c4e-9d8a-5a4c2f9e1b7d"
    for path in (
        f"/vision/v3.2/read/analyzeResults/{missing}",
        f"/proxy/vision/v3.1/read/operations/{missing}",
        "/vision/v3.2/read/no-such-route",
        "/vision/v3.0/ocr",
        "/proxy/vision/v3.2/read/analyzeResults/",
    ):
        _is_v3_error(httpx.get(read_server.url(path, ""), headers=key), 404, "404")
    wrong_method = httpx.get(read_server.url("/vision/v3.2/read/analyze", ""), headers=key)
    _is_v3_error(wrong_method, 405, wrong_method.json()["code"])
    assert "POST" in wrong_method.headers["allow"]
    plain = httpx.get(read_server.url("/no-such-route", ""), headers=key)  # 4.0 envelope
    assert plain.status_code == 404
    assert set(plain.json()) == {"error"}


def test_url_documents_have_the_v3_size_limit(
    read_server: ServerProcess, image_host: ImageHost
) -> None:
    """A 27 MB document by URL: over the 4.0 limit (20 MB), under the v3 one (50 MB)."""
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 3000), "white").save(buffer, format="TIFF")  # uncompressed
    assert 20 * 2**20 < len(buffer.getvalue()) < 50 * 2**20
    url = image_host.add("/big.tif", buffer.getvalue())
    headers = {"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/json"}
    response = httpx.post(
        read_server.url("/vision/v3.2/read/syncAnalyze", ""),
        json={"url": url},
        headers=headers,
        timeout=120,
    )
    assert response.status_code == 200, response.text
    (page,) = response.json()["analyzeResult"]["readResults"]
    assert (page["width"], page["height"], page["lines"]) == (3000, 3000, [])
    too_large = httpx.post(read_server.url(), json={"url": url}, headers=headers, timeout=60)
    assert too_large.status_code == 400, too_large.text
    assert "larger than 20971520 bytes" in too_large.json()["error"]["message"]
    url = image_host.add("/huge.bin", b"\0" * (50 * 2**20 + 1))
    response = httpx.post(
        read_server.url("/vision/v3.2/read/analyze", ""), json={"url": url}, headers=headers
    )
    _is_v3_error(response, 400, "InvalidRequest")
    assert "larger than 52428800 bytes" in response.json()["message"]
