"""HTTPS with ``tls <cert> <key>``: a real server, a real TLS client.

Certificates are made for the test with the openssl command (self-signed,
one per host name) and trusted by the client explicitly.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from fastsnake.config.loader import parse_config
from fastsnake.errors import CaddyfileError

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def make_cert(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def https_get(port: int, server_name: str, ca: Path, path: str = "/") -> tuple[str, bytes]:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close"
                     f"\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return sock.getpeercert()["subject"][0][0][1], data


def test_https_site_serves_an_app_with_scheme_https(serve, tmp_path):
    cert, key = make_cert(tmp_path, "localhost")
    server = serve(f"""
https://localhost:$PORT {{
    tls {cert} {key}
    python {{
        module_asgi asgi_basic:app
        working_dir "$APPS"
    }}
}}
""")
    name, reply = https_get(server.port, "localhost", cert, "/scope")
    assert name == "localhost"
    assert reply.startswith(b"HTTP/1.1 200")
    assert b'"scheme": "https"' in reply
    assert f"serving https://0.0.0.0:{server.port}" in server.log


def test_https_large_file_goes_through_tls_not_sendfile(serve, tmp_path):
    cert, key = make_cert(tmp_path, "localhost")
    server = serve(f"""
localhost:$PORT {{
    tls {cert} {key}
    python {{
        module_wsgi wsgi_basic:app
        working_dir "$APPS"
    }}
}}
""")
    _, reply = https_get(server.port, "localhost", cert, "/file?3000000")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == (bytes(range(256)) * (3000000 // 256 + 1))[:3000000]


def test_sni_picks_each_sites_certificate(serve, tmp_path):
    a_cert, a_key = make_cert(tmp_path, "a.test")
    b_cert, b_key = make_cert(tmp_path, "b.test")
    server = serve(f"""
a.test:$PORT {{
    tls {a_cert} {a_key}
    respond "site a"
}}
b.test:$PORT {{
    tls {b_cert} {b_key}
    respond "site b"
}}
""")
    name, reply = https_get(server.port, "b.test", b_cert)
    assert name == "b.test" and reply.endswith(b"site b")
    name, reply = https_get(server.port, "a.test", a_cert)
    assert name == "a.test" and reply.endswith(b"site a")


@pytest.mark.parametrize("body, message", [
    ("tls internal extra", "tls internal takes no other argument"),
    ("tls a b c", "tls takes 'internal', an email address, or <cert_file> <key_file>"),
    ("tls missing.crt missing.key", "missing.crt: No such file or directory"),
    ("tls a b {\n        client_auth\n    }", "tls option 'client_auth' does not go with "
                                           "certificate files"),
])
def test_tls_errors_name_the_line(tmp_path, body, message):
    make_cert(tmp_path, "a")
    body = body.replace(" a b", f" {tmp_path}/a.crt {tmp_path}/a.key")
    text = f"example.com {{\n    {body}\n}}\n"
    with pytest.raises(CaddyfileError) as caught:
        parse_config(text, str(tmp_path / "Caddyfile"))
    line = 3 if "{" in body else 2  # a block option's error is on its own line
    assert str(caught.value).startswith(f"{tmp_path}/Caddyfile:{line}: ")
    assert message in str(caught.value)


def test_https_catch_all_without_a_certificate_says_how_to_fix_it(tmp_path):
    with pytest.raises(CaddyfileError, match="give the site 'tls <cert_file> <key_file>'"):
        parse_config("https://:8443 {\n    respond hi\n}\n", str(tmp_path / "Caddyfile"))


def test_mixing_http_and_https_on_one_port_is_refused(tmp_path):
    cert, key = make_cert(tmp_path, "a")
    text = (f"a.test:9443 {{\n    tls {cert} {key}\n}}\n"
            f"http://b.test:9443 {{\n    respond hi\n}}\n")
    with pytest.raises(CaddyfileError, match="mixes sites with and without tls"):
        parse_config(text, str(tmp_path / "Caddyfile"))


def test_protocols_bound_the_tls_versions(tmp_path):
    import ssl

    from fastsnake.server.tls import listener_context

    cert, key = make_cert(tmp_path, "a.test")
    text = f"a.test:9443 {{\n    tls {cert} {key} {{\n        protocols tls1.2 tls1.2\n    }}\n}}\n"
    listener = parse_config(text, str(tmp_path / "Caddyfile")).listeners[0]
    context = listener_context(listener.sites)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.maximum_version == ssl.TLSVersion.TLSv1_2
