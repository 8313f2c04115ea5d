"""Who the client is behind trusted proxies, as Caddy decides it.

With the global ``servers { trusted_proxies ... }`` option, a request whose
peer (the TCP connection's other end) is a trusted proxy names its client in
a header (``client_ip_headers``, default ``X-Forwarded-For``). Caddy's rules:

* a peer that is not trusted is the client, whatever its headers say (so a
  client cannot claim another address by sending the header itself);
* by default the left-most valid address of the first configured header
  present is the client;
* with ``trusted_proxies_strict``, the header is read from the right: each
  trusted address is a proxy hop and skipped, and the first untrusted one is
  the client (a client may prepend anything; only what trusted proxies
  appended counts). If every hop is trusted, the left-most one is taken.

The result is Caddy's ``client_ip`` variable: ``{client_ip}``, the
``client_ip`` matcher and the access log's ``client_ip`` read it, and apps
that opt in (``proxy_headers``) get it as their client address, with the
scheme of ``X-Forwarded-Proto`` from a trusted peer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Caddy's private_ranges shorthand.
PRIVATE_RANGES = ("192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.1/8",
                  "fd00::/8", "::1")


def parse_ranges(values: tuple[str, ...] | list[str]) -> tuple[Network, ...]:
    """CIDR ranges or single addresses; ``private_ranges`` expands. Raises
    ValueError naming the value that is neither."""
    networks: list[Network] = []
    for value in values:
        for text in (PRIVATE_RANGES if value == "private_ranges" else (value,)):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"'{text}' is not an IP address or CIDR range") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]  # "[::1]:8080"
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # "1.2.3.4:5678"
    text = text.partition("%")[0]  # an IPv6 zone
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class ClientIPResolver:
    trusted: tuple[Network, ...]
    headers: tuple[bytes, ...]        # lowercase header names, in priority order
    strict: bool

    def is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def peer_address(self, request: Any) -> Address | None:
        peer = request.peer
        if not peer or not isinstance(peer, tuple):
            return None
        return _address(str(peer[0]))

    def trusted_peer(self, request: Any) -> bool:
        peer = self.peer_address(request)
        return peer is not None and self.is_trusted(peer)

    def client_ip(self, request: Any) -> str:
        """The client's address as text ("" without a peer address)."""
        peer = self.peer_address(request)
        if peer is None:
            return ""
        if not self.is_trusted(peer):
            return str(peer)
        for name in self.headers:
            values = [value for key, value in request.headers if key == name]
            if not values:
                continue
            hops = [part for value in values
                    for part in value.decode("latin-1").split(",") if part.strip()]
            found = self._from_hops(hops)
            if found is not None:
                return str(found)
        return str(peer)

    def _from_hops(self, hops: list[str]) -> Address | None:
        if not self.strict:
            for hop in hops:
                address = _address(hop)
                if address is not None:
                    return address
            return None
        leftmost = None
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                return None  # Caddy: an invalid hop ends the walk; the peer stands
            leftmost = address
            if not self.is_trusted(address):
                return address
        return leftmost

    def forwarded_scheme(self, request: Any) -> str | None:
        """``X-Forwarded-Proto`` from a trusted peer (http or https), else None."""
        if not self.trusted_peer(request):
            return None
        for key, value in request.headers:
            if key == b"x-forwarded-proto":
                scheme = value.decode("latin-1").split(",")[0].strip().lower()
                return scheme if scheme in ("http", "https") else None
        return None


def resolver_for(policy: Any) -> ClientIPResolver | None:
    """The resolver for a config.model.ClientIPPolicy (None: no trusted proxies)."""
    if policy is None or not policy.trusted:
        return None
    return ClientIPResolver(parse_ranges(policy.trusted),
                            tuple(h.lower().encode("latin-1") for h in policy.headers),
                            policy.strict)
