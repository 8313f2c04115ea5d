"""Certificates as PEM bytes: reading a chain, and when one is due for
renewal. Shared by the local CA and the ACME client.

Renewal follows CertMagic's default: a certificate is renewed once a third
of its lifetime (not_after - not_before) remains, so a 90-day ACME
certificate renews with 30 days left and a 12-hour local one with 4 hours.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

RENEWAL_WINDOW_RATIO = 1 / 3


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def load_chain(chain_pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, leaf first; ValueError if none."""
    certs = x509.load_pem_x509_certificates(chain_pem)
    if not certs:
        raise ValueError("no certificate in the PEM data")
    return certs


def renewal_due(cert_pem: bytes, now: dt.datetime | None = None,
                ratio: float = RENEWAL_WINDOW_RATIO) -> bool:
    """True once ``ratio`` (a third) of the first certificate's lifetime
    remains, or when it has expired. ``cert_pem`` may be a whole chain (the
    leaf first); ``now`` may be naive, meaning UTC."""
    return cert_renewal_due(load_chain(cert_pem)[0], now, ratio)


def cert_renewal_due(cert: x509.Certificate, now: dt.datetime | None = None,
                     ratio: float = RENEWAL_WINDOW_RATIO) -> bool:
    if now is None:
        now = utcnow()
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)  # naive means UTC, as in x509
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return now >= cert.not_valid_after_utc - lifetime * ratio


def names_of(cert: x509.Certificate) -> set[str]:
    """The certificate's subject alternative names: DNS names as written
    (lower case) and IP addresses as text."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {name.lower() for name in sans.get_values_for_type(x509.DNSName)}
    names.update(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    return names
