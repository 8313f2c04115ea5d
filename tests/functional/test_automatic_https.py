"""Automatic HTTPS against a real server, as Caddy does it: a ``localhost``
site served with a certificate from the local CA (clients that trust its
root verify it), the HTTP port redirecting there with 308, certificates
obtained from a real ACME CA (Pebble) through the HTTP-01 and TLS-ALPN-01
challenges answered by the server's own workers, and a CA that cannot be
reached: the server starts, its other sites serve, and the failure is
logged with the site's name."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.pebble import CHALLTESTSRV, MISSING, PEBBLE, Pebble, free_port

pytest.importorskip("cryptography")
pytest.importorskip("acme")


def https_get(port: int, name: str, root_pem: bytes, path: str = "/",
              timeout: float = 10.0) -> tuple[int, str, dict[str, str]]:
    context = ssl.create_default_context(cadata=root_pem.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=name) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
                         .encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), body.decode(), {k.lower(): v for k, v in headers.items()}


def http_get(port: int, host: str, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": host})
    return connection.getresponse()


def test_localhost_gets_a_local_ca_certificate_and_a_redirect(serve, tmp_path: Path) -> None:
    https_port = free_port()
    server = serve("{\n\tstorage file_system data\n\thttp_port $PORT\n"
                   f"\thttps_port {https_port}\n}}\n"
                   "localhost, app.localhost {\n\trespond \"secure {scheme} {host}\"\n}\n")
    root = (tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt").read_bytes()
    for name in ("localhost", "app.localhost"):
        status, body, _ = https_get(https_port, name, root)
        assert (status, body) == (200, f"secure https {name}")
    redirect = http_get(server.port, f"app.localhost:{server.port}", "/a/b?c=d")
    assert redirect.status == 308
    assert redirect.getheader("Location") == f"https://app.localhost:{https_port}/a/b?c=d"
    # A client that does not trust the local root refuses the certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(https_port, "localhost", _other_root(tmp_path))
    # The private key is the user's alone.
    keys = list((tmp_path / "data" / "certificates" / "local").rglob("*.key"))
    assert keys and all(key.stat().st_mode & 0o777 == 0o600 for key in keys)


def test_certificates_survive_a_restart(serve, tmp_path: Path) -> None:
    caddyfile = "{\n\tstorage file_system data\n\tauto_https disable_redirects\n}\n" \
                "localhost:$PORT {\n\trespond \"one\"\n}\n"
    first = serve(caddyfile)
    cert = next((tmp_path / "data" / "certificates" / "local").rglob("localhost.crt"))
    before = cert.read_bytes()
    first.stop()
    second = serve(caddyfile)
    root = (tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt").read_bytes()
    assert https_get(second.port, "localhost", root)[1] == "one"
    assert cert.read_bytes() == before  # reused, not issued again


def _other_root(folder: Path) -> bytes:
    from fastsnake.certs.local_ca import LocalCA
    from fastsnake.certs.storage import Storage

    return LocalCA(Storage(folder / "elsewhere")).root_pem()


needs_pebble = pytest.mark.skipif(PEBBLE is None or CHALLTESTSRV is None, reason=MISSING)


def wait_for_certificate(port: int, name: str, root: bytes, server, timeout: float = 90.0
                         ) -> tuple[int, str, dict[str, str]]:
    """The site answers over verified HTTPS once the certificate is there
    (obtaining one takes a few seconds of ACME round trips)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return https_get(port, name, root)
        except (ssl.SSLError, OSError):
            if time.monotonic() > deadline:
                raise AssertionError(f"no certificate for {name}:\n{server.log}") from None
            time.sleep(0.5)


@needs_pebble
@pytest.mark.parametrize("challenge", ["http-01", "tls-alpn-01"])
def test_a_certificate_from_an_acme_ca(serve, tmp_path: Path, challenge: str) -> None:
    http_port, https_port = free_port(), free_port()
    (tmp_path / "pebble").mkdir()
    pebble = Pebble(tmp_path / "pebble", http_port, https_port).start()
    try:
        (tmp_path / "pebble-root.pem").write_bytes(pebble.ca_root_pem)
        only = ("\t\t\tdisable_tlsalpn_challenge\n" if challenge == "http-01"
                else "\t\t\tdisable_http_challenge\n")
        server = serve(
            "{\n\tstorage file_system data\n\temail ops@site.test\n"
            f"\thttp_port {http_port}\n\thttps_port {https_port}\n}}\n"
            "site.test {\n\ttls {\n\t\tissuer acme {\n"
            f"\t\t\tdir {pebble.directory_url}\n\t\t\ttrusted_roots pebble-root.pem\n"
            f"{only}\t\t}}\n\t}}\n\trespond \"hello from {{host}}\"\n}}\n"
            ":$PORT {\n\trespond \"plain\"\n}\n")
        status, body, _ = wait_for_certificate(https_port, "site.test",
                                                pebble.issuing_root_pem(), server)
        assert (status, body) == (200, "hello from site.test")
        assert "Traceback" not in server.log
        accounts = list((tmp_path / "data" / "acme").rglob("*.key"))
        assert accounts and all(key.stat().st_mode & 0o777 == 0o600 for key in accounts)
    finally:
        pebble.stop()


def test_an_unreachable_ca_does_not_stop_the_server(serve, tmp_path: Path) -> None:
    https_port = free_port()
    dead = free_port()  # nothing listens here
    server = serve("{\n\tstorage file_system data\n\tauto_https disable_redirects\n"
                   f"\tacme_ca https://127.0.0.1:{dead}/dir\n}}\n"
                   f"shop.example.com:{https_port} {{\n\trespond \"shop\"\n}}\n"
                   ":$PORT {\n\trespond \"still serving\"\n}\n")
    assert http_get(server.port, "x", "/").read() == b"still serving"
    failure = server.wait_for_text("obtaining a certificate for shop.example.com", timeout=60)
    assert failure is not None and "failed" in failure and "cannot reach the CA" in failure
    assert "Caddyfile:6" in failure  # where the site is
    assert server.proc.poll() is None
    assert http_get(server.port, "x", "/").read() == b"still serving"


def test_an_ip_address_site_answers_clients_that_send_no_sni(serve, tmp_path: Path) -> None:
    server = serve("{\n\tstorage file_system data\n}\n127.0.0.1:$PORT {\n\trespond \"by IP\"\n}\n")
    root = (tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt").read_bytes()
    context = ssl.create_default_context(cadata=root.decode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        # server_hostname an IP: Python sends no SNI, and checks the IP SAN.
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"by IP")


class AskEndpoint:
    """The on_demand_tls ask endpoint: 200 for the names it approves."""

    def __init__(self, approved: set[str]) -> None:
        import http.server
        import threading
        import urllib.parse

        self.asked: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                domain = query.get("domain", [""])[0]
                outer.asked.append(domain)
                self.send_response(200 if domain in approved else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_on_demand_certificates_at_the_first_handshake(serve, tmp_path: Path) -> None:
    ask = AskEndpoint({"first.test", "second.test"})
    try:
        server = serve("{\n\tstorage file_system data\n\ton_demand_tls {\n"
                       f"\t\task http://127.0.0.1:{ask.port}/check\n\t}}\n}}\n"
                       "https://:$PORT {\n\ttls internal {\n\t\ton_demand\n\t}\n"
                       "\trespond \"on demand for {host}\"\n}\n")
        root = (tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt")
        for name in ("first.test", "second.test"):
            # The very first handshake for the name gets its new certificate.
            status, body, _ = https_get(server.port, name, _root_when_made(root), timeout=60)
            assert (status, body) == (200, f"on demand for {name}")
        with pytest.raises(ssl.SSLError):
            https_get(server.port, "refused.test", root.read_bytes(), timeout=60)
        assert "refused.test" in ask.asked
        stored = {p.name for p in (tmp_path / "data" / "certificates").rglob("*.crt")}
        assert stored == {"first.test.crt", "second.test.crt"}  # nothing for the refused name
        assert "Traceback" not in server.log
    finally:
        ask.close()


def _root_when_made(root: Path) -> bytes:
    # The local CA's root is made by the supervisor when the first on-demand
    # name is issued; until then there is nothing to trust, so make it now
    # the way fastsnake trust would (the same data directory, the same root).
    from fastsnake.certs.local_ca import LocalCA
    from fastsnake.certs.storage import Storage

    return LocalCA(Storage(root.parents[3])).root_pem()
