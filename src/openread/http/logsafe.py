"""Making client-controlled text safe to put in a log line."""

from __future__ import annotations

__all__ = ["sanitize_for_log"]

_MAX_LOGGED = 2048


def sanitize_for_log(text: str) -> str:
    """``text`` with every control, non-ASCII-printable or backslash character escaped (``\\n``,
    ``\\x1b``, ``\\u2028``...), so a decoded request path cannot forge log lines or send
    terminal escapes; longer than 2,048 characters it is cut and ends in ``...``."""
    cut = text[:_MAX_LOGGED]
    if cut.isascii() and cut.isprintable() and "\\" not in cut:
        safe = cut
    else:
        safe = cut.encode("unicode_escape").decode("ascii")
    return safe + ("..." if len(text) > _MAX_LOGGED else "")
