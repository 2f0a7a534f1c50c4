"""Webhook targets: which addresses are refused, how URLs are checked, how requests are pinned.

Addresses are classified, never connected to; names are resolved by an injected resolver (or, for
``localhost``, by this machine's own hosts file)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from pydantic import ValidationError

from gateway.handoff.egress import (
    AddressClass,
    IPAddress,
    TargetPolicy,
    TargetRefused,
    TargetUnresolved,
    classify,
    system_resolver,
)
from gateway.settings import Settings


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.255.0.9", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("10.0.0.8", AddressClass.PRIVATE),
        ("172.16.5.4", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),
        ("169.254.169.254", AddressClass.LINK_LOCAL),  # cloud metadata services
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("224.0.0.251", AddressClass.MULTICAST),
        ("ff02::1", AddressClass.MULTICAST),
        ("0.0.0.0", AddressClass.UNSPECIFIED),  # noqa: S104 - classified, not bound
        ("0.1.2.3", AddressClass.UNSPECIFIED),  # "this network", 0.0.0.0/8
        ("::", AddressClass.UNSPECIFIED),
        ("100.64.0.1", AddressClass.SHARED),  # carrier-grade NAT, 100.64.0.0/10
        ("100.127.255.254", AddressClass.SHARED),
        ("240.0.0.1", AddressClass.RESERVED),
        ("255.255.255.255", AddressClass.RESERVED),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),  # IPv4-mapped
        ("::ffff:169.254.169.254", AddressClass.LINK_LOCAL),
        ("::ffff:10.1.1.1", AddressClass.PRIVATE),
        ("64:ff9b::a00:1", AddressClass.PRIVATE),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", AddressClass.LOOPBACK),  # 6to4 of 127.0.0.1
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("::ffff:8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_addresses_are_classified(address: str, expected: AddressClass | None) -> None:
    assert classify(ipaddress.ip_address(address)) is expected


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            raise OSError("unknown host")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


NAMES = {
    "hooks.example": ["93.184.215.14"],
    "localhost": ["127.0.0.1", "::1"],
    "inside.example": ["10.20.30.40"],
    "mixed.example": ["93.184.215.14", "192.168.0.7"],
    "metadata.example": ["::ffff:169.254.169.254"],
}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:8701/_admin/faults", "insecure_url"),
        ("https://127.0.0.1:8701/_admin/faults", "refused_address"),
        ("http://localhost:8000/v1/token", "insecure_url"),
        ("https://localhost:8000/v1/token", "refused_address"),
        ("https://inside.example/hook", "refused_address"),
        ("https://mixed.example/hook", "refused_address"),  # every address, not the first
        ("https://metadata.example/latest", "refused_address"),
        ("https://[fe80::1]/hook", "refused_address"),
        ("https://[::ffff:7f00:1]/hook", "refused_address"),
        ("https://0x7f000001/hook", "invalid_url"),  # 127.0.0.1 in other spellings
        ("https://2130706433/hook", "invalid_url"),
        ("https://127.1/hook", "invalid_url"),
        ("https://0177.0.0.1/hook", "invalid_url"),
        ("https://10.0.0.1/hook", "refused_address"),
        ("http://hooks.example/hook", "insecure_url"),
        ("\x1b-", "invalid_url"),
        ("https://hooks.example/a b", "invalid_url"),
        ("ftp://hooks.example/hook", "invalid_url"),
        ("https://user:pw@hooks.example/hook", "invalid_url"),
        ("hooks.example/hook", "invalid_url"),
    ],
)
def test_targets_outside_the_internet_are_refused(url: str, code: str) -> None:
    policy = TargetPolicy(resolve=resolver(NAMES))
    with pytest.raises(TargetRefused) as refused:
        policy.check(url)
    assert refused.value.code == code


def test_a_public_name_is_pinned_to_the_address_that_was_checked() -> None:
    target = TargetPolicy(resolve=resolver(NAMES)).check("https://hooks.example:8443/in?x=1")
    assert target.address == ipaddress.ip_address("93.184.215.14")
    with httpx.Client() as client:
        request = target.request(client, b"{}", {"webhook-id": "msg_1"}, timeout=3)
    # Sent to the checked address; the name rides in Host and as the TLS server name.
    assert request.url.host == "93.184.215.14" and request.url.port == 8443
    assert request.url.raw_path == b"/in?x=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert request.headers["connection"] == "close"


def test_an_unresolvable_name_is_reported_as_such() -> None:
    with pytest.raises(TargetUnresolved):
        TargetPolicy(resolve=resolver(NAMES)).check("https://nowhere.example/hook")


def test_loopback_only_with_the_development_allowance_and_http_only_to_loopback() -> None:
    policy = TargetPolicy(allow_loopback=True, resolve=resolver(NAMES))
    assert policy.check("http://localhost:9000/hook").address == ipaddress.ip_address("127.0.0.1")
    assert policy.check("https://hooks.example/hook").address == ipaddress.ip_address("93.184.215.14")
    for url, code in (
        ("http://hooks.example/hook", "insecure_url"),
        ("https://inside.example/hook", "refused_address"),
    ):
        with pytest.raises(TargetRefused) as refused:
            policy.check(url)
        assert refused.value.code == code


def test_the_system_resolver_answers_localhost_from_this_machine() -> None:
    addresses = system_resolver("localhost", 443)
    assert addresses and all(classify(a) is AddressClass.LOOPBACK for a in addresses)
    with pytest.raises(TargetRefused):
        TargetPolicy().check("https://localhost/hook")


def test_the_loopback_allowance_is_refused_outside_development(tmp_path: object) -> None:
    allowed = {"webhooks": {"allow_loopback": True}}
    assert Settings(**allowed).webhooks.allow_loopback  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="allow_loopback"):
        Settings(database_url="postgresql+psycopg://gateway@db.internal/gateway", **allowed)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="allow_loopback"):
        Settings(host="0.0.0.0", **allowed)  # type: ignore[arg-type]  # noqa: S104


def test_the_loopback_allowance_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOKS__ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://gateway@db.internal/gateway")
    with pytest.raises(ValidationError, match="allow_loopback"):
        Settings()
