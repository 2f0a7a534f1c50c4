"""The brute-force limit on sign-ins (``POST /v1/token`` and the console): pure rules, no I/O.

Failures are counted per client id or staff login (known or not: a lock that only known ids got would
confirm them) and per source address (one place trying many ids). A key with ``limit`` failures is locked for
``lockout`` after its last failure; every further failure doubles that, up to ``max_lockout``; a key
quiet for ``forget`` starts from zero. The lock is derived from the stored count and time, so a
failure is one upsert and a check is one read (``gateway.auth.repository``); attempts refused while
locked are not counted, so hammering a locked key neither writes nor lengthens the lock.

The source address is the TCP peer unless that peer is a configured trusted proxy: then the
X-Forwarded-For chain is walked from the right, past trusted proxies, to the first hop that is not
one. Entries further left were written by the client and prove nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from gateway.clock import as_utc
from gateway.settings import Settings

KEY_LENGTH = 100  # the column's width; form fields are already shorter, a bad proxy header is cut


class KeyKind(StrEnum):
    CLIENT = "client"
    ADDRESS = "address"
    # A staff member's login (console sign-in of a named person): counted like a client id.
    STAFF = "staff"


@dataclass(frozen=True)
class ThrottlePolicy:
    client_failures: int
    address_failures: int
    lockout: timedelta
    max_lockout: timedelta
    forget: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            client_failures=settings.signin_client_failures,
            address_failures=settings.signin_address_failures,
            lockout=timedelta(seconds=settings.signin_lockout_seconds),
            max_lockout=timedelta(seconds=settings.signin_max_lockout_seconds),
            forget=timedelta(seconds=settings.signin_forget_seconds),
        )

    def limit(self, kind: KeyKind) -> int:
        return self.address_failures if kind is KeyKind.ADDRESS else self.client_failures


@dataclass(frozen=True)
class FailureCount:
    kind: KeyKind
    key: str
    failures: int
    last_failure_at: datetime


def locked_until(count: FailureCount, policy: ThrottlePolicy) -> datetime | None:
    """When the key's lock ends, or None if it has fewer failures than its limit."""
    beyond = count.failures - policy.limit(count.kind)
    if beyond < 0:
        return None
    # Capped before doubling, so that a huge count cannot overflow the multiplication.
    doubled = policy.lockout * (1 << min(beyond, 32))
    return as_utc(count.last_failure_at) + min(doubled, policy.max_lockout)


def retry_after(counts: Iterable[FailureCount], policy: ThrottlePolicy, now: datetime) -> int | None:
    """Whole seconds until every lock among ``counts`` ends (at least 1), or None if none holds."""
    ends = [end for end in (locked_until(c, policy) for c in counts) if end is not None and end > now]
    if not ends:
        return None
    return max(1, math.ceil((max(ends) - now).total_seconds()))


def address_key(address: IPv4Address | IPv6Address) -> str:
    """The throttle key of an address: an IPv4 address itself, an IPv6 address by its /64.

    One subscriber is handed a whole /64, so counting single IPv6 addresses would count nothing.
    """
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


def _parse(hop: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(hop.strip().strip("[]"))
    except ValueError:
        return None


def source_address(
    peer: str | None,
    forwarded_for: Sequence[str],
    trusted: Sequence[IPv4Network | IPv6Network],
) -> str:
    """The throttle key of where a request comes from (see the module docstring).

    ``forwarded_for`` holds every X-Forwarded-For header line in order; an unparseable hop reached
    through trusted proxies is keyed as written, cut to the column's width.
    """
    chain = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    hops = [*chain, peer or "unknown"]
    for position in range(len(hops) - 1, -1, -1):
        parsed = _parse(hops[position])
        if parsed is None:
            return hops[position][:KEY_LENGTH]
        if position == 0 or not any(parsed in network for network in trusted):
            return address_key(parsed)
    raise AssertionError("unreachable: the loop returns at position 0")
