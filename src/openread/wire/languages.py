"""The body of openread's own ``GET /openread/languages`` (and ``openread languages --json``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from ..engine import ScriptSupport

__all__ = ["LanguagesJson", "languages_json"]


class ScriptJson(TypedDict):
    code: str
    name: str
    recognizer: str
    available: bool
    rightToLeft: bool
    languages: list[str]


class LanguagesJson(TypedDict):
    scripts: list[ScriptJson]


def languages_json(supports: Sequence[ScriptSupport]) -> LanguagesJson:
    """The body of ``GET /openread/languages`` (and ``openread languages --json``)."""
    return {
        "scripts": [
            {
                "code": s.script.code,
                "name": s.script.name,
                "recognizer": s.recognizer,
                "available": s.available,
                "rightToLeft": s.script.rtl,
                "languages": list(s.script.languages),
            }
            for s in supports
        ]
    }
