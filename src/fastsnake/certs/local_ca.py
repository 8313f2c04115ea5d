"""The local certificate authority, as Caddy's "Caddy Local Authority":
certificates for names no public CA will sign (localhost, 127.0.0.1,
*.internal), trusted by whoever installs its root (``fastsnake trust``).

Theory of operation. Three tiers, all ECDSA P-256, kept in the storage
under ``pki/authorities/local/``:

- the root, "fastsnake Local Authority - <year> ECC Root", valid ten years:
  created once and reused across restarts, because it is what users
  install; a new one is made only when it has expired (or is missing);
- the intermediate, "fastsnake Local Authority - ECC Intermediate", valid
  seven days and re-issued from the root once a third of its life remains
  (Caddy renews it on the same kind of schedule), so its key, which signs
  every leaf, is short-lived;
- leaves, valid twelve hours (Caddy's default for its internal issuer),
  stored under ``certificates/local/<name>/`` and reused while less than
  two thirds of their life has passed.

Two processes sharing the storage agree through its locks: one creates the
root (or renews the intermediate, or issues a leaf) while the other waits,
then reads what the first stored.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fastsnake.certs.pem import (
    cert_renewal_due,
    load_chain,
    names_of,
    renewal_due,
    utcnow,
)
from fastsnake.certs.storage import (
    LOCAL_CA_ID,
    LOCAL_ISSUER_KEY,
    Storage,
    ca_key,
    cert_key,
    safe_key,
)

__all__ = ["CA_ID", "CA_NAME", "ISSUER_KEY", "LocalCA", "normalize_name", "renewal_due"]

CA_ID = LOCAL_CA_ID             # pki/authorities/local
ISSUER_KEY = LOCAL_ISSUER_KEY   # certificates/local
CA_NAME = "fastsnake Local Authority"
ROOT_LIFETIME = dt.timedelta(days=3650)
INTERMEDIATE_LIFETIME = dt.timedelta(days=7)
LEAF_LIFETIME = dt.timedelta(hours=12)
# not_before is set a little in the past: a client whose clock runs behind
# ours would otherwise refuse a certificate issued a second ago.
BACKDATE = dt.timedelta(minutes=1)
# Caddy keeps the root key but never lets the root sign leaves directly; the
# intermediate is the only CA below it, hence path length 1 and then 0.
ROOT_PATH_LENGTH = 1


@dataclass(frozen=True)
class Authority:
    """One CA tier: its certificate (also as PEM) and private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_pem: bytes


def normalize_name(name: str) -> str:
    """A name as it goes into a certificate: an IP address in its canonical
    text, or a DNS name in lower case ASCII (IDNA for others), with an
    optional leading ``*.`` label. ValueError for anything else."""
    text = name.strip().rstrip(".").lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a valid host name: {name!r}") from None
    labels = text.split(".")
    for index, label in enumerate(labels):
        if label == "*" and index == 0 and len(labels) > 1:
            continue
        if (not label or len(label) > 63 or label.startswith("-") or label.endswith("-")
                or not all(c.isalnum() or c in "-_" for c in label)):
            raise ValueError(f"not a valid host name: {name!r}")
    if len(text) > 253:
        raise ValueError(f"host name too long: {name!r}")
    return text


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an ECDSA private key")
    return key


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value


class LocalCA:
    """The local CA over a Storage; safe to share between threads."""

    def __init__(self, storage: Storage, *, ca_id: str = CA_ID, name: str = CA_NAME,
                 intermediate_lifetime: dt.timedelta = INTERMEDIATE_LIFETIME,
                 leaf_lifetime: dt.timedelta = LEAF_LIFETIME) -> None:
        self.storage = storage
        self.ca_id = ca_id
        self.name = name
        self.intermediate_lifetime = intermediate_lifetime
        self.leaf_lifetime = leaf_lifetime
        self._guard = threading.Lock()
        self._root: Authority | None = None
        self._intermediate: Authority | None = None

    # -- the authorities -----------------------------------------------------

    def root(self, now: dt.datetime | None = None) -> Authority:
        """The root, created (once, under the storage lock) if missing or expired."""
        now = now or utcnow()
        with self._guard:
            if self._root is None or now >= self._root.cert.not_valid_after_utc:
                with self.storage.lock(f"pki_{safe_key(self.ca_id)}"):
                    self._root = self._load_or_create_root(now)
            return self._root

    def root_pem(self, now: dt.datetime | None = None) -> bytes:
        """The root certificate as PEM: what ``fastsnake trust`` installs."""
        return self.root(now).cert_pem

    def intermediate(self, now: dt.datetime | None = None) -> Authority:
        """The current intermediate, re-issued when a third of its life remains."""
        now = now or utcnow()
        root = self.root(now)
        with self._guard:
            current = self._intermediate
            if (current is None or cert_renewal_due(current.cert, now)
                    or not _issued_by(current.cert, root.cert)):
                with self.storage.lock(f"pki_{safe_key(self.ca_id)}"):
                    self._intermediate = self._load_or_create_intermediate(root, now)
            assert self._intermediate is not None
            return self._intermediate

    def _load(self, file: str) -> Authority | None:
        cert_pem = self.storage.read(ca_key(self.ca_id, f"{file}.crt"))
        key_pem = self.storage.read(ca_key(self.ca_id, f"{file}.key"))
        if cert_pem is None or key_pem is None:
            return None
        try:
            cert, key = load_chain(cert_pem)[0], _load_key(key_pem)
        except ValueError:
            return None  # damaged: made anew below, as if missing
        if not _same_key(cert, key):
            return None
        return Authority(cert, key, cert_pem)

    def _store(self, file: str, cert: x509.Certificate,
               key: ec.EllipticCurvePrivateKey) -> Authority:
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        # The key first: a crash between the two leaves a certificate-less
        # key, which _load treats as missing, never a certificate without it.
        self.storage.write(ca_key(self.ca_id, f"{file}.key"), _key_pem(key), private=True)
        self.storage.write(ca_key(self.ca_id, f"{file}.crt"), cert_pem)
        return Authority(cert, key, cert_pem)

    def _load_or_create_root(self, now: dt.datetime) -> Authority:
        stored = self._load("root")
        if stored is not None and now < stored.cert.not_valid_after_utc:
            return stored
        key = _new_key()
        subject = x509.Name([x509.NameAttribute(
            NameOID.COMMON_NAME, f"{self.name} - {now.year} ECC Root")])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - BACKDATE)
                .not_valid_after(now + ROOT_LIFETIME)
                .add_extension(x509.BasicConstraints(ca=True, path_length=ROOT_PATH_LENGTH),
                               critical=True)
                .add_extension(_ca_key_usage(), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        return self._store("root", cert, key)

    def _load_or_create_intermediate(self, root: Authority, now: dt.datetime) -> Authority:
        # Another process may have renewed it while this one waited for the lock.
        stored = self._load("intermediate")
        if (stored is not None and not cert_renewal_due(stored.cert, now)
                and _issued_by(stored.cert, root.cert)):
            return stored
        key = _new_key()
        not_after = min(now + self.intermediate_lifetime, root.cert.not_valid_after_utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(
                    NameOID.COMMON_NAME, f"{self.name} - ECC Intermediate")]))
                .issuer_name(root.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - BACKDATE)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_ca_key_usage(), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    _ski(root.cert)), critical=False)
                .sign(root.key, hashes.SHA256()))
        return self._store("intermediate", cert, key)

    # -- leaves ----------------------------------------------------------------

    def issue(self, names: Sequence[str], now: dt.datetime | None = None
              ) -> tuple[bytes, bytes]:
        """A new leaf for names: (chain PEM = leaf + intermediate, key PEM).
        Not stored; ``certificate`` stores and reuses."""
        normalized = _normalized(names)
        now = now or utcnow()
        inter = self.intermediate(now)
        key = _new_key()
        sans: list[x509.GeneralName] = []
        for name in normalized:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        first = normalized[0]
        # An empty subject is allowed when the SAN extension is critical
        # (RFC 5280 section 4.2.1.6); a common name is kept where it fits.
        subject = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])
                   if len(first) <= 64 else x509.Name([]))
        not_after = min(now + self.leaf_lifetime, inter.cert.not_valid_after_utc)
        cert = (x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(inter.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - BACKDATE)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                    critical=False)
                .add_extension(x509.SubjectAlternativeName(sans),
                               critical=len(subject) == 0)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    _ski(inter.cert)), critical=False)
                .sign(inter.key, hashes.SHA256()))
        chain = cert.public_bytes(serialization.Encoding.PEM) + inter.cert_pem
        return chain, _key_pem(key)

    def stored(self, names: Sequence[str], now: dt.datetime | None = None
               ) -> tuple[bytes, bytes] | None:
        """The stored leaf for names if it may still be served: it covers
        them, is not yet due for renewal, and chains to the current root."""
        normalized = _normalized(names)
        now = now or utcnow()
        chain_pem = self.storage.read(cert_key(ISSUER_KEY, normalized[0], "crt"))
        key_pem = self.storage.read(cert_key(ISSUER_KEY, normalized[0], "key"))
        if chain_pem is None or key_pem is None:
            return None
        try:
            chain, key = load_chain(chain_pem), _load_key(key_pem)
        except ValueError:
            return None
        leaf = chain[0]
        root = self.root(now)
        if (len(chain) < 2 or not _same_key(leaf, key) or cert_renewal_due(leaf, now)
                or now < leaf.not_valid_before_utc
                or not set(normalized) <= names_of(leaf)
                or not _issued_by(leaf, chain[1]) or not _issued_by(chain[1], root.cert)):
            return None
        return chain_pem, key_pem

    def certificate(self, names: Sequence[str], now: dt.datetime | None = None
                    ) -> tuple[bytes, bytes]:
        """The leaf to serve for names: the stored one while it is good, else
        a new one, stored (``certificates/local/<first name>/``). One
        process issues; another asking at the same time waits and reuses it."""
        normalized = _normalized(names)
        now = now or utcnow()
        with self.storage.lock(f"issue_cert_{safe_key(normalized[0])}"):
            found = self.stored(normalized, now)
            if found is not None:
                return found
            chain_pem, key_pem = self.issue(normalized, now)
            first = normalized[0]
            self.storage.write(cert_key(ISSUER_KEY, first, "key"), key_pem, private=True)
            self.storage.write(cert_key(ISSUER_KEY, first, "crt"), chain_pem)
            meta = {"sans": normalized, "issuer_data": {"ca": self.ca_id}}
            self.storage.write(cert_key(ISSUER_KEY, first, "json"),
                               json.dumps(meta, indent="\t").encode())
            return chain_pem, key_pem


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False)


def _normalized(names: Iterable[str]) -> list[str]:
    """Names normalised, duplicates dropped, order kept (the first names the
    storage folder); ValueError when there is none."""
    out: list[str] = []
    for name in names:
        text = normalize_name(name)
        if text not in out:
            out.append(text)
    if not out:
        raise ValueError("a certificate needs at least one name")
    return out
