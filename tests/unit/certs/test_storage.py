"""The data directory: Caddy's layout, permissions, atomic writes, and locks
between real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastsnake.certs.storage import (
    LockTimeout,
    Storage,
    StorageError,
    account_prefix,
    ca_key,
    cert_key,
    default_data_dir,
    issuer_key,
    safe_key,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "fastsnake"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "fastsnake"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == tmp_path / ".local" / "share" / "fastsnake"


@pytest.mark.parametrize(("text", "key"), [
    ("example.com", "example.com"),
    ("*.Example.COM", "wildcard_.example.com"),
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "--1"),
    ("a+b@example.com", "a_plus_b@example.com"),
    ("../../etc/passwd", "etcpasswd"),
    (" spaced name ", "spaced_name"),
])
def test_safe_key(text: str, key: str) -> None:
    assert safe_key(text) == key


@pytest.mark.parametrize(("url", "key"), [
    ("https://acme-v02.api.letsencrypt.org/directory", "acme-v02.api.letsencrypt.org-directory"),
    ("https://acme-staging-v02.api.letsencrypt.org/directory",
     "acme-staging-v02.api.letsencrypt.org-directory"),
    ("https://acme.zerossl.com/v2/DV90", "acme.zerossl.com-v2-dv90"),
    ("https://localhost:14000/dir", "localhost-14000-dir"),
    ("https://ca.example/", "ca.example"),
    ("https://user:pw@ca.example/acme%2Fdir", "ca.example-acme-dir"),
    ("local", "local"),
])
def test_issuer_key(url: str, key: str) -> None:
    assert issuer_key(url) == key


def test_caddy_layout_keys() -> None:
    assert cert_key("local", "*.example.com", "crt") == (
        "certificates/local/wildcard_.example.com/wildcard_.example.com.crt")
    assert cert_key("acme-v02.api.letsencrypt.org-directory", "Example.com", "json") == (
        "certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.json")
    assert ca_key("local", "root.crt") == "pki/authorities/local/root.crt"
    assert account_prefix("acme.test-dir", "Me@Example.com") == (
        "acme/acme.test-dir/users/me@example.com")
    assert account_prefix("acme.test-dir") == "acme/acme.test-dir/users/default"


def test_write_read_list_delete(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "data")
    assert storage.read("certificates/local/a/a.crt") is None
    assert not storage.exists("certificates/local/a/a.crt")
    storage.write("certificates/local/a/a.crt", b"cert")
    storage.write("certificates/local/a/a.key", b"key", private=True)
    storage.write("acme/ca/users/default/default.json", b"{}")
    storage.write("certificates/local/a/a.crt", b"cert 2")  # replaces
    assert storage.read("certificates/local/a/a.crt") == b"cert 2"
    assert storage.exists("certificates/local/a/a.key")
    assert storage.list("certificates") == [
        "certificates/local/a/a.crt", "certificates/local/a/a.key"]
    assert storage.list() == [
        "acme/ca/users/default/default.json",
        "certificates/local/a/a.crt", "certificates/local/a/a.key"]
    assert storage.list("nothing/here") == []
    assert storage.delete("certificates/local/a/a.key")
    assert not storage.delete("certificates/local/a/a.key")
    assert storage.delete("certificates/local")  # a folder and all under it
    assert storage.list("certificates") == []
    assert storage.read("acme/ca/users/default/default.json") == b"{}"


def test_permissions_whatever_the_umask(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "data")
    old = os.umask(0)  # the most permissive umask must not leak keys
    try:
        storage.write("pki/authorities/local/root.key", b"secret", private=True)
        storage.write("pki/authorities/local/root.crt", b"public")
        with storage.lock("issue_cert_example.com"):
            pass
    finally:
        os.umask(old)
    root = tmp_path / "data"
    for folder in (root, root / "pki", root / "pki/authorities",
                   root / "pki/authorities/local", root / "locks"):
        assert mode(folder) == 0o700, folder
    assert mode(root / "pki/authorities/local/root.key") == 0o600
    assert mode(root / "pki/authorities/local/root.crt") == 0o644
    assert mode(root / "locks/issue_cert_example.com.lock") == 0o600


@pytest.mark.parametrize("key", ["../outside", "a/../../b", "", "/", "a/./../../x"])
def test_keys_stay_inside_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        Storage(tmp_path).write(key, b"x")


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    """A write cut short by a real error (the file size limit, EFBIG, in a
    child process) leaves the previous content whole and no temporary file."""
    storage = Storage(tmp_path)
    storage.write("certificates/local/a/a.crt", b"old content")
    child = textwrap.dedent(f"""
        import resource, signal, sys
        from fastsnake.certs.storage import Storage, StorageError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            Storage({str(tmp_path)!r}).write("certificates/local/a/a.crt", b"n" * 100_000)
        except StorageError as exc:
            print(exc)
            sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, done.stderr
    assert "cannot write" in done.stdout and "a.crt" in done.stdout
    assert storage.read("certificates/local/a/a.crt") == b"old content"
    assert os.listdir(tmp_path / "certificates/local/a") == ["a.crt"]


def test_list_skips_temporary_files_of_writes_in_progress(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.write("certificates/local/a/a.crt", b"x")
    (tmp_path / "certificates/local/a/.a.crt.k2j4h.tmp").write_bytes(b"half")
    assert storage.list() == ["certificates/local/a/a.crt"]


def test_storage_errors_are_fatal_errors_with_the_path(tmp_path: Path) -> None:
    (tmp_path / "certificates").write_bytes(b"a file where a folder should be")
    with pytest.raises(StorageError, match="cannot write .*certificates"):
        Storage(tmp_path).write("certificates/local/a/a.crt", b"x")


# -- locks between processes --------------------------------------------------

def child(root: Path, body: str) -> subprocess.Popen[str]:
    """A Python process with ``storage`` open on root, running body."""
    code = ("import sys\nfrom fastsnake.certs.storage import Storage, LockTimeout\n"
            f"storage = Storage({str(root)!r})\n" + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


TRY_LOCK = """
try:
    with storage.lock("issue_cert_example.com", timeout=0.2):
        print("got it")
except LockTimeout as exc:
    print("timeout:", exc)
"""


def test_a_lock_held_by_one_process_keeps_another_out(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    with storage.lock("issue_cert_example.com"):
        out, err = child(tmp_path, TRY_LOCK).communicate(timeout=60)
        assert out.startswith("timeout: the storage lock 'issue_cert_example.com'"), err
        # Another name is another lock.
        out, err = child(tmp_path, TRY_LOCK.replace("example.com", "other.com")
                         ).communicate(timeout=60)
        assert out == "got it\n", err
    out, err = child(tmp_path, TRY_LOCK).communicate(timeout=60)
    assert out == "got it\n", err


def test_a_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    holder = child(tmp_path, """
        with storage.lock("issue_cert_example.com"):
            print("locked", flush=True)
            import time
            time.sleep(3600)  # until killed
    """)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with pytest.raises(LockTimeout):
        with Storage(tmp_path).lock("issue_cert_example.com", timeout=0.1):
            pass
    holder.kill()
    holder.communicate(timeout=60)
    with Storage(tmp_path).lock("issue_cert_example.com", timeout=30):
        pass


ISSUE_ONCE = """
key = "certificates/local/example.com/example.com.crt"
print("waiting", flush=True)
with storage.lock("issue_cert_example.com"):
    if storage.exists(key):
        print("reused", storage.read(key).decode())
    else:
        import os
        storage.write(key, f"issued by {os.getpid()}".encode())
        print("issued")
"""


def test_the_second_process_waits_then_finds_the_certificate(tmp_path: Path) -> None:
    """Two processes that both want example.com's certificate: while the lock
    is held both wait; released, one issues and the other reuses its work."""
    storage = Storage(tmp_path)
    with storage.lock("issue_cert_example.com"):
        first, second = child(tmp_path, ISSUE_ONCE), child(tmp_path, ISSUE_ONCE)
        for proc in (first, second):
            assert proc.stdout is not None and proc.stdout.readline() == "waiting\n"
        assert not storage.exists("certificates/local/example.com/example.com.crt")
    outs = [proc.communicate(timeout=60)[0] for proc in (first, second)]
    assert sorted(out.split()[0] for out in outs) == ["issued", "reused"], outs
    issuer = first if outs[0].startswith("issued") else second
    assert f"reused issued by {issuer.pid}\n" in outs
