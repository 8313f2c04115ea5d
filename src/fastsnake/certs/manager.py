"""The certificate manager: obtains and renews every managed name's certificate.

Theory of operation. One ``CertManager`` runs in the supervisor, the one
process per machine that talks to CAs; the workers only read what it
stores (``store.CertStore``). Per name (one certificate per name, as
Caddy), it keeps what certificate is held, when it is due for renewal and,
after failures, a ``Backoff``:

- ``prepare()`` at startup loads each stored certificate and issues at
  once the missing ones whose first issuer is the local CA, so workers
  start with certificates. A CA problem is logged, never raised.
- a background thread (``start``/``stop``) sleeps until the next name is
  due, then obtains it (missing, expired, or with a third of its lifetime
  left), trying the site's issuers in order. When all fail, the name's
  Backoff sets the next try (60 s, doubling, at most a day), whatever the
  failure: a refused validation is retried later too, as Caddy does.
- every obtain runs under the storage lock ``issue_cert_<name>`` (the
  local CA's lock name too) and first re-reads the storage, so two
  fastsnake instances sharing a data directory order a certificate once:
  the second finds the first's.
- certificates are written key first, then chain, then metadata, each
  atomically, to ``certificates/<issuer_key>/<name>/``; a worker that sees
  the new .crt finds its key.
- ACME accounts, one per (directory, email), are stored under
  ``acme/<issuer_key>/users/<email>/`` and reused across restarts.
- ``obtain_now(name)`` is the on-demand path: a name matching an
  on-demand site, approved by the ``OnDemandGate``, is obtained
  synchronously (thread-safe: the storage lock serializes callers) and
  then renewed like the others.

Times come from ``clock`` (epoch seconds, injectable), so tests can move to
where a certificate is due without waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from fastsnake.certs import acme
from fastsnake.certs.acme import AcmeAccount, AcmeError, Backoff, ChallengeSolver
from fastsnake.certs.challenges_store import StorageSolver
from fastsnake.certs.local_ca import LocalCA, normalize_name
from fastsnake.certs.on_demand import OnDemandGate
from fastsnake.certs.pem import RENEWAL_WINDOW_RATIO, load_chain, names_of
from fastsnake.certs.policy import AutoHttps, Issuer, ManagedNames
from fastsnake.certs.storage import (
    LOCAL_ISSUER_KEY,
    LockTimeout,
    Storage,
    account_prefix,
    cert_key,
    issuer_key,
    safe_key,
)

LOCK_POLL_S = 1.0        # how often a wait for a storage lock looks whether to stop
MAX_SLEEP_S = 3600.0     # look at least hourly: clock jumps, suspend, another instance
MIN_RETRY_S = 60.0       # a certificate due the moment it arrives is looked at again after this
_ACCOUNT_GONE = "urn:ietf:params:acme:error:accountDoesNotExist"


@dataclass
class _Held:
    """A stored certificate that may be served."""

    issuer: str            # its issuer key (storage folder)
    serial: int
    not_before: float      # epoch seconds
    not_after: float

    @property
    def renew_at(self) -> float:
        """When a third of its lifetime is left (pem.renewal_due's rule)."""
        return self.not_after - (self.not_after - self.not_before) * RENEWAL_WINDOW_RATIO


@dataclass
class _Name:
    """One managed name's state; changed only under its storage lock."""

    name: str
    site: ManagedNames
    backoff: Backoff
    held: _Held | None = None
    next_at: float = 0.0          # when the loop looks at it next (epoch seconds)
    last_error: str = ""
    problem: dict[str, Any] | None = None
    on_demand: bool = False


@dataclass
class _Obtained:
    chain_pem: bytes
    key_pem: bytes
    issuer: str
    meta: dict[str, Any] = field(default_factory=dict)


def _timestamp(when: dt.datetime) -> float:
    return when.timestamp()


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="seconds")


def _matches(pattern: str, name: str) -> bool:
    """Site-address matching for on-demand names: exact, or ``*.`` for one label."""
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


class CertManager:
    """Obtains and renews the certificates of ``auto.managed``; see the module docstring."""

    def __init__(self, auto: AutoHttps, storage: Storage | None = None, *,
                 clock: Callable[[], float] = time.time,
                 log: logging.Logger | None = None,
                 solver: ChallengeSolver | None = None,
                 gate: OnDemandGate | None = None,
                 backoff: Callable[[Callable[[], float]], Backoff] | None = None,
                 acme_timeout: float = acme.DEFAULT_TIMEOUT) -> None:
        self.auto = auto
        self.storage = storage or Storage(auto.storage)
        self.clock = clock
        self.log = log or logging.getLogger("fastsnake.certs")
        self.solver: ChallengeSolver = solver or StorageSolver(self.storage)
        demand = auto.on_demand
        self.gate = gate or OnDemandGate(
            demand.ask if demand else "",
            python_dir=(demand.python_dir_root, demand.python_dir_suffix)
            if demand and demand.python_dir_root else None)
        self._new_backoff = backoff or (lambda clock: Backoff(clock=clock))
        self.acme_timeout = acme_timeout
        self.local_ca = LocalCA(self.storage)
        self._guard = threading.Lock()
        self._names: dict[str, _Name] = {}
        self._on_demand_sites = [site for site in auto.managed if site.on_demand]
        self._accounts: dict[tuple[str, str], AcmeAccount] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        for site in auto.managed:
            if site.on_demand:
                continue
            for raw in site.names:
                try:
                    name = normalize_name(raw)
                except ValueError as exc:
                    self.log.error("%s: cannot manage a certificate for %r: %s",
                                   site.location or "automatic HTTPS", raw, exc)
                    continue
                if not site.issuers:
                    continue
                self._names.setdefault(name, self._entry(name, site))

    def _entry(self, name: str, site: ManagedNames, on_demand: bool = False) -> _Name:
        return _Name(name, site, self._new_backoff(self.clock), next_at=self.clock(),
                     on_demand=on_demand)

    # -- startup -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Load stored certificates; issue the local CA's missing ones now.

        Never raises for a CA problem (logs it and leaves the name to the
        background loop); a data directory that cannot be written still
        raises ``StorageError``.
        """
        self._adopt_on_demand()
        for entry in self._snapshot():
            entry.held = self._find_stored(entry)
            if entry.held is not None:
                entry.next_at = max(entry.held.renew_at, self.clock())
            due = entry.held is None or self.clock() >= entry.held.renew_at
            if due and entry.site.issuers[0].kind == "internal":
                self._maintain(entry)

    def _adopt_on_demand(self) -> None:
        """Certificates obtained on demand in an earlier run are renewed as
        well: workers serve them straight from the storage, so no handshake
        would ever bring them to ``obtain_now`` again."""
        for site in self._on_demand_sites:
            for issuer in site.issuers:
                folder = f"certificates/{self._issuer_key(issuer)}"
                if not self.storage.path(folder).is_dir():
                    continue
                for key in self.storage.list(folder):
                    parts = key.split("/")
                    if len(parts) != 4 or parts[3] != f"{parts[2]}.crt":
                        continue
                    name = parts[2]
                    if name in self._names or not self._on_demand_match(site, name):
                        continue
                    with self._guard:
                        self._names.setdefault(name, self._entry(name, site, on_demand=True))

    # -- the background loop -------------------------------------------------------------

    def start(self) -> None:
        """Run the renewal loop in a daemon thread (once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="fastsnake-certs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the loop to stop and wait up to ``timeout`` s; True once it has.

        The loop stops between names; an ACME order already under way is
        not interrupted (its thread is a daemon, so it never holds up exit).
        """
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def wake(self) -> None:
        """Make the loop look at the names again now (after obtain_now, say)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.run_due()
            except Exception:   # the loop must outlive any one failure
                self.log.exception("the certificate manager's loop failed; trying again later")
                delay = MIN_RETRY_S
            self._wake.wait(delay)

    def run_due(self) -> float:
        """Obtain or renew every name that is due now; return the seconds
        until the next one is (what the loop sleeps)."""
        for entry in self._scheduled():
            if self._stop.is_set():
                break
            if entry.next_at <= self.clock() or self._vanished(entry):
                self._maintain(entry)
        upcoming = [entry.next_at for entry in self._scheduled()]
        if not upcoming:
            return MAX_SLEEP_S
        return min(max(min(upcoming) - self.clock(), 0.0), MAX_SLEEP_S)

    def _vanished(self, entry: _Name) -> bool:
        """The held certificate's file is gone (a data directory cleaned by
        hand): one stat per name and pass, at least hourly."""
        held = entry.held
        return held is not None and not self.storage.exists(
            cert_key(held.issuer, entry.name, "crt"))

    def _snapshot(self) -> list[_Name]:
        with self._guard:
            return list(self._names.values())

    def _scheduled(self) -> list[_Name]:
        """The names the loop looks after: all but on-demand names that never
        got a certificate, which only a handshake (``obtain_now``) retries."""
        return [e for e in self._snapshot() if not (e.on_demand and e.held is None)]

    # -- one name ------------------------------------------------------------------------

    def _maintain(self, entry: _Name) -> bool:
        """Make sure ``entry`` has a certificate that is not due; True when
        one that may be served is held afterwards."""
        with contextlib.ExitStack() as stack:
            if not self._lock(stack, f"issue_cert_{safe_key(entry.name)}"):
                return entry.held is not None
            # Another process (or thread) may have obtained it while we waited.
            entry.held = self._find_stored(entry)
            now = self.clock()
            if entry.held is not None and now >= entry.held.not_after:
                entry.held = None
            if entry.held is not None and now < entry.held.renew_at:
                self._succeeded(entry, entry.held)
                return True
            for issuer in entry.site.issuers:
                try:
                    obtained = self._obtain(issuer, entry.name)
                    self._store(entry.name, obtained)
                except Exception as exc:   # any failure, the CA's or ours: log, back off
                    self._failed(entry, issuer, exc)
                    continue
                held = self._held(obtained.issuer, obtained.chain_pem)
                self._succeeded(entry, held)
                self.log.info("certificate for %s obtained from %s, valid until %s",
                              entry.name, self._describe(issuer), _iso(held.not_after))
                return True
            delay = entry.backoff.failed()
            entry.next_at = entry.backoff.due
            self.log.warning("certificate for %s: every issuer failed; next try in %g s%s",
                             entry.name, delay, " (the current certificate is still served)"
                             if entry.held is not None else "")
            return entry.held is not None
        return False  # unreachable: for type checkers, as an ExitStack may swallow errors

    def _lock(self, stack: contextlib.ExitStack, name: str) -> bool:
        """Take a storage lock, waiting as long as needed but not past stop()."""
        while True:
            try:
                stack.enter_context(self.storage.lock(name, timeout=LOCK_POLL_S))
                return True
            except LockTimeout:
                if self._stop.is_set():
                    return False

    def _succeeded(self, entry: _Name, held: _Held) -> None:
        entry.held = held
        entry.backoff.succeeded()
        entry.last_error = ""
        entry.problem = None
        entry.next_at = max(held.renew_at, self.clock() + (
            MIN_RETRY_S if self.clock() >= held.renew_at else 0.0))

    def _failed(self, entry: _Name, issuer: Issuer, exc: Exception) -> None:
        problem = exc.problem if isinstance(exc, AcmeError) else None
        entry.last_error = str(exc)
        entry.problem = problem
        if problem and problem.get("type") == _ACCOUNT_GONE:
            self._forget_account(issuer)
        where = entry.site.location or "automatic HTTPS"
        if isinstance(exc, AcmeError):
            self.log.error("%s: obtaining a certificate for %s from %s failed (attempt %d): "
                           "%s; problem document: %s", where, entry.name,
                           self._describe(issuer), entry.backoff.attempts + 1, exc,
                           json.dumps(problem) if problem else "none")
        else:
            self.log.error("%s: obtaining a certificate for %s from %s failed (attempt %d)",
                           where, entry.name, self._describe(issuer),
                           entry.backoff.attempts + 1, exc_info=exc)

    # -- stored certificates -------------------------------------------------------------

    def _issuer_key(self, issuer: Issuer) -> str:
        return LOCAL_ISSUER_KEY if issuer.kind == "internal" else issuer_key(issuer.directory)

    @staticmethod
    def _describe(issuer: Issuer) -> str:
        return "the local CA" if issuer.kind == "internal" else issuer.directory

    def _find_stored(self, entry: _Name) -> _Held | None:
        """The best stored certificate for the name among its site's issuers:
        the first issuer's that is usable (covers the name, matches its key,
        not expired, and for the local CA chains to the current root)."""
        now = self.clock()
        for issuer in entry.site.issuers:
            held = self._stored(issuer, entry.name, now)
            if held is not None:
                return held
        return None

    def _stored(self, issuer: Issuer, name: str, now: float) -> _Held | None:
        folder = self._issuer_key(issuer)
        chain_pem = self.storage.read(cert_key(folder, name, "crt"))
        key_pem = self.storage.read(cert_key(folder, name, "key"))
        if chain_pem is None or key_pem is None:
            return None
        try:
            chain = load_chain(chain_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            return None
        leaf = chain[0]
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if (name not in names_of(leaf)
                or leaf.public_key().public_bytes(*raw) != key.public_key().public_bytes(*raw)
                or now >= _timestamp(leaf.not_valid_after_utc)):
            return None
        if issuer.kind == "internal" and not self._chains_to_local_root(chain):
            return None
        return _Held(folder, leaf.serial_number, _timestamp(leaf.not_valid_before_utc),
                     _timestamp(leaf.not_valid_after_utc))

    def _chains_to_local_root(self, chain: list[Any]) -> bool:
        """A leaf of an older root (the data directory's CA was replaced)
        would fail every client that trusts the current one."""
        if len(chain) < 2:
            return False
        try:
            chain[0].verify_directly_issued_by(chain[1])
            chain[1].verify_directly_issued_by(self.local_ca.root().cert)
        except Exception:   # InvalidSignature, ValueError, TypeError: not ours
            return False
        return True

    def _held(self, folder: str, chain_pem: bytes) -> _Held:
        leaf = load_chain(chain_pem)[0]
        return _Held(folder, leaf.serial_number, _timestamp(leaf.not_valid_before_utc),
                     _timestamp(leaf.not_valid_after_utc))

    def _store(self, name: str, obtained: _Obtained) -> None:
        # Key first: a worker that sees the new .crt must find its key.
        folder = obtained.issuer
        self.storage.write(cert_key(folder, name, "key"), obtained.key_pem, private=True)
        self.storage.write(cert_key(folder, name, "crt"), obtained.chain_pem)
        meta = {"sans": [name], "issuer_data": obtained.meta}
        self.storage.write(cert_key(folder, name, "json"),
                           json.dumps(meta, indent="\t").encode())

    # -- issuers -------------------------------------------------------------------------

    def _obtain(self, issuer: Issuer, name: str) -> _Obtained:
        if issuer.kind == "internal":
            # Real time, not self.clock: the certificate is for real clients.
            chain_pem, key_pem = self.local_ca.issue([name])
            return _Obtained(chain_pem, key_pem, LOCAL_ISSUER_KEY, {"ca": self.local_ca.ca_id})
        if issuer.kind != "acme":
            raise ValueError(f"unknown issuer kind {issuer.kind!r}")
        ca_root_pem = self._ca_root(issuer, name)
        account = self._account(issuer, ca_root_pem)
        challenges = tuple(c for c in issuer.challenges if c in ("http-01", "tls-alpn-01"))
        chain_pem, key_pem = acme.obtain(issuer.directory, account, [name], self.solver,
                                         ca_root_pem=ca_root_pem, challenges=challenges,
                                         timeout=self.acme_timeout)
        return _Obtained(chain_pem, key_pem, issuer_key(issuer.directory),
                         {"url": issuer.directory})

    @staticmethod
    def _ca_root(issuer: Issuer, name: str) -> bytes | None:
        if not issuer.ca_root:
            return None
        try:
            return Path(issuer.ca_root).read_bytes()
        except OSError as exc:
            raise AcmeError([name], message=f"cannot read ca_root {issuer.ca_root}: "
                            f"{exc.strerror or exc}", directory_url=issuer.directory) from exc

    def _account(self, issuer: Issuer, ca_root_pem: bytes | None) -> AcmeAccount:
        """The stored account for (directory, email), registered on first use."""
        cache_key = (issuer.directory, issuer.email)
        with self._guard:
            account = self._accounts.get(cache_key)
        if account is not None:
            return account
        prefix = account_prefix(issuer_key(issuer.directory), issuer.email)
        user = safe_key(issuer.email.partition("@")[0]) or "default"
        key_file, meta_file = f"{prefix}/{user}.key", f"{prefix}/{user}.json"
        with contextlib.ExitStack() as stack:
            if not self._lock(stack, f"acme_account_{issuer_key(issuer.directory)}_"
                                     f"{safe_key(issuer.email) or 'default'}"):
                raise AcmeError((), message="stopping", directory_url=issuer.directory)
            key_pem = self.storage.read(key_file)
            meta = self._read_json(meta_file)
            if key_pem is not None and meta.get("location"):
                account = AcmeAccount(key_pem=key_pem, account_url=meta["location"],
                                      directory_url=issuer.directory,
                                      email=issuer.email or None,
                                      regr_json=json.dumps(meta.get("registration", {})))
            else:
                account = acme.register(issuer.directory, email=issuer.email or None,
                                        account_key_pem=key_pem, ca_root_pem=ca_root_pem)
                if key_pem is None:
                    self.storage.write(key_file, account.key_pem, private=True)
                registration = json.loads(account.regr_json) if account.regr_json else {}
                self.storage.write(meta_file, json.dumps(
                    {"location": account.account_url, "directory": issuer.directory,
                     "email": issuer.email, "registration": registration},
                    indent="\t").encode())
                self.log.info("ACME account %s at %s", account.account_url, issuer.directory)
        with self._guard:
            self._accounts[cache_key] = account
        return account

    def _read_json(self, key: str) -> dict[str, Any]:
        data = self.storage.read(key)
        if data is None:
            return {}
        try:
            value = json.loads(data)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _forget_account(self, issuer: Issuer) -> None:
        """The CA no longer knows the account (a test CA restarted, say): the
        next try registers the same key again."""
        with self._guard:
            self._accounts.pop((issuer.directory, issuer.email), None)
        prefix = account_prefix(issuer_key(issuer.directory), issuer.email)
        user = safe_key(issuer.email.partition("@")[0]) or "default"
        self.storage.delete(f"{prefix}/{user}.json")

    # -- on demand -----------------------------------------------------------------------

    def _on_demand_match(self, site: ManagedNames, name: str) -> bool:
        return not site.names or any(_matches(p.lower().rstrip("."), name) for p in site.names)

    def _on_demand_site(self, name: str) -> ManagedNames | None:
        for site in self._on_demand_sites:
            if site.issuers and self._on_demand_match(site, name):
                return site
        return None

    def obtain_now(self, name: str) -> bool:
        """Obtain (or find) a certificate for ``name`` now, for the on-demand path.

        True when a certificate for it is stored afterwards. A name that no
        on-demand site covers, that the gate refuses, or whose last attempt
        failed less than its backoff ago gets False without any CA request.
        Thread-safe; blocks for as long as the order takes.
        """
        try:
            name = normalize_name(name)
        except ValueError:
            return False
        with self._guard:
            entry = self._names.get(name)
        if entry is None:
            site = self._on_demand_site(name)
            if site is None or not self.gate.allowed(name):
                return False
            with self._guard:
                entry = self._names.setdefault(name, self._entry(name, site, on_demand=True))
        held = entry.held
        if held is not None and self.clock() < held.not_after:
            return True
        if entry.backoff.attempts and not entry.backoff.ready():
            return False
        try:
            return self._maintain(entry)
        finally:
            self._wake.set()

    # -- reporting -----------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Per name: issuer, expiry, next renewal, last error (for logs and adapt)."""
        rows = []
        for entry in sorted(self._snapshot(), key=lambda e: e.name):
            held = entry.held
            rows.append({
                "name": entry.name,
                "location": entry.site.location,
                "on_demand": entry.on_demand,
                "issuer": held.issuer if held else None,
                "serial": f"{held.serial:x}" if held else None,
                "expires": _iso(held.not_after) if held else None,
                "renew_at": _iso(held.renew_at) if held else None,
                "next_attempt": _iso(entry.next_at),
                "failures": entry.backoff.attempts,
                "last_error": entry.last_error or None,
                "problem": entry.problem,
            })
        return rows

