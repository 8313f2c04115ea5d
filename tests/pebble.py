"""A real Pebble (Let's Encrypt's test CA) for ACME tests, and real challenge listeners.

``Pebble`` runs ``pebble`` and ``pebble-challtestsrv`` (Debian's ``pebble``
package) in subprocesses on free ports: challtestsrv is Pebble's DNS server,
answering every A query with 127.0.0.1 (and no AAAA), so names such as
``site.test`` reach the listeners here. Pebble serves its API over HTTPS
with a certificate made here from a root of our own (what Pebble's
repository calls its "minica" root): a client must be told that root,
which is what ``ca_root_pem`` tests.

``ChallengeListeners`` is a ``ChallengeSolver`` backed by a real HTTP server
(HTTP-01) and a real TLS server speaking ALPN ``acme-tls/1`` (TLS-ALPN-01);
their ports are Pebble's ``httpPort`` and ``tlsPort``, so they are bound
before Pebble starts.

Readiness is each program's own log line. Pebble logs its "Listening on"
line just before it binds, so ``Pebble.start`` then waits for the port to
accept (bounded, the one probe here).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")
MISSING = ("pebble is not installed (apt-get install -y pebble: it ships pebble and "
           "pebble-challtestsrv)")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP (a DNS server takes both)."""
    while True:
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket() as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


# -- certificates for Pebble's own HTTPS ---------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_minica(folder: pathlib.Path) -> tuple[bytes, pathlib.Path, pathlib.Path]:
    """A root CA and a localhost/127.0.0.1 leaf it signed: (root PEM, leaf path, key path)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastsnake test minica")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(root_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256()))
    cert_path, key_path = folder / "pebble-cert.pem", folder / "pebble-key.pem"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(leaf_key))
    return root.public_bytes(serialization.Encoding.PEM), cert_path, key_path


# -- processes ------------------------------------------------------------------------------------


class _Process:
    """A subprocess whose merged output is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None,
                 cwd: pathlib.Path | None = None) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, cwd=cwd,
                                     env={**os.environ, **(env or {})})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<eof>")
            self.changed.notify_all()

    @property
    def log(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for_text(self, text: str, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(
                    lambda: any(text in line for line in self.lines)
                    or (bool(self.lines) and self.lines[-1] == "<eof>"), timeout):
                raise RuntimeError(f"{self.proc.args[0]}: no {text!r} in:\n{self.log}")
            if not any(text in line for line in self.lines):
                raise RuntimeError(f"{self.proc.args[0]} exited:\n{self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Pebble:
    """pebble + pebble-challtestsrv on free ports; ``directory_url`` is the ACME directory."""

    def __init__(self, folder: pathlib.Path, http_port: int, tls_port: int) -> None:
        if PEBBLE is None or CHALLTESTSRV is None:
            raise RuntimeError(MISSING)
        self.folder = folder
        self.http_port = http_port
        self.tls_port = tls_port
        self.port = free_port()
        self.management_port = free_port()
        self.dns_port = free_tcp_udp_port()
        self.ca_root_pem, cert_path, key_path = make_minica(folder)
        self.ca_root_file = folder / "pebble-minica.pem"
        self.ca_root_file.write_bytes(self.ca_root_pem)
        self.config = folder / "pebble-config.json"
        self.config.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert_path),
            "privateKey": str(key_path),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}))
        self.directory_url = f"https://127.0.0.1:{self.port}/dir"
        self.dns: _Process | None = None
        self.pebble: _Process | None = None

    def start(self) -> Pebble:
        assert PEBBLE is not None and CHALLTESTSRV is not None
        self.dns = _Process([
            CHALLTESTSRV, "-dns01", f"127.0.0.1:{self.dns_port}",
            "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", f"127.0.0.1:{free_port()}",
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        self.dns.wait_for_text("Starting challenge servers")
        self.pebble = _Process(
            [PEBBLE, "-config", str(self.config), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            # No artificial validation delay, no spurious badNonce, and every
            # order validates afresh (no authorization reuse), so each test
            # really exercises its challenge.
            env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                 "PEBBLE_AUTHZREUSE": "0"},
            cwd=self.folder)
        self.pebble.wait_for_text("Listening on:")
        self._wait_accepting(self.port)
        self._wait_accepting(self.management_port)
        return self

    def _wait_accepting(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline or (self.pebble and self.pebble.proc.poll()
                                                   is not None):
                    raise RuntimeError(f"pebble does not accept on {port}:\n{self.log}") from None
                time.sleep(0.02)

    @property
    def log(self) -> str:
        return "\n".join(p.log for p in (self.dns, self.pebble) if p is not None)

    def issuing_root_pem(self) -> bytes:
        """The root Pebble signs with (a new one each run), from its management API."""
        context = ssl.create_default_context(cafile=str(self.ca_root_file))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.read()

    def stop(self) -> None:
        for process in (self.pebble, self.dns):
            if process is not None:
                process.stop()


# -- the challenge listeners (a ChallengeSolver) ---------------------------------------------


class ChallengeListeners:
    """Answers HTTP-01 and TLS-ALPN-01 from real sockets; records what it was asked.

    HTTP-01 answers to the hosts in ``tamper`` are wrong, for the failure tests.
    """

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        self.tokens: dict[str, str] = {}
        self.alpn_contexts: dict[str, ssl.SSLContext] = {}
        self.calls: list[tuple[str, str]] = []
        self.tamper: set[str] = set()
        self.lock = threading.Lock()
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.tls = socket.create_server(("127.0.0.1", 0))
        self.tls_port = self.tls.getsockname()[1]
        self.tls_handshakes: list[tuple[str | None, str | None]] = []
        threading.Thread(target=self._serve_tls, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.tls_handshakes.clear()
            self.tamper.clear()

    # ChallengeSolver

    def present_http(self, token: str, key_authorization: str) -> None:
        with self.lock:
            self.calls.append(("present_http", token))
            self.tokens[token] = key_authorization

    def cleanup_http(self, token: str) -> None:
        with self.lock:
            self.calls.append(("cleanup_http", token))
            self.tokens.pop(token, None)

    def present_tls_alpn(self, name: str, cert_pem: bytes, key_pem: bytes) -> None:
        cert_file = self.folder / f"alpn-{name}.pem"
        cert_file.write_bytes(cert_pem + key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file)
        context.set_alpn_protocols(["acme-tls/1"])
        with self.lock:
            self.calls.append(("present_tls_alpn", name))
            self.alpn_contexts[name] = context

    def cleanup_tls_alpn(self, name: str) -> None:
        with self.lock:
            self.calls.append(("cleanup_tls_alpn", name))
            self.alpn_contexts.pop(name, None)

    # the servers

    def _handler(self) -> Callable[..., http.server.BaseHTTPRequestHandler]:
        listeners = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                prefix = "/.well-known/acme-challenge/"
                host = self.headers.get("Host", "").split(":")[0]
                with listeners.lock:
                    answer = (listeners.tokens.get(self.path[len(prefix):])
                              if self.path.startswith(prefix) else None)
                    if answer and host in listeners.tamper:
                        answer += "-tampered"
                body = (answer or "not found").encode()
                self.send_response(200 if answer else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def _serve_tls(self) -> None:
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.set_alpn_protocols(["acme-tls/1"])

        def pick(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
            with self.lock:
                context = self.alpn_contexts.get(name or "")
            # The server side has no server_hostname: the SNI is only seen here.
            sslobj.sni = name  # type: ignore[attr-defined]
            if context is None:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            sslobj.context = context
            return None

        base.sni_callback = pick
        while True:
            try:
                conn, _ = self.tls.accept()
            except OSError:
                return          # closed
            threading.Thread(target=self._handshake, args=(base, conn), daemon=True).start()

    def _handshake(self, context: ssl.SSLContext, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                with self.lock:
                    self.tls_handshakes.append((getattr(tls, "sni", None),
                                                tls.selected_alpn_protocol()))
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.tls.close()
