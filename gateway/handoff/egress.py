"""Where the gateway may send webhook notifications: public addresses only, checked when connecting.

A webhook URL names a host the subscriber chose, so without a check the worker would post to
whatever that name resolves to: the mocks' admin endpoints, the gateway itself, a cloud metadata
service, the office network. ``classify`` says which addresses are not public (pure, no I/O);
``TargetPolicy.check`` resolves a URL's host and refuses it unless every address is public, and
answers with the address it checked, so that the delivery connects to exactly that address (the
name goes in the ``Host`` header and as the TLS server name, so the certificate is still verified
against the name). It is called at subscription and again at every delivery, because what a name
resolves to can change between the two.

Loopback is allowed only by ``GATEWAY_WEBHOOKS__ALLOW_LOOPBACK``, which the settings refuse outside a
development gateway; plain http only then, and only to loopback.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]

# Not covered by ipaddress's own flags on every Python version: carrier-grade NAT space (RFC 6598)
# and "this network" (RFC 791), both reachable inside a provider's network rather than the Internet.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
# NAT64 (RFC 6052): the IPv4 address in the low 32 bits is where the packet really goes.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A host whose last label is a number is an IPv4 address in one of inet_aton's spellings (127.1,
# 2130706433, 0x7f000001, 0177.0.0.1), never a DNS name; only the dotted-quad form is accepted.
_NUMERIC_LAST_LABEL = re.compile(r"(?:^|\.)(?:0x[0-9a-f]*|[0-9]+)\.?$", re.IGNORECASE)


class AddressClass(StrEnum):
    """Why an address is not a place to send notifications to."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    SHARED = "shared"
    RESERVED = "reserved"


def classify(address: IPAddress) -> AddressClass | None:
    """Why ``address`` is refused as a webhook target, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4-mapped or NAT64 address is that IPv4 address; judge it as such.
        if address.ipv4_mapped is not None:
            return classify(address.ipv4_mapped)
        if address in _NAT64:
            return classify(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        # 6to4 and Teredo carry an IPv4 address too: refused if it is, whatever the outer one is.
        inner = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None and classify(inner) is not None:
            return classify(inner)
    # Order matters only for the name reported: 127/8 is also "private" to ipaddress.
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK):
        return AddressClass.UNSPECIFIED
    if address.is_loopback:
        return AddressClass.LOOPBACK
    if address.is_link_local:
        return AddressClass.LINK_LOCAL
    if address.is_multicast:
        return AddressClass.MULTICAST
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return AddressClass.SHARED
    if address.is_reserved:
        return AddressClass.RESERVED
    if address.is_private:
        return AddressClass.PRIVATE
    # Anything else not globally routable (documentation, benchmarking, protocol assignments...).
    return None if address.is_global else AddressClass.RESERVED


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class TargetRefused(Exception):
    """A webhook URL the gateway will not send to; ``code`` and ``message`` name the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class TargetUnresolved(Exception):
    """The host of a webhook URL does not resolve (now)."""


@dataclass(frozen=True)
class PinnedTarget:
    """A checked webhook URL and the address the request must be sent to."""

    url: httpx.URL
    address: IPAddress

    def request(
        self, client: httpx.Client, content: bytes, headers: dict[str, str], timeout: float
    ) -> httpx.Request:
        """A POST to the checked address, naming the URL's host in Host and as the TLS server name."""
        host = self.url.host
        # httpx brackets an IPv6 host itself.
        pinned = self.url.copy_with(host=str(self.address))
        default_port = {"http": 80, "https": 443}[self.url.scheme]
        host_header = host if self.url.port in (None, default_port) else f"{host}:{self.url.port}"
        extensions = {"sni_hostname": host} if self.url.scheme == "https" else {}
        return client.build_request(
            "POST",
            pinned,
            content=content,
            # A fresh connection per delivery: connections are pooled per address, and one opened
            # (and its certificate verified) for another name at the same address must not be reused.
            headers={**headers, "host": host_header, "connection": "close"},
            timeout=timeout,
            extensions=extensions,
        )


def _invalid(message: str) -> TargetRefused:
    return TargetRefused("invalid_url", message)


@dataclass(frozen=True)
class TargetPolicy:
    """The rules a webhook target must meet; lives in ``ctx.services.webhooks``."""

    allow_loopback: bool = False
    resolve: Resolver = system_resolver

    def parse(self, url: str) -> httpx.URL:
        """The URL if it is well formed and https (http to loopback in development); else refused."""
        if not url.isprintable() or any(c.isspace() for c in url):
            raise _invalid("a webhook URL may not contain spaces or control characters")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise _invalid("not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise _invalid("a webhook URL must be an https URL with a host")
        if parsed.scheme == "http" and not self.allow_loopback:
            raise TargetRefused("insecure_url", "a webhook URL must use https")
        if parsed.userinfo:
            raise _invalid("a webhook URL may not carry a user name or password")
        return parsed

    def check(self, url: str) -> PinnedTarget:
        """Resolve the URL's host and refuse it unless every address it gives is allowed."""
        parsed = self.parse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses: Sequence[IPAddress] = [ipaddress.ip_address(parsed.host)]
        except ValueError:
            if _NUMERIC_LAST_LABEL.search(parsed.host):
                raise _invalid("write an IP address as four decimal numbers, or use a name") from None
            try:
                addresses = self.resolve(parsed.host, port)
            except (OSError, UnicodeError, ValueError):
                raise TargetUnresolved(parsed.host) from None
        if not addresses:
            raise TargetUnresolved(parsed.host)
        # Every address, not just the first: a name resolving to a public and a private address
        # would otherwise reach the private one whenever the order changes.
        for address in addresses:
            kind = classify(address)
            if kind is AddressClass.LOOPBACK and self.allow_loopback:
                continue
            if kind is not None:
                raise TargetRefused(
                    "refused_address",
                    f"a webhook URL may not point at a {kind.value.replace('_', '-')} address",
                )
        if parsed.scheme == "http" and any(classify(a) is not AddressClass.LOOPBACK for a in addresses):
            raise TargetRefused("insecure_url", "a webhook URL must use https (http only to this machine)")
        return PinnedTarget(parsed, addresses[0])
