"""Find llhttp's C sources for the build, never from this repository.

llhttp's release C files (api.c, http.c, llhttp.c, llhttp.h) ship in the
pinned ``llhttp`` source distribution on the package index (pyllhttp's sdist,
MIT). The build downloads it with pip, checks its sha256, caches it, and
unpacks its ``lib/`` folder. ``FASTSNAKE_LLHTTP_SRC`` (or ``build_ext
--llhttp-src``) names a local folder holding those files instead, for offline
and distribution builds.

``python -m buildtools.llhttp_source --fetch DIR`` does the download and the
check once, ahead of a build (wheel builds in CI and containers): it writes
the four files and a ``SHA256SUMS`` list into DIR, and a build pointed at DIR
with ``FASTSNAKE_LLHTTP_SRC`` checks the files against that list.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
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
# Written by --fetch next to the files: one "sha256  name" line per file, and
# the sdist they came from, so a build can tell the folder was not altered.
SUMS_NAME = "SHA256SUMS"


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
        raise SystemExit(f"llhttp source folder {folder.resolve()} lacks {', '.join(missing)}")
    if (folder / SUMS_NAME).is_file():
        problem = sums_problem(folder)
        if problem:
            raise SystemExit(f"llhttp source folder {folder.resolve()}: {problem}; "
                             "fetch it again with python -m buildtools.llhttp_source --fetch")
    return folder


def read_sums(folder: pathlib.Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (folder / SUMS_NAME).read_text(encoding="ascii").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            sums[name] = digest
    return sums


def sums_problem(folder: pathlib.Path) -> str | None:
    """What is wrong with a fetched folder, checked against its SHA256SUMS."""
    sums = read_sums(folder)
    if sums.get(LLHTTP_SDIST_NAME) != LLHTTP_SDIST_SHA256:
        return f"{SUMS_NAME} names another sdist than the pinned {LLHTTP_SDIST_NAME}"
    for name in LLHTTP_FILES:
        if name not in sums:
            return f"{SUMS_NAME} lacks {name}"
        if not (folder / name).is_file() or sha256_of(folder / name) != sums[name]:
            return f"{name} does not match its sha256 in {SUMS_NAME}"
    return None


def download_sdist(target: pathlib.Path) -> None:
    """Fetch the pinned sdist with pip, the ordinary package client."""
    # pip reads the sdist's metadata with its setup.py, so it needs setuptools:
    # the one at hand inside a build, else an isolated one (a bare CI Python,
    # the pre-fetch run by itself).
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               *isolation, "--disable-pip-version-check",
               "-d", tmp, f"llhttp=={LLHTTP_SDIST_VERSION}"]
        try:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"could not download llhttp=={LLHTTP_SDIST_VERSION} with pip ({exc}); "
                "set FASTSNAKE_LLHTTP_SRC to a folder with llhttp's api.c, http.c, "
                "llhttp.c and llhttp.h") from exc
        shutil.move(os.path.join(tmp, LLHTTP_SDIST_NAME), target)


def checked_archive() -> pathlib.Path:
    """The pinned sdist in the cache, downloaded if missing, its sha256 checked."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / LLHTTP_SDIST_NAME
    if not archive.is_file():
        download_sdist(archive)
    actual = sha256_of(archive)
    if actual != LLHTTP_SDIST_SHA256:
        archive.unlink()
        raise SystemExit(f"{LLHTTP_SDIST_NAME}: sha256 {actual} does not match the pinned "
                         f"{LLHTTP_SDIST_SHA256}; refusing to build with it")
    return archive


def fetched_source_dir() -> pathlib.Path:
    """Return a folder with llhttp's C files, downloading and checking once."""
    unpacked = cache_dir() / f"llhttp-{LLHTTP_SDIST_VERSION}" / "lib"
    if unpacked.is_dir() and all((unpacked / n).is_file() for n in LLHTTP_FILES):
        return unpacked
    archive = checked_archive()
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


def fetch_into(target: pathlib.Path) -> pathlib.Path:
    """Put llhttp's files and their SHA256SUMS into target, from the checked
    sdist. A target that already holds them, matching its sums, is kept as
    it is (no download), so running this again is cheap."""
    if target.is_dir() and (target / SUMS_NAME).is_file() and sums_problem(target) is None:
        return target
    archive = checked_archive()
    prefix = f"llhttp-{LLHTTP_SDIST_VERSION}/lib/"
    contents: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name[len(prefix):] if member.name.startswith(prefix) else None
            if name in LLHTTP_FILES and member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                contents[name] = extracted.read()
    missing = [name for name in LLHTTP_FILES if name not in contents]
    if missing:
        raise SystemExit(f"{LLHTTP_SDIST_NAME} lacks lib/{', lib/'.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    lines = [f"{LLHTTP_SDIST_SHA256}  {LLHTTP_SDIST_NAME}"]
    for name in LLHTTP_FILES:
        (target / name).write_bytes(contents[name])
        lines.append(f"{hashlib.sha256(contents[name]).hexdigest()}  {name}")
    (target / SUMS_NAME).write_text("\n".join(lines) + "\n", encoding="ascii")
    return check_source_dir(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildtools.llhttp_source",
        description=f"Fetch llhttp's C sources from the pinned llhttp=={LLHTTP_SDIST_VERSION} "
                    "sdist (sha256 checked) for FASTSNAKE_LLHTTP_SRC.")
    parser.add_argument("--fetch", metavar="DIR", required=True, type=pathlib.Path,
                        help="folder to write api.c, http.c, llhttp.c, llhttp.h and "
                             f"{SUMS_NAME} into")
    args = parser.parse_args(argv)
    folder = fetch_into(args.fetch).resolve()
    print(f"llhttp {LLHTTP_SDIST_VERSION} sources checked in {folder}", file=sys.stderr)
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
