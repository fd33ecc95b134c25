"""The ``openread`` command: ``read`` (text and ``--json``), exit codes, ``--version``, ``serve``
argument errors. ``read --json`` must print exactly the server's body for the same image."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

import openread
from openread import Settings
from openread.cli import build_parser, main, serve_settings
from serving import (
    API_KEY,
    ServerProcess,
    clean_env,
    main_server,
    openread_command,
    png_bytes,
    server_logs,
)

__all__ = ["main_server", "server_logs"]


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*openread_command(), *args], capture_output=True, env=clean_env(), timeout=120, check=False
    )


@pytest.fixture(scope="module")
def server_body(main_server: ServerProcess, sticky_note: Path) -> bytes:
    response = httpx.post(
        main_server.url(),
        content=sticky_note.read_bytes(),
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def cli_json(sticky_note: Path) -> subprocess.CompletedProcess[bytes]:
    return run_cli("read", "--json", str(sticky_note))


def test_json_equals_the_server_body(
    cli_json: subprocess.CompletedProcess[bytes], server_body: bytes
) -> None:
    assert cli_json.returncode == 0, cli_json.stderr
    assert cli_json.stderr == b""
    assert cli_json.stdout.endswith(b"\n")
    assert cli_json.stdout.count(b"\n") == 1
    assert json.loads(cli_json.stdout) == json.loads(server_body)
    assert cli_json.stdout.rstrip(b"\n") == server_body


def test_text_mode(cli_json: subprocess.CompletedProcess[bytes], sticky_note: Path) -> None:
    body = json.loads(cli_json.stdout)
    expected = [line["text"] for line in body["readResult"]["blocks"][0]["lines"]]
    done = run_cli("read", str(sticky_note))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8").splitlines() == expected


def test_several_images_with_errors(sticky_note: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image at all")
    missing = tmp_path / "missing.jpg"
    done = run_cli("read", str(missing), str(sticky_note), str(junk))
    assert done.returncode == 3
    out = done.stdout.decode("utf-8")
    assert out.startswith(f"==> {sticky_note} <==\n")
    assert len(out.splitlines()) == 5
    assert done.stderr.decode("utf-8").splitlines() == [
        f"openread: {missing}: no such file",
        f"openread: {junk}: Image format is not valid",
    ]


def test_several_images_as_json(sticky_note: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(png_bytes(120, 80))
    done = run_cli("read", "--json", str(blank), str(sticky_note))
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert documents[0]["readResult"] == {"blocks": []}
    assert documents[0]["metadata"] == {"width": 120, "height": 80}
    assert documents[1]["metadata"] == {"width": 1000, "height": 945}


def test_missing_file_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    done = run_cli("read", "--json", str(missing))
    assert done.returncode == 3
    assert done.stdout == b""
    assert done.stderr.decode("utf-8") == f"openread: {missing}: no such file\n"


def test_directory_exit_code(tmp_path: Path) -> None:
    assert main(["read", str(tmp_path)]) == 3


def test_undecodable_file_exit_code(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + b"garbage" * 20)
    done = run_cli("read", str(junk))
    assert done.returncode == 3
    assert done.stderr.decode("utf-8") == f"openread: {junk}: Image format is not valid\n"


def test_too_small_image_exit_code(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(40, 40))
    done = run_cli("read", str(small))
    assert done.returncode == 3
    assert b"dimension" in done.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"openread {openread.__version__}"


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["read"]) == 2
    assert main(["serve", "--port", "x"]) == 2
    capsys.readouterr()


def test_serve_rejects_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--tls-cert", "only-a-cert.pem"]) == 2
    assert "TLS needs both" in capsys.readouterr().err
    assert main(["serve", "--root-path", "no-slash"]) == 2
    assert "root_path" in capsys.readouterr().err


def test_serve_flags_override_the_environment() -> None:
    base = Settings.from_env({"OPENREAD_PORT": "7000", "OPENREAD_API_KEYS": "a,b"})
    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "7001",
            "--url-fetch",
            "--url-allow",
            "10.0.0.0/8",
            "--max-image-bytes",
            "99",
        ]
    )
    settings = serve_settings(args, base)
    assert settings.port == 7001
    assert settings.api_keys == ("a", "b")
    assert settings.url_fetch is True
    assert settings.url_allow == ("10.0.0.0/8",)
    assert settings.limits.max_bytes == 99
    assert settings.limits.min_side == base.limits.min_side
