"""The official Azure client (azure-ai-vision-imageanalysis 1.0.0) against ``openread serve``.

Sync and async (aiohttp) clients, bytes and URL input, plain http and https with a private CA,
key and Bearer credentials, and the errors the SDK turns into exceptions.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncImageAnalysisClient
from azure.ai.vision.imageanalysis.models import ImageAnalysisResult, VisualFeatures
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)

from serving import (
    API_KEY,
    ImageHost,
    ServerProcess,
    azure_words,
    busy_server,
    image_host,
    main_server,
    matched_words,
    png_bytes,
    server_logs,
    tls_server,
)

__all__ = ["busy_server", "image_host", "main_server", "server_logs", "tls_server"]


def client_for(server: ServerProcess, key: str = API_KEY) -> ImageAnalysisClient:
    verify: str | bool = str(server.ca_path) if server.ca_path else True
    return ImageAnalysisClient(
        server.base_url, AzureKeyCredential(key), connection_verify=verify, retry_total=0
    )


def words_of(result: ImageAnalysisResult) -> list[str]:
    assert result.read is not None
    return [
        word.text for block in result.read.blocks for line in block.lines for word in line.words
    ]


def assert_sticky_note(result: ImageAnalysisResult, eval_data: Path) -> None:
    assert result.metadata.width == 1000
    assert result.metadata.height == 945
    assert result.model_version == "2023-10-01"
    assert result.read is not None
    assert len(result.read.blocks) == 1
    assert len(result.read.blocks[0].lines) == 4
    for line in result.read.blocks[0].lines:
        assert len(line.bounding_polygon) == 4
        assert line.text == " ".join(word.text for word in line.words)
    assert matched_words(words_of(result), azure_words(eval_data)) >= 20
    assert result.caption is None
    assert result.tags is None


def test_analyze_bytes(main_server: ServerProcess, sticky_note: Path, eval_data: Path) -> None:
    with client_for(main_server) as client:
        result = client.analyze(
            image_data=sticky_note.read_bytes(), visual_features=[VisualFeatures.READ]
        )
    assert_sticky_note(result, eval_data)


def test_analyze_from_url(
    main_server: ServerProcess, image_host: ImageHost, sticky_note: Path, eval_data: Path
) -> None:
    url = image_host.add("/note.jpg", sticky_note.read_bytes())
    with client_for(main_server) as client:
        result = client.analyze_from_url(image_url=url, visual_features=[VisualFeatures.READ])
    assert_sticky_note(result, eval_data)


def test_uppercase_feature_and_extra_parameters(
    main_server: ServerProcess, sticky_note: Path
) -> None:
    with client_for(main_server) as client:
        result = client.analyze(
            image_data=sticky_note.read_bytes(),
            visual_features=["READ"],  # type: ignore[list-item]
            language="en",
            gender_neutral_caption=True,
            model_version="latest",
        )
    assert result.read is not None
    assert result.read.blocks


def test_async_client(main_server: ServerProcess, sticky_note: Path, eval_data: Path) -> None:
    async def run() -> ImageAnalysisResult:
        async with AsyncImageAnalysisClient(
            main_server.base_url, AzureKeyCredential(API_KEY), retry_total=0
        ) as client:
            return await client.analyze(
                image_data=sticky_note.read_bytes(), visual_features=[VisualFeatures.READ]
            )

    assert_sticky_note(asyncio.run(run()), eval_data)


def test_https_with_private_ca(
    tls_server: ServerProcess, sticky_note: Path, eval_data: Path
) -> None:
    assert tls_server.base_url.startswith("https://")
    with client_for(tls_server) as client:
        result = client.analyze(
            image_data=sticky_note.read_bytes(), visual_features=[VisualFeatures.READ]
        )
    assert_sticky_note(result, eval_data)


class StaticToken:
    """A TokenCredential that hands out one fixed token (what a static Bearer key is)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def test_bearer_token_over_https(tls_server: ServerProcess) -> None:
    assert tls_server.ca_path is not None
    with ImageAnalysisClient(
        tls_server.base_url,
        StaticToken(API_KEY),
        connection_verify=str(tls_server.ca_path),
        retry_total=0,
    ) as client:
        result = client.analyze(image_data=png_bytes(200, 200), visual_features=["read"])  # type: ignore[list-item]
    assert result.read is not None
    assert result.read.blocks == []


def test_https_refuses_an_unknown_ca(tls_server: ServerProcess) -> None:
    with (
        ImageAnalysisClient(
            tls_server.base_url, AzureKeyCredential(API_KEY), retry_total=0
        ) as client,
        pytest.raises(ServiceRequestError),
    ):
        client.analyze(image_data=png_bytes(200, 200), visual_features=[VisualFeatures.READ])


def test_empty_features(main_server: ServerProcess) -> None:
    with client_for(main_server) as client, pytest.raises(HttpResponseError) as caught:
        client.analyze(image_data=png_bytes(200, 200), visual_features=[])
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidRequest"
    assert "features" in str(caught.value.error.message)


def test_unsupported_feature(main_server: ServerProcess) -> None:
    with client_for(main_server) as client, pytest.raises(HttpResponseError) as caught:
        client.analyze(
            image_data=png_bytes(200, 200),
            visual_features=[VisualFeatures.READ, VisualFeatures.CAPTION],
        )
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.innererror["code"] == "NotSupportedFeature"


def test_empty_bytes(main_server: ServerProcess) -> None:
    with client_for(main_server) as client, pytest.raises(HttpResponseError) as caught:
        client.analyze(image_data=b"", visual_features=[VisualFeatures.READ])
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidRequest"
    assert "zero or larger than" in str(caught.value.error.message)


def test_too_large_bytes(main_server: ServerProcess) -> None:
    with client_for(main_server) as client, pytest.raises(HttpResponseError) as caught:
        client.analyze(image_data=bytes(20_971_521), visual_features=[VisualFeatures.READ])
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert "20971520 bytes" in str(caught.value.error.message)


def test_wrong_key(main_server: ServerProcess) -> None:
    with (
        client_for(main_server, key="not-the-key") as client,
        pytest.raises(ClientAuthenticationError) as caught,
    ):
        client.analyze(image_data=png_bytes(200, 200), visual_features=[VisualFeatures.READ])
    assert caught.value.status_code == 401


def test_url_input_disabled(busy_server: ServerProcess) -> None:
    with client_for(busy_server) as client, pytest.raises(HttpResponseError) as caught:
        client.analyze_from_url(
            image_url="https://example.com/a.jpg", visual_features=[VisualFeatures.READ]
        )
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert "URL input is disabled" in str(caught.value.error.message)
