"""The server's log formatting: the present text lines by default, one JSON object a line when
``OPENREAD_LOG_FORMAT=json``. openread's loggers and uvicorn's go through the same handler.

A record's ``fields`` extra (a mapping of str to str/int/float/None) is added to the JSON
object as it is, and appended as ``key=value`` pairs to the text line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

__all__ = ["JsonFormatter", "TextFormatter", "configure"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOGGERS = ("openread", "uvicorn", "uvicorn.error", "uvicorn.access")

Field = str | int | float | None


def _fields(record: logging.LogRecord) -> Mapping[str, Field]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


class TextFormatter(logging.Formatter):
    """The human-readable line (with the request's fields as ``key=value`` when it has any)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={'-' if v is None else v}" for k, v in fields.items())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Field] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, log_format: str) -> logging.Handler:
    """Send openread's and uvicorn's loggers to one stderr handler with the chosen formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    return handler
