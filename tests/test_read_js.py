"""The JS v3.2 SDK (``@azure/cognitiveservices-computervision`` with ``@azure/ms-rest-js``, on
Node, installed into ``tests/js`` by ``scripts/check``): ``readInStream`` of a PDF file and
``getReadResult`` polling against a real ``openread serve``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from serving import API_KEY, ServerProcess, server_logs
from test_read_v32 import pdf_bytes, read_server

__all__ = ["read_server", "server_logs"]

JS = Path(__file__).resolve().parent / "js"


def _need_node() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node missing (scripts/system-deps --dev installs nodejs)"
    elif not (JS / "node_modules" / "@azure" / "cognitiveservices-computervision").is_dir():
        missing = "tests/js/node_modules missing (scripts/check runs npm ci there)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


def test_js_sdk_read_in_stream(read_server: ServerProcess, tmp_path: Path) -> None:
    node = _need_node()
    document = tmp_path / "doc.pdf"
    document.write_bytes(pdf_bytes(2))
    done = subprocess.run(
        [node, str(JS / "read.js"), read_server.base_url, API_KEY, str(document)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=JS,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["location"].startswith(read_server.base_url + "/vision/v3.2/read/")
    assert [(p["page"], p["unit"]) for p in result["pages"]] == [(1, "inch"), (2, "inch")]
    assert result["pages"][1]["lines"][0] == "Page number 2"
