"""What an ACME client hands to whoever answers its challenges.

Theory of operation: the CA proves that we control a name by asking us to
publish a *key authorization* (RFC 8555 §8.1: the challenge's token, a dot,
and the base64url SHA-256 thumbprint of our account key) where only the
name's owner could: under ``/.well-known/acme-challenge/<token>`` on port 80
(HTTP-01, RFC 8555 §8.3), or inside a self-signed certificate served to a TLS
handshake that offers the ALPN protocol ``acme-tls/1`` on port 443
(TLS-ALPN-01, RFC 8737). The ACME client computes these; a
``ChallengeSolver`` (the server, or a test's little listeners) publishes
them and withdraws them afterwards.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
import secrets
from typing import Protocol

import josepy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

HTTP_01 = "http-01"
TLS_ALPN_01 = "tls-alpn-01"
SUPPORTED = (HTTP_01, TLS_ALPN_01)

# RFC 8737 §3: the ALPN protocol a validator offers, and id-pe-acmeIdentifier.
ACME_TLS_ALPN_PROTOCOL = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")

# RFC 8555 §8.1: a token is base64url without padding. Solvers put it in
# URL paths (and maybe file names), so anything else is refused here.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")


class ChallengeSolver(Protocol):
    """Publishes challenge answers while the CA validates, then withdraws them.

    A solver implements the kinds named in ``obtain(challenges=...)``; the
    client never calls a kind the caller did not list. A cleanup also
    follows a present that raised, so cleanups must tolerate an answer that
    was never (fully) published.
    """

    def present_http(self, token: str, key_authorization: str) -> None:
        """Serve ``key_authorization`` at ``/.well-known/acme-challenge/<token>``."""

    def cleanup_http(self, token: str) -> None:
        """Stop serving ``token``."""

    def present_tls_alpn(self, name: str, cert_pem: bytes, key_pem: bytes) -> None:
        """Present this certificate to handshakes for SNI ``name`` offering acme-tls/1."""

    def cleanup_tls_alpn(self, name: str) -> None:
        """Stop presenting the challenge certificate for ``name``."""


def check_token(token: str) -> str:
    if not _TOKEN.match(token):
        raise ValueError(f"the CA sent a challenge token that is not base64url: {token!r}")
    return token


def key_authorization(token: str, account_key: josepy.JWK) -> str:
    """RFC 8555 §8.1: token "." base64url(SHA-256 JWK thumbprint, RFC 7638)."""
    thumbprint = account_key.public_key().thumbprint(hash_function=hashes.SHA256)
    return f"{check_token(token)}.{josepy.b64encode(thumbprint).decode('ascii')}"


def tls_alpn_server_name(identifier: str) -> str:
    """The SNI a TLS-ALPN-01 validator sends for ``identifier``.

    A DNS name as is; an IP address as its reverse-DNS name (RFC 8738 §6),
    since SNI cannot carry an address.
    """
    try:
        return ipaddress.ip_address(identifier).reverse_pointer
    except ValueError:
        return identifier


def tls_alpn_certificate(identifier: str, key_auth: str) -> tuple[bytes, bytes]:
    """The self-signed challenge certificate of RFC 8737 §3, as (cert PEM, key PEM).

    Its only subjectAltName is the identifier being validated, and it carries
    the critical acmeIdentifier extension whose value is the DER OCTET STRING
    of SHA-256(key authorization). The acme package dropped its helper for
    this (it used pyOpenSSL), so it is built here with cryptography.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(identifier))
    except ValueError:
        san = x509.DNSName(identifier)
    digest = hashlib.sha256(key_auth.encode("ascii")).digest()
    # extnValue holds `Authorization ::= OCTET STRING (SIZE (32))`: tag 0x04, length 32.
    acme_identifier = x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest)
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        # Lives only for the validation; a day either side tolerates skewed clocks.
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        .add_extension(acme_identifier, critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
