"""The public surface: pinned exports, nothing at import, settings, models, wire JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import openread
from openread import ModelError, Settings, SettingsError
from openread.errors import BusyError, InvalidImageSizeError, NotSupportedVisualFeatureError
from openread.models import MANIFEST, ModelFile, resolve
from openread.result import Line, Point, ReadResult, Word
from openread.wire import dumps, error_json, to_azure_json


def test_public_api_is_pinned() -> None:
    assert sorted(openread.__all__) == sorted(
        [
            "Appearance", "Block", "BusyError", "Engine", "ImageBytesSizeError", "ImageInput",
            "ImageLimits", "ImageUrlError", "InternalError", "InvalidImageFormatError",
            "InvalidImageSizeError", "InvalidRequestError", "Line", "ModelError", "OpenReadError",
            "Point", "ReadResult", "Settings", "SettingsError", "Word", "__version__", "bulk",
            "read", "to_azure_json",
        ]
    )  # fmt: skip


def test_import_does_no_work() -> None:
    code = (
        "import sys, openread; "
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported at import time'; "
        "assert 'pyarrow' not in sys.modules and 'ray' not in sys.modules; "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_settings_from_env_and_validation() -> None:
    env = {
        "OPENREAD_PORT": "8080",
        "OPENREAD_API_KEYS": "k1, k2",
        "OPENREAD_URL_FETCH": "true",
        "OPENREAD_URL_ALLOW": "127.0.0.1/32,images.internal",
        "OPENREAD_THREADS": "2",
        "OPENREAD_MAX_SIDE": "9000",
    }
    settings = Settings.from_env(env)
    assert settings.port == 8080
    assert settings.api_keys == ("k1", "k2")
    assert settings.url_fetch is True
    assert settings.limits.max_side == 9000
    with pytest.raises(SettingsError):
        Settings.from_env({"OPENREAD_PORT": "eighty"})
    with pytest.raises(SettingsError):
        Settings.from_env({"OPENREAD_URL_FETCH": "maybe"})
    with pytest.raises(SettingsError):
        Settings(tls_cert=Path("c.pem"))


def test_manifest_is_verified() -> None:
    for model in MANIFEST:
        assert resolve(model).is_file()
    altered = ModelFile("altered", "rapidocr", MANIFEST[0].path, "0" * 64, MANIFEST[0].size)
    with pytest.raises(ModelError, match="altered"):
        resolve(altered)
    missing = ModelFile("missing", "rapidocr", "rapidocr/models/nope.onnx", "0" * 64, 1)
    with pytest.raises(ModelError, match="missing"):
        resolve(missing)
    with pytest.raises(ModelError, match="not installed"):
        resolve(ModelFile("x", "no-such-distribution-here", "a", "0" * 64, 1))


def test_result_tree_refuses_invalid_shapes() -> None:
    quad = (Point(0, 0), Point(9, 0), Point(9, 9), Point(0, 9))
    word = Word("hi", quad, 0.5)
    with pytest.raises(ValueError, match="joined"):
        Line("hi there", quad, (word,))
    with pytest.raises(ValueError, match="without spaces"):
        Word("two words", quad, 0.5)
    with pytest.raises(ValueError, match="confidence"):
        Word("x", quad, 1.5)
    with pytest.raises(ValueError, match=">= 0"):
        Point(-1, 0)
    with pytest.raises(ValueError, match="outside"):
        ReadResult(5, 5, "v", (openread.Block((Line("hi", quad, (word,)),)),))


def test_wire_json_shape_and_errors() -> None:
    quad = (Point(1, 2), Point(30, 2), Point(30, 12), Point(1, 12))
    line = Line("Hi !", quad, (Word("Hi", quad, 0.98765), Word("!", quad, 1.0)))
    result = ReadResult(100, 50, "2023-10-01", (openread.Block((line,)),))
    body = to_azure_json(result)
    assert list(body) == ["modelVersion", "metadata", "readResult"]
    assert body["readResult"]["blocks"][0]["lines"][0]["words"][0]["confidence"] == 0.988
    assert "readResult" not in to_azure_json(result, include_read=False)
    assert json.loads(dumps(body)) == body

    size_error = error_json(InvalidImageSizeError())
    assert size_error["error"]["code"] == "InvalidRequest"
    assert size_error["error"].get("innererror", {}).get("code") == "InvalidImageSize"
    feature = error_json(
        NotSupportedVisualFeatureError(inner_message="Specified feature type is not valid")
    )
    assert feature["error"].get("innererror") == {
        "code": "NotSupportedVisualFeature",
        "message": "Specified feature type is not valid",
    }
    assert BusyError(retry_after=3).retry_after == 3
    assert BusyError.status == 429
