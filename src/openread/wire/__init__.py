"""Azure's wire JSON, one module per dialect: ``v40`` (Image Analysis 4.0 ``analyze``),
``preview`` (the same route's retired preview versions), the
error envelope every version shares (``errors``), and openread's own ``languages`` body.
``dumps`` is the one serialiser of every body the server sends."""

from __future__ import annotations

from .errors import ErrorJson, dumps, error_json
from .languages import LanguagesJson, languages_json
from .preview import PreviewAnalyzeResultJson, to_preview_json
from .v40 import AnalyzeResultJson, to_azure_json

__all__ = [
    "AnalyzeResultJson",
    "ErrorJson",
    "LanguagesJson",
    "PreviewAnalyzeResultJson",
    "dumps",
    "error_json",
    "languages_json",
    "to_azure_json",
    "to_preview_json",
]
