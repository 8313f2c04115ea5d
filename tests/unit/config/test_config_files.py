"""file_server, root and hide globs in the Caddyfile: segments in, specs or
exact errors out (fastsnake.config.files). Serving is in
tests/unit/files/test_files.py.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from fastsnake.caddyfile import parse
from fastsnake.config.files import FileServerSpec, compile_glob, parse_file_server, parse_root
from fastsnake.errors import CaddyfileError
from fastsnake.files.server import FileServer
from tests.files_helpers import get, write

# -- hide globs (Go's filepath.Match) ----------------------------------------------


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    ("*.txt", "a.txt", True), ("*.txt", "a/b.txt", False), ("a?c", "abc", True),
    ("[a-c]x", "bx", True), ("[^a-c]x", "dx", True), ("[^a-c]x", "ax", False),
    ("\\*", "*", True), ("\\*", "a", False), ("[!a]", "!", True),
])
def test_glob_is_go_filepath_match(pattern: str, text: str, matches: bool) -> None:
    assert bool(compile_glob(pattern, "/").fullmatch(text)) is matches


@pytest.mark.parametrize("pattern", ["[", "[a-", "a\\", "[z-a]", "[]"])
def test_malformed_globs(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_glob(pattern, "/")


# -- parsing ----------------------------------------------------------------------


def segment(tmp_path: Path, body: str, index: int = 0):  # type: ignore[no-untyped-def]
    caddyfile = parse(":8080 {\n" + body + "\n}\n", str(tmp_path / "Caddyfile"))
    return caddyfile.server_blocks[0].segments[index]


def spec_of(tmp_path: Path, body: str) -> FileServerSpec:
    return parse_file_server(segment(tmp_path, body), str(tmp_path))


def error_of(tmp_path: Path, body: str, parser=parse_file_server) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CaddyfileError) as info:
        parser(segment(tmp_path, body), str(tmp_path))
    return str(info.value).replace(str(tmp_path), "<dir>")


def test_parse_minimal(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "file_server")
    assert spec == FileServerSpec(root=None, hide=(str(tmp_path / "Caddyfile"),),
                                  location=f"{tmp_path / 'Caddyfile'}:2")
    assert spec_of(tmp_path, "file_server browse").browse is True


def test_parse_everything(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, """file_server {
        root public
        hide .git *.key
        hide ./private /abs/secret
        index home.html index.htm
        browse {
            sort size desc
            file_limit 50
        }
        precompressed zstd gzip
        status 404
        disable_canonical_uris
        pass_thru
    }""")
    assert spec == FileServerSpec(
        root=str(tmp_path / "public"),
        index=("home.html", "index.htm"),
        hide=(".git", "*.key", str(tmp_path / "private"), "/abs/secret",
              str(tmp_path / "Caddyfile")),
        browse=True, precompressed=("zstd", "gzip"), status=404, pass_thru=True,
        disable_canonical_uris=True, location=f"{tmp_path / 'Caddyfile'}:2",
        browse_sort=("size", "desc"), browse_file_limit=50)


def test_parse_defaults_and_placeholders(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "file_server {\n precompressed\n root /srv/{host}\n}")
    assert spec.precompressed == ("br", "zstd", "gzip") and spec.root == "/srv/{host}"
    assert spec_of(tmp_path, "file_server {\nroot {env.SITE}/x\n}").root == "{env.SITE}/x"
    assert spec_of(tmp_path, "file_server {\nroot sites/{host}\n}").root == str(
        tmp_path / "sites" / "{host}")


@pytest.mark.parametrize(("body", "message"), [
    ("file_server {\n fs s3\n}", "3: file_server 'fs' is not supported by fastsnake"),
    ("file_server {\n browse tpl.html\n}",
     "3: file_server browse template 'tpl.html' is not supported by fastsnake"),
    ("file_server {\n bogus 1\n}", "3: unknown file_server subdirective 'bogus'"),
    ("file_server list", "2: unexpected argument 'list': file_server takes only 'browse' "
     "(and a matcher before it)"),
    ("file_server browse browse", "2: unexpected argument 'browse': file_server takes only "
     "'browse' (and a matcher before it)"),
    ("file_server browse {\n browse\n}", "3: browsing is already configured"),
    ("file_server {\n root\n}", "3: wrong argument count or unexpected line ending after "
     "'root'"),
    ("file_server {\n root a b\n}", "3: wrong argument count or unexpected line ending after "
     "'b'"),
    ("file_server {\n root /srv/{nope}\n}", "3: unknown placeholder {nope}"),
    ("file_server {\n hide\n}", "3: file_server hide needs at least one value"),
    ("file_server {\n hide [x\n}", "3: invalid hide pattern '[x': unclosed '['"),
    ("file_server {\n index\n}", "3: file_server index needs at least one value"),
    ("file_server {\n index ../x.html\n}",
     "3: index file '../x.html' must be a file name inside the directory"),
    ("file_server {\n precompressed deflate\n}",
     "3: unknown precompressed format 'deflate': use gzip, br or zstd"),
    ("file_server {\n precompressed gzip gzip\n}",
     "3: precompressed format 'gzip' is listed twice"),
    ("file_server {\n status ok\n}",
     "3: file_server status must be an HTTP status code such as 404, got 'ok'"),
    ("file_server {\n status 99\n}",
     "3: file_server status must be an HTTP status code such as 404, got '99'"),
    ("file_server {\n pass_thru yes\n}",
     "3: wrong argument count or unexpected line ending after 'yes'"),
    ("file_server {\n disable_canonical_uris {\n  x\n }\n}",
     "3: unexpected block after 'disable_canonical_uris'"),
    ("file_server {\n status 404\n status 500\n}",
     "4: duplicate file_server subdirective 'status' (already set at line 3)"),
    ("file_server {\n etag_file_extensions .etag\n}",
     "3: file_server 'etag_file_extensions' is not supported by fastsnake"),
    ("file_server {\n browse {\n  reveal_symlinks\n }\n}",
     "4: file_server browse 'reveal_symlinks' is not supported by fastsnake"),
    ("file_server {\n browse {\n  sort sideways\n }\n}",
     "4: unknown sort option 'sideways': the first must be one of name, namedirfirst, size, "
     "time"),
    ("file_server {\n browse {\n  sort name up\n }\n}",
     "4: unknown sort option 'up': the second must be asc or desc"),
    ("file_server {\n browse {\n  file_limit 0\n }\n}",
     "4: file_limit must be a positive integer, got '0'"),
    ("file_server {\n browse {\n  colour blue\n }\n}",
     "4: unknown file_server browse subdirective 'colour'"),
])
def test_parse_errors(tmp_path: Path, body: str, message: str) -> None:
    assert error_of(tmp_path, body) == f"<dir>/Caddyfile:{message}"


def test_parse_hides_imported_caddyfile(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "files.caddy").write_text("file_server\n")
    spec = spec_of(tmp_path, "import sites/files.caddy")
    assert spec.hide == (str(tmp_path / "sites" / "files.caddy"), str(tmp_path / "Caddyfile"))
    assert spec.location == f"{tmp_path / 'sites' / 'files.caddy'}:1"


def test_caddyfile_is_hidden_when_served(tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text("x")
    write(tmp_path / "ok.txt")
    fs = FileServer(spec_of(tmp_path, f"file_server {{\n root {tmp_path}\n}}"))
    assert get(fs, "/Caddyfile").status == 404
    assert get(fs, "/ok.txt").status == 200


def test_spec_is_frozen_plain_data(tmp_path: Path) -> None:
    import pickle

    spec = spec_of(tmp_path, "file_server browse")
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.browse = False  # type: ignore[misc]


@pytest.mark.parametrize(("body", "expected"), [
    ("root /srv/www", "/srv/www"),
    ("root public", "{dir}/public"),
    ("root ../up/./x", "{parent}/up/x"),
    ("root /srv/{host}", "/srv/{host}"),
    ("root {env.HOME}/www", "{env.HOME}/www"),
    ("root sites/{labels.1}", "{dir}/sites/{labels.1}"),
])
def test_parse_root(tmp_path: Path, body: str, expected: str) -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX paths")
    result = parse_root(segment(tmp_path, body), str(tmp_path))
    assert result == expected.replace("{dir}", str(tmp_path)).replace(
        "{parent}", str(tmp_path.parent))


@pytest.mark.parametrize(("body", "message"), [
    ("root", "2: root needs a path, such as 'root * /srv/www'"),
    ("root /a /b", "2: too many arguments for root: expected one path, got 2 (/a /b)"),
    ("root /a {\n x\n}", "2: unexpected block after '/a'"),
    ("root /srv/{bogus}", "2: unknown placeholder {bogus}"),
])
def test_parse_root_errors(tmp_path: Path, body: str, message: str) -> None:
    assert error_of(tmp_path, body, parse_root) == f"<dir>/Caddyfile:{message}"
