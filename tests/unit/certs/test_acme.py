"""fastsnake.certs.acme against a real Pebble, and its pure helpers without one.

Pebble runs locally (see tests/pebble.py), so accounts, orders, both
challenge types, failures and the issued chains here are all real.
"""

from __future__ import annotations

import datetime
import hashlib
import json

import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

from fastsnake.certs.acme import (
    AcmeAccount,
    AcmeError,
    Backoff,
    issuer_key,
    obtain,
    register,
    renewal_due,
)
from fastsnake.certs.acme_challenges import (
    ACME_IDENTIFIER_OID,
    key_authorization,
    tls_alpn_certificate,
    tls_alpn_server_name,
)
from tests.pebble import ChallengeListeners, Pebble, free_port


def new_key_pem(curve: ec.EllipticCurve | None = None) -> bytes:
    return ec.generate_private_key(curve or ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


# -- accounts --------------------------------------------------------------------------------


def test_register_without_email(pebble: Pebble) -> None:
    account = register(pebble.directory_url, ca_root_pem=pebble.ca_root_pem)
    assert account.account_url.startswith(f"https://127.0.0.1:{pebble.port}/")
    assert account.email is None
    regr = json.loads(account.regr_json)
    assert regr["status"] == "valid"
    assert not regr.get("contact")
    key = serialization.load_pem_private_key(account.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_register_with_email_and_again_with_the_same_key(pebble: Pebble) -> None:
    account = register(pebble.directory_url, email="admin@site.test",
                       ca_root_pem=pebble.ca_root_pem)
    assert json.loads(account.regr_json)["contact"] == ["mailto:admin@site.test"]
    again = register(pebble.directory_url, email="admin@site.test",
                     account_key_pem=account.key_pem, ca_root_pem=pebble.ca_root_pem)
    assert again.account_url == account.account_url
    assert again.key_pem == account.key_pem


def test_register_again_with_another_email_updates_the_contact(pebble: Pebble) -> None:
    account = register(pebble.directory_url, email="old@site.test",
                       ca_root_pem=pebble.ca_root_pem)
    moved = register(pebble.directory_url, email="new@site.test",
                     account_key_pem=account.key_pem, ca_root_pem=pebble.ca_root_pem)
    assert moved.account_url == account.account_url
    assert json.loads(moved.regr_json)["contact"] == ["mailto:new@site.test"]


def test_register_with_a_new_key_creates_its_account(pebble: Pebble) -> None:
    first = register(pebble.directory_url, ca_root_pem=pebble.ca_root_pem)
    key_pem = new_key_pem()
    second = register(pebble.directory_url, account_key_pem=key_pem,
                      ca_root_pem=pebble.ca_root_pem)
    assert second.key_pem == key_pem
    assert second.account_url != first.account_url


def test_the_cas_https_root_is_required(pebble: Pebble) -> None:
    # Without ca_root_pem the system store is used, which does not trust the
    # minica root: the failure is the verification, and retrying cannot help.
    with pytest.raises(AcmeError) as caught:
        register(pebble.directory_url)
    assert not caught.value.retryable
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert pebble.directory_url in str(caught.value)


# -- certificates ----------------------------------------------------------------------------


@pytest.fixture
def account(pebble: Pebble) -> AcmeAccount:
    return register(pebble.directory_url, email="admin@site.test",
                    ca_root_pem=pebble.ca_root_pem)


def verify_chain(pebble: Pebble, chain_pem: bytes, key_pem: bytes, names: list[str]) -> None:
    """The leaf is for our key, and the chain verifies to Pebble's root for each name."""
    leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert leaf.public_key() == key.public_key()
    root = x509.load_pem_x509_certificate(pebble.issuing_root_pem())
    store = verification.Store([root])
    for name in names:
        verifier = verification.PolicyBuilder().store(store).build_server_verifier(
            x509.DNSName(name))
        verifier.verify(leaf, intermediates)


def test_obtain_with_http01(pebble: Pebble, account: AcmeAccount,
                            solver: ChallengeListeners) -> None:
    names = ["site.test", "www.site.test"]
    chain_pem, key_pem = obtain(pebble.directory_url, account, names, solver,
                                ca_root_pem=pebble.ca_root_pem, challenges=("http-01",))
    verify_chain(pebble, chain_pem, key_pem, names)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    presented = [token for call, token in solver.calls if call == "present_http"]
    assert len(presented) == 2
    assert sorted(token for call, token in solver.calls if call == "cleanup_http") == \
        sorted(presented)
    assert not solver.tokens
    assert not solver.tls_handshakes


def test_obtain_with_tls_alpn01_and_a_given_key(pebble: Pebble, account: AcmeAccount,
                                                solver: ChallengeListeners) -> None:
    given = new_key_pem(ec.SECP384R1())
    chain_pem, key_pem = obtain(pebble.directory_url, account, ["alpn.test"], solver,
                                key_pem=given, ca_root_pem=pebble.ca_root_pem,
                                challenges=("tls-alpn-01", "http-01"))
    assert key_pem == given
    verify_chain(pebble, chain_pem, key_pem, ["alpn.test"])
    # The preferred type only, answered by a real acme-tls/1 handshake, then withdrawn.
    assert solver.calls == [("present_tls_alpn", "alpn.test"), ("cleanup_tls_alpn", "alpn.test")]
    assert ("alpn.test", "acme-tls/1") in solver.tls_handshakes
    assert not solver.alpn_contexts


def test_a_failed_challenge_names_the_site_and_carries_the_problem(
        pebble: Pebble, account: AcmeAccount, solver: ChallengeListeners) -> None:
    solver.tamper = {"bad.test"}
    with pytest.raises(AcmeError) as caught:
        obtain(pebble.directory_url, account, ["good.test", "bad.test"], solver,
               ca_root_pem=pebble.ca_root_pem, challenges=("http-01",))
    err = caught.value
    assert err.site_names == ("bad.test",)   # good.test validated
    assert err.problem is not None
    assert err.problem["type"] == "urn:ietf:params:acme:error:unauthorized"
    assert err.problem["identifier"]["value"] == "bad.test"
    assert err.problem["detail"]
    assert str(err).startswith("bad.test: validation failed: ")
    assert err.problem["detail"] in str(err)
    assert not err.retryable
    # Both withdrawn although the order failed.
    assert sorted(call for call, _ in solver.calls) == ["cleanup_http"] * 2 + ["present_http"] * 2
    assert not solver.tokens


def test_several_failed_names_are_subproblems(
        pebble: Pebble, account: AcmeAccount, solver: ChallengeListeners) -> None:
    solver.tamper = {"bad1.test", "bad2.test"}
    with pytest.raises(AcmeError) as caught:
        obtain(pebble.directory_url, account, ["bad1.test", "bad2.test"], solver,
               ca_root_pem=pebble.ca_root_pem, challenges=("http-01",))
    err = caught.value
    assert err.site_names == ("bad1.test", "bad2.test")
    assert err.problem is not None
    assert [sub["identifier"]["value"] for sub in err.problem["subproblems"]] == \
        ["bad1.test", "bad2.test"]
    assert "[bad1.test] urn:ietf:params:acme:error:unauthorized" in str(err)
    assert "[bad2.test] urn:ietf:params:acme:error:unauthorized" in str(err)


@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_obtain_for_an_ip_address(pebble: Pebble, account: AcmeAccount,
                                  solver: ChallengeListeners, challenge: str) -> None:
    chain_pem, key_pem = obtain(pebble.directory_url, account, ["127.0.0.1"], solver,
                                ca_root_pem=pebble.ca_root_pem, challenges=(challenge,))
    leaf = x509.load_pem_x509_certificate(chain_pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    if challenge == "tls-alpn-01":
        assert solver.calls[0] == ("present_tls_alpn", "1.0.0.127.in-addr.arpa")


class BreaksOnSecond:
    """Delegates to the listeners, but its second present_http fails."""

    def __init__(self, listeners: ChallengeListeners) -> None:
        self.listeners = listeners
        self.presented = 0

    def present_http(self, token: str, key_authorization: str) -> None:
        self.presented += 1
        if self.presented == 2:
            raise OSError("port 80 is taken")
        self.listeners.present_http(token, key_authorization)

    def cleanup_http(self, token: str) -> None:
        self.listeners.cleanup_http(token)

    def present_tls_alpn(self, name: str, cert_pem: bytes, key_pem: bytes) -> None:
        raise AssertionError("not asked for")

    def cleanup_tls_alpn(self, name: str) -> None:
        raise AssertionError("not asked for")


def test_a_failing_solver_is_an_acme_error_and_everything_is_withdrawn(
        pebble: Pebble, account: AcmeAccount, solver: ChallengeListeners) -> None:
    with pytest.raises(AcmeError) as caught:
        obtain(pebble.directory_url, account, ["one.test", "two.test"], BreaksOnSecond(solver),
               ca_root_pem=pebble.ca_root_pem, challenges=("http-01",))
    assert caught.value.retryable
    assert "port 80 is taken" in str(caught.value)
    assert len(caught.value.site_names) == 1
    # The one presented and the one that failed halfway are both withdrawn.
    assert [call for call, _ in solver.calls] == ["present_http", "cleanup_http", "cleanup_http"]
    assert not solver.tokens


def test_a_wildcard_needs_a_challenge_we_do_not_answer(
        pebble: Pebble, account: AcmeAccount, solver: ChallengeListeners) -> None:
    with pytest.raises(AcmeError) as caught:
        obtain(pebble.directory_url, account, ["*.wild.test"], solver,
               ca_root_pem=pebble.ca_root_pem)
    assert caught.value.site_names == ("wild.test",)  # the authorization's identifier
    assert "dns-01" in str(caught.value)
    assert solver.calls == []


def test_an_unreachable_ca_is_a_retryable_error() -> None:
    url = f"https://127.0.0.1:{free_port()}/dir"   # nothing listens there
    with pytest.raises(AcmeError) as caught:
        register(url, email="admin@site.test")
    assert caught.value.retryable
    assert caught.value.problem is None
    assert url in str(caught.value)
    account = AcmeAccount(key_pem=new_key_pem(),
                          account_url=url + "/acct/1", directory_url=url)
    with pytest.raises(AcmeError) as caught:
        obtain(url, account, ["site.test"], ChallengeListenersStub())
    assert caught.value.retryable
    assert caught.value.site_names == ("site.test",)
    assert str(caught.value).startswith("site.test: cannot reach the CA")


class ChallengeListenersStub:
    """A solver for orders that never get as far as a challenge."""

    def present_http(self, token: str, key_authorization: str) -> None:
        raise AssertionError("no challenge expected")

    def cleanup_http(self, token: str) -> None:
        raise AssertionError("no challenge expected")

    def present_tls_alpn(self, name: str, cert_pem: bytes, key_pem: bytes) -> None:
        raise AssertionError("no challenge expected")

    def cleanup_tls_alpn(self, name: str) -> None:
        raise AssertionError("no challenge expected")


def test_obtain_checks_its_arguments(pebble: Pebble, account: AcmeAccount,
                                     solver: ChallengeListeners) -> None:
    with pytest.raises(ValueError, match="challenges"):
        obtain(pebble.directory_url, account, ["site.test"], solver, challenges=("dns-01",))
    with pytest.raises(TypeError):
        obtain(pebble.directory_url, account, "site.test", solver)
    with pytest.raises(ValueError, match="no usable names"):
        obtain(pebble.directory_url, account, [], solver)
    with pytest.raises(ValueError, match="the account is at"):
        obtain(pebble.directory_url + "/", account, ["site.test"], solver)


# -- the challenge material ------------------------------------------------------------------


def test_key_authorization_is_token_dot_thumbprint() -> None:
    jwk = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    thumb = josepy.b64encode(jwk.public_key().thumbprint(hash_function=hashes.SHA256)).decode()
    assert key_authorization("abc_-1", jwk) == f"abc_-1.{thumb}"
    with pytest.raises(ValueError, match="base64url"):
        key_authorization("../etc/passwd", jwk)


def test_tls_alpn_certificate_follows_rfc8737() -> None:
    cert_pem, key_pem = tls_alpn_certificate("site.test", "token.thumb")
    cert = x509.load_pem_x509_certificate(cert_pem)
    ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert ext.critical
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(b"token.thumb").digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["site.test"]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert cert.public_key() == key.public_key()
    ip_cert = x509.load_pem_x509_certificate(tls_alpn_certificate("192.0.2.1", "t.k")[0])
    ip_san = ip_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in ip_san.get_values_for_type(x509.IPAddress)] == ["192.0.2.1"]
    assert tls_alpn_server_name("192.0.2.1") == "1.2.0.192.in-addr.arpa"
    assert tls_alpn_server_name("site.test") == "site.test"


# -- scheduling helpers ----------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_up_to_a_day() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay(n) for n in range(13)]
    assert delays[:6] == [60, 120, 240, 480, 960, 1920]
    assert delays[-1] == 86400
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    assert backoff.next_delay(10_000) == 86400
    with pytest.raises(ValueError):
        backoff.next_delay(-1)


def test_backoff_tracks_failures_on_its_clock() -> None:
    now = [1000.0]
    backoff = Backoff(initial=10, factor=3, cap=100, clock=lambda: now[0])
    assert backoff.ready()
    assert [backoff.failed() for _ in range(4)] == [10, 30, 90, 100]
    assert not backoff.ready()
    now[0] += 99.0
    assert not backoff.ready()
    now[0] += 1.0
    assert backoff.ready()
    backoff.succeeded()
    assert backoff.attempts == 0 and backoff.ready()
    assert backoff.failed() == 10


def self_signed(days: int, start: datetime.datetime) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "site.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_renewal_is_due_when_a_third_of_the_lifetime_remains() -> None:
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = self_signed(90, start)
    assert not renewal_due(cert, now=start + datetime.timedelta(days=59, hours=23))
    assert renewal_due(cert, now=start + datetime.timedelta(days=60))
    assert renewal_due(cert, now=start + datetime.timedelta(days=91))  # expired
    # A naive time means UTC; a chain is judged by its first certificate.
    assert renewal_due(cert + self_signed(900, start), now=datetime.datetime(2025, 3, 2))
    assert not renewal_due(self_signed(3650, datetime.datetime.now(datetime.timezone.utc)))


@pytest.mark.parametrize(("url", "key"), [
    ("https://acme-v02.api.letsencrypt.org/directory", "acme-v02.api.letsencrypt.org-directory"),
    ("https://acme-staging-v02.api.letsencrypt.org/directory",
     "acme-staging-v02.api.letsencrypt.org-directory"),
    ("https://acme.zerossl.com/v2/DV90", "acme.zerossl.com-v2-dv90"),
    ("https://127.0.0.1:14000/dir", "127.0.0.1-14000-dir"),
    ("https://ca.example/", "ca.example"),
    ("https://user@CA.example/a/../b", "ca.example-a--b"),
])
def test_issuer_key_is_certmagics_folder(url: str, key: str) -> None:
    assert issuer_key(url) == key
