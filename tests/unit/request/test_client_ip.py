"""Who the client is behind trusted proxies: Caddy's rules, and the
spoofing cases they exist for."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fastsnake.config.model import ClientIPPolicy
from fastsnake.request.client_ip import ClientIPResolver, parse_ranges, resolver_for


@dataclass
class Request:
    peer: tuple[str, int] | None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    vars: dict | None = None


def resolver(*trusted: str, strict: bool = False,
             headers: tuple[str, ...] = ("X-Forwarded-For",)) -> ClientIPResolver:
    made = resolver_for(ClientIPPolicy(trusted, headers, strict))
    assert made is not None
    return made


def xff(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode()) for value in values]


def test_an_untrusted_peer_is_the_client_whatever_it_claims():
    r = resolver("10.0.0.0/8")
    assert r.client_ip(Request(("203.0.113.9", 5000), xff("1.2.3.4"))) == "203.0.113.9"


def test_a_trusted_peer_names_the_client_leftmost_by_default():
    r = resolver("10.0.0.0/8")
    request = Request(("10.1.2.3", 5000), xff("198.51.100.7, 10.9.9.9"))
    assert r.client_ip(request) == "198.51.100.7"


def test_strict_takes_the_rightmost_untrusted_hop():
    # The client prepended a lie; the trusted proxy appended the truth.
    r = resolver("10.0.0.0/8", strict=True)
    request = Request(("10.1.2.3", 5000), xff("1.1.1.1, 198.51.100.7, 10.9.9.9"))
    assert r.client_ip(request) == "198.51.100.7"


def test_strict_with_every_hop_trusted_takes_the_leftmost():
    r = resolver("10.0.0.0/8", strict=True)
    assert r.client_ip(Request(("10.1.2.3", 1), xff("10.5.5.5, 10.6.6.6"))) == "10.5.5.5"


def test_several_header_lines_are_one_list():
    r = resolver("10.0.0.0/8", strict=True)
    request = Request(("10.1.2.3", 1), xff("1.1.1.1", "198.51.100.7"))
    assert r.client_ip(request) == "198.51.100.7"


def test_no_header_or_nothing_valid_leaves_the_peer():
    r = resolver("10.0.0.0/8")
    assert r.client_ip(Request(("10.1.2.3", 1))) == "10.1.2.3"
    assert r.client_ip(Request(("10.1.2.3", 1), xff("unknown, nonsense"))) == "10.1.2.3"


def test_headers_in_their_order_and_addresses_with_ports():
    r = resolver("private_ranges", headers=("CF-Connecting-IP", "X-Forwarded-For"))
    request = Request(("127.0.0.1", 1), [(b"x-forwarded-for", b"192.0.2.1"),
                                         (b"cf-connecting-ip", b"[2001:db8::1]:443")])
    assert r.client_ip(request) == "2001:db8::1"
    request = Request(("::1", 1), xff("192.0.2.8:1234"))
    assert r.client_ip(request) == "192.0.2.8"


def test_forwarded_scheme_only_from_a_trusted_peer():
    r = resolver("10.0.0.0/8")
    proto = [(b"x-forwarded-proto", b"https")]
    assert r.forwarded_scheme(Request(("10.0.0.1", 1), proto)) == "https"
    assert r.forwarded_scheme(Request(("192.0.2.1", 1), proto)) is None
    assert r.forwarded_scheme(Request(("10.0.0.1", 1), [(b"x-forwarded-proto", b"gopher")])) \
        is None


def test_no_peer_address_no_client():
    assert resolver("10.0.0.0/8").client_ip(Request(None, xff("1.2.3.4"))) == ""


def test_no_trusted_ranges_no_resolver():
    assert resolver_for(None) is None
    assert resolver_for(ClientIPPolicy()) is None


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "example.com", "1.2.3"])
def test_bad_ranges_are_named(bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        parse_ranges([bad])
