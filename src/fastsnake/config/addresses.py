"""Site addresses, and whether each is served over HTTP or HTTPS, by
Caddy's rules (caddyserver.com/docs/automatic-https, "Activation"):

- ``http://...`` is HTTP (port: the ``http_port``, 80);
- ``https://...`` is HTTPS (port: the ``https_port``, 443);
- no scheme: a host name, ``localhost`` or an IP address is HTTPS on the
  port given, or on the HTTPS port when none is, unless the port is the
  HTTP port; an address without a host (``:8080``) is HTTP, unless the
  site has ``tls``.

Hosts are lower-cased and written as in a Host header (``[::1]``); "" is the
catch-all.
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastsnake.caddyfile import Token
from fastsnake.config.directives import TlsFiles
from fastsnake.config.order import CADDY_DIRECTIVES
from fastsnake.errors import CaddyfileError


def _fail(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def parse_address(key: Token, http_port: int, https_port: int,
                  tls: Any = None) -> tuple[int, str, bool]:
    """A site address -> (port, host, served over HTTPS). ``tls`` is the
    site's ``tls`` directive (TlsFiles, TlsAuto) or None."""
    text = key.text
    if text in CADDY_DIRECTIVES:
        _fail(
            key,
            f"parsed '{text}' as a site address, but it is a known directive; "
            "directives must appear in a site block",
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme in ("ws", "wss"):
        plain = "http" if scheme == "ws" else "https"
        _fail(key, f"the scheme {scheme}:// is only supported in browsers; use {plain}:// instead")
    if scheme not in ("", "http", "https"):
        _fail(key, f"unsupported URL scheme {scheme}://")
    hostport, slash, _ = rest.partition("/")
    if slash:
        _fail(
            key,
            f"site address '{text}' has a path, which fastsnake does not support yet; "
            "use a path matcher instead, such as 'python /api/* ...'",
        )
    host, port_text = split_host_port(key, hostport)
    port = _port(key, port_text) if port_text else None
    if scheme == "http":
        if tls is not None:
            _fail(key, f"site address '{text}' is http:// but the site has tls; "
                       "use https:// or no scheme")
        if port == https_port:
            _fail(key, f"site address '{text}': http:// on the HTTPS port {port} violates "
                       "convention")
        return (port if port is not None else http_port), host, False
    if scheme == "https":
        return (port if port is not None else https_port), host, True
    if port is None:
        return https_port, host, True
    if port == http_port and not isinstance(tls, TlsFiles):
        return port, host, False
    if host or tls is not None:
        return port, host, True
    if port == https_port:
        _fail(key, f"site address '{text}' is the HTTPS port without a host name: give the "
                   "site 'tls <cert_file> <key_file>' (or tls { on_demand }), or name its host")
    return port, host, False


def _port(key: Token, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        _fail(key, f"invalid port '{text}' in site address '{key.text}'")
    return int(text)


def split_host_port(key: Token, hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        tail = hostport[end + 1 :] if end > 0 else "?"
        if end < 0 or (tail and not tail.startswith(":")):
            _fail(key, f"invalid site address '{key.text}'")
        return hostport[: end + 1].lower(), tail[1:]  # "[::1]", as in a Host header
    if hostport.count(":") > 1:
        _fail(
            key,
            f"invalid site address '{key.text}': IPv6 addresses must be in brackets, "
            "such as '[::1]:8080'",
        )
    host, _, port = hostport.partition(":")
    return host.lower(), port
