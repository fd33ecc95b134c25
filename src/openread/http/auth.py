"""The accepted API keys: the static ones of the settings plus those of a keys file, which is
re-read when it changes, so keys can be rotated without restarting the server.

The keys file holds one key a line; surrounding whitespace is stripped, blank lines and lines
starting with ``#`` are ignored. Whether it changed is decided from its ``os.stat`` (mtime, ctime,
size, inode, device), checked at most once per ``check_interval`` seconds, on the next key check.
Write it atomically (a new file renamed over the old one) so that a half-written file is never
read.

Rules:

* With a keys file configured, authentication is always on (fail closed): a file holding no key
  means that no key from the file is accepted, never that auth is off.
* At start-up a missing, unreadable or non-UTF-8 file is a ``SettingsError``.
* Later, such a file keeps the last good keys; a warning is logged once per change of problem,
  and the file is read again as soon as it can be.
* A key is compared with ``hmac.compare_digest`` against every accepted key (no early exit).
* Key values are never logged, nor put in an error message.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings, SettingsError

__all__ = ["FileStamp", "KeyRing", "parse_keys"]

log = logging.getLogger("openread.http.auth")

DEFAULT_CHECK_INTERVAL = 1.0
"""Seconds between two looks at the keys file."""


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies one version of a file: any difference means it changed."""

    mtime_ns: int
    ctime_ns: int
    size: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


@dataclass(frozen=True, slots=True)
class _KeysFile:
    """The keys read from one version of the keys file."""

    keys: tuple[str, ...]
    stamp: FileStamp


class _UnreadableError(Exception):
    """The keys file cannot be read; the message says why without any of its content."""


def parse_keys(text: str) -> tuple[str, ...]:
    """The keys of a keys file's text, in order and without duplicates."""
    keys = (line.strip() for line in text.splitlines())
    return tuple(dict.fromkeys(key for key in keys if key and not key.startswith("#")))


def _read_keys_file(path: Path) -> _KeysFile:
    """The keys of ``path`` and the stamp of the version read (``_UnreadableError`` if none).

    The stamp is taken from the open file before reading it: a change while it is read gives a
    newer stamp, so the file is read again at the next check.
    """
    try:
        with path.open("rb") as handle:
            stamp = FileStamp.of(os.fstat(handle.fileno()))
            data = handle.read()
    except OSError as exc:  # missing, a directory, no permission ...
        raise _UnreadableError(exc.strerror or type(exc).__name__) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # its message would quote the bytes: say nothing of them
        raise _UnreadableError("not valid UTF-8") from None
    return _KeysFile(parse_keys(text), stamp)


class KeyRing:
    """The accepted keys: ``static_keys`` plus the keys of ``path`` (re-read when it changes).

    Authentication is on when there is any static key or a keys file (even an empty one).
    ``clock`` is a monotonic clock in seconds (injectable for tests). Reading the file at
    construction raises ``SettingsError`` when it cannot be read.
    """

    def __init__(
        self,
        static_keys: Iterable[str] = (),
        path: Path | None = None,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._static = tuple(key.encode("utf-8") for key in dict.fromkeys(static_keys))
        self._path = path
        self._check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._file_keys: tuple[bytes, ...] = ()
        self._stamp: FileStamp | None = None
        self._problem: str | None = None
        self._keys = self._static
        if path is not None:
            try:
                loaded = _read_keys_file(path)
            except _UnreadableError as exc:
                raise SettingsError(f"OPENREAD_API_KEYS_FILE: cannot read {path}: {exc}") from None
            self._use(loaded, "loaded")
        self._last_check = clock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> KeyRing:
        """The keys of ``settings.api_keys`` and ``settings.api_keys_file``."""
        return cls(
            settings.api_keys, settings.api_keys_file, check_interval=check_interval, clock=clock
        )

    @property
    def enabled(self) -> bool:
        """Whether a key is required (static keys or a keys file, even an empty one)."""
        return bool(self._static) or self._path is not None

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def count(self) -> int:
        """How many keys are accepted now."""
        return len(self._keys)

    def matches(self, supplied: str) -> bool:
        """Whether ``supplied`` is one of the accepted keys (constant time over all of them)."""
        self.refresh()
        given = supplied.encode("utf-8")
        matched = False
        for key in self._keys:  # every key, no early exit
            matched |= hmac.compare_digest(given, key)
        return matched

    def refresh(self) -> None:
        """Re-read the keys file if it changed, at most once per ``check_interval`` seconds."""
        if self._path is None or self._clock() - self._last_check < self._check_interval:
            return
        with self._lock:
            now = self._clock()
            if now - self._last_check < self._check_interval:
                return  # another thread just checked
            self._last_check = now
            self._check(self._path)

    def _check(self, path: Path) -> None:
        try:
            if self._stamp is not None and FileStamp.of(path.stat()) == self._stamp:
                return
            loaded = _read_keys_file(path)
        except OSError as exc:  # the stat: missing, no permission on the directory ...
            self._unreadable(path, exc.strerror or type(exc).__name__)
            return
        except _UnreadableError as exc:
            self._unreadable(path, str(exc))
            return
        self._use(loaded, "reloaded")

    def _unreadable(self, path: Path, reason: str) -> None:
        """Keep the last keys; warn once per change of problem."""
        self._stamp = None  # read it again as soon as it can be, whatever its stamp
        if reason != self._problem:
            self._problem = reason
            log.warning(
                "API keys file %s cannot be read (%s): keeping the last %d keys",
                path,
                reason,
                len(self._file_keys),
            )

    def _use(self, loaded: _KeysFile, verb: str) -> None:
        self._file_keys = tuple(key.encode("utf-8") for key in loaded.keys)
        self._keys = tuple(dict.fromkeys(self._static + self._file_keys))
        self._stamp = loaded.stamp
        self._problem = None
        log.info("API keys %s from %s: %d keys", verb, self._path, len(loaded.keys))
        if not self._keys:
            log.warning("API keys file %s holds no key: every request is refused", self._path)
