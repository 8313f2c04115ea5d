"""ACME challenge answers kept in the data directory, so every worker can give them.

Theory of operation. Exactly one process (the supervisor's certificate
manager) talks to the CA, but the CA's validation request reaches whichever
worker the kernel hands the connection to. So the manager's solver
(``StorageSolver``) writes each answer into the shared storage, and every
worker's ``CertStore`` reads it from there:

    challenges/http-01/<token>                  the key authorization (HTTP-01)
    challenges/tls-alpn-01/<sni>.crt|.key       the challenge certificate (TLS-ALPN-01)

Both writes are atomic (``Storage.write``). HTTP-01 answers are read from
disk on every challenge request, so they are visible at once. TLS-ALPN-01
answers are looked up in the TLS handshake, where a worker re-checks the
disk at most once per ``RECHECK_S`` per name; so after writing one the
solver waits that long (``settle_s``) before it returns and the client asks
the CA to validate, and no worker can still be holding a "no challenge"
answer from just before.

Only the stdlib and ``storage`` are imported here: workers import this
module (through ``store``) and must not need ``cryptography``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from fastsnake.certs.storage import Storage, safe_key

HTTP_01_PREFIX = "challenges/http-01"
TLS_ALPN_01_PREFIX = "challenges/tls-alpn-01"
# How long a worker may serve from what it last saw of a name's files
# (certificate and TLS-ALPN challenge): the stat(2) budget of the SNI callback.
RECHECK_S = 1.0
# RFC 8555 §8.1: tokens are base64url without padding; anything else never
# becomes a file name (no "..", no "/").
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")


def valid_token(token: str) -> bool:
    return bool(_TOKEN.match(token))


def http_01_key(token: str) -> str:
    """The storage key of an HTTP-01 answer; ValueError for a token that is not base64url."""
    if not valid_token(token):
        raise ValueError(f"not an ACME challenge token: {token!r}")
    return f"{HTTP_01_PREFIX}/{token}"


def tls_alpn_01_key(server_name: str, ext: str) -> str:
    """The storage key of a TLS-ALPN-01 challenge certificate (ext ``crt``) or key (``key``)."""
    return f"{TLS_ALPN_01_PREFIX}/{safe_key(server_name.rstrip('.'))}.{ext}"


class StorageSolver:
    """A ``ChallengeSolver`` (see ``acme_challenges``) that publishes through the storage.

    ``settle_s`` is the wait after a TLS-ALPN-01 answer is written, before
    the CA is asked to validate it (see the module's docstring); ``sleep``
    is injectable for tests. Thread-safe: the storage writes are atomic and
    each token or name has its own files.
    """

    def __init__(self, storage: Storage, *, settle_s: float = RECHECK_S * 1.2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.storage = storage
        self.settle_s = settle_s
        self.sleep = sleep

    def present_http(self, token: str, key_authorization: str) -> None:
        self.storage.write(http_01_key(token), key_authorization.encode("ascii"))

    def cleanup_http(self, token: str) -> None:
        if valid_token(token):
            self.storage.delete(http_01_key(token))

    def present_tls_alpn(self, name: str, cert_pem: bytes, key_pem: bytes) -> None:
        # The key first, as for certificates: a reader that finds the .crt
        # finds its key; the reader treats a mismatch (the key of a newer
        # challenge under an older .crt) as nothing pending yet.
        self.storage.write(tls_alpn_01_key(name, "key"), key_pem, private=True)
        self.storage.write(tls_alpn_01_key(name, "crt"), cert_pem)
        self.sleep(self.settle_s)

    def cleanup_tls_alpn(self, name: str) -> None:
        # The .crt first: it is what a reader looks for.
        self.storage.delete(tls_alpn_01_key(name, "crt"))
        self.storage.delete(tls_alpn_01_key(name, "key"))
