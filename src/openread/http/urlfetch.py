"""Downloading an image named by URL (``{"url": ...}`` bodies), with SSRF guards.

URL input is opt-in (``OPENREAD_URL_FETCH``). When it is on, ``fetch_image``:

- accepts only ``http`` and ``https`` URLs with a host;
- resolves the host with ``socket.getaddrinfo`` and refuses it when any of its addresses is
  loopback, private, link-local, reserved, multicast, unspecified, not globally routable, or a
  cloud metadata address, unless the host name or that address is in ``settings.url_allow``
  (host names, single addresses or CIDR networks);
- follows redirects itself, at most ``settings.url_max_redirects``, checking every hop again;
- never uses proxies from the environment (they would bypass the address checks);
- gives the whole download ``settings.url_timeout`` seconds (each network wait gets what is left
  of that budget, and the budget is checked between chunks, so a slow drip ends within about
  twice the setting at worst), and the connection at most ``CONNECT_TIMEOUT`` of it;
- answers one message for every refused or unresolvable host (no internal DNS mapping), and a
  4xx ``ImageUrlError`` for any redirect target httpx cannot use (``http:img``, ``data:...``);
- streams the body and stops as soon as it exceeds ``settings.limits.max_bytes``.

Known limitation: the address check and the connection each resolve the name, so a DNS server
that answers differently the second time (DNS rebinding) could still steer the connection to a
refused address. Operators who need a hard guarantee should also block private ranges at the
network level (egress firewall) or allow only fixed, trusted hosts.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from ..errors import ImageBytesSizeError, ImageUrlError
from ..settings import Settings

__all__ = ["UrlPolicy", "fetch_image"]

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
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        for _hop in range(settings.url_max_redirects + 1):
            target = _parse_url(current)
            _check_host(target, policy)
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


def _check_host(target: httpx.URL, policy: UrlPolicy) -> None:
    """Refuse ``target`` unless every address of its host may be fetched."""
    host = target.raw_host.decode("ascii")
    if policy.host_allowed(host):
        return
    for address in _resolve(host, target.port or (443 if target.scheme == "https" else 80)):
        reason = refusal_reason(address)
        if reason is not None and not policy.address_allowed(address):
            raise ImageUrlError(REFUSED_MESSAGE)


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
