"""The try-it page in a real browser: Debian's headless chromium driven by Playwright, against a
real ``openread serve`` (keys on, root path ``/proxy``).

Checked: the page asks for a key and keeps it in session storage only; the sticky note's word
and line polygons are drawn exactly where the API put them; hovering a word lights up its polygon
and the other way round; hostile text read from an image is shown as text; a bad file gets the
API's error shown plainly; nothing is fetched from another origin; no console error (a CSP
violation would be one); no sideways scrolling at phone width. Screenshots are kept under
``build/test-artifacts/web/`` (and ``docs/web-page.png`` is rewritten when
``UPDATE_DOCS_SCREENSHOT=1``). Without chromium or Playwright these tests are skipped with the
reason, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from openread import Settings
from openread.http import create_app
from openread.http.service import Service
from openread.http.web import routes
from serving import API_KEY, REPO, ServerProcess, main_server, server_logs

__all__ = ["main_server", "server_logs"]

CHROMIUM = Path(os.environ.get("OPENREAD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "build" / "test-artifacts" / "web"
HOSTILE = "<img src=x onerror=alert(1)>"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PAGE_QUERY = "api-version=2024-02-01&features=read&openread-script=true"


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must have it (scripts/system-deps --dev, the dev extra)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        _unavailable(f"chromium not found at {CHROMIUM} (Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Page:
    """A fresh tab on the page of ``server`` that records console errors and foreign requests."""

    def __init__(self, browser: Any, server: ServerProcess, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        origin = server.base_url

        def guard(route: Any) -> None:
            if route.request.url.startswith(origin) or route.request.url.startswith("blob:"):
                route.continue_()
            else:
                self.foreign.append(route.request.url)
                route.abort()

        self.page.route("**/*", guard)
        self.page.goto(server.url("/proxy/", ""))
        self.page.wait_for_selector("body[data-state=ready]")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def upload(self, name: str, data: bytes, state: str = "done") -> None:
        self.page.get_by_label("Choose, drop or paste an image").set_input_files(
            {"name": name, "mimeType": "application/octet-stream", "buffer": data}
        )
        self.page.wait_for_selector(f"body[data-state={state}]", timeout=90_000)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def expect_refused(self, status: int) -> None:
        """Drop the browser's one console line about a request the API refused with ``status``."""
        line = f"the server responded with a status of {status}"
        refused = [e for e in self.errors if line in e]
        assert len(refused) >= 1, self.errors
        self.errors = [e for e in self.errors if line not in e]

    def close(self) -> None:
        assert self.errors == [], self.errors
        assert self.foreign == [], self.foreign
        assert self.dialogs == [], self.dialogs
        self.context.close()


@pytest.fixture
def page(browser: Any, main_server: ServerProcess) -> Iterator[Page]:
    opened = Page(browser, main_server)
    opened.page.get_by_label("API key").fill(API_KEY)
    opened.page.get_by_role("button", name="Use key").click()
    yield opened
    opened.close()


def api_body(server: ServerProcess, data: bytes) -> httpx.Response:
    return httpx.post(
        server.url("/proxy/computervision/imageanalysis:analyze", PAGE_QUERY),
        content=data,
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
        timeout=90,
    )


def text_png(text: str) -> bytes:
    if not FONT.is_file():
        pytest.skip(f"needs the DejaVu font ({FONT})")
    image = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(image).text((30, 50), text, font=ImageFont.truetype(str(FONT), 40), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def points(polygon: list[dict[str, int]]) -> str:
    return " ".join(f"{p['x']},{p['y']}" for p in polygon)


def test_sticky_note_polygons_match_the_words(
    page: Page, main_server: ServerProcess, sticky_note: Path
) -> None:
    data = sticky_note.read_bytes()
    page.upload(sticky_note.name, data)
    expected = api_body(main_server, data)
    assert expected.status_code == 200
    body = expected.json()
    lines = body["readResult"]["blocks"][0]["lines"]
    words = [w for line in lines for w in line["words"]]
    shown = page.page.locator("#json").text_content()
    assert json.loads(shown or "") == body  # what the page got is what clients get
    drawn_words = page.page.eval_on_selector_all(
        "#overlay polygon.word", "els => els.map(e => e.getAttribute('points'))"
    )
    assert drawn_words == [points(w["boundingPolygon"]) for w in words]
    drawn_lines = page.page.eval_on_selector_all(
        "#overlay polygon.line", "els => els.map(e => e.getAttribute('points'))"
    )
    assert drawn_lines == [points(line["boundingPolygon"]) for line in lines]
    listed = page.page.locator("#lines li .line-text").all_text_contents()
    assert listed == [line["text"] for line in lines]
    scripts = page.page.locator("#lines li .script").all_text_contents()
    assert scripts == [line["script"] for line in lines]
    # On screen: each word polygon's box is where the image's pixels put it.
    geometry = page.page.evaluate(
        """() => {
            const img = document.getElementById('image').getBoundingClientRect();
            const boxes = [...document.querySelectorAll('#overlay polygon.word')]
                .map(p => p.getBoundingClientRect())
                .map(r => [r.left - img.left, r.top - img.top, r.right - img.left,
                           r.bottom - img.top]);
            return {width: img.width, boxes};
        }"""
    )
    scale = geometry["width"] / body["metadata"]["width"]
    for word, box in zip(words, geometry["boxes"], strict=True):
        xs = [p["x"] * scale for p in word["boundingPolygon"]]
        ys = [p["y"] * scale for p in word["boundingPolygon"]]
        assert box == pytest.approx([min(xs), min(ys), max(xs), max(ys)], abs=2.0), word
    assert "ms" in (page.page.locator("#facts").text_content() or "")
    shot = page.screenshot("sticky-note.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "web-page.png")


def test_hover_and_focus_highlight(page: Page, sticky_note: Path) -> None:
    page.upload(sticky_note.name, sticky_note.read_bytes())
    span = page.page.locator("#lines .word").nth(2)
    polygon = page.page.locator("#overlay polygon.word").nth(2)
    span.hover()
    assert "active" in (polygon.get_attribute("class") or "")
    page.page.mouse.move(0, 0)
    assert "active" not in (polygon.get_attribute("class") or "")
    other = page.page.locator("#overlay polygon.word").nth(5)
    other.hover()
    assert "active" in (page.page.locator("#lines .word").nth(5).get_attribute("class") or "")
    page.page.mouse.move(0, 0)
    page.page.locator("#lines .word").first.focus()
    page.page.keyboard.press("ArrowRight")
    focused = page.page.evaluate("document.activeElement.dataset.word")
    assert focused == "1"
    assert "active" in (
        page.page.locator("#overlay polygon.word").nth(1).get_attribute("class") or ""
    )
    page.page.get_by_label("Text on the image").check()
    assert (
        page.page.locator("#overlay .texts text").count()
        == page.page.locator("#lines .word").count()
    )


def test_hostile_text_is_shown_as_text(page: Page, main_server: ServerProcess) -> None:
    data = text_png(HOSTILE)
    expected = api_body(main_server, data).json()
    texts = [line["text"] for line in expected["readResult"]["blocks"][0]["lines"]]
    assert any("<img" in text for text in texts), texts  # the reading itself is hostile
    page.upload("hostile.png", data)
    assert page.page.locator("#lines li .line-text").all_text_contents() == texts
    assert page.page.locator("#lines img, #overlay img, #facts img").count() == 0
    page.page.get_by_label("Text on the image").check()
    assert page.page.locator("#overlay image, #overlay foreignObject").count() == 0
    page.screenshot("hostile-text.png")


def test_a_bad_file_gets_the_api_error(page: Page, main_server: ServerProcess) -> None:
    data = b"this is not an image at all"
    expected = api_body(main_server, data)
    assert expected.status_code == 400
    error = expected.json()["error"]
    page.upload("junk.png", data, state="error")
    shown = page.page.get_by_role("alert").text_content() or ""
    assert shown.startswith("The API answered 400")
    assert error["message"] in shown
    assert error["code"] in shown
    page.screenshot("bad-file.png")
    page.expect_refused(400)


def test_auth_asks_for_a_key_and_keeps_it_in_the_tab(
    browser: Any, main_server: ServerProcess, sticky_note: Path
) -> None:
    opened = Page(browser, main_server)
    try:
        tab = opened.page
        assert tab.get_by_label("API key").is_visible()
        tab.get_by_label("API key").fill("wrong-key")
        with tab.expect_response(lambda r: "imageanalysis:analyze" in r.url) as answer:
            opened.upload("note.jpg", sticky_note.read_bytes(), state="error")
        assert answer.value.status == 401
        assert "key" in (tab.get_by_role("alert").text_content() or "").lower()
        assert tab.evaluate("document.activeElement.id") == "api-key"
        tab.get_by_label("API key").fill(API_KEY)
        opened.upload("note.jpg", sticky_note.read_bytes())
        assert tab.evaluate("sessionStorage.getItem('openread.apiKey')") == API_KEY
        assert tab.evaluate("localStorage.length") == 0
        assert API_KEY not in tab.url
        tab.reload()
        tab.wait_for_selector("body[data-state=ready]")
        assert tab.get_by_label("API key").input_value() == API_KEY  # same tab: kept
        fresh = opened.context.new_page()
        fresh.goto(main_server.url("/proxy/", ""))
        fresh.wait_for_selector("body[data-state=ready]")
        assert fresh.get_by_label("API key").input_value() == ""  # another tab: not
        fresh.close()
    finally:
        opened.expect_refused(401)
        opened.close()
    assert API_KEY not in main_server.log()
    assert "wrong-key" not in main_server.log()


def test_phone_width(browser: Any, main_server: ServerProcess, sticky_note: Path) -> None:
    opened = Page(browser, main_server, width=390)
    try:
        opened.page.get_by_label("API key").fill(API_KEY)
        opened.upload(sticky_note.name, sticky_note.read_bytes())
        overflow = opened.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        opened.screenshot("sticky-note-phone.png")
    finally:
        opened.close()


def test_page_headers_and_root_path(main_server: ServerProcess) -> None:
    for path in ("/", "/proxy/", "/proxy/openread/web/app.js", "/openread/web/app.css"):
        response = httpx.get(main_server.url(path, ""))
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    redirect = httpx.get(main_server.url("/proxy", ""))
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "proxy/"
    config = httpx.get(main_server.url("/proxy/openread/web-config", "")).json()
    assert config == {
        "auth": True,
        "urlFetch": True,
        "maxImageBytes": 20_971_520,
        "apiVersion": "2024-02-01",
    }
    html = httpx.get(main_server.url("/", "")).text
    assert "<script>" not in html
    assert " style=" not in html
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links
    assert all(link.startswith("openread/web/") for link in links), links  # relative, own


def test_the_page_can_be_turned_off() -> None:
    app = create_app(Settings(web_page=False))
    paths = {getattr(route, "path", "") for route in app.routes}
    assert "/computervision/imageanalysis:analyze" in paths
    assert not {p for p in paths if p == "/" or "/openread/web" in p}
    assert len(routes(Service(Settings(), None))) == 5  # page, 3 assets, config
    assert Settings.from_env({"OPENREAD_WEB_PAGE": "false"}).web_page is False
    assert Settings.from_env({}).web_page is True
