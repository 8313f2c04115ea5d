"""``basic_auth`` at request time: check the credentials, off the event loop.

A bcrypt check costs what its cost factor says (about a second at Caddy's
default cost 14): done on the event loop, a stream of wrong passwords would
stall every connection of the worker. So a check whose answer is not yet
known defers the request (see ``Deferred``): the protocol stops parsing it,
the check runs on a small thread pool (bcrypt releases the GIL), and when it
is done the request is routed again from the start, with the answer now
known. Answers are remembered (as Caddy caches them), keyed by a digest of
the credentials, so a signed-in client's next requests pass without a
check; at most ``MAX_PENDING`` checks wait at once per worker, and past
that the request gets 503, so a flood costs threads, never the loop.

An unknown user is checked against a stand-in hash, so that the answer's
timing does not tell which user names exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fastsnake._respond import RespondHandler
from fastsnake.config.auth import BasicAuth
from fastsnake.routing.router import Deferred

log = logging.getLogger("fastsnake.auth")

MAX_PENDING = 64          # checks queued or running per worker
CACHE_SIZE = 1000         # remembered answers per basic_auth directive
CHECK_THREADS = 2

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """Made on first use, in the worker process (never before a fork)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="fastsnake-auth")
        return _executor


def credentials(request: Any) -> tuple[str, bytes] | None:
    """The Basic credentials of the Authorization header, or None."""
    for name, value in request.headers:
        if name != b"authorization":
            continue
        scheme, _, token = value.strip().partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        user, colon, password = decoded.partition(b":")
        if not colon:
            return None
        return user.decode("utf-8", "replace"), password
    return None


class BasicAuthCheck:
    """One basic_auth directive's accounts and remembered answers, and the
    answer it gives a request: the user's name (go on), None (refused: 401),
    a Deferred while the password is checked, or a 503 handler when too many
    checks wait already."""

    def __init__(self, spec: BasicAuth) -> None:
        import bcrypt  # the auth extra; the config refused basic_auth without it

        self.checkpw = bcrypt.checkpw
        self.hashes = {user: hashed.encode("ascii") for user, hashed in spec.accounts}
        # Same cost as the real hashes, so an unknown user takes as long.
        cost = min(int(hashed[4:6]) for _, hashed in spec.accounts)
        self.stand_in = bcrypt.hashpw(b"fastsnake stand-in", bcrypt.gensalt(cost))
        realm = spec.realm.replace("\\", "\\\\").replace('"', '\\"')
        self.challenge = (b"www-authenticate",
                          f'Basic realm="{realm}"'.encode("latin-1", "replace"))
        self.known: dict[bytes, bool] = {}   # keyed digest of user:password -> accepted
        self.secret = os.urandom(32)         # so the cache holds nothing a password leaks from
        self.busy = RespondHandler(503, b"too many password checks at once; try again\n",
                                   [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"retry-after", b"1")])

    def decide(self, request: Any) -> Any:
        given = credentials(request)
        if given is None:
            return None
        user, password = given
        key = hmac.new(self.secret, user.encode("utf-8") + b"\0" + password,
                       hashlib.sha256).digest()
        known = self.known.get(key)
        if known is not None:
            return user if known else None
        if pending.count >= MAX_PENDING:
            return self.busy
        hashed = self.hashes.get(user)

        def check() -> bool:
            accepted = self.checkpw(password, hashed if hashed is not None else self.stand_in)
            return accepted and hashed is not None

        def work() -> Future[Any]:
            pending.count += 1
            return executor().submit(check)

        def settle(finished: Future[Any]) -> None:
            pending.count -= 1
            if finished.exception() is None:
                self.remember(key, finished.result())
            else:
                log.error("checking a password failed", exc_info=finished.exception())

        return Deferred(work, settle)

    def remember(self, key: bytes, accepted: bool) -> None:
        known = self.known
        if len(known) >= CACHE_SIZE:
            known.pop(next(iter(known)))  # the oldest answer
        known[key] = accepted


class _Pending:
    """Checks started and not yet settled (both happen on the event loop)."""

    count = 0


pending = _Pending()
