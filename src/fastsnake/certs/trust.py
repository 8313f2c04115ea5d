"""``fastsnake trust`` / ``fastsnake untrust``: the local CA's root in the
system trust store, as ``caddy trust`` / ``caddy untrust`` do.

Where it can, the root is added the way the system's own tools expect:

- Debian, Ubuntu, Alpine: a ``.crt`` file in /usr/local/share/ca-certificates,
  then ``update-ca-certificates`` rebuilds /etc/ssl/certs;
- Fedora, RHEL: /etc/pki/ca-trust/source/anchors and ``update-ca-trust extract``;
- Arch: /etc/ca-certificates/trust-source/anchors and ``trust extract-compat``;
- openSUSE: /usr/share/pki/trust/anchors and ``update-ca-certificates``;
- macOS: ``security add-trusted-cert`` into the System keychain.

Elsewhere (or for Firefox's and Java's own stores, which Caddy also fills)
the command says which file to trust by hand. Writing those places needs
root; a refusal is turned into a hint to run the command with sudo.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fastsnake.certs.extra import require_https_extra
from fastsnake.certs.storage import LOCAL_CA_ID, Storage, ca_key, default_data_dir
from fastsnake.errors import FatalError

# update-ca-certificates only reads files ending in .crt.
FILE_NAME = "fastsnake-local-root.crt"
MAC_KEYCHAIN = "/Library/Keychains/System.keychain"


@dataclass(frozen=True)
class AnchorStore:
    """A Linux trust store: a folder of extra roots and the command that
    rebuilds the system bundle from it."""

    folder: str
    refresh: tuple[str, ...]

    @property
    def file(self) -> Path:
        return Path(self.folder) / FILE_NAME


# In the order tried: the first whose folder and command both exist.
ANCHOR_STORES = (
    AnchorStore("/usr/local/share/ca-certificates", ("update-ca-certificates",)),
    AnchorStore("/etc/pki/ca-trust/source/anchors", ("update-ca-trust", "extract")),
    AnchorStore("/etc/ca-certificates/trust-source/anchors", ("trust", "extract-compat")),
    AnchorStore("/usr/share/pki/trust/anchors", ("update-ca-certificates",)),
)


def anchor_store() -> AnchorStore | None:
    """This machine's Linux trust store, or None."""
    for store in ANCHOR_STORES:
        if os.path.isdir(store.folder) and shutil.which(store.refresh[0]):
            return store
    return None


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except OSError as exc:
        raise FatalError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        hint = "; run it as root (sudo)" if os.geteuid() != 0 else ""
        raise FatalError(f"{' '.join(argv)} failed ({detail or f'exit {done.returncode}'})"
                         f"{hint}")


def _by_hand(root_file: Path) -> FatalError:
    return FatalError(
        f"no system trust store that fastsnake knows how to fill was found here; "
        f"trust this root certificate by hand (or in your browser): {root_file}")


def _denied(path: Path, exc: OSError) -> FatalError:
    hint = "; run it as root: sudo fastsnake trust" if os.geteuid() != 0 else ""
    return FatalError(f"cannot write {path}: {exc.strerror or exc}{hint}")


def install(root_pem: bytes, root_file: Path) -> str:
    """Add the root to the system trust store; says where, or raises
    FatalError saying what to do instead."""
    if sys.platform == "darwin" and shutil.which("security"):
        _run(["security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", MAC_KEYCHAIN,
              str(root_file)])
        return f"the root certificate is trusted in {MAC_KEYCHAIN}"
    store = anchor_store()
    if store is None:
        raise _by_hand(root_file)
    try:
        temp = store.file.with_name(f".{FILE_NAME}.tmp")
        temp.write_bytes(root_pem)
        temp.chmod(0o644)
        os.replace(temp, store.file)
    except OSError as exc:
        raise _denied(store.file, exc) from exc
    _run(list(store.refresh))
    return f"the root certificate is trusted: {store.file} ({' '.join(store.refresh)})"


def uninstall(root_pem: bytes | None) -> str:
    """Remove the root from the system trust store (a no-op if it is not there)."""
    if sys.platform == "darwin" and shutil.which("security"):
        if root_pem is None:
            raise FatalError("there is no local CA root in the storage to untrust")
        der = ssl.PEM_cert_to_DER_cert(root_pem.decode("ascii"))
        fingerprint = hashlib.sha1(der).hexdigest().upper()
        _run(["security", "delete-certificate", "-Z", fingerprint, "-t", MAC_KEYCHAIN])
        return f"the root certificate is no longer trusted in {MAC_KEYCHAIN}"
    store = anchor_store()
    if store is None:
        raise FatalError("no system trust store that fastsnake knows how to fill was "
                         "found here; remove the root from where you trusted it by hand")
    try:
        store.file.unlink()
    except FileNotFoundError:
        return f"the root certificate was not installed ({store.file} does not exist)"
    except OSError as exc:
        raise _denied(store.file, exc) from exc
    _run(list(store.refresh))
    return f"the root certificate is no longer trusted: removed {store.file}"


def trust_command(storage_dir: str | None, print_only: bool) -> int:
    """``fastsnake trust [--print] [--storage DIR]``: the root, created in
    the storage if it is not there yet, printed or installed."""
    require_https_extra()
    from fastsnake.certs.local_ca import LocalCA

    storage = Storage(storage_dir or default_data_dir())
    root_pem = LocalCA(storage).root_pem()
    if print_only:
        sys.stdout.write(root_pem.decode("ascii"))
        return 0
    print(f"fastsnake: {install(root_pem, storage.path(ca_key(LOCAL_CA_ID, 'root.crt')))}",
          file=sys.stderr)
    return 0


def untrust_command(storage_dir: str | None) -> int:
    """``fastsnake untrust [--storage DIR]``: never creates a CA."""
    storage = Storage(storage_dir or default_data_dir())
    print(f"fastsnake: {uninstall(storage.read(ca_key(LOCAL_CA_ID, 'root.crt')))}",
          file=sys.stderr)
    return 0
