"""file_server: requests in, FileResponses out, over real files in a
temporary directory. (The Caddyfile side is in
tests/unit/config/test_config_files.py.)

The traversal tables are the security boundary: every attempt must end in a
404 or 400 and never name a file outside the root.
"""

from __future__ import annotations

import json
import os
import sys
from email.utils import formatdate
from pathlib import Path

import pytest

from fastsnake.config.files import FileServerSpec
from fastsnake.files.server import FileServer, clean_path, content_type, etag_for
from tests.files_helpers import (
    ETAG,
    HELLO,
    LAST_MODIFIED,
    MTIME,
    assert_inside,
    get,
    hdr,
    make_site,
    server,
    write,
)

symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The tree :func:`make_site` builds in ``tmp_path``; its root."""
    return make_site(tmp_path)


# -- traversal: nothing outside the root, ever -----------------------------------

TRAVERSALS = [
    "/../outside/passwd", "/..%2foutside%2fpasswd", "/%2e%2e/outside/passwd",
    "/%2E%2E/%2E%2E/outside/passwd", "/dir/../../outside/passwd",
    "/dir/%2e%2e/%2e%2e/outside/passwd",
    "/%252e%252e/outside/passwd", "/%25%32%65%25%32%65/outside/passwd", "/..\\outside\\passwd",
    "/%2e%2e%5coutside%5cpasswd", "//../outside/passwd", "/./../outside/passwd",
    "/....//outside/passwd", "/..;/outside/passwd", "/%c0%ae%c0%ae/outside/passwd",
    "/root-evil/x.txt", "/../root-evil/x.txt", "..", "../outside/passwd",
    "/%2e%2e", "/%2e%2e/", "/.%2e/outside/passwd", "/dir/sub/../../../outside/passwd",
    "/" + "../" * 30 + "outside/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_never_leaves_root(site: Path, path: str) -> None:
    fs = server(site, browse=True, pass_thru=False)
    response = get(fs, path)
    assert_inside(response, site)
    assert response.status in (200, 308, 400, 404)
    assert b"root:x" not in response.body and b"outside" not in response.body
    if response.status == 200:  # clamped to the root: its listing, never outside's
        assert response.path is None and b"hello.txt" in response.body


@pytest.mark.parametrize(("path", "status"), [
    ("/hello.txt%00.html", 400), ("/%00", 400), ("/hello%zz.txt", 400), ("/hello%2.txt", 400),
    ("/hello.txt%", 400),
])
def test_bad_paths_are_400(site: Path, path: str, status: int) -> None:
    response = get(server(site), path)
    assert (response.status, response.path, response.body) == (status, None, b"")


@symlinks
@pytest.mark.parametrize("path", [
    "/link_out", "/dirlink_out/passwd", "/dirlink_out/", "/dirlink_out", "/prefix_out/x.txt",
    "/dirlink_out/index.html",
])
def test_symlinks_out_of_root_are_missing(site: Path, path: str) -> None:
    fs = server(site, browse=True)
    response = get(fs, path)
    assert (response.status, response.path) == (404, None)
    assert fs.respond(b"GET", path.encode(), [], None) is not None
    assert server(site, pass_thru=True).respond(b"GET", path.encode(), [], None) is None


@symlinks
def test_symlinks_inside_root_are_followed(site: Path) -> None:
    fs = server(site)
    response = get(fs, "/link_in")
    assert (response.status, response.length) == (200, len(HELLO))
    assert response.path == os.path.join(os.path.realpath(site), "hello.txt")
    assert hdr(response, "content-type") is None  # the name asked for has no extension
    response = get(fs, "/dirlink_in/")
    assert response.status == 200 and str(response.path).endswith("index.html")


@symlinks
def test_symlink_loop_is_400(site: Path) -> None:
    assert get(server(site), "/loop").status == 400


@symlinks
def test_root_through_a_symlink(site: Path, tmp_path: Path) -> None:
    os.symlink(site, tmp_path / "rootlink")
    fs = FileServer(FileServerSpec(root=str(tmp_path / "rootlink")))
    assert get(fs, "/link_in").status == 200
    assert get(fs, "/link_out").status == 404


def test_windows_components_refused() -> None:
    from fastsnake.files.resolve import BadPath as _Bad

    for bad in ("a\\..\\b", "C:", "file.txt::$DATA", "x.txt.", "x.txt ", "CON", "nul.txt",
                "PROGRA~1", "com1"):
        with pytest.raises(_Bad):
            clean_path("/" + bad, windows=True)
    assert clean_path("/a/./b/../c/", windows=True) == ["a", "c"]
    assert clean_path("/a\\b", windows=False) == ["a\\b"]


# -- files: headers, methods, errors ------------------------------------------


def test_file_headers(site: Path) -> None:
    response = get(server(site), "/hello.txt")
    assert (response.status, response.body) == (200, b"")
    assert (response.path, response.offset, response.length) == (str(site / "hello.txt"), 0, 13)
    assert response.headers == [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"last-modified", LAST_MODIFIED),
        (b"etag", ETAG.encode()),
        (b"vary", b"Accept-Encoding"),
        (b"accept-ranges", b"bytes"),
        (b"content-length", b"13"),
    ]


def test_head_has_headers_and_no_file(site: Path) -> None:
    response = get(server(site), "/hello.txt", method="HEAD")
    assert (response.status, response.path, response.body) == (200, None, b"")
    assert hdr(response, "content-length") == "13" and hdr(response, "etag") == ETAG


@pytest.mark.parametrize(("name", "ctype"), [
    ("a.html", "text/html; charset=utf-8"), ("a.css", "text/css; charset=utf-8"),
    ("a.js", "text/javascript; charset=utf-8"), ("a.json", "application/json"),
    ("a.svg", "image/svg+xml"), ("a.PNG", "image/png"), ("a.wasm", "application/wasm"),
    ("a.txt", "text/plain; charset=utf-8"), ("a.unknownext", None), ("Makefile", None),
])
def test_content_types(name: str, ctype: str | None) -> None:
    assert content_type(name) == (ctype.encode() if ctype else None)


def test_unknown_type_has_no_content_type(site: Path) -> None:
    assert hdr(get(server(site), "/blob.unknownext"), "content-type") is None


def test_etag_format_and_useless_mtimes(site: Path) -> None:
    st = os.stat(site / "hello.txt")
    assert etag_for(st) == ETAG.encode()
    write(site / "epoch.txt", b"e", mtime_ns=1_500_000_000)  # mtime 1s: meaningless (Nix)
    response = get(server(site), "/epoch.txt")
    assert response.status == 200
    assert hdr(response, "etag") is None and hdr(response, "last-modified") is None


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_405(site: Path, method: str) -> None:
    response = get(server(site), "/hello.txt", method=method)
    assert response.status == 405 and hdr(response, "allow") == "GET, HEAD"
    assert get(server(site), "/nope", method=method).status == 404  # missing wins, as Caddy


@pytest.mark.parametrize("path", ["/nope", "/nope/", "/hello.txt/x", "/dir/nope.html"])
def test_missing_is_404_or_pass_thru(site: Path, path: str) -> None:
    response = get(server(site), path)
    assert (response.status, response.headers, response.body) == (
        404, [(b"content-length", b"0")], b"")
    assert server(site, pass_thru=True).respond(b"GET", path.encode(), [], None) is None


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_permission_denied_is_403(site: Path) -> None:
    locked = site / "locked"
    write(locked / "f.txt")
    locked.chmod(0)
    try:
        assert get(server(site), "/locked/f.txt").status == 403
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(("error", "status"), [
    (PermissionError(13, "denied"), 403), (OSError(1, "not permitted"), 403),
    (OSError(36, "name too long"), 400), (OSError(5, "I/O error"), 500),
    (FileNotFoundError(2, "gone"), 404), (NotADirectoryError(20, "not a dir"), 404),
])
def test_stat_errors(site: Path, monkeypatch: pytest.MonkeyPatch, error: OSError,
                     status: int) -> None:
    import errno

    error.errno = {13: errno.EACCES, 1: errno.EPERM, 36: errno.ENAMETOOLONG, 5: errno.EIO,
                   2: errno.ENOENT, 20: errno.ENOTDIR}[error.errno or 0]

    def fail(path: str) -> os.stat_result:
        raise error

    monkeypatch.setattr(os, "lstat", fail)
    assert get(server(site), "/hello.txt").status == status


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_is_not_served(site: Path) -> None:
    os.mkfifo(site / "pipe")
    assert get(server(site), "/pipe").status == 404


def test_encoded_names(site: Path) -> None:
    response = get(server(site), "/a%20b.txt")
    assert response.status == 200 and response.path == str(site / "a b.txt")


def test_root_from_caller_or_cwd(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = FileServer(FileServerSpec(root=None))
    response = fs.respond(b"GET", b"/hello.txt", [], str(site))
    assert response is not None and response.status == 200
    monkeypatch.chdir(site / "dir")
    response = fs.respond(b"GET", b"/index.html", [], None)
    assert response is not None and response.path == str(site / "dir" / "index.html")


def test_status_override(site: Path) -> None:
    fs = server(site, status=404)
    response = get(fs, "/hello.txt", {"If-None-Match": ETAG, "Range": "bytes=0-1"})
    assert (response.status, response.length) == (404, 13)  # §13.2.1: no conditions on errors
    response = get(server(site, status=203), "/hello.txt", {"Range": "bytes=0-1"})
    assert (response.status, response.length) == (206, 2)
    assert get(server(site, status=203), "/hello.txt").status == 203


# -- conditional requests (RFC 9110 §13) ------------------------------------------

OLD = formatdate(MTIME - 60, usegmt=True)
SAME = formatdate(MTIME, usegmt=True)
LATER = formatdate(MTIME + 60, usegmt=True)
WEAK = "W/" + ETAG


@pytest.mark.parametrize(("headers", "method", "status"), [
    ({"If-Match": ETAG}, "GET", 200),
    ({"If-Match": "*"}, "GET", 200),
    ({"If-Match": f'"xyzzy", {ETAG}'}, "GET", 200),
    ({"If-Match": '"xyzzy"'}, "GET", 412),
    ({"If-Match": WEAK}, "GET", 412),  # If-Match uses strong comparison
    ({"If-Match": '"xyzzy"'}, "HEAD", 412),
    ({"If-Unmodified-Since": SAME}, "GET", 200),
    ({"If-Unmodified-Since": LATER}, "GET", 200),
    ({"If-Unmodified-Since": OLD}, "GET", 412),
    ({"If-Unmodified-Since": "not a date"}, "GET", 200),
    ({"If-Match": ETAG, "If-Unmodified-Since": OLD}, "GET", 200),  # If-Match wins (§13.2.2)
    ({"If-None-Match": ETAG}, "GET", 304),
    ({"If-None-Match": WEAK}, "GET", 304),  # weak comparison
    ({"If-None-Match": f'"a", "b", {ETAG}'}, "HEAD", 304),
    ({"If-None-Match": "*"}, "GET", 304),
    ({"If-None-Match": '"xyzzy"'}, "GET", 200),
    ({"If-None-Match": '"xyzzy"', "If-Modified-Since": LATER}, "GET", 200),  # INM wins
    ({"If-Modified-Since": SAME}, "GET", 304),
    ({"If-Modified-Since": LATER}, "GET", 304),
    ({"If-Modified-Since": OLD}, "GET", 200),
    ({"If-Modified-Since": "Sunday, 14-Nov-23 22:13:20 GMT"}, "GET", 304),  # RFC 850
    ({"If-Modified-Since": "Tue Nov 14 22:13:20 2023"}, "GET", 304),  # asctime
    ({"If-Modified-Since": "garbage"}, "GET", 200),
    ({"If-Match": '"xyzzy"', "If-None-Match": ETAG}, "GET", 412),  # 412 first
])
def test_preconditions(site: Path, headers: dict[str, str], method: str, status: int) -> None:
    response = get(server(site), "/hello.txt", headers, method=method)
    assert response.status == status
    if status == 304:
        # §15.4.5; as Go's writeNotModified, Last-Modified goes when there is an ETag
        assert response.headers == [(b"etag", ETAG.encode()), (b"vary", b"Accept-Encoding")]
        assert (response.body, response.path) == (b"", None)
    if status == 412:
        assert (response.body, response.path) == (b"", None)
        assert hdr(response, "content-length") == "0"


def test_304_without_etag_keeps_last_modified(site: Path) -> None:
    write(site / "noetag.txt", b"x", mtime_ns=1_000_000_000)
    response = get(server(site), "/noetag.txt", {"If-None-Match": "*"})
    assert response.status == 304 and response.headers == [(b"vary", b"Accept-Encoding")]


# -- ranges (RFC 9110 §14) ---------------------------------------------------------


@pytest.mark.parametrize(("range_", "status", "offset", "length", "content_range"), [
    ("bytes=0-4", 206, 0, 5, "bytes 0-4/13"),
    ("bytes=7-", 206, 7, 6, "bytes 7-12/13"),
    ("bytes=-3", 206, 10, 3, "bytes 10-12/13"),
    ("bytes=-100", 206, 0, 13, "bytes 0-12/13"),
    ("bytes=5-100", 206, 5, 8, "bytes 5-12/13"),
    ("bytes=12-12", 206, 12, 1, "bytes 12-12/13"),
    ("BYTES = 0-0", 200, 0, 13, None),  # "bytes =" is not the unit "bytes": ignored
    ("Bytes=0-0", 206, 0, 1, "bytes 0-0/13"),  # unit names are case-insensitive (§14.1)
    ("bytes= 1-2 ,", 206, 1, 2, "bytes 1-2/13"),  # list syntax allows OWS and empties
    ("bytes=0-4,5-9", 206, 0, 10, "bytes 0-9/13"),  # touching ranges coalesce
    ("bytes=0-4,2-6", 206, 0, 7, "bytes 0-6/13"),  # overlapping ranges coalesce
    ("bytes=0-0,-1", 200, 0, 13, None),  # two parts: ignored, whole file
    ("bytes=0-1,20-30", 206, 0, 2, "bytes 0-1/13"),  # the unsatisfiable part is dropped
    ("bytes=13-", 416, 0, 0, "bytes */13"),
    ("bytes=100-200", 416, 0, 0, "bytes */13"),
    ("bytes=-0", 416, 0, 0, "bytes */13"),
    ("bytes=5-4", 416, 0, 0, "bytes */13"),  # invalid: last < first
    ("bytes=a-b", 416, 0, 0, "bytes */13"),
    ("bytes=+1-2", 416, 0, 0, "bytes */13"),
    ("bytes=1", 416, 0, 0, "bytes */13"),
    ("bytes=-", 416, 0, 0, "bytes */13"),
    ("bytes=99999999999999999999-", 416, 0, 0, "bytes */13"),
    ("bytes=", 200, 0, 13, None),
    ("items=0-4", 200, 0, 13, None),  # §14.2: an unknown unit MUST be ignored
    ("0-4", 200, 0, 13, None),
])
def test_ranges(site: Path, range_: str, status: int, offset: int, length: int,
                content_range: str | None) -> None:
    response = get(server(site), "/hello.txt", {"Range": range_})
    assert response.status == status
    assert hdr(response, "content-range") == content_range
    if status == 416:
        assert (response.path, hdr(response, "content-length")) == (None, "0")
    else:
        assert (response.offset, response.length) == (offset, length)
        assert hdr(response, "content-length") == str(length)


@pytest.mark.parametrize(("if_range", "partial"), [
    (ETAG, True), (WEAK, False), ('"other"', False), (SAME, True), (LATER, False),
    (OLD, False), ("nonsense", False),
])
def test_if_range(site: Path, if_range: str, partial: bool) -> None:
    response = get(server(site), "/hello.txt", {"Range": "bytes=0-1", "If-Range": if_range})
    assert (response.status, response.length) == ((206, 2) if partial else (200, 13))


def test_range_is_ignored_for_head_and_empty_files(site: Path) -> None:
    response = get(server(site), "/hello.txt", {"Range": "bytes=0-1"}, method="HEAD")
    assert (response.status, hdr(response, "content-length")) == (200, "13")
    response = get(server(site), "/empty.txt", {"Range": "bytes=0-1"})
    assert (response.status, response.length) == (200, 0)


def test_precondition_before_range(site: Path) -> None:
    response = get(server(site), "/hello.txt", {"Range": "bytes=100-", "If-None-Match": ETAG})
    assert response.status == 304


# -- directories: index, canonical redirects, browse ---------------------------


@pytest.mark.parametrize(("path", "kw", "status", "location"), [
    ("/dir", {}, 308, "/dir/"),
    ("/dir/", {}, 200, None),
    ("/dir?x=1&y=%20", {}, 308, "/dir/?x=1&y=%20"),
    ("/dir", {"query": b"a=b"}, 308, "/dir/?a=b"),
    ("/hello.txt/", {}, 308, "/hello.txt"),
    ("/hello.txt/?q", {}, 308, "/hello.txt?q"),
    ("/a%20b.txt/", {}, 308, "/a%20b.txt"),
    ("//dir", {}, 308, "/dir/"),  # never "//dir/": no open redirect
    ("/%2Fevil.com", {}, 404, None),
    ("/list", {}, 308, "/list/"),  # browse redirects too
    # after a rewrite the client's own path is redirected; none if the name changed
    ("/dir", {"original_path": b"/static/dir"}, 308, "/static/dir/"),
    ("/dir", {"original_path": b"/static/other"}, 200, None),
    ("", {"original_path": b"/static"}, 308, "/static/"),  # handle_path stripped it all
    ("/hello.txt/", {"original_path": b"/x/hello.txt/"}, 308, "/x/hello.txt"),
    ("/dir", {"original_path": b"/s/dir?x=1"}, 308, "/s/dir/"),
    ("/dir%3F", {}, 404, None),
    ("/dir?a=%0d%0a", {}, 308, "/dir/?a=%0d%0a"),
])
def test_canonical_uris(site: Path, path: str, kw: dict, status: int,
                        location: str | None) -> None:
    response = get(server(site, browse=True), path, **kw)
    assert response.status == status
    assert hdr(response, "location") == location
    if status == 308:
        assert (response.body, hdr(response, "content-length")) == (b"", "0")


def test_canonical_uris_disabled(site: Path) -> None:
    fs = server(site, disable_canonical_uris=True)
    response = get(fs, "/dir")
    assert response.status == 200 and response.path == str(site / "dir" / "index.html")
    assert hdr(response, "content-type") == "text/html; charset=utf-8"
    assert get(fs, "/hello.txt/").status == 200
    assert get(server(site, disable_canonical_uris=True, browse=True), "/list").status == 308


def test_index_names(site: Path) -> None:
    write(site / "idx" / "home.htm", b"home")
    write(site / "idx" / "index.html" / "notafile", b"")  # a directory is not an index
    fs = server(site, index=("missing.html", "index.html", "home.htm"))
    assert get(fs, "/idx/").path == str(site / "idx" / "home.htm")
    assert get(server(site, index=()), "/dir/").status == 404
    assert get(server(site), "/list/").status == 404  # no index, no browse


def test_redirect_before_405(site: Path) -> None:
    assert get(server(site), "/dir", method="POST").status == 308
    assert get(server(site), "/dir/", method="POST").status == 405


def test_browse_html(site: Path) -> None:
    response = get(server(site, browse=True), "/list/")
    assert response.status == 200 and response.path is None
    assert hdr(response, "content-type") == "text/html; charset=utf-8"
    assert hdr(response, "vary") == "Accept, Accept-Encoding"
    assert hdr(response, "content-length") == str(len(response.body))
    assert hdr(response, "last-modified") == formatdate(MTIME + 1, usegmt=True)  # newest entry
    body = response.body.decode()
    assert "<script>" not in body and "&lt;script&gt;.txt" in body
    assert body.index("zdir/") < body.index("&lt;script&gt;") < body.index("A.txt") \
        < body.index("b.txt")  # dirs first, then by name, case-insensitively
    assert 'href="./%3Cscript%3E.txt"' in body and 'href="../"' in body
    assert "<title>/list/</title>" in body


def test_browse_json(site: Path) -> None:
    fs = server(site, browse=True, hide=(".*",))
    response = get(fs, "/list/", {"Accept": "application/json"})
    assert hdr(response, "content-type") == "application/json; charset=utf-8"
    items = json.loads(response.body)
    names = [i["name"] for i in items]
    expected = ["zdir/", "<script>.txt", "A.txt", "b.txt"]
    if sys.platform != "win32":
        expected.append("zlink_out")
    assert names == expected
    b = items[names.index("b.txt")]
    assert b["size"] == 2 and b["url"] == "./b.txt" and b["is_dir"] is False
    assert b["mod_time"] == "2023-11-14T22:13:21.123456789Z"
    assert items[0]["is_dir"] is True and items[0]["mode"] & (1 << 31)
    if sys.platform != "win32":
        link = items[-1]  # a link out of the root shows as itself, not its target
        assert link["is_symlink"] is True and link["size"] != len(b"root:x:0:0\n")


def test_browse_head_304_and_405(site: Path) -> None:
    fs = server(site, browse=True)
    response = get(fs, "/list/", method="HEAD")
    assert response.status == 200 and response.body == b""
    assert int(hdr(response, "content-length") or 0) > 0
    newest = formatdate(MTIME + 1, usegmt=True)
    assert get(fs, "/list/", {"If-Modified-Since": newest}).status == 304
    assert get(fs, "/list/", {"If-Modified-Since": SAME}).status == 200
    assert get(fs, "/list/", method="DELETE").status == 405


def test_browse_sort_and_limit(site: Path) -> None:
    fs = server(site, browse=True, browse_sort=("size", "desc"), hide=(".*", "zlink_out"))
    items = json.loads(get(fs, "/list/", {"Accept": "application/json"}).body)
    assert [i["name"] for i in items] == ["<script>.txt", "b.txt", "A.txt", "zdir/"]
    fs = server(site, browse=True, browse_file_limit=2)
    assert len(json.loads(get(fs, "/list/", {"Accept": "application/json"}).body)) == 2


def test_browse_root_has_no_parent_link(site: Path) -> None:
    body = get(server(site, browse=True), "/").body.decode()
    assert 'href="../"' not in body and "hello.txt" in body


# -- hide -------------------------------------------------------------------------


@pytest.mark.parametrize(("hide", "path", "status"), [
    ((".git",), "/.git/config", 404),
    ((".git",), "/.git/", 404),
    ((".*",), "/list/.secret", 404),
    (("*.key",), "/secret.key", 404),
    (("*.key",), "/hello.txt", 200),
    (("{root}/dir",), "/dir/", 404),
    (("{root}/dir",), "/dir/sub/a.txt", 404),
    (("{root}/dir",), "/dirlink_in/index.html", 404),  # also after following the link
    (("{root}/di",), "/dir/", 200),  # a prefix hides only whole components
    (("{root}/*/a.txt",), "/dir/a.txt", 404),
    (("{root}/*/a.txt",), "/dir/sub/a.txt", 200),  # "*" never crosses a separator
    (("index.html",), "/dir/", 404),  # the index is hidden, there is no listing
    (("root",), "/hello.txt", 200),  # names match below the root only
])
def test_hide(site: Path, hide: tuple[str, ...], path: str, status: int) -> None:
    if "link" in path and sys.platform == "win32":
        pytest.skip("symlinks")
    hide = tuple(h.replace("{root}", str(site)) for h in hide)
    assert get(server(site, hide=hide), path).status == status


def test_hidden_entries_are_not_listed(site: Path) -> None:
    body = get(server(site, browse=True, hide=(".*", "A.txt")), "/list/").body
    assert b".secret" not in body and b"A.txt" not in body and b"b.txt" in body




# -- precompressed ----------------------------------------------------------------


@pytest.mark.parametrize(("order", "accept", "encoding", "suffix"), [
    (("gzip", "br"), "gzip, br", "gzip", ".gz"),  # equal q: the configured order
    (("br", "gzip"), "gzip, br", "br", ".br"),
    (("gzip", "br"), "gzip;q=0.5, br", "br", ".br"),  # the client's q wins
    (("gzip", "br"), "br;q=0, gzip", "gzip", ".gz"),
    (("gzip", "br"), "identity", None, ""),
    (("gzip", "br"), "*", None, ""),  # as Caddy: "*" names no precompressor
    (("zstd",), "gzip", None, ""),  # the sidecar is not configured
    (("gzip", "br"), "", None, ""),
])
def test_precompressed(site: Path, order: tuple[str, ...], accept: str, encoding: str | None,
                       suffix: str) -> None:
    fs = server(site, precompressed=order)
    response = get(fs, "/page.html", {"Accept-Encoding": accept} if accept else {})
    sent = site / ("page.html" + suffix)
    assert response.path == str(sent) and response.length == sent.stat().st_size
    assert hdr(response, "content-encoding") == encoding
    assert hdr(response, "content-type") == "text/html; charset=utf-8"
    assert hdr(response, "vary") == "Accept-Encoding"
    assert hdr(response, "etag") == (etag_for(sent.stat()) or b"").decode()
    assert hdr(response, "last-modified") == LAST_MODIFIED.decode()


def test_precompressed_missing_sidecar_and_ranges(site: Path) -> None:
    fs = server(site, precompressed=("zstd", "gzip"))
    response = get(fs, "/hello.txt", {"Accept-Encoding": "gzip, zstd"})
    assert response.path == str(site / "hello.txt") and hdr(response, "content-encoding") is None
    response = get(fs, "/zst.txt", {"Accept-Encoding": "zstd", "Range": "bytes=0-3"})
    assert (response.status, response.path, response.length) == (
        206, str(site / "zst.txt.zst"), 4)
    assert hdr(response, "content-range") == "bytes 0-3/10"
    response = get(fs, "/zst.txt", {"Accept-Encoding": "zstd", "Sec-WebSocket-Key": "x"})
    assert hdr(response, "content-encoding") is None


# -- placeholders at request time ---------------------------------------------------


class Req:
    def __init__(self, host: bytes) -> None:
        self.host = host
        self.headers: list[tuple[bytes, bytes]] = []
        self.target = self.path = b"/"
        self.query, self.method = b"", b"GET"


def test_root_placeholder_rendered_per_request(tmp_path: Path) -> None:
    write(tmp_path / "sites" / "a.example" / "x.txt", b"a")
    write(tmp_path / "secret.txt", b"s")
    fs = FileServer(FileServerSpec(root=str(tmp_path / "sites" / "{host}")))
    response = fs.respond(b"GET", b"/x.txt", [], None, request=Req(b"a.example"))
    assert response is not None and response.status == 200
    for host in (b"..", b"", b"."):  # may not climb out, nor be empty (all of sites/)
        response = fs.respond(b"GET", b"/secret.txt", [], None, request=Req(host))
        assert response is not None and response.status == 400
    response = fs.respond(b"GET", b"/a.example/x.txt", [], None)  # no request: empty
    assert response is not None and response.status == 400


def test_dynamic_hide_and_index(tmp_path: Path) -> None:
    write(tmp_path / "a.example.txt", b"a")
    write(tmp_path / "b.txt", b"b")
    write(tmp_path / "d" / "a.example.html", b"idx")
    fs = FileServer(FileServerSpec(root=str(tmp_path), hide=("{host}.txt",),
                                   index=("{host}.html",)))
    request = Req(b"a.example")
    assert get(fs, "/a.example.txt", request=request).status == 404
    assert get(fs, "/b.txt", request=request).status == 200
    assert get(fs, "/d/", request=request).path == str(tmp_path / "d" / "a.example.html")
