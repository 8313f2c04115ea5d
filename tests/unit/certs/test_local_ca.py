"""The local CA: created once and reused, leaves that real TLS clients
accept (DNS names, wildcards, IP addresses), renewal at a third of the life."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from fastsnake.certs.local_ca import (
    INTERMEDIATE_LIFETIME,
    LEAF_LIFETIME,
    LocalCA,
    normalize_name,
    renewal_due,
)
from fastsnake.certs.pem import load_chain, names_of
from fastsnake.certs.storage import Storage
from tests.certs_helpers import client_context, tls_handshake, write_pair

NOW = dt.datetime.now(dt.timezone.utc)


def ca_at(tmp_path: Path) -> LocalCA:
    return LocalCA(Storage(tmp_path / "data"))


def test_the_ca_is_created_once_and_reused(tmp_path: Path) -> None:
    ca = ca_at(tmp_path)
    root_pem = ca.root_pem()
    inter_pem = ca.intermediate().cert_pem
    files = Storage(tmp_path / "data").list("pki")
    assert files == ["pki/authorities/local/intermediate.crt",
                     "pki/authorities/local/intermediate.key",
                     "pki/authorities/local/root.crt", "pki/authorities/local/root.key"]
    assert (tmp_path / "data/pki/authorities/local/root.crt").read_bytes() == root_pem
    # A restart: a new LocalCA on the same storage finds both.
    again = ca_at(tmp_path)
    assert again.root_pem() == root_pem
    assert again.intermediate().cert_pem == inter_pem


def test_root_and_intermediate_shape(tmp_path: Path) -> None:
    ca = ca_at(tmp_path)
    root, inter = ca.root().cert, ca.intermediate().cert
    assert root.subject.rfc4514_string() == (
        f"CN=fastsnake Local Authority - {NOW.year} ECC Root")
    assert root.issuer == root.subject
    assert inter.subject.rfc4514_string() == "CN=fastsnake Local Authority - ECC Intermediate"
    assert inter.issuer == root.subject
    inter.verify_directly_issued_by(root)
    for cert in (root, inter):
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root_life = root.not_valid_after_utc - root.not_valid_before_utc
    assert dt.timedelta(days=3650) <= root_life <= dt.timedelta(days=3651)
    inter_life = inter.not_valid_after_utc - inter.not_valid_before_utc
    assert INTERMEDIATE_LIFETIME <= inter_life <= INTERMEDIATE_LIFETIME + dt.timedelta(hours=1)


def test_processes_starting_together_make_one_root(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        from fastsnake.certs.local_ca import LocalCA
        from fastsnake.certs.storage import Storage
        print(LocalCA(Storage({str(tmp_path / "data")!r})).root_pem().decode(), end="")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = {proc.communicate(timeout=120)[0] for proc in procs}
    assert len(outs) == 1
    assert outs.pop().encode() == ca_at(tmp_path).root_pem()


def test_a_leaf_has_the_names_and_lifetime(tmp_path: Path) -> None:
    chain_pem, key_pem = ca_at(tmp_path).issue(["App.Test", "*.app.test", "127.0.0.1", "[::1]"])
    leaf, inter = load_chain(chain_pem)
    assert names_of(leaf) == {"app.test", "*.app.test", "127.0.0.1", "::1"}
    assert leaf.subject.rfc4514_string() == "CN=app.test"
    assert leaf.public_key().curve.name == "secp256r1"
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert LEAF_LIFETIME <= lifetime <= LEAF_LIFETIME + dt.timedelta(minutes=5)
    leaf.verify_directly_issued_by(inter)
    assert b"PRIVATE KEY" in key_pem


@pytest.mark.parametrize(("names", "server_name"), [
    (["localhost"], "localhost"),
    (["app.test", "www.app.test"], "www.app.test"),
    (["*.app.test"], "api.app.test"),
    (["127.0.0.1"], "127.0.0.1"),
    (["localhost", "127.0.0.1"], "127.0.0.1"),
])
def test_a_leaf_verifies_against_the_root_alone(tmp_path: Path, names: list[str],
                                                server_name: str) -> None:
    ca = ca_at(tmp_path)
    cert, key = write_pair(tmp_path / "pair", *ca.issue(names))
    peer = tls_handshake(cert, key, client_context(ca.root_pem()), server_name)
    assert ("commonName", names[0]) in peer["subject"][0]


def test_a_leaf_is_refused_for_other_names_and_by_other_roots(tmp_path: Path) -> None:
    ca = ca_at(tmp_path)
    cert, key = write_pair(tmp_path / "pair", *ca.issue(["localhost"]))
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        tls_handshake(cert, key, client_context(ca.root_pem()), "other.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        tls_handshake(cert, key, client_context(ca.root_pem()), "127.0.0.1")
    stranger = LocalCA(Storage(tmp_path / "other"))
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        tls_handshake(cert, key, client_context(stranger.root_pem()), "localhost")


def test_renewal_is_due_with_a_third_of_the_life_left(tmp_path: Path) -> None:
    ca = ca_at(tmp_path)
    chain_pem, _ = ca.issue(["localhost"], now=NOW)
    leaf = load_chain(chain_pem)[0]
    window_start = leaf.not_valid_after_utc - (
        leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 3
    assert not renewal_due(chain_pem, NOW)
    assert not renewal_due(chain_pem, window_start - dt.timedelta(seconds=1))
    assert renewal_due(chain_pem, window_start)
    assert renewal_due(chain_pem, NOW + dt.timedelta(hours=9))   # 3 h of 12 left
    assert renewal_due(chain_pem, NOW + dt.timedelta(hours=13))  # expired
    naive = (NOW + dt.timedelta(hours=9)).replace(tzinfo=None)  # naive means UTC
    assert renewal_due(chain_pem, naive)
    # One issued 13 hours ago has expired: due now.
    assert renewal_due(ca.issue(["localhost"], now=NOW - dt.timedelta(hours=13))[0])


def test_a_stored_leaf_is_reused_across_restarts_until_due(tmp_path: Path) -> None:
    first = ca_at(tmp_path).certificate(["localhost", "127.0.0.1"], now=NOW)
    storage = Storage(tmp_path / "data")
    assert storage.list("certificates") == [
        "certificates/local/localhost/localhost.crt",
        "certificates/local/localhost/localhost.json",
        "certificates/local/localhost/localhost.key"]
    assert storage.read("certificates/local/localhost/localhost.crt") == first[0]
    restarted = ca_at(tmp_path)
    assert restarted.certificate(["localhost", "127.0.0.1"], now=NOW) == first
    assert restarted.certificate(["localhost"], now=NOW + dt.timedelta(hours=7)) == first
    # Names it does not cover, or a third of its life left: a new one.
    wider = restarted.certificate(["localhost", "app.test"], now=NOW)
    assert wider != first and names_of(load_chain(wider[0])[0]) == {"localhost", "app.test"}
    later = NOW + dt.timedelta(hours=9)
    renewed = restarted.certificate(["localhost"], now=later)
    assert renewed != wider and not renewal_due(renewed[0], later)
    assert storage.read("certificates/local/localhost/localhost.crt") == renewed[0]


def test_a_leaf_under_a_replaced_root_is_not_reused(tmp_path: Path) -> None:
    old = ca_at(tmp_path).certificate(["localhost"])
    Storage(tmp_path / "data").delete("pki")  # the CA is lost: a new root is made
    ca = ca_at(tmp_path)
    new = ca.certificate(["localhost"])
    assert new != old
    cert, key = write_pair(tmp_path / "pair", *new)
    tls_handshake(cert, key, client_context(ca.root_pem()), "localhost")


def test_the_intermediate_is_renewed_from_the_same_root(tmp_path: Path) -> None:
    """A CA made six days ago (its intermediate has a day of seven left) issues
    today from a new intermediate under the same root; a restart reuses it."""
    ca = ca_at(tmp_path)
    past = NOW - dt.timedelta(days=6)
    old_inter = ca.intermediate(past).cert
    root_pem = ca.root_pem()
    new_inter = ca.intermediate(NOW).cert
    assert new_inter.serial_number != old_inter.serial_number
    assert ca.root_pem() == root_pem
    new_inter.verify_directly_issued_by(ca.root().cert)
    assert ca_at(tmp_path).intermediate(NOW).cert.serial_number == new_inter.serial_number
    chain = ca.issue(["localhost"])
    assert load_chain(chain[0])[1].serial_number == new_inter.serial_number
    cert, key = write_pair(tmp_path / "pair", *chain)
    tls_handshake(cert, key, client_context(root_pem), "localhost")


@pytest.mark.parametrize(("name", "normal"), [
    ("LOCALHOST.", "localhost"),
    ("*.Example.com", "*.example.com"),
    ("[::1]", "::1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    (" 127.0.0.1 ", "127.0.0.1"),
    ("bücher.test", "xn--bcher-kva.test"),
    ("under_score.internal", "under_score.internal"),
])
def test_names_are_normalized(name: str, normal: str) -> None:
    assert normalize_name(name) == normal


@pytest.mark.parametrize("name", ["", "*", "a..b", "-a.test", "a-.test", "a.*.test",
                                  "sp ace.test", "a" * 64 + ".test"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        normalize_name(name)


def test_no_names_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one name"):
        ca_at(tmp_path).issue([])
