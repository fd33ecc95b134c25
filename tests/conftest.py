"""Shared fixtures: the eval-data location, and one real engine per test session.

Eval data is read from ``OPENREAD_EVAL_DATA`` (default ``../shared/eval-data`` next to the repo).
In CI (``CI`` set) a missing directory is a failure; elsewhere tests that need it are skipped
with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openread import Engine, Settings
from serving import API_KEY, ServerProcess, server_logs, shared_server

__all__ = ["server_logs"]

REPO = Path(__file__).resolve().parent.parent


def eval_data_dir() -> Path:
    return Path(os.environ.get("OPENREAD_EVAL_DATA", REPO.parent / "shared" / "eval-data"))


@pytest.fixture(scope="session")
def eval_data() -> Path:
    path = eval_data_dir()
    if not (path / "README.md").is_file():
        message = f"eval data not found at {path} (set OPENREAD_EVAL_DATA)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def sticky_note(eval_data: Path) -> Path:
    return eval_data / "azure_docs" / "images" / "handwritten-note.jpg"


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load(Settings())


@pytest.fixture(scope="session")
def ops_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    """Keys on, JSON logs (test_metrics, test_logs)."""
    args = ["--api-key", API_KEY, "--log-format", "json"]
    return shared_server(request, "ops", args, server_logs)
