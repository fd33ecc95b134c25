"""``urlfetch.fetch_image``: the SSRF guards, redirects, size cap and timeout.

Refused addresses are refused before any connection is made, so these tests only ever connect
to the loopback image host.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trustme

from openread import ImageLimits, Settings
from openread.errors import ImageBytesSizeError, ImageUrlError
from openread.http.urlfetch import PinnedTransport, fetch_image, refusal_reason
from serving import ImageHost, image_host, start_server

__all__ = ["image_host"]

PYTHONPATH = os.environ.get("PYTHONPATH", "")

NOT_ACCESSIBLE = "The provided image url is not accessible."
BAD_URL = "Image URL is badly formatted or not accessible"
REFUSED = "The provided image url is not accessible. (the host cannot be fetched)"
LOOPBACK_ALLOWED = Settings(url_fetch=True, url_allow=("127.0.0.1",))


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/x.jpg", "127.0.0.1"),
        ("http://127.8.9.10:8080/x.jpg", "127.8.9.10"),
        ("http://[::1]/x.jpg", "::1"),
        ("http://[::ffff:127.0.0.1]/x.jpg", "127.0.0.1"),
        ("http://localhost/x.jpg", "127.0.0.1"),
        ("http://10.1.2.3/x.jpg", "10.1.2.3"),
        ("http://192.168.1.20/x.jpg", "192.168.1.20"),
        ("http://172.16.5.4/x.jpg", "172.16.5.4"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254"),
        ("http://0.0.0.0/x.jpg", "0.0.0.0"),
        ("http://224.0.0.1/x.jpg", "224.0.0.1"),
        ("http://100.64.1.1/x.jpg", "100.64.1.1"),
    ],
)
def test_refuses_non_public_addresses(url: str, address: str) -> None:
    with pytest.raises(ImageUrlError) as caught:
        fetch_image(url, Settings(url_fetch=True))
    message = caught.value.message
    assert message == REFUSED
    assert address not in message


def test_metadata_address_reason() -> None:
    assert refusal_reason(ipaddress.ip_address("169.254.169.254")) == "a cloud metadata address"
    assert refusal_reason(ipaddress.ip_address("8.8.8.8")) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x.jpg",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "not a url",
        "http://",
        "",
        "//example.com/x.jpg",
        "http://[::1/x.jpg",
    ],
)
def test_refuses_malformed_and_non_http_urls(url: str) -> None:
    with pytest.raises(ImageUrlError) as caught:
        fetch_image(url, LOOPBACK_ALLOWED)
    assert caught.value.message == BAD_URL


def test_allow_list_by_address(image_host: ImageHost) -> None:
    assert fetch_image(image_host.url("/image"), LOOPBACK_ALLOWED) == image_host.content("/image")


def test_allow_list_by_network(image_host: ImageHost) -> None:
    settings = Settings(url_fetch=True, url_allow=("127.0.0.0/8",))
    assert fetch_image(image_host.url("/image"), settings) == image_host.content("/image")


def test_allow_list_by_host_name(image_host: ImageHost) -> None:
    settings = Settings(url_fetch=True, url_allow=("LocalHost",))
    url = f"http://localhost:{image_host.port}/image"
    assert fetch_image(url, settings) == image_host.content("/image")


def test_allow_list_does_not_extend_to_other_private_addresses() -> None:
    with pytest.raises(ImageUrlError, match="the host cannot be fetched"):
        fetch_image("http://10.0.0.7/x.jpg", LOOPBACK_ALLOWED)


def test_follows_an_allowed_redirect(image_host: ImageHost) -> None:
    url = image_host.url("/redirect?to=/image")
    assert fetch_image(url, LOOPBACK_ALLOWED) == image_host.content("/image")


@pytest.mark.parametrize(
    "target",
    ["http://10.20.30.40/x.jpg", "http://169.254.169.254/latest/", "http://[::1]:9/x.jpg"],
)
def test_refuses_a_redirect_to_a_forbidden_address(image_host: ImageHost, target: str) -> None:
    url = image_host.url("/redirect?to=" + quote(target, safe=""))
    with pytest.raises(ImageUrlError, match="the host cannot be fetched"):
        fetch_image(url, LOOPBACK_ALLOWED)


def test_refuses_a_redirect_to_another_scheme(image_host: ImageHost) -> None:
    url = image_host.url("/redirect?to=" + quote("file:///etc/passwd", safe=""))
    with pytest.raises(ImageUrlError, match=BAD_URL):
        fetch_image(url, LOOPBACK_ALLOWED)


def test_redirect_limit(image_host: ImageHost) -> None:
    hop = image_host.url("/redirect?to=/image")
    two_hops = image_host.url("/redirect?to=" + quote(hop, safe=""))
    settings = LOOPBACK_ALLOWED.replace(url_max_redirects=1)
    with pytest.raises(ImageUrlError, match="too many redirects"):
        fetch_image(two_hops, settings)
    assert fetch_image(two_hops, LOOPBACK_ALLOWED.replace(url_max_redirects=2))


@pytest.mark.parametrize("path", ["/size/5000", "/stream/300000"])
def test_size_cap(image_host: ImageHost, path: str) -> None:
    settings = LOOPBACK_ALLOWED.replace(limits=ImageLimits(max_bytes=4096))
    with pytest.raises(ImageBytesSizeError, match="larger than 4096 bytes"):
        fetch_image(image_host.url(path), settings)


def test_exactly_the_cap_is_accepted(image_host: ImageHost) -> None:
    settings = LOOPBACK_ALLOWED.replace(limits=ImageLimits(max_bytes=4096))
    assert len(fetch_image(image_host.url("/size/4096"), settings)) == 4096


def test_empty_image_is_refused(image_host: ImageHost) -> None:
    with pytest.raises(ImageBytesSizeError):
        fetch_image(image_host.url("/size/0"), LOOPBACK_ALLOWED)


@pytest.mark.parametrize("status", [404, 500, 204])
def test_non_success_status(image_host: ImageHost, status: int) -> None:
    with pytest.raises((ImageUrlError, ImageBytesSizeError)) as caught:
        fetch_image(image_host.url(f"/status/{status}"), LOOPBACK_ALLOWED)
    if status != 204:
        assert caught.value.message == NOT_ACCESSIBLE


def test_timeout(image_host: ImageHost) -> None:
    settings = LOOPBACK_ALLOWED.replace(url_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ImageUrlError, match="timed out"):
        fetch_image(image_host.url("/slow"), settings)
    assert time.monotonic() - started < 2.0


def test_connection_refused() -> None:
    # port 9 (discard) on loopback: nothing listens there
    with pytest.raises(ImageUrlError) as caught:
        fetch_image("http://127.0.0.1:9/x.jpg", LOOPBACK_ALLOWED)
    assert caught.value.message == NOT_ACCESSIBLE


def test_unresolvable_and_private_hosts_get_the_same_message() -> None:
    # telling "does not resolve" from "resolves to a private address" would map internal DNS
    messages = set()
    for url in ("http://no-such-host.invalid/x.jpg", "http://10.0.0.7/x.jpg"):
        with pytest.raises(ImageUrlError) as caught:
            fetch_image(url, Settings(url_fetch=True))
        messages.add(caught.value.message)
    assert messages == {REFUSED}


@pytest.mark.parametrize(
    "location", ["http:img", "https:", "data:image/png;base64,AAAA", "http://[::1"]
)
def test_redirect_to_a_url_without_a_host_is_a_client_error(
    image_host: ImageHost, location: str
) -> None:
    # before: ``http:img`` raised httpx.InvalidURL out of fetch_image (a 500 on the wire)
    url = image_host.url("/redirect?to=" + quote(location, safe=""))
    with pytest.raises(ImageUrlError):
        fetch_image(url, LOOPBACK_ALLOWED)


# --------------------------------------------------------------------------- DNS rebinding


class _Rebinding:
    """``socket.getaddrinfo`` for ``rebind.test``: ``first`` on the first lookup, ``later`` on
    every further one (a DNS server that rebinds); other names resolve as usual."""

    def __init__(self, first: str, later: str) -> None:
        self.first = first
        self.later = later
        self.lookups = 0
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return self._real(host, port, *args, **kwargs)
        self.lookups += 1
        address = self.first if self.lookups == 1 else self.later
        return self._real(address, port, *args, **kwargs)


def test_connects_to_the_address_it_checked(
    image_host: ImageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the check saw 127.0.0.1 (allowed) and httpx resolved the name again, getting an
    # unroutable address, so the fetch went somewhere else than the address checked
    resolver = _Rebinding("127.0.0.1", "192.0.2.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"http://rebind.test:{image_host.port}/image"
    assert fetch_image(url, LOOPBACK_ALLOWED) == image_host.content("/image")
    assert resolver.lookups == 1


def test_a_name_rebound_to_loopback_is_not_fetched(
    image_host: ImageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the attack of issue 16: public at the check, 127.0.0.1 at the connection. Now the
    # connection goes to the public address checked (unreachable here), never to loopback.
    resolver = _Rebinding("93.184.216.34", "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"http://rebind.test:{image_host.port}/image"
    with pytest.raises(ImageUrlError):
        fetch_image(url, Settings(url_fetch=True, url_timeout=1.0))
    assert resolver.lookups == 1


def test_each_redirect_hop_is_resolved_once_and_pinned(
    image_host: ImageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = _Rebinding("127.0.0.1", "192.0.2.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    hop = f"http://rebind.test:{image_host.port}/image"
    url = image_host.url("/redirect?to=" + quote(hop, safe=""))
    assert fetch_image(url, LOOPBACK_ALLOWED) == image_host.content("/image")
    assert resolver.lookups == 1


class _OneShotServer:
    """Answers one HTTP request on 127.0.0.1 (TLS with ``context``) and keeps its head and the
    SNI name the client sent."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.context = context
        self.head = b""
        self.sni: str | None = None
        if context is not None:
            context.sni_callback = self._sni
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _sni(self, _sock: object, name: str | None, _context: object) -> None:
        self.sni = name

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        stream = conn if self.context is None else self.context.wrap_socket(conn, True)
        with stream:
            while b"\r\n\r\n" not in self.head:
                self.head += stream.recv(4096)
            stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nimage")
        self.listener.close()


def test_pinned_transport_keeps_the_host_header() -> None:
    server = _OneShotServer()
    transport = PinnedTransport("pinned.test", [ipaddress.ip_address("127.0.0.1")])
    with httpx.Client(transport=transport) as client:
        response = client.get(f"http://pinned.test:{server.port}/x.png")
    server.thread.join(5)
    assert response.content == b"image"
    assert b"\r\nhost: pinned.test:" in server.head.lower()
    assert transport.backend.connected == [("127.0.0.1", server.port)]


def test_pinned_transport_refuses_another_host() -> None:
    transport = PinnedTransport("pinned.test", [ipaddress.ip_address("127.0.0.1")])
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.TransportError):
        client.get("http://other.test:9/x.png")
    assert transport.backend.connected == []


def test_pinned_transport_uses_the_host_name_for_sni_and_the_certificate() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("pinned.test").configure_cert(server_context)
    server = _OneShotServer(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    transport = PinnedTransport(
        "pinned.test", [ipaddress.ip_address("127.0.0.1")], ssl_context=client_context
    )
    with httpx.Client(transport=transport) as client:
        response = client.get(f"https://pinned.test:{server.port}/x.png")
    server.thread.join(5)
    assert response.content == b"image"
    assert server.sni == "pinned.test"
    assert transport.backend.connected == [("127.0.0.1", server.port)]


_REBINDING_SITECUSTOMIZE = """
import socket

_real = socket.getaddrinfo
_lookups = []


def _rebinding(host, port, *args, **kwargs):
    if host == "rebind.test":  # public at the first lookup, loopback at every later one
        _lookups.append(host)
        host = "93.184.216.34" if len(_lookups) == 1 else "127.0.0.1"
    return _real(host, port, *args, **kwargs)


socket.getaddrinfo = _rebinding
"""


def test_a_real_server_does_not_fetch_a_name_rebound_to_loopback(
    image_host: ImageHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server process gets a rebinding resolver from a test-only sitecustomize (the product
    # has no resolver hook); before, it fetched the image from 127.0.0.1 and answered 200
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_REBINDING_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hook), PYTHONPATH])))
    server = start_server(["--url-fetch", "--url-timeout", "2"], tmp_path / "serve.log")
    try:
        response = httpx.post(
            server.url(),
            json={"url": f"http://rebind.test:{image_host.port}/image"},
            timeout=30,
        )
    finally:
        server.stop()
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(NOT_ACCESSIBLE)
