"""An ACME (RFC 8555) client: accounts and certificates from a CA such as Let's Encrypt.

Theory of operation: ``register`` makes (or, given its key, finds) an account
at the CA's directory URL. ``obtain`` then runs one order (RFC 8555 §7.4):
new order for the names -> for each authorization still pending, pick the
first challenge type the caller can answer, have the ``ChallengeSolver``
publish the answer, tell the CA to validate -> poll until every
authorization is valid -> finalize with a CSR -> poll the order -> download
the full chain. The published answers are withdrawn on every path out.

The protocol itself (JWS signing, nonces, the badNonce retry) is the
``acme`` package's, the client certbot is built on. Persistence is the
caller's: keys, the account and the chain go in and out as PEM bytes.
Every failure leaves as ``AcmeError``, which names the sites, carries the
CA's problem document and says whether a later retry may succeed; the
caller retries with ``Backoff`` and renews when ``renewal_due`` says so.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import josepy
import requests
from acme import client as acme_client
from acme import crypto_util, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fastsnake import __version__
from fastsnake.certs.acme_challenges import (
    HTTP_01,
    SUPPORTED,
    TLS_ALPN_01,
    ChallengeSolver,
    key_authorization,
    tls_alpn_certificate,
    tls_alpn_server_name,
)
from fastsnake.certs.pem import renewal_due
from fastsnake.certs.storage import issuer_key

__all__ = [
    "AcmeAccount", "AcmeError", "Backoff", "ChallengeSolver", "issuer_key",
    "obtain", "register", "renewal_due",
]

log = logging.getLogger("fastsnake.certs.acme")

USER_AGENT = f"fastsnake/{__version__}"
DEFAULT_TIMEOUT = 90.0        # one whole obtain(): order, validations, finalization
NETWORK_TIMEOUT = 30.0        # one HTTP request to the CA

# Problem types (RFC 8555 §6.7) after which the same request may succeed
# later without any change on our side.
_RETRYABLE_PROBLEMS = frozenset(
    f"urn:ietf:params:acme:error:{name}"
    for name in ("serverInternal", "rateLimited", "badNonce", "connection", "dns")
)


class AcmeError(Exception):
    """A certificate or account the CA did not give, and why.

    ``site_names`` are the names concerned (empty for account operations),
    ``problem`` the CA's problem document as a plain dict (``type``,
    ``detail``, ``subproblems`` each with its ``identifier``) or None when
    the CA never answered, ``retryable`` whether trying again later, with
    nothing changed, may succeed (network failures, timeouts, CA outages,
    rate limits).
    """

    def __init__(self, site_names: Sequence[str], problem: dict[str, Any] | None = None,
                 *, message: str = "", retryable: bool = False,
                 directory_url: str = "") -> None:
        self.site_names = tuple(site_names)
        self.problem = problem
        self.message = message
        self.retryable = retryable
        self.directory_url = directory_url
        super().__init__(str(self))

    def __str__(self) -> str:
        who = ", ".join(self.site_names) or f"ACME account at {self.directory_url}"
        text = self.message or "the CA refused"
        if self.problem:
            text += ": " + _describe(self.problem)
        return f"{who}: {text}"


def _describe(problem: dict[str, Any]) -> str:
    text = f"{problem.get('type', 'about:blank')}: {problem.get('detail', '')}".rstrip(": ")
    for sub in problem.get("subproblems", ()):
        ident = sub.get("identifier", {}).get("value", "?")
        text += f"; [{ident}] {sub.get('type', '')}: {sub.get('detail', '')}"
    return text


def _problem(error: messages.Error) -> dict[str, Any]:
    """The problem document as JSON-shaped data: loggable, and free of acme's types."""
    doc: dict[str, Any] = error.to_json()
    if error.subproblems:
        doc["subproblems"] = [_problem(sub) for sub in error.subproblems]
    if error.identifier is not None:
        doc["identifier"] = {"type": error.identifier.typ.name, "value": error.identifier.value}
    return doc


@dataclass(frozen=True)
class AcmeAccount:
    """An account at one CA: what ``obtain`` needs, and what the caller stores."""

    key_pem: bytes          # the account key (PKCS#8 PEM); the account *is* this key
    account_url: str        # its URL at the CA, the JWS "kid" (RFC 8555 §6.2)
    directory_url: str
    email: str | None = None
    regr_json: str = ""     # the account object as the CA last returned it


# -- talking to the CA -------------------------------------------------------------------------


def _jwk_and_alg(key_pem: bytes) -> tuple[josepy.JWK, josepy.JWASignature]:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": josepy.ES256, "secp384r1": josepy.ES384, "secp521r1": josepy.ES512}
        if key.curve.name not in algs:
            raise ValueError(f"unsupported account key curve {key.curve.name}")
        return josepy.JWKEC(key=key), algs[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return josepy.JWKRSA(key=key), josepy.RS256
    raise ValueError(f"unsupported account key type {type(key).__name__}")


def _new_key_pem() -> bytes:
    """ECDSA P-256, as Caddy's default for both account and certificate keys."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


@contextlib.contextmanager
def _client(directory_url: str, key_pem: bytes, account_url: str | None,
            ca_root_pem: bytes | None, timeout: float) -> Iterator[acme_client.ClientV2]:
    """A ClientV2 on ``directory_url`` that trusts ``ca_root_pem`` for the CA's HTTPS.

    requests takes trust anchors only as a file path (``verify=``), so a
    given root lives in a private temporary file for the client's lifetime.
    """
    jwk, alg = _jwk_and_alg(key_pem)
    ca_file = None
    try:
        verify: bool | str = True
        if ca_root_pem is not None:
            fd, ca_file = tempfile.mkstemp(prefix="fastsnake-acme-ca-", suffix=".pem")
            with os.fdopen(fd, "wb") as out:
                out.write(ca_root_pem)
            verify = ca_file
        regr = None
        if account_url is not None:
            regr = messages.RegistrationResource(body=messages.Registration(), uri=account_url)
        net = acme_client.ClientNetwork(jwk, account=regr, alg=alg, verify_ssl=verify,
                                        user_agent=USER_AGENT,
                                        timeout=max(1, int(min(timeout, NETWORK_TIMEOUT))))
        try:
            directory = acme_client.ClientV2.get_directory(directory_url, net)
            yield acme_client.ClientV2(directory, net)
        finally:
            net.session.close()
    finally:
        if ca_file is not None:
            os.unlink(ca_file)


@contextlib.contextmanager
def _translated(names: Sequence[str], directory_url: str) -> Iterator[None]:
    """Every way the CA or the network can fail, as one AcmeError."""
    def fail(message: str, problem: dict[str, Any] | None = None,
             retryable: bool = False) -> AcmeError:
        return AcmeError(names, problem, message=message, retryable=retryable,
                         directory_url=directory_url)
    try:
        yield
    except AcmeError:
        raise
    except messages.Error as err:
        problem = _problem(err)
        raise fail("the CA refused", problem,
                   retryable=problem.get("type") in _RETRYABLE_PROBLEMS) from err
    except acme_errors.IssuanceError as err:
        raise fail("the CA did not issue", _problem(err.error)) from err
    except acme_errors.TimeoutError as err:
        raise fail("timed out waiting for the CA", retryable=True) from err
    except requests.exceptions.SSLError as err:
        # The CA's certificate does not verify: a wrong ca_root or URL, which
        # waiting will not fix.
        raise fail(f"TLS to the CA at {directory_url} failed: {err}") from err
    except requests.RequestException as err:
        raise fail(f"cannot reach the CA at {directory_url}: {err}", retryable=True) from err
    except acme_errors.ClientError as err:
        # An answer that is no ACME at all (an HTML 502 from a proxy, say).
        raise fail(f"unexpected answer from the CA: {err}", retryable=True) from err
    except acme_errors.Error as err:
        raise fail(f"ACME protocol error: {err!r}", retryable=True) from err


# -- accounts ----------------------------------------------------------------------------------


def register(directory_url: str, *, email: str | None = None,
             account_key_pem: bytes | None = None, ca_root_pem: bytes | None = None,
             timeout: float = NETWORK_TIMEOUT) -> AcmeAccount:
    """Create an account agreeing to the CA's terms, or find the one ``account_key_pem`` has.

    Without a key, one is generated (ECDSA P-256) and returned in the
    account for the caller to store. With a key, the CA is first asked for
    its existing account (``onlyReturnExisting``, RFC 8555 §7.3.1); a new
    one is made only when there is none. A different ``email`` than the
    account has replaces its contact.
    """
    key_pem = account_key_pem if account_key_pem is not None else _new_key_pem()
    contact = (f"mailto:{email}",) if email else ()
    with _translated((), directory_url), \
            _client(directory_url, key_pem, None, ca_root_pem, timeout) as client:
        regr = _existing_account(client) if account_key_pem is not None else None
        if regr is None:
            new = messages.NewRegistration(contact=contact, terms_of_service_agreed=True)
            try:
                regr = client.new_account(new)
            except acme_errors.ConflictError:
                # The key already has an account (a race, or a CA that ignores
                # onlyReturnExisting): RFC 8555 §7.3.1 says use that one.
                regr = _existing_account(client)
                if regr is None:
                    raise
        elif email and contact != tuple(regr.body.contact):
            regr = client.update_registration(regr, regr.body.update(contact=contact))
    return AcmeAccount(key_pem=key_pem, account_url=regr.uri, directory_url=directory_url,
                       email=email, regr_json=regr.body.json_dumps())


def _existing_account(client: acme_client.ClientV2) -> messages.RegistrationResource | None:
    try:
        return client.query_registration(
            messages.RegistrationResource(body=messages.Registration()))
    except messages.Error as err:
        if err.code == "accountDoesNotExist":
            return None
        raise


# -- certificates ------------------------------------------------------------------------------


def obtain(directory_url: str, account: AcmeAccount, names: Sequence[str],
           solver: ChallengeSolver, *, key_pem: bytes | None = None,
           ca_root_pem: bytes | None = None, challenges: Sequence[str] = SUPPORTED,
           timeout: float = DEFAULT_TIMEOUT) -> tuple[bytes, bytes]:
    """One certificate for ``names``: returns (full chain PEM, private key PEM).

    ``challenges`` lists the types the caller's solver can answer, preferred
    first; ``key_pem`` is the certificate's key (a new ECDSA P-256 key when
    None); ``timeout`` bounds the whole order. Raises AcmeError.
    """
    sites = _normalized(names)
    if account.directory_url != directory_url:
        raise ValueError(f"the account is at {account.directory_url}, not {directory_url}")
    unknown = [c for c in challenges if c not in SUPPORTED]
    if unknown or not challenges:
        raise ValueError(f"challenges must be among {SUPPORTED}, got {tuple(challenges)}")
    cert_key_pem = key_pem if key_pem is not None else _new_key_pem()
    deadline = time.monotonic() + timeout
    with _translated(sites, directory_url), \
            _client(directory_url, account.key_pem, account.account_url, ca_root_pem,
                    timeout) as client:
        order = client.new_order(_csr(cert_key_pem, sites))
        cleanups: list[Callable[[], None]] = []
        try:
            pending = _answer(client, order, solver, challenges, cleanups)
            _wait_valid(client, pending, deadline, sites)
        finally:
            for cleanup in reversed(cleanups):
                try:
                    cleanup()
                except Exception:  # one bad cleanup must not hide the others or the result
                    log.exception("ACME challenge cleanup failed for %s", ", ".join(sites))
        order = client.finalize_order(order, _wall_deadline(deadline))
    chain_pem = order.fullchain_pem.encode("ascii")
    _check_issued(chain_pem, cert_key_pem, sites, directory_url)
    return chain_pem, cert_key_pem


def _normalized(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError("names must be a sequence of names, not one string")
    sites = tuple(dict.fromkeys(name.strip().lower().rstrip(".") for name in names))
    if not sites or "" in sites:
        raise ValueError(f"no usable names in {list(names)!r}")
    return sites


def _csr(key_pem: bytes, names: Sequence[str]) -> bytes:
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for name in names:
        try:
            ips.append(ipaddress.ip_address(name))
        except ValueError:
            dns.append(name)
    return crypto_util.make_csr(key_pem, domains=dns, ipaddrs=ips)


def _answer(client: acme_client.ClientV2, order: messages.OrderResource,
            solver: ChallengeSolver, preference: Sequence[str],
            cleanups: list[Callable[[], None]]) -> list[messages.AuthorizationResource]:
    """Publish and submit one challenge per pending authorization; return those.

    Every answer is published before the first is submitted, so the CA never
    validates a name whose answer is not up yet. ``cleanups`` gets each
    withdrawal before its publication starts, so a solver that fails halfway
    is still asked to withdraw.
    """
    jwk = client.net.key
    todo: list[tuple[messages.AuthorizationResource, messages.ChallengeBody]] = []
    for authz in order.authorizations:
        status = authz.body.status
        name = authz.body.identifier.value
        if status == messages.STATUS_VALID:
            continue  # RFC 8555 §7.1.4: the CA reused a recent validation
        if status != messages.STATUS_PENDING:
            raise AcmeError([name], message=f"authorization is {status.name} before any answer")
        # The wire form, since acme 5 parses TLS-ALPN-01 as an unrecognized type.
        offered = {challb.chall.to_partial_json()["type"]: challb
                   for challb in authz.body.challenges}
        typ = next((t for t in preference if t in offered), None)
        if typ is None:
            raise AcmeError([name], message=(
                f"the CA offers no challenge we can answer (offers {sorted(offered)}, "
                f"we answer {list(preference)})"))
        challb = offered[typ]
        try:
            key_auth = key_authorization(challb.chall.to_partial_json()["token"], jwk)
        except (KeyError, ValueError) as err:  # no token, or one unsafe to publish
            raise AcmeError([name], message=f"unusable {typ} challenge: {err}") from err
        token = key_auth.partition(".")[0]
        try:
            if typ == HTTP_01:
                cleanups.append(lambda token=token: solver.cleanup_http(token))
                solver.present_http(token, key_auth)
            else:
                assert typ == TLS_ALPN_01
                sni = tls_alpn_server_name(name)
                cert_pem, cert_key = tls_alpn_certificate(name, key_auth)
                cleanups.append(lambda sni=sni: solver.cleanup_tls_alpn(sni))
                solver.present_tls_alpn(sni, cert_pem, cert_key)
        except Exception as err:
            # The caller's solver (a port it could not bind, say): one error
            # type for the caller, and worth another try later.
            raise AcmeError([name], message=f"cannot present the {typ} challenge: {err!r}",
                            retryable=True) from err
        todo.append((authz, challb))
    for _, challb in todo:
        # RFC 8555 §7.5.1: the response is the empty JSON object.
        client.answer_challenge(challb, _EmptyResponse())
    return [authz for authz, _ in todo]


class _EmptyResponse(josepy.JSONDeSerializable):
    """The ``{}`` payload that asks the CA to validate a challenge (RFC 8555 §7.5.1).

    acme 5 knows no TLS-ALPN-01 response type any more, and no challenge type
    needs more than this.
    """

    def to_partial_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, jobj: Any) -> _EmptyResponse:
        return cls()


def _wait_valid(client: acme_client.ClientV2, pending: list[messages.AuthorizationResource],
                deadline: float, sites: Sequence[str]) -> None:
    """Poll each authorization until the CA has decided; fail naming every invalid one."""
    failed: list[messages.AuthorizationResource] = []
    for authz in pending:
        while True:
            authz, response = client.poll(authz)
            if authz.body.status != messages.STATUS_PENDING:
                break
            # Retry-After (RFC 8555 §8.2) bounded by what is left; 1 s when absent.
            wake = acme_client.ClientV2.retry_after(response, 1)
            delay = (wake - datetime.datetime.now()).total_seconds()
            left = deadline - time.monotonic()
            if left <= 0:
                raise acme_errors.TimeoutError()
            time.sleep(min(max(delay, 0.2), left))
        if authz.body.status != messages.STATUS_VALID:
            failed.append(authz)
    if failed:
        raise _validation_error(failed, sites)


def _validation_error(failed: list[messages.AuthorizationResource],
                      sites: Sequence[str]) -> AcmeError:
    """One AcmeError for all failed names, in the caller's order (a CA lists
    authorizations in its own); each problem keeps its identifier."""
    problems = []
    for authz in failed:
        name = authz.body.identifier.value
        errors = [c.error for c in authz.body.challenges if c.error is not None]
        doc = _problem(errors[0]) if errors else {
            "type": "about:blank", "detail": f"authorization {authz.body.status.name}"}
        doc.setdefault("identifier", {"type": "dns", "value": name})
        problems.append(doc)
    order = {name: i for i, name in enumerate(sites)}
    problems.sort(key=lambda p: order.get(p["identifier"]["value"], len(order)))
    names = [p["identifier"]["value"] for p in problems]
    problem = problems[0] if len(problems) == 1 else {
        "type": problems[0]["type"], "detail": f"{len(problems)} names failed validation",
        "subproblems": problems}
    retryable = all(p.get("type") in _RETRYABLE_PROBLEMS for p in problems)
    return AcmeError(names, problem, message="validation failed", retryable=retryable)


def _wall_deadline(deadline: float) -> datetime.datetime:
    # acme's finalize_order takes a naive local wall-clock deadline.
    return datetime.datetime.now() + datetime.timedelta(seconds=deadline - time.monotonic())


def _check_issued(chain_pem: bytes, key_pem: bytes, names: Sequence[str],
                  directory_url: str) -> None:
    """Refuse a chain whose leaf is not for our key: it would fail every handshake."""
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    except (ValueError, IndexError) as err:
        raise AcmeError(names, message=f"the CA sent no usable certificate: {err}",
                        directory_url=directory_url) from err
    key = serialization.load_pem_private_key(key_pem, password=None)
    if leaf.public_key() != key.public_key():
        raise AcmeError(names, message="the CA's certificate is not for our key",
                        directory_url=directory_url)


# -- scheduling helpers ------------------------------------------------------------------------


class Backoff:
    """Exponential retry delays, as Caddy's for failed issuance.

    ``next_delay(attempt)`` is ``initial * factor**attempt`` seconds, capped
    at ``cap`` (attempt 0 is the first retry). ``failed()`` and ``ready()``
    keep the count and the due time for a scheduler, read off ``clock``
    (monotonic seconds; injectable for tests).
    """

    def __init__(self, initial: float = 60.0, factor: float = 2.0, cap: float = 86400.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if initial <= 0 or factor < 1 or cap < initial:
            raise ValueError("Backoff needs initial > 0, factor >= 1, cap >= initial")
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.clock = clock
        self.attempts = 0
        self.due = clock()

    def next_delay(self, attempt: int) -> float:
        if attempt < 0:
            raise ValueError("attempt counts from 0")
        delay = self.initial
        for _ in range(attempt):      # a loop, not **, so huge attempts cannot overflow
            delay *= self.factor
            if delay >= self.cap:
                return self.cap
        return min(delay, self.cap)

    def failed(self) -> float:
        """Record a failure; return the delay before the next try."""
        delay = self.next_delay(self.attempts)
        self.attempts += 1
        self.due = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.attempts = 0
        self.due = self.clock()

    def ready(self) -> bool:
        return self.clock() >= self.due
