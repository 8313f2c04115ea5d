"""HTTPS for a listener: the server-side SSL context from its sites' files.

One listener may carry several sites with their own certificates; the
context picks the certificate by SNI (the client's server_name), falling back
to the first site's. Only HTTP/1.1 is offered in ALPN.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

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


def listener_context(sites: Sequence[Site]) -> ssl.SSLContext:
    """The SSL context for a listener whose sites all have ``tls`` files."""
    by_host: dict[str, ssl.SSLContext] = {}
    wildcards: list[tuple[str, ssl.SSLContext]] = []
    default: ssl.SSLContext | None = None
    for site in sites:
        files = site.tls
        assert files is not None
        context = site_context(files.cert, files.key, files.min_version, files.max_version)
        default = default or context
        for host in site.hosts:
            if host.startswith("*."):
                wildcards.append((host[1:], context))
            else:
                by_host.setdefault(host, context)
    assert default is not None
    if len(by_host) + len(wildcards) > 1:

        def choose(sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            name = (server_name or "").lower()
            chosen = by_host.get(name)
            if chosen is None:
                for suffix, context in wildcards:
                    if name.endswith(suffix) and "." not in name[: -len(suffix)]:
                        chosen = context
                        break
            if chosen is not None:
                sock.context = chosen

        default.sni_callback = choose
    return default
