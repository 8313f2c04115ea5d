"""Helpers shared by the certificate tests (tests/unit/certs, test_trust.py).

``tls_handshake`` proves a certificate chain the way a browser would: a real
TLS server (the stdlib ssl module) on a loopback socket serves the chain, and
a client connects with the given context and server name.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path


def write_pair(folder: Path, chain_pem: bytes, key_pem: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "chain.pem", folder / "key.pem"
    cert.write_bytes(chain_pem)
    key.write_bytes(key_pem)
    return cert, key


def client_context(root_pem: bytes | None) -> ssl.SSLContext:
    """A client that trusts only ``root_pem`` (the system's roots when None),
    checks the host name, and applies OpenSSL's strict X.509 rules (the
    default from Python 3.13 on), so a sloppy certificate fails here too."""
    if root_pem is None:
        context = ssl.create_default_context()
    else:
        context = ssl.create_default_context(cadata=root_pem.decode("ascii"))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


def tls_handshake(cert: Path, key: Path, client: ssl.SSLContext, server_name: str,
                  address: str = "127.0.0.1") -> dict:
    """Serve (cert, key) on a loopback port; connect as ``server_name``;
    return the verified peer certificate. Verification errors propagate."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.bind((address, 0))
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello")
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate: its error is the result

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname()[:2], timeout=30) as raw:
            with client.wrap_socket(raw, server_hostname=server_name) as tls:
                assert tls.recv(5) == b"hello"
                peer = tls.getpeercert()
                tls.sendall(b"x")
        return peer
    finally:
        thread.join(30)
        listener.close()
