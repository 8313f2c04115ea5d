"""fastsnake trust / untrust, as caddy trust / untrust: the local CA's root
printed, and installed into (then removed from) the real system trust store,
proved by a TLS client that trusts only the system's roots."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from fastsnake.certs.local_ca import LocalCA
from fastsnake.certs.storage import Storage
from fastsnake.certs.trust import FILE_NAME, anchor_store
from tests.certs_helpers import client_context, tls_handshake, write_pair

ROOT = "pki/authorities/local/root.crt"
DEBIAN_STORE = "/usr/local/share/ca-certificates"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def fastsnake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastsnake", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def pem_body(pem: bytes) -> str:
    """The base64 lines of a PEM certificate, as a bundle file holds them."""
    return "".join(pem.decode("ascii").strip().splitlines()[1:-1])


def test_trust_print_prints_the_stored_root(tmp_path: Path) -> None:
    first = fastsnake("trust", "--print", "--storage", str(tmp_path / "data"))
    assert first.returncode == 0, first.stderr
    stored = (tmp_path / "data" / ROOT).read_bytes()
    assert first.stdout.encode() == stored
    ssl.PEM_cert_to_DER_cert(first.stdout)  # one well-formed certificate
    again = fastsnake("trust", "--print", "--storage", str(tmp_path / "data"))
    assert again.stdout == first.stdout  # created once, then reused


def test_trust_print_uses_the_xdg_data_home(tmp_path: Path) -> None:
    done = fastsnake("trust", "--print", env={"XDG_DATA_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.encode() == (tmp_path / "fastsnake" / ROOT).read_bytes()


def test_without_the_https_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    code = ("import sys\nsys.modules['cryptography'] = None  # as if not installed\n"
            "from fastsnake.cli import main\n"
            f"sys.exit(main(['trust', '--print', '--storage', {str(tmp_path)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("fastsnake: automatic HTTPS needs the 'https' extra: "
                           "pip install 'fastsnake[https]'\n")
    assert not (tmp_path / "pki").exists()


def can_fill_debian_store() -> bool:
    store = anchor_store()
    return (sys.platform == "linux" and os.geteuid() == 0 and store is not None
            and store.folder == DEBIAN_STORE and SYSTEM_BUNDLE.is_file()
            and not (Path(DEBIAN_STORE) / FILE_NAME).exists())


@pytest.mark.skipif(not can_fill_debian_store(),
                    reason="needs root on a Debian-style system (update-ca-certificates, "
                           f"{DEBIAN_STORE}) with no fastsnake root installed already")
def test_trust_and_untrust_the_system_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ca = LocalCA(Storage(data))
    root_pem = ca.root_pem()
    cert, key = write_pair(tmp_path / "pair", *ca.issue(["localhost"]))
    installed = Path(DEBIAN_STORE) / FILE_NAME
    # Before: the system does not know this root.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(cert, key, client_context(None), "localhost")
    try:
        done = fastsnake("trust", "--storage", str(data))
        assert done.returncode == 0, done.stderr
        assert f"the root certificate is trusted: {installed}" in done.stderr
        assert installed.read_bytes() == root_pem
        assert pem_body(root_pem) in SYSTEM_BUNDLE.read_text().replace("\n", "")
        # A client with only the system's roots now accepts the local CA's leaf.
        tls_handshake(cert, key, client_context(None), "localhost")
    finally:
        done = fastsnake("untrust", "--storage", str(data))
        if installed.exists():  # untrust failed: clean up the machine anyway
            installed.unlink()
            subprocess.run(["update-ca-certificates"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"no longer trusted: removed {installed}" in done.stderr
    assert pem_body(root_pem) not in SYSTEM_BUNDLE.read_text().replace("\n", "")
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(cert, key, client_context(None), "localhost")
    # Again: nothing to remove, and it says so.
    again = fastsnake("untrust", "--storage", str(data))
    assert again.returncode == 0 and "was not installed" in again.stderr
