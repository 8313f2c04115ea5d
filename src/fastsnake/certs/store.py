"""The worker's side of automatic HTTPS: certificates and challenge answers read
from the data directory, as the TLS handshake and the HTTP-01 path need them.

Theory of operation. The certificate manager (``manager``, in the
supervisor) is the only writer: it stores certificates in Caddy's layout,
``certificates/<issuer_key>/<name>/<name>.crt|.key``, key first, each write
atomic, and challenge answers under ``challenges/`` (``challenges_store``).
Every worker holds a ``CertStore`` and only reads:

- ``context_for(name)`` is called from the SNI callback, that is in every
  TLS handshake, so it must be cheap. Each name's answer (an SSLContext
  with the chain loaded, or none) is cached; the files behind it are
  stat'ed again at most once per ``recheck_s`` (a second) per name, and the
  context is rebuilt only when the .crt's identity (device, inode, mtime,
  size) changed. A renewal written by the supervisor is therefore served
  from the next handshake a second later, with no restart, while the
  connections on the old context carry on untouched.
- The exact name is looked for first, then the wildcard one level up
  (``*.example.com`` for ``www.example.com``), each in the issuer folders
  in the order given (``local`` and an ACME CA's ``issuer_key``); the first
  found wins. ``assigned`` pins a name to one issuer instead.
- A .crt whose key does not match (the supervisor wrote the new key and
  not yet the new chain) fails to load; the previous context is kept and
  the load is retried at the next check.

No ``cryptography`` here: only ``ssl`` and the storage's helpers, so a
worker's handshake path stays light and needs no optional package.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastsnake.certs.challenges_store import (
    RECHECK_S,
    http_01_key,
    tls_alpn_01_key,
    valid_token,
)
from fastsnake.certs.policy import AutoHttps
from fastsnake.certs.storage import LOCAL_ISSUER_KEY, Storage, cert_key, issuer_key

log = logging.getLogger("fastsnake.certs.store")

ACME_TLS_ALPN = "acme-tls/1"     # RFC 8737 §3
# Names remembered (with or without a certificate). SNI names are chosen by
# clients, so the cache is bounded: the least recently used are dropped.
MAX_NAMES = 10_000
_NAME = re.compile(r"[a-z0-9_.:*-]{1,253}\Z")

Signature = tuple[int, int, int, int]
SniCallback = Callable[[ssl.SSLObject, "str | None", ssl.SSLContext], "int | None"]


def _signature(path: Path) -> Signature | None:
    """What tells a replaced file from the old one: rename(2) gives a new inode."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Loaded:
    """A context built from one version (signature) of a .crt file."""

    __slots__ = ("signature", "context")

    def __init__(self, signature: Signature, context: ssl.SSLContext) -> None:
        self.signature = signature
        self.context = context


class _Name:
    """What a worker knows of one name: its certificate and any pending challenge."""

    __slots__ = ("checked", "cert", "challenge")

    def __init__(self) -> None:
        self.checked = -1e300
        self.cert: _Loaded | None = None
        self.challenge: _Loaded | None = None


class CertStore:
    """Read-only view of the data directory for one worker; safe to share between threads.

    ``issuers`` are the issuer folders searched, in order; ``assigned`` maps
    a name to its own issuer folder or folders, in order (its site's
    issuers: see ``for_policy``); a name absent from it is searched for in
    ``issuers``. ``min_version`` is ``"tls1.2"`` or ``"tls1.3"``; ``alpn``
    the protocols offered on the site contexts.
    """

    def __init__(self, storage_root: str | os.PathLike[str],
                 issuers: Sequence[str] = (LOCAL_ISSUER_KEY,),
                 assigned: Mapping[str, str | Sequence[str]] | None = None, *,
                 min_version: str = "tls1.2", alpn: Sequence[str] = ("http/1.1",),
                 recheck_s: float = RECHECK_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(issuers, str):
            raise TypeError("issuers is a sequence of issuer keys, not one string")
        self.storage = Storage(storage_root)
        self.issuers = tuple(issuers)
        self.assigned = {name.lower(): (keys,) if isinstance(keys, str) else tuple(keys)
                         for name, keys in (assigned or {}).items()}
        self.min_version = min_version
        self.alpn = list(alpn)
        self.recheck_s = recheck_s
        self.clock = clock
        self._names: OrderedDict[str, _Name] = OrderedDict()
        self._guard = threading.Lock()

    @classmethod
    def for_policy(cls, auto: AutoHttps, **options: Any) -> CertStore:
        """The store a worker needs for ``auto``: each managed name looked up
        in its site's issuers, in the site's order (as the manager prefers
        them), and any other name (on-demand ones) in all of them."""
        issuers: list[str] = []
        assigned: dict[str, tuple[str, ...]] = {}
        for site in auto.managed:
            keys = tuple(dict.fromkeys(
                LOCAL_ISSUER_KEY if i.kind == "internal" else issuer_key(i.directory)
                for i in site.issuers))
            issuers.extend(k for k in keys if k not in issuers)
            for name in site.names:
                assigned.setdefault(name.strip().rstrip(".").lower(), keys)
        return cls(auto.storage, issuers or (LOCAL_ISSUER_KEY,), assigned, **options)

    # -- certificates --------------------------------------------------------------------

    def context_for(self, name: str) -> ssl.SSLContext | None:
        """The server context for a name's stored certificate (exact, else
        wildcard), or None when none is stored."""
        entry = self._lookup(name)
        return entry.cert.context if entry is not None and entry.cert is not None else None

    def tls_alpn_context(self, name: str) -> ssl.SSLContext | None:
        """While a TLS-ALPN-01 validation is pending for ``name`` (the SNI the
        validator sends), a context with the challenge certificate that
        speaks only ALPN ``acme-tls/1``; else None."""
        entry = self._lookup(name)
        return entry.challenge.context if entry is not None and entry.challenge else None

    def _lookup(self, name: str) -> _Name | None:
        name = name.strip().rstrip(".").lower()
        if not _NAME.match(name):
            return None
        now = self.clock()
        with self._guard:
            entry = self._names.get(name)
            if entry is None:
                entry = self._names[name] = _Name()
                if len(self._names) > MAX_NAMES:
                    self._names.popitem(last=False)
            else:
                self._names.move_to_end(name)
            # A name with no certificate yet is looked up at every handshake
            # (a few stats, next to a handshake's cost): a certificate or a
            # TLS-ALPN challenge just written is then served at once.
            if now - entry.checked >= self.recheck_s or entry.cert is None:
                entry.checked = now
                self._refresh(name, entry)
            return entry

    def _candidates(self, name: str) -> list[tuple[str, str]]:
        """(issuer folder, certificate name) pairs to look for, best first."""
        names = [name]
        if not _is_ip(name) and "." in name and not name.startswith("*."):
            names.append("*." + name.partition(".")[2])
        pairs = []
        for cert_name in names:
            pinned = self.assigned.get(cert_name) or self.assigned.get(name)
            for issuer in pinned or self.issuers:
                pairs.append((issuer, cert_name))
        return pairs

    def _refresh(self, name: str, entry: _Name) -> None:
        found = None
        for issuer, cert_name in self._candidates(name):
            crt = self.storage.path(cert_key(issuer, cert_name, "crt"))
            signature = _signature(crt)
            if signature is not None:
                found = crt, self.storage.path(cert_key(issuer, cert_name, "key")), signature
                break
        entry.cert = self._reload(entry.cert, found, self.alpn)
        crt = self.storage.path(tls_alpn_01_key(name, "crt"))
        signature = _signature(crt)
        challenge = None
        if signature is not None:
            challenge = crt, self.storage.path(tls_alpn_01_key(name, "key")), signature
        entry.challenge = self._reload(entry.challenge, challenge, [ACME_TLS_ALPN])

    def _reload(self, loaded: _Loaded | None, found: tuple[Path, Path, Signature] | None,
                alpn: list[str]) -> _Loaded | None:
        if found is None:
            return None
        crt, key, signature = found
        if loaded is not None and loaded.signature == signature:
            return loaded
        try:
            return _Loaded(signature, self._context(crt, key, alpn))
        except (OSError, ssl.SSLError) as exc:
            # Most likely the new key is in place and its chain not yet: keep
            # serving what we had, and look again at the next check.
            log.debug("cannot load %s yet: %s", crt, exc)
            return loaded

    def _context(self, crt: Path, key: Path, alpn: list[str]) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = (ssl.TLSVersion.TLSv1_3 if self.min_version == "tls1.3"
                                   else ssl.TLSVersion.TLSv1_2)
        context.load_cert_chain(crt, key)
        context.set_alpn_protocols(alpn)
        return context

    # -- HTTP-01 -------------------------------------------------------------------------

    def http_challenge(self, token: str) -> bytes | None:
        """The key authorization to answer ``/.well-known/acme-challenge/<token>``
        with, or None. Read from disk each time: such requests are rare, and
        must see an answer the moment the supervisor wrote it."""
        if not valid_token(token):
            return None
        return self.storage.read(http_01_key(token))

    # -- the handshake -------------------------------------------------------------------

    def sni_callback(self, default_context: ssl.SSLContext | None = None, *,
                     no_sni_name: str | None = None,
                     on_missing: Callable[[str], None] | None = None) -> SniCallback:
        """A function for ``SSLContext.sni_callback`` that moves each handshake
        onto its name's context.

        - A name with a pending TLS-ALPN-01 challenge gets the challenge
          context. Python's SNI callback runs before ALPN is negotiated and
          cannot see the client's ALPN list, so for the few seconds of a
          TLS-ALPN-01 validation a browser handshaking for that same name
          gets the self-signed challenge certificate (and fails). HTTP-01
          has no such window, which is why it is the preferred challenge.
        - Otherwise the name's stored certificate (exact, then wildcard).
        - A handshake without SNI (clients connecting to an IP address send
          none, RFC 6066 §3) is looked up as ``no_sni_name``, else as the
          local address when the socket can tell it (a blocking
          ``SSLSocket``; uvloop's ``SSLObject`` cannot).
        - For a name with nothing stored: ``on_missing(name)`` is called
          (where the on-demand path can hook in; it must not block), then
          the handshake carries on with ``default_context`` when one is
          given (a configured fallback certificate), else it fails at once
          with the ``unrecognized_name`` alert, as a handshake without a
          certificate would fail anyway, only less clearly.
        """

        def callback(ssl_object: ssl.SSLObject, server_name: str | None,
                     _current: ssl.SSLContext) -> int | None:
            try:
                name = server_name or no_sni_name or _local_address(ssl_object)
                if name:
                    entry = self._lookup(name)
                    if entry is not None:
                        chosen = entry.challenge or entry.cert
                        if chosen is not None:
                            ssl_object.context = chosen.context
                            return None
                    if server_name and on_missing is not None:
                        on_missing(name)
                if default_context is not None:
                    if ssl_object.context is not default_context:
                        ssl_object.context = default_context
                    return None
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            except Exception:  # an exception here would only print and abort the handshake
                log.exception("choosing the certificate for %r failed", server_name)
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR

        return callback


def _local_address(ssl_object: ssl.SSLObject) -> str | None:
    getsockname = getattr(ssl_object, "getsockname", None)
    if getsockname is None:
        return None
    try:
        return str(getsockname()[0])
    except OSError:
        return None
