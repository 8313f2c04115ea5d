"""fastsnake.certs.store: a worker's certificates, read from the data directory.

Certificates come from the real local CA; handshakes go through a real TLS
server whose SNI callback is the store's, and a real client verifies them.
The store's recheck clock is injected, so "a second later" needs no sleep.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from fastsnake.certs.acme_challenges import tls_alpn_certificate
from fastsnake.certs.challenges_store import StorageSolver, http_01_key
from fastsnake.certs.local_ca import LocalCA
from fastsnake.certs.policy import AutoHttps, Issuer, ManagedNames
from fastsnake.certs.storage import Storage, cert_key, issuer_key
from fastsnake.certs.store import CertStore
from tests.unit.certs.served import WorkerServers, handshake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "data")


@pytest.fixture
def ca(storage: Storage) -> LocalCA:
    return LocalCA(storage)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(storage: Storage, clock: Clock) -> CertStore:
    return CertStore(storage.root, clock=clock)


@pytest.fixture
def servers(store: CertStore) -> Iterator[WorkerServers]:
    servers = WorkerServers(store)
    yield servers
    servers.close()


def put(storage: Storage, ca: LocalCA, name: str, issuer: str = "local",
        names: list[str] | None = None) -> int:
    """Store a new local-CA certificate for ``name`` under ``issuer``; its serial."""
    chain, key = ca.issue(names or [name])
    storage.write(cert_key(issuer, name, "key"), key, private=True)
    storage.write(cert_key(issuer, name, "crt"), chain)
    return x509.load_pem_x509_certificate(chain).serial_number


def test_the_handshake_gets_the_names_certificate(storage: Storage, ca: LocalCA,
                                                  servers: WorkerServers) -> None:
    serial = put(storage, ca, "a.site.test")
    other = put(storage, ca, "b.site.test")
    leaf, alpn = handshake(servers.tls_port, "a.site.test", ca.root_pem(), ["http/1.1"])
    assert leaf.serial_number == serial
    assert alpn == "http/1.1"
    leaf, _ = handshake(servers.tls_port, "B.Site.Test", ca.root_pem())
    assert leaf.serial_number == other


def test_context_is_tls_1_2_or_later_and_cached(storage: Storage, ca: LocalCA,
                                                store: CertStore) -> None:
    put(storage, ca, "a.site.test")
    context = store.context_for("a.site.test")
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert store.context_for("a.site.test.") is context
    assert store.context_for("nothing.site.test") is None


def test_a_wildcard_certificate_covers_one_label(storage: Storage, ca: LocalCA,
                                                 servers: WorkerServers) -> None:
    serial = put(storage, ca, "*.wild.test")
    exact = put(storage, ca, "www.wild.test")
    leaf, _ = handshake(servers.tls_port, "api.wild.test", ca.root_pem())
    assert leaf.serial_number == serial
    leaf, _ = handshake(servers.tls_port, "www.wild.test", ca.root_pem())
    assert leaf.serial_number == exact          # the exact name first
    assert servers.store.context_for("a.b.wild.test") is None
    assert servers.store.context_for("wild.test") is None


def test_issuer_folders_are_searched_in_order(storage: Storage, ca: LocalCA,
                                              clock: Clock) -> None:
    local = put(storage, ca, "both.test", "local")
    acme = put(storage, ca, "both.test", "ca.test-directory")
    put(storage, ca, "only-local.test", "local")
    first_acme = CertStore(storage.root, ("ca.test-directory", "local"), clock=clock)
    servers = WorkerServers(first_acme)
    try:
        assert handshake(servers.tls_port, "both.test", ca.root_pem())[0].serial_number == acme
        assert handshake(servers.tls_port, "only-local.test", ca.root_pem())[0]
        servers.store = CertStore(storage.root, ("ca.test-directory", "local"),
                                  {"both.test": "local"}, clock=clock)
        assert handshake(servers.tls_port, "both.test", ca.root_pem())[0].serial_number == local
    finally:
        servers.close()


def test_a_renewal_is_served_after_the_recheck_without_a_restart(
        storage: Storage, ca: LocalCA, clock: Clock, servers: WorkerServers) -> None:
    old = put(storage, ca, "renew.test")
    assert handshake(servers.tls_port, "renew.test", ca.root_pem())[0].serial_number == old
    new = put(storage, ca, "renew.test")
    # Within the recheck interval the cached context is used: no stat per handshake.
    assert handshake(servers.tls_port, "renew.test", ca.root_pem())[0].serial_number == old
    clock.now += servers.store.recheck_s
    assert handshake(servers.tls_port, "renew.test", ca.root_pem())[0].serial_number == new


def test_a_new_key_without_its_chain_keeps_the_old_certificate(
        storage: Storage, ca: LocalCA, clock: Clock, servers: WorkerServers) -> None:
    old = put(storage, ca, "half.test")
    assert handshake(servers.tls_port, "half.test", ca.root_pem())[0].serial_number == old
    chain, key = ca.issue(["half.test"])
    storage.write(cert_key("local", "half.test", "key"), key, private=True)
    Path(storage.path(cert_key("local", "half.test", "crt"))).touch()  # the .crt looks new
    clock.now += servers.store.recheck_s
    assert handshake(servers.tls_port, "half.test", ca.root_pem())[0].serial_number == old
    storage.write(cert_key("local", "half.test", "crt"), chain)
    clock.now += servers.store.recheck_s
    assert handshake(servers.tls_port, "half.test", ca.root_pem())[0].serial_number != old


def test_an_unknown_name_is_refused_with_unrecognized_name(
        storage: Storage, ca: LocalCA, servers: WorkerServers) -> None:
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        handshake(servers.tls_port, "unknown.test", ca.root_pem())
    assert servers.missing == ["unknown.test"]


def test_an_unknown_name_falls_back_to_the_default_context(
        storage: Storage, ca: LocalCA, servers: WorkerServers, tmp_path: Path) -> None:
    chain, key = ca.issue(["fallback.test"])
    (tmp_path / "fallback.crt").write_bytes(chain)
    (tmp_path / "fallback.key").write_bytes(key)
    default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    default.load_cert_chain(tmp_path / "fallback.crt", tmp_path / "fallback.key")
    servers.default_context = default
    leaf, _ = handshake(servers.tls_port, "unknown.test", None)
    assert "fallback.test" in str(leaf.subject)


def test_no_sni_uses_the_configured_name(storage: Storage, ca: LocalCA,
                                         store: CertStore) -> None:
    serial = put(storage, ca, "127.0.0.1")
    servers = WorkerServers(store)
    base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    base.sni_callback = store.sni_callback(no_sni_name="127.0.0.1")
    servers.base = base
    try:
        leaf, _ = handshake(servers.tls_port, None, None)
        assert leaf.serial_number == serial
    finally:
        servers.close()


def test_http_challenge_reads_only_tokens(storage: Storage, store: CertStore) -> None:
    storage.write(http_01_key("tok_EN-1"), b"tok_EN-1.thumb")
    storage.write("challenges/secret", b"not a challenge")
    assert store.http_challenge("tok_EN-1") == b"tok_EN-1.thumb"
    assert store.http_challenge("absent") is None
    for bad in ("", "..", "../secret", "a/b", "tok.en", "%2e%2e", "x" * 300):
        assert store.http_challenge(bad) is None


def test_a_pending_tls_alpn_challenge_takes_over_the_name(
        storage: Storage, ca: LocalCA, clock: Clock, servers: WorkerServers) -> None:
    serial = put(storage, ca, "alpn.test")
    solver = StorageSolver(storage, settle_s=0)
    cert_pem, key_pem = tls_alpn_certificate("alpn.test", "token.thumbprint")
    solver.present_tls_alpn("alpn.test", cert_pem, key_pem)
    clock.now += servers.store.recheck_s
    assert servers.store.tls_alpn_context("alpn.test") is not None
    leaf, alpn = handshake(servers.tls_port, "alpn.test", None, ["acme-tls/1"])
    assert alpn == "acme-tls/1"
    assert leaf.serial_number != serial and len(leaf.subject) == 0
    solver.cleanup_tls_alpn("alpn.test")
    assert not storage.list("challenges")
    clock.now += servers.store.recheck_s
    assert servers.store.tls_alpn_context("alpn.test") is None
    assert handshake(servers.tls_port, "alpn.test", ca.root_pem())[0].serial_number == serial


def test_the_store_needs_no_cryptography() -> None:
    code = ("import sys, fastsnake.certs.store; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('cryptography', 'acme', "
            "'josepy', 'requests')]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_for_policy_follows_each_sites_issuer_order(storage: Storage, ca: LocalCA,
                                                    clock: Clock) -> None:
    directory = "https://ca.test/directory"
    acme_key = issuer_key(directory)
    acme_first = put(storage, ca, "acme-first.test", acme_key)
    put(storage, ca, "acme-first.test", "local")
    put(storage, ca, "local-first.test", acme_key)
    local_first = put(storage, ca, "local-first.test", "local")
    on_demand = put(storage, ca, "any.test", acme_key)
    auto = AutoHttps(storage=str(storage.root), managed=(
        ManagedNames(("acme-first.test",), (Issuer("acme", directory), Issuer("internal"))),
        ManagedNames(("local-first.test",), (Issuer("internal"), Issuer("acme", directory))),
    ))
    servers = WorkerServers(CertStore.for_policy(auto, clock=clock))
    try:
        root = ca.root_pem()
        assert handshake(servers.tls_port, "acme-first.test", root)[0].serial_number == acme_first
        assert handshake(servers.tls_port, "local-first.test", root)[0].serial_number == \
            local_first
        assert handshake(servers.tls_port, "any.test", root)[0].serial_number == on_demand
    finally:
        servers.close()
