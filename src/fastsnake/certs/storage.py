"""The data directory: certificates, keys, the local CA and ACME accounts,
laid out as Caddy (CertMagic's file storage) lays out its own.

Theory of operation. Everything lives under one root, by default
``$XDG_DATA_HOME/fastsnake`` or ``~/.local/share/fastsnake`` (Caddy's is
``$XDG_DATA_HOME/caddy``). Callers name files by a relative path with ``/``
separators (a *key*, as CertMagic calls it); the helpers below build the keys
Caddy uses, so a directory can be read by someone who knows Caddy's:

    certificates/<issuer_key>/<name>/<name>.crt|.key|.json
    pki/authorities/local/root.crt|.key, intermediate.crt|.key
    acme/<issuer_key>/users/<email or default>/...
    locks/<name>.lock

Several fastsnake processes (workers, or two servers) may share the
directory, so:

- a write is atomic: the bytes go to a temporary file in the same folder,
  are fsynced, renamed over the target, and the folder is fsynced, so a
  reader sees the old file or the new one, never half of one, and a crash
  leaves at most a stray temporary file (``.<name>.<random>.tmp``, skipped by
  ``list``);
- ``lock(name)`` is an exclusive ``flock(2)`` on ``locks/<name>.lock``: the
  process that would issue a certificate takes it, and a second one waits,
  then finds the certificate already stored. The kernel drops the lock when
  its holder dies, so a crash never leaves a stale lock.

Folders are created 0700 and private keys written 0600: the tree holds
private keys, and nobody else on the machine should read them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastsnake.errors import FatalError

DIR_MODE = 0o700
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
TEMP_SUFFIX = ".tmp"
# The local CA's id (pki/authorities/local) and its issuer key
# (certificates/local), as Caddy names them.
LOCAL_CA_ID = "local"
LOCAL_ISSUER_KEY = "local"
# How often a lock with a timeout tries again: flock(2) itself cannot time out.
LOCK_POLL_S = 0.05


class StorageError(FatalError):
    """The data directory cannot be read or written."""


class LockTimeout(StorageError):
    """Another process held a storage lock for longer than the caller waits."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/fastsnake``, else ``~/.local/share/fastsnake``
    (the XDG base directory rule Caddy follows for ``$XDG_DATA_HOME/caddy``)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "fastsnake"
    return Path.home() / ".local" / "share" / "fastsnake"


_UNSAFE = re.compile(r"[^\w@.-]", re.ASCII)


def safe_key(text: str) -> str:
    """A name made safe as one path component, as CertMagic's safeKey does:
    lower case, ``*`` → ``wildcard_``, ``:`` → ``-``, ``..`` dropped (no
    climbing out), then anything but word characters, ``@``, ``.`` and ``-``
    dropped. ``*.example.com`` → ``wildcard_.example.com``."""
    text = text.strip().lower()
    for old, new in ((" ", "_"), ("+", "_plus_"), ("*", "wildcard_"), (":", "-"),
                     ("..", "")):
        text = text.replace(old, new)
    return _UNSAFE.sub("", text)


def issuer_key(directory_url: str) -> str:
    """An ACME directory URL as a folder name, Caddy's way: the host, then the
    path with its slashes as hyphens.
    ``https://acme-v02.api.letsencrypt.org/directory`` →
    ``acme-v02.api.letsencrypt.org-directory``."""
    parts = urlsplit(directory_url)
    host = parts.netloc.rpartition("@")[2]  # Go's URL.Host: no user info
    if not host:
        return safe_key(directory_url)
    path = unquote(parts.path).replace("/", "-").replace("\\", "-").strip("-")
    return safe_key(f"{host}-{path}" if path else host)


def cert_key(issuer: str, name: str, ext: str) -> str:
    """``certificates/<issuer>/<name>/<name>.<ext>`` (ext: crt, key or json)."""
    site = safe_key(name)
    return f"certificates/{safe_key(issuer)}/{site}/{site}.{ext}"


def ca_key(ca_id: str, file: str) -> str:
    """``pki/authorities/<ca_id>/<file>`` (root.crt, intermediate.key...)."""
    return f"pki/authorities/{safe_key(ca_id)}/{file}"


def account_prefix(issuer: str, email: str = "") -> str:
    """``acme/<issuer>/users/<email or default>`` for an ACME account's files."""
    return f"acme/{safe_key(issuer)}/users/{safe_key(email) or 'default'}"


class Storage:
    """Files under one root, named by ``/``-separated relative keys."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"Storage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file a key names; a key that would leave the root is refused."""
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if not parts or ".." in parts or any(os.sep in p or "\0" in p for p in parts):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root.joinpath(*parts)

    def _make_dirs(self, folder: Path) -> None:
        """Create folder and its parents 0700 (regardless of the umask)."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            if folder == folder.parent:
                break
            folder = folder.parent
        for created in reversed(missing):
            try:
                created.mkdir(mode=DIR_MODE)
            except FileExistsError:
                continue  # another process made it first
            os.chmod(created, DIR_MODE)  # mkdir's mode passes through the umask

    def write(self, key: str, data: bytes, private: bool = False) -> None:
        """Replace the file atomically; ``private`` makes it 0600 (keys)."""
        target = self.path(key)
        try:
            self._make_dirs(target.parent)
            fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX,
                                        dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    os.fchmod(f.fileno(), PRIVATE_MODE if private else PUBLIC_MODE)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._sync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc

    @staticmethod
    def _sync_dir(folder: Path) -> None:
        """Make the rename itself durable: fsync the folder that holds it."""
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, key: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""
        target = self.path(key)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {target}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> bool:
        """Remove a file, or a folder and all under it; False if nothing was there."""
        target = self.path(key)
        try:
            if target.is_dir() and not target.is_symlink():
                for dirpath, dirnames, filenames in os.walk(target, topdown=False):
                    for name in filenames:
                        os.unlink(os.path.join(dirpath, name))
                    for name in dirnames:
                        os.rmdir(os.path.join(dirpath, name))
                os.rmdir(target)
            else:
                target.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {target}: {exc.strerror or exc}") from exc
        return True

    def list(self, prefix: str = "") -> list[str]:
        """The keys of the files under a folder key (all of them for ""),
        sorted; temporary files of writes in progress are left out."""
        folder = self.path(prefix) if prefix.strip("/.") else self.root
        found = []
        for dirpath, _, filenames in os.walk(folder):
            for name in filenames:
                if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                    continue
                found.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(found)

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float | None = None) -> Iterator[None]:
        """Hold ``locks/<name>.lock`` exclusively, across processes.

        Waits for it as long as another process holds it: forever with no
        timeout, else up to ``timeout`` seconds, then raises LockTimeout.
        The lock files stay behind: removing one while another process waits
        on it would let a third lock a new file of the same name.
        """
        target = self.path(f"locks/{safe_key(name)}.lock")
        try:
            self._make_dirs(target.parent)
            fd = os.open(target, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                         PRIVATE_MODE)
        except OSError as exc:
            raise StorageError(f"cannot open {target}: {exc.strerror or exc}") from exc
        try:
            self._acquire(fd, name, timeout)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def _acquire(fd: int, name: str, timeout: float | None) -> None:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockTimeout(f"the storage lock {name!r} is still held by another "
                                  f"process after {timeout:g} s")
            time.sleep(LOCK_POLL_S)
