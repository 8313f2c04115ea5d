"""What a worker does with a ``CertStore``, as small real servers for the tests.

``WorkerServers`` runs an HTTP server that answers ACME HTTP-01 requests
from ``store.http_challenge`` and a TLS server whose SNI callback is
``store.sni_callback``: what a fastsnake worker does on ports 80 and 443.
``store`` may be swapped while they run. ``handshake`` is the client side:
it verifies the served chain against a root and returns the certificate.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Callable

from cryptography import x509

from fastsnake.certs.store import CertStore

CHALLENGE_PATH = "/.well-known/acme-challenge/"


class WorkerServers:
    def __init__(self, store: CertStore, default_context: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.default_context = default_context
        self.lock = threading.Lock()
        self.http_requests: list[tuple[str, str]] = []        # (host, path)
        self.tls_handshakes: list[tuple[str | None, str | None]] = []   # (sni, alpn)
        self.missing: list[str] = []
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.tls = socket.create_server(("127.0.0.1", 0))
        self.tls_port = self.tls.getsockname()[1]
        self.base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.base.sni_callback = self._sni
        threading.Thread(target=self._serve_tls, daemon=True).start()

    def tokens_for(self, host: str) -> set[str]:
        with self.lock:
            return {path[len(CHALLENGE_PATH):] for h, path in self.http_requests
                    if h == host and path.startswith(CHALLENGE_PATH)}

    def _sni(self, ssl_object: ssl.SSLObject, name: str | None,
             context: ssl.SSLContext) -> int | None:
        ssl_object.sni = name  # type: ignore[attr-defined]  (the server side cannot read it later)
        callback = self.store.sni_callback(self.default_context, on_missing=self._missing)
        return callback(ssl_object, name, context)

    def _missing(self, name: str) -> None:
        with self.lock:
            self.missing.append(name)

    def _handler(self) -> Callable[..., http.server.BaseHTTPRequestHandler]:
        servers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                host = self.headers.get("Host", "").rsplit(":", 1)[0]
                with servers.lock:
                    servers.http_requests.append((host, self.path))
                answer = None
                if self.path.startswith(CHALLENGE_PATH):
                    answer = servers.store.http_challenge(self.path[len(CHALLENGE_PATH):])
                body = answer if answer is not None else b"not found"
                self.send_response(200 if answer is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def _serve_tls(self) -> None:
        while True:
            try:
                conn, _ = self.tls.accept()
            except OSError:
                return          # closed
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            with self.base.wrap_socket(conn, server_side=True) as tls:
                with self.lock:
                    self.tls_handshakes.append((getattr(tls, "sni", None),
                                                tls.selected_alpn_protocol()))
                tls.sendall(b"ok")
                tls.recv(1)
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.tls.close()


def handshake(port: int, server_name: str | None, root_pem: bytes | None,
              alpn: list[str] | None = None) -> tuple[x509.Certificate, str | None]:
    """Connect; return the served leaf and the ALPN protocol chosen.

    With ``root_pem`` the chain must verify for ``server_name``; without,
    anything is accepted (to look at challenge certificates)."""
    if root_pem is not None:
        client = ssl.create_default_context(cadata=root_pem.decode("ascii"))
    else:
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
    if alpn:
        client.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with client.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
            protocol = tls.selected_alpn_protocol()
            assert tls.recv(2) == b"ok"
            tls.sendall(b"x")
    assert der is not None
    return x509.load_der_x509_certificate(der), protocol
