"""Downloading an image named by URL (``{"url": ...}`` bodies), with SSRF guards.

URL input is opt-in (``OPENREAD_URL_FETCH``). When it is on, ``fetch_image``:

- accepts only ``http`` and ``https`` URLs with a host;
- resolves the host once with ``socket.getaddrinfo`` and refuses it when any of its addresses
  is loopback, private, link-local, reserved, multicast, unspecified, not globally routable, or
  a cloud metadata address, unless the host name or that address is in ``settings.url_allow``
  (host names, single addresses or CIDR networks);
- connects only to the addresses it checked (``PinnedBackend``: the name is never resolved a
  second time, so DNS rebinding cannot steer the connection elsewhere), while the ``Host``
  header, TLS SNI and certificate verification still use the host name of the URL;
- follows redirects itself, at most ``settings.url_max_redirects``, resolving, checking and
  pinning every hop again;
- never uses proxies from the environment (they would bypass the address checks);
- gives the whole download ``settings.url_timeout`` seconds (each network wait gets what is left
  of that budget, and the budget is checked between chunks, so a slow drip ends within about
  twice the setting at worst), and the connection at most ``CONNECT_TIMEOUT`` of it;
- answers one message for every refused or unresolvable host (no internal DNS mapping), and a
  4xx ``ImageUrlError`` for any redirect target httpx cannot use (``http:img``, ``data:...``);
- streams the body and stops as soon as it exceeds ``settings.limits.max_bytes``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin

import httpcore
import httpx

from ..errors import ImageBytesSizeError, ImageUrlError
from ..settings import Settings

__all__ = ["PinnedBackend", "PinnedTransport", "UrlPolicy", "fetch_image"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BAD_URL_MESSAGE = "Image URL is badly formatted or not accessible"
NOT_ACCESSIBLE_MESSAGE = "The provided image url is not accessible."
# One message for every refused or unresolvable host, so that answers do not map internal DNS
# (which names exist, which resolve to private addresses).
REFUSED_MESSAGE = f"{NOT_ACCESSIBLE_MESSAGE} (the host cannot be fetched)"
CONNECT_TIMEOUT = 3.0
"""Seconds a fetch may wait for the TCP/TLS connection (within the total ``url_timeout``), so
targets that never answer free their fetch slot quickly."""
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "openread-urlfetch"


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which hosts may be fetched although their addresses are not public."""

    allowed_hosts: frozenset[str]
    allowed_networks: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in settings.url_allow:
            network = _as_network(entry)
            if network is None:
                hosts.add(entry.strip().lower().rstrip("."))
            else:
                networks.append(network)
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed_networks)


def _as_network(entry: str) -> IPNetwork | None:
    """``entry`` as a network (a bare address is a /32 or /128), or None for a host name."""
    text = entry.strip().strip("[]")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched by default (a short phrase), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
    checks = (
        (address in _METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def fetch_image(url: str, settings: Settings) -> bytes:
    """Download the image at ``url`` under the policy of ``settings``.

    Raises ``ImageUrlError`` for a malformed, refused or unreachable URL (and for a non-2xx
    answer) and ``ImageBytesSizeError`` for an empty or too large image.
    """
    policy = UrlPolicy.from_settings(settings)
    deadline = time.monotonic() + settings.url_timeout
    current = url
    for _hop in range(settings.url_max_redirects + 1):
        target = _parse_url(current)
        host = target.raw_host.decode("ascii")
        transport = PinnedTransport(host, _checked_addresses(target, policy))
        with httpx.Client(transport=transport, trust_env=False, follow_redirects=False) as client:
            location = _fetch_one(client, target, settings, deadline)
        if isinstance(location, bytes):
            return location
        current = location
    raise ImageUrlError(f"{NOT_ACCESSIBLE_MESSAGE} (too many redirects)")


def _parse_url(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ImageUrlError(BAD_URL_MESSAGE) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise ImageUrlError(BAD_URL_MESSAGE)
    return target


def _checked_addresses(target: httpx.URL, policy: UrlPolicy) -> tuple[IPAddress, ...]:
    """The addresses of ``target``'s host (resolved once), refused unless every one of them may
    be fetched (or the host name is allowed): the only addresses the fetch may connect to."""
    host = target.raw_host.decode("ascii")
    addresses = _resolve(host, target.port or (443 if target.scheme == "https" else 80))
    if not policy.host_allowed(host):
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None and not policy.address_allowed(address):
                raise ImageUrlError(REFUSED_MESSAGE)
    return tuple(dict.fromkeys(addresses))


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ImageUrlError(REFUSED_MESSAGE) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise ImageUrlError(REFUSED_MESSAGE)
    return addresses


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ImageUrlError(f"{NOT_ACCESSIBLE_MESSAGE} (timed out)")
    return left


def _fetch_one(
    client: httpx.Client, target: httpx.URL, settings: Settings, deadline: float
) -> bytes | str:
    """One request: the image bytes, or the absolute URL a redirect points to."""
    request = client.build_request(
        "GET",
        target,
        headers={
            "User-Agent": _USER_AGENT,
            "Accept": "image/*,*/*;q=0.8",
            "Accept-Encoding": "identity",
        },
        timeout=_timeout(deadline),
    )
    try:
        response = client.send(request, stream=True)
        try:
            return _handle_response(response, str(target), settings, deadline)
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        raise ImageUrlError(f"{NOT_ACCESSIBLE_MESSAGE} (timed out)") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        # InvalidURL is not an HTTPError: a redirect to ``http:img`` raises it while sending.
        raise ImageUrlError(NOT_ACCESSIBLE_MESSAGE) from exc


def _timeout(deadline: float) -> httpx.Timeout:
    left = _remaining(deadline)
    return httpx.Timeout(left, connect=min(left, CONNECT_TIMEOUT))


def _handle_response(
    response: httpx.Response, url: str, settings: Settings, deadline: float
) -> bytes | str:
    if response.status_code in _REDIRECT_STATUSES:
        location: str = response.headers.get("location", "")
        if not location:
            raise ImageUrlError(NOT_ACCESSIBLE_MESSAGE)
        try:
            return urljoin(url, location)
        except ValueError as exc:  # e.g. an invalid IPv6 literal in the Location
            raise ImageUrlError(BAD_URL_MESSAGE) from exc
    if not 200 <= response.status_code < 300:
        raise ImageUrlError(NOT_ACCESSIBLE_MESSAGE)
    max_bytes = settings.limits.max_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    data = _read_capped(response.iter_bytes(), max_bytes, deadline)
    if not data:
        raise _too_large(max_bytes)
    return data


def _read_capped(chunks: Iterator[bytes], max_bytes: int, deadline: float) -> bytes:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > max_bytes:
            raise _too_large(max_bytes)
        _remaining(deadline)
    return bytes(buffer)


def _too_large(max_bytes: int) -> ImageBytesSizeError:
    return ImageBytesSizeError(
        f"The image size is not allowed to be zero or larger than {max_bytes} bytes."
    )


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that connects ``host`` only to ``addresses`` (the ones the
    policy checked), in order, and never resolves a name: any other host is refused."""

    def __init__(self, host: str, addresses: Sequence[IPAddress]) -> None:
        self.host = host.lower().rstrip(".")
        self.addresses = tuple(addresses)
        self.connected: list[tuple[str, int]] = []
        """(address, port) of every connection made (for tests and debugging)."""
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if host.lower().rstrip(".") != self.host or not self.addresses:
            raise httpcore.ConnectError("not the host whose addresses were checked")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self.addresses:
            try:
                # an address literal: the socket module does no DNS lookup for it
                stream = self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            self.connected.append((str(address), port))
            return stream
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport whose connections go through a ``PinnedBackend``: the request (its
    ``Host`` header, TLS SNI and the certificate check) names the host, the socket goes to a
    checked address. No proxies, one connection, no retries."""

    def __init__(
        self,
        host: str,
        addresses: Sequence[IPAddress],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.backend = PinnedBackend(host, addresses)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=1,
            network_backend=self.backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        assert isinstance(stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        body = response.stream
        assert isinstance(body, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(body),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as httpx's (what ``_fetch_one`` handles)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.TimeoutException(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise httpx.TransportError(str(exc)) from exc
