"""API keys from a keys file, rotated without a restart (``openread.http.auth.KeyRing``).

Unit tests drive a ``KeyRing`` with a fake clock (no sleeping) and a keys file whose every
version gets its own mtime; one end-to-end test rotates the key of a real ``openread serve``.
Key values must never reach a log line or an error message.
"""

from __future__ import annotations

import hmac
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from openread import Settings, SettingsError
from openread.cli import build_parser, serve_settings
from openread.http import create_app
from openread.http.auth import KeyRing, parse_keys
from serving import ANALYZE, QUERY, clean_env, openread_command, png_bytes, start_server

KEY_A = "rotate-key-a-1c9e5f"
KEY_B = "rotate-key-b-77d2"


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class KeysFile:
    """A keys file; each ``write`` gets a later mtime than the one before (however fast)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version = 0

    def write(self, content: str | bytes) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.path.write_bytes(data)
        self._version += 1
        stamp = 1_700_000_000_000_000_000 + self._version * 1_000_000_000
        os.utime(self.path, ns=(stamp, stamp))


class Records(logging.Handler):
    """Keeps the records of the ``openread.http.auth`` logger (whatever the root logger does)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


@pytest.fixture
def records() -> Iterator[Records]:
    logger = logging.getLogger("openread.http.auth")
    handler = Records()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for message in handler.messages():  # no test may log a key
            for key in (KEY_A, KEY_B, "static-key", "key-one", "bad-utf8-key"):
                assert key not in message


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys_file(tmp_path: Path) -> KeysFile:
    return KeysFile(tmp_path / "keys.txt")


def ring_of(keys_file: KeysFile, clock: FakeClock, static: tuple[str, ...] = ()) -> KeyRing:
    return KeyRing(static, keys_file.path, check_interval=1.0, clock=clock)


# --------------------------------------------------------------------------- the file's format


def test_comments_blank_lines_and_whitespace(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write("# comment\n\n   key-one  \n\t\n#not-a-key\nkey two\r\n  # indented\nkey-one\n")
    ring = ring_of(keys_file, clock)
    assert ring.enabled
    assert ring.count == 2
    assert ring.matches("key-one")
    assert ring.matches("key two")
    for refused in ("", "#not-a-key", "not-a-key", "# comment", " key-one ", "key", "indented"):
        assert not ring.matches(refused), refused
    assert records.messages(logging.INFO) == [f"API keys loaded from {keys_file.path}: 2 keys"]


def test_parse_keys() -> None:
    assert parse_keys("") == ()
    assert parse_keys("a\n\n# b\n c \nd\na") == ("a", "c", "d")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n   \n"])
def test_an_empty_file_accepts_nothing_but_auth_stays_on(
    keys_file: KeysFile, clock: FakeClock, records: Records, content: str
) -> None:
    keys_file.write(content)
    ring = ring_of(keys_file, clock)
    assert ring.enabled
    assert ring.count == 0
    for supplied in ("", "x", "# only a comment"):
        assert not ring.matches(supplied)
    assert any("holds no key" in m for m in records.messages(logging.WARNING))


def test_no_keys_at_all_is_auth_off() -> None:
    assert not KeyRing().enabled
    assert not KeyRing().matches("")
    assert KeyRing(["static-key"]).enabled


# --------------------------------------------------------------------------- rotation


def test_rotation_after_the_interval_only(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A + "\n")
    ring = ring_of(keys_file, clock)
    assert ring.matches(KEY_A)
    assert not ring.matches(KEY_B)

    keys_file.write("rotate-key-b-77d2xx\n")  # the same size as KEY_A: the mtime tells
    clock.advance(0.6)
    assert ring.matches(KEY_A), "the file was looked at before the interval passed"
    clock.advance(0.5)
    assert not ring.matches(KEY_A)
    assert ring.matches("rotate-key-b-77d2xx")
    assert records.messages(logging.INFO)[-1] == f"API keys reloaded from {keys_file.path}: 1 keys"

    keys_file.write(f"{KEY_A}\n{KEY_B}\n")  # a new key next to the old one (overlap)
    clock.advance(1.0)
    assert ring.matches(KEY_A)
    assert ring.matches(KEY_B)
    assert ring.count == 2


def test_an_unchanged_file_is_not_read_again(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock)
    for _ in range(5):
        clock.advance(2.0)
        assert ring.matches(KEY_A)
    assert len(records.messages(logging.INFO)) == 1  # only the load at start


def test_a_file_emptied_after_start_refuses_every_key(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock, static=())
    keys_file.write("# rotated out\n")
    clock.advance(1.5)
    assert not ring.matches(KEY_A)
    assert ring.enabled


def test_static_keys_and_file_keys_together(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock, static=("static-key",))
    assert ring.matches("static-key")
    assert ring.matches(KEY_A)
    keys_file.write("")
    clock.advance(1.5)
    assert ring.matches("static-key")
    assert not ring.matches(KEY_A)
    assert not any("holds no key" in m for m in records.messages())  # the static key is left
    assert records.messages(logging.INFO)[-1] == f"API keys reloaded from {keys_file.path}: 0 keys"


def test_from_settings(keys_file: KeysFile, clock: FakeClock) -> None:
    keys_file.write(KEY_B)
    settings = Settings(api_keys=("static-key",), api_keys_file=keys_file.path)
    ring = KeyRing.from_settings(settings, clock=clock)
    assert ring.path == keys_file.path
    assert ring.matches("static-key")
    assert ring.matches(KEY_B)


def test_every_key_is_compared(
    keys_file: KeysFile, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No early exit: a match on the first key still compares against all the others."""
    keys_file.write(f"{KEY_A}\n{KEY_B}\nthird\n")
    ring = ring_of(keys_file, clock, static=("static-key",))
    calls: list[bytes] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for supplied in ("static-key", "third", "nothing"):
        calls.clear()
        ring.matches(supplied)
        assert len(calls) == 4


# --------------------------------------------------------------------------- a missing file


def test_a_file_removed_after_start_keeps_the_last_keys(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock)
    keys_file.path.unlink()
    for _ in range(4):
        clock.advance(1.5)
        assert ring.matches(KEY_A)
        assert not ring.matches(KEY_B)
    warnings = records.messages(logging.WARNING)
    assert warnings == [
        f"API keys file {keys_file.path} cannot be read (No such file or directory): "
        "keeping the last 1 keys"
    ]

    keys_file.write(KEY_B)  # it reappears
    clock.advance(1.5)
    assert ring.matches(KEY_B)
    assert not ring.matches(KEY_A)
    assert records.messages(logging.INFO)[-1] == f"API keys reloaded from {keys_file.path}: 1 keys"

    keys_file.path.unlink()  # a new problem after a good read: warned again
    clock.advance(1.5)
    assert ring.matches(KEY_B)
    assert len(records.messages(logging.WARNING)) == 2


def test_a_file_replaced_by_a_directory_keeps_the_last_keys(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock)
    keys_file.path.unlink()
    keys_file.path.mkdir()
    clock.advance(1.5)
    assert ring.matches(KEY_A)
    assert "Is a directory" in records.messages(logging.WARNING)[0]
    keys_file.path.rmdir()
    keys_file.write(KEY_B)
    clock.advance(1.5)
    assert ring.matches(KEY_B)


def test_invalid_utf8_after_start_keeps_the_last_keys(
    keys_file: KeysFile, clock: FakeClock, records: Records
) -> None:
    keys_file.write(KEY_A)
    ring = ring_of(keys_file, clock)
    keys_file.write(b"bad-utf8-key\xff\xfe\n" + KEY_B.encode())
    for _ in range(3):
        clock.advance(1.5)
        assert ring.matches(KEY_A)
        assert not ring.matches(KEY_B)
    warnings = records.messages(logging.WARNING)
    assert len(warnings) == 1
    assert "not valid UTF-8" in warnings[0]
    assert "0xff" not in warnings[0]

    keys_file.write(KEY_B)  # fixed
    clock.advance(1.5)
    assert ring.matches(KEY_B)
    assert not ring.matches(KEY_A)


def test_missing_file_at_start_is_a_settings_error(tmp_path: Path, clock: FakeClock) -> None:
    missing = tmp_path / "no-such-keys.txt"
    with pytest.raises(SettingsError, match="OPENREAD_API_KEYS_FILE") as info:
        KeyRing((), missing, clock=clock)
    assert str(missing) in str(info.value)
    assert "No such file or directory" in str(info.value)
    with pytest.raises(SettingsError, match="Is a directory"):
        KeyRing((), tmp_path, clock=clock)


def test_invalid_utf8_at_start_is_a_settings_error(keys_file: KeysFile, clock: FakeClock) -> None:
    keys_file.write(b"bad-utf8-key\xff\n")
    with pytest.raises(SettingsError, match="not valid UTF-8") as info:
        ring_of(keys_file, clock)
    assert "bad-utf8-key" not in str(info.value)
    assert "0xff" not in str(info.value)


# --------------------------------------------------------------------------- settings and CLI


def test_keys_file_setting_from_env_and_flag() -> None:
    assert Settings().api_keys_file is None
    assert Settings.from_env({}).api_keys_file is None
    assert Settings.from_env({"OPENREAD_API_KEYS_FILE": "  "}).api_keys_file is None
    base = Settings.from_env({"OPENREAD_API_KEYS_FILE": "/run/secrets/keys", "OPENREAD_PORT": "1"})
    assert base.api_keys_file == Path("/run/secrets/keys")

    parser = build_parser()
    assert serve_settings(parser.parse_args(["serve"]), base).api_keys_file == base.api_keys_file
    args = parser.parse_args(["serve", "--api-keys-file", "other/keys.txt", "--api-key", "k"])
    settings = serve_settings(args, base)
    assert settings.api_keys_file == Path("other/keys.txt")
    assert settings.api_keys == ("k",)
    assert settings.port == 1


def test_serve_refuses_an_unreadable_keys_file(tmp_path: Path) -> None:
    """``openread serve`` exits 2 at once, naming the file but none of its content."""
    missing = tmp_path / "missing-keys.txt"
    undecodable = tmp_path / "undecodable-keys.txt"
    undecodable.write_bytes(b"bad-utf8-key\xff\n")
    for path, reason in ((missing, "No such file or directory"), (undecodable, "not valid UTF-8")):
        command = [*openread_command(), "serve", "--host", "127.0.0.1", "--port", "0"]
        done = subprocess.run(
            [*command, "--api-keys-file", str(path)],
            capture_output=True,
            env=clean_env(),
            timeout=120,
            check=False,
        )
        stderr = done.stderr.decode("utf-8")
        assert done.returncode == 2, stderr
        assert f"openread: OPENREAD_API_KEYS_FILE: cannot read {path}: {reason}" in stderr
        assert "bad-utf8-key" not in stderr
        assert "Traceback" not in stderr


def test_in_process_app_with_an_empty_keys_file(tmp_path: Path) -> None:
    """Auth is checked before readiness: an empty keys file refuses every key (401, not 503)."""
    keys = tmp_path / "keys.txt"
    keys.write_text("# no key yet\n")
    empty = create_app(Settings(api_keys_file=keys))
    keys.write_text(KEY_A + "\n")
    one_key = create_app(Settings(api_keys_file=keys))

    async def post(app: Starlette, key: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            response = await c.post(
                f"{ANALYZE}?{QUERY}", content=b"x", headers={"Ocp-Apim-Subscription-Key": key}
            )
            return response.status_code

    assert anyio.run(post, empty, KEY_A) == 401
    assert anyio.run(post, one_key, KEY_A) == 503  # past auth; the engine is not loaded
    assert anyio.run(post, one_key, KEY_B) == 401
    with pytest.raises(SettingsError):
        create_app(Settings(api_keys_file=tmp_path / "missing"))


# --------------------------------------------------------------------------- end to end


def replace_atomically(path: Path, content: str) -> None:
    """How a key file should be rotated: a new file renamed over the old one."""
    new = path.with_name(path.name + ".new")
    new.write_text(content)
    os.replace(new, path)


@pytest.mark.slow
def test_rotation_without_restart(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# rotated by the test\n{KEY_A}\n")
    server = start_server(["--api-keys-file", str(keys)], tmp_path / "rotate.log")
    body = png_bytes(200, 200)
    try:
        with httpx.Client(timeout=60) as client:

            def status(key: str, header: str = "Ocp-Apim-Subscription-Key") -> int:
                value = key if header != "Authorization" else f"Bearer {key}"
                return client.post(server.url(), content=body, headers={header: value}).status_code

            assert status(KEY_A) == 200
            assert status(KEY_B) == 401
            assert client.post(server.url(), content=body).status_code == 401

            replace_atomically(keys, f"{KEY_B}\n")
            time.sleep(1.3)  # a little over the check interval
            assert status(KEY_A) == 401
            assert status(KEY_B) == 200
            assert status(KEY_B, "Authorization") == 200

            keys.unlink()  # gone: the last keys stay
            time.sleep(1.3)
            assert status(KEY_B) == 200
            assert status(KEY_A) == 401
    finally:
        server.stop()
    log = server.log()
    assert "auth=on" in log
    assert f"API keys loaded from {keys}: 1 keys" in log
    assert f"API keys reloaded from {keys}: 1 keys" in log
    assert f"API keys file {keys} cannot be read" in log
    assert KEY_A not in log
    assert KEY_B not in log
