"""Find llhttp's C sources for the build, never from this repository.

llhttp's release C files (api.c, http.c, llhttp.c, llhttp.h) ship in the
pinned ``llhttp`` source distribution on the package index (pyllhttp's sdist,
MIT). The build downloads it with pip, checks its sha256, caches it, and
unpacks its ``lib/`` folder. ``FASTSNAKE_LLHTTP_SRC`` (or ``build_ext
--llhttp-src``) names a local folder holding those files instead, for offline
and distribution builds.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

LLHTTP_SDIST_VERSION = "9.3.0.0"
LLHTTP_SDIST_NAME = f"llhttp-{LLHTTP_SDIST_VERSION}.tar.gz"
LLHTTP_SDIST_SHA256 = "0d989363e7fb6f270b9d49956e7a3945c26778f8c70a166815264309ac6a8295"
LLHTTP_FILES = ("api.c", "http.c", "llhttp.c", "llhttp.h")


def cache_dir() -> pathlib.Path:
    explicit = os.environ.get("FASTSNAKE_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "fastsnake-build"


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def check_source_dir(folder: pathlib.Path) -> pathlib.Path:
    missing = [name for name in LLHTTP_FILES if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"llhttp source folder {folder} lacks {', '.join(missing)}")
    return folder


def download_sdist(target: pathlib.Path) -> None:
    """Fetch the pinned sdist with pip, the ordinary package client."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--no-build-isolation", "--disable-pip-version-check",
               "-d", tmp, f"llhttp=={LLHTTP_SDIST_VERSION}"]
        try:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"could not download llhttp=={LLHTTP_SDIST_VERSION} with pip ({exc}); "
                "set FASTSNAKE_LLHTTP_SRC to a folder with llhttp's api.c, http.c, "
                "llhttp.c and llhttp.h") from exc
        shutil.move(os.path.join(tmp, LLHTTP_SDIST_NAME), target)


def fetched_source_dir() -> pathlib.Path:
    """Return a folder with llhttp's C files, downloading and checking once."""
    cache = cache_dir()
    unpacked = cache / f"llhttp-{LLHTTP_SDIST_VERSION}" / "lib"
    if unpacked.is_dir() and all((unpacked / n).is_file() for n in LLHTTP_FILES):
        return unpacked
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / LLHTTP_SDIST_NAME
    if not archive.is_file():
        download_sdist(archive)
    actual = sha256_of(archive)
    if actual != LLHTTP_SDIST_SHA256:
        archive.unlink()
        raise SystemExit(f"{LLHTTP_SDIST_NAME}: sha256 {actual} does not match the pinned "
                         f"{LLHTTP_SDIST_SHA256}; refusing to build with it")
    with tarfile.open(archive) as tar:
        prefix = f"llhttp-{LLHTTP_SDIST_VERSION}/lib/"
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):] in LLHTTP_FILES]
        for member in members:
            member.name = member.name[len(prefix):]
            tar.extract(member, unpacked)
    return check_source_dir(unpacked)


def llhttp_source_dir(explicit: str | None = None) -> pathlib.Path:
    folder = explicit or os.environ.get("FASTSNAKE_LLHTTP_SRC")
    if folder:
        return check_source_dir(pathlib.Path(folder))
    return fetched_source_dir()
