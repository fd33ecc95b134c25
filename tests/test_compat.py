"""Preview api-versions on the 4.0 route and ``--lenient-features``, against a real server.

The preview shape (spec section 2.10): ``readResult.content`` and ``pages[].words[].span``
pointing into it. Lenient features: the real 4.0 SDK asking ``[CAPTION, READ]`` gets the text,
with no caption; without the setting the same request is Azure's 400.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from serving import ANALYZE, API_KEY, ServerProcess, main_server, server_logs, shared_server

__all__ = ["main_server", "server_logs"]

PREVIEWS = ("2022-10-12-preview", "2023-02-01-preview", "2023-04-01-preview")


@pytest.fixture(scope="module")
def lenient_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    return shared_server(
        request, "lenient", ["--api-key", API_KEY, "--lenient-features"], server_logs
    )


@pytest.mark.parametrize("version", PREVIEWS)
def test_preview_versions_answer_the_preview_shape(
    main_server: ServerProcess, sticky_note: Path, version: str
) -> None:
    response = httpx.post(
        main_server.url(ANALYZE, f"api-version={version}&features=read"),
        content=sticky_note.read_bytes(),
        headers={"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    read = response.json()["readResult"]
    content = read["content"]
    page = read["pages"][0]
    assert page["width"] == 1000
    assert page["height"] == 945
    words = page["words"]
    assert len(words) >= 20
    for word in words:
        span = word["span"]
        assert content[span["offset"] : span["offset"] + span["length"]] == word["content"]
        assert len(word["boundingBox"]) == 8
        assert 0.0 <= word["confidence"] <= 1.0
    lines = page["lines"]
    assert "\n".join(line["content"] for line in lines) == content
    assert version in response.headers["api-supported-versions"].split(",")


def test_unknown_preview_version_is_rejected(main_server: ServerProcess) -> None:
    response = httpx.post(
        main_server.url(ANALYZE, "api-version=2022-07-31-preview&features=read"),
        content=b"x",
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequest"


def _client(server: ServerProcess) -> ImageAnalysisClient:
    return ImageAnalysisClient(server.base_url, AzureKeyCredential(API_KEY), retry_total=0)


def test_lenient_server_answers_caption_and_read_with_read_only(
    lenient_server: ServerProcess, sticky_note: Path
) -> None:
    result = _client(lenient_server).analyze(
        image_data=sticky_note.read_bytes(),
        visual_features=[VisualFeatures.CAPTION, VisualFeatures.READ],
    )
    assert result.read is not None
    text = " ".join(line.text for block in result.read.blocks for line in block.lines)
    assert len(text.split()) >= 20
    assert result.caption is None
    assert result.tags is None


def test_lenient_server_still_needs_read(lenient_server: ServerProcess, sticky_note: Path) -> None:
    with pytest.raises(HttpResponseError) as caught:
        _client(lenient_server).analyze(
            image_data=sticky_note.read_bytes(), visual_features=[VisualFeatures.CAPTION]
        )
    assert caught.value.status_code == 400


def test_strict_server_refuses_caption_and_read(
    main_server: ServerProcess, sticky_note: Path
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        _client(main_server).analyze(
            image_data=sticky_note.read_bytes(),
            visual_features=[VisualFeatures.CAPTION, VisualFeatures.READ],
        )
    assert caught.value.status_code == 400
