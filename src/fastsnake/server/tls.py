"""HTTPS for a listener: the server-side SSL context from its sites' files
and the certificates automatic HTTPS manages.

One listener may carry several sites with their own certificates; the
context picks the certificate by SNI (the client's server_name), falling back
to the first site's. Only HTTP/1.1 is offered in ALPN.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

from fastsnake.certs.policy import AutoHttps
from fastsnake.certs.store import CertStore
from fastsnake.config.directives import TlsFiles
from fastsnake.config.https import ManagedTls, is_ip_address
from fastsnake.config.model import Site


def site_context(cert: str, key: str, min_version: str, max_version: str = ""
                 ) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    context.minimum_version = (ssl.TLSVersion.TLSv1_3 if min_version == "tls1.3"
                               else ssl.TLSVersion.TLSv1_2)
    if max_version:
        context.maximum_version = (ssl.TLSVersion.TLSv1_2 if max_version == "tls1.2"
                                   else ssl.TLSVersion.TLSv1_3)
    return context


def listener_context(sites: Sequence[Site], auto_https: AutoHttps | None = None,
                     store: CertStore | None = None) -> ssl.SSLContext:
    """The SSL context for a listener whose sites are all HTTPS: their own
    files (``tls <cert> <key>``) by SNI, and the certificates fastsnake
    manages (automatic HTTPS) from the data directory, picked up when the
    supervisor renews them (certs.store)."""
    by_host: dict[str, ssl.SSLContext] = {}
    wildcards: list[tuple[str, ssl.SSLContext]] = []
    default: ssl.SSLContext | None = None
    managed = [site.tls for site in sites if isinstance(site.tls, ManagedTls)]
    for site in sites:
        files = site.tls
        if not isinstance(files, TlsFiles):
            continue
        context = site_context(files.cert, files.key, files.min_version, files.max_version)
        default = default or context
        for host in site.hosts:
            if host.startswith("*."):
                wildcards.append((host[1:], context))
            else:
                by_host.setdefault(host, context)
    if store is None and managed:
        store = managed_store(sites, auto_https)
    managed_callback = managed_sni(managed, store, default) if store is not None else None
    if default is None:
        # Only managed certificates: the SNI callback moves every handshake
        # onto its name's context; this one only carries the callback.
        default = bare_context(managed[0].min_version if managed else "")
    if managed_callback is None and len(by_host) + len(wildcards) <= 1:
        return default

    def choose(sock: ssl.SSLObject, server_name: str | None, current: ssl.SSLContext
               ) -> int | None:
        name = (server_name or "").lower()
        chosen = by_host.get(name)
        if chosen is None:
            for suffix, context in wildcards:
                if name.endswith(suffix) and "." not in name[: -len(suffix)]:
                    chosen = context
                    break
        if chosen is not None:
            sock.context = chosen
            return None
        if managed_callback is not None:
            return managed_callback(sock, server_name, current)
        return None

    default.sni_callback = choose
    return default


def bare_context(min_version: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = (ssl.TLSVersion.TLSv1_3 if min_version == "tls1.3"
                               else ssl.TLSVersion.TLSv1_2)
    context.set_alpn_protocols(["http/1.1"])
    return context


def managed_store(sites: Sequence[Site], auto_https: AutoHttps | None) -> CertStore | None:
    """The store of the certificates fastsnake manages for these sites, in
    each name's issuer order (None when none of them is managed)."""
    managed = [site.tls for site in sites if isinstance(site.tls, ManagedTls)]
    if not managed or auto_https is None:
        return None
    return CertStore.for_policy(
        auto_https, min_version=max(tls.min_version or "tls1.2" for tls in managed))


def managed_sni(managed: Sequence[ManagedTls], store: CertStore,
                fallback: ssl.SSLContext | None) -> Any:
    """The SNI callback for the managed sites of one listener."""
    # Clients connecting to an IP address send no SNI: such a handshake is
    # for the listener's IP site, if it has one.
    addresses = [name.strip("[]") for tls in managed for name in tls.names
                 if is_ip_address(name)]
    return store.sni_callback(fallback, no_sni_name=addresses[0] if addresses else None)
