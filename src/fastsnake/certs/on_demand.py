"""Who may get a certificate on demand: the ``ask`` endpoint and a rate limit.

Theory of operation. With on-demand TLS a certificate is obtained at the
first handshake for a name nobody listed, so the names come from clients,
and without a gate anyone pointing DNS at the server could make it order
certificates without end (and exhaust the CA's rate limits for the
account). As Caddy's ``on_demand_tls { ask <url> }``, a name is allowed
only when ``GET <ask>?domain=<name>`` answers 200; any other status, a
redirect to nowhere, a timeout or a refused connection means no. Answers
(yes and no alike, errors included, so a dead endpoint is not hammered by
every handshake) are cached for ``cache_s``. On top, at most ``rate``
*new* names are allowed per ``per`` seconds, across all names; a name
refused by ``ask`` never reaches the CA and does not count. caddy-snake's
``permission python_dir`` replaces ``ask`` with a local look (a folder per
allowed name), not cached: deploying the folder allows the name at once.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

log = logging.getLogger("fastsnake.certs.on_demand")

ASK_TIMEOUT = 10.0      # seconds for the ask endpoint to answer
CACHE_S = 60.0
MAX_CACHED = 10_000     # the names are the clients' choice: keep the cache bounded


_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")


def python_dir_allows(python_dir: tuple[str, str], name: str) -> bool:
    """caddy-snake's ``permission python_dir``: ``name`` is exactly one label
    (a plain folder name: no dots, no path) before the suffix, and that
    folder exists under the root."""
    root, suffix = python_dir
    slug, dot, rest = name.partition(".")
    if not dot or rest != suffix or not _SLUG.fullmatch(slug):
        return False
    allowed = os.path.isdir(os.path.join(root, slug))
    if not allowed:
        log.info("on-demand TLS: %s refused: no folder %s under %s", name, slug, root)
    return allowed


class OnDemandGate:
    """``allowed(name)`` for on-demand certificates; thread-safe.

    ``ask_url`` "" means no endpoint (every name passes the ask step: only
    the rate limit applies, which Caddy warns is unsafe on the Internet).
    """

    def __init__(self, ask_url: str = "", *, python_dir: tuple[str, str] | None = None,
                 rate: int = 10, per: float = 60.0,
                 cache_s: float = CACHE_S, timeout: float = ASK_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("OnDemandGate needs rate >= 1 and per > 0")
        self.ask_url = ask_url
        self.python_dir = python_dir
        self.rate = rate
        self.per = per
        self.cache_s = cache_s
        self.timeout = timeout
        self.clock = clock
        self._guard = threading.Lock()
        self._answers: collections.OrderedDict[str, tuple[bool, float]] = (
            collections.OrderedDict())
        self._admitted: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.asked = 0            # requests made to the endpoint (for status and tests)

    def allowed(self, name: str) -> bool:
        """True when ``name`` may have a certificate obtained for it now."""
        name = name.strip().rstrip(".").lower()
        if not name:
            return False
        if self.python_dir is not None:  # a local look, asked afresh each time
            if not python_dir_allows(self.python_dir, name):
                return False
        elif not self._answer(name):
            return False
        return self._admit(name)

    def _answer(self, name: str) -> bool:
        now = self.clock()
        with self._guard:
            cached = self._answers.get(name)
            if cached is not None and now - cached[1] < self.cache_s:
                return cached[0]
        answer = self._ask(name) if self.ask_url else True
        with self._guard:
            self._answers[name] = (answer, self.clock())
            self._answers.move_to_end(name)
            while len(self._answers) > MAX_CACHED:
                self._answers.popitem(last=False)
        return answer

    def _ask(self, name: str) -> bool:
        separator = "&" if urllib.parse.urlsplit(self.ask_url).query else "?"
        url = f"{self.ask_url}{separator}{urllib.parse.urlencode({'domain': name})}"
        with self._guard:
            self.asked += 1
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:   # URLError, timeouts, refused connections
            log.warning("on-demand TLS: the ask endpoint %s failed for %s: %s; refusing it",
                        self.ask_url, name, exc)
            return False
        if status != 200:
            log.info("on-demand TLS: %s refused by the ask endpoint (%d)", name, status)
        return status == 200

    def _admit(self, name: str) -> bool:
        """The rate limit: a name admitted within the window passes again free."""
        now = self.clock()
        with self._guard:
            while self._admitted and now - next(iter(self._admitted.values())) >= self.per:
                self._admitted.popitem(last=False)
            if name in self._admitted:
                return True
            if len(self._admitted) >= self.rate:
                log.warning("on-demand TLS: more than %d new names in %g s; %s must wait",
                            self.rate, self.per, name)
                return False
            self._admitted[name] = now
            return True
