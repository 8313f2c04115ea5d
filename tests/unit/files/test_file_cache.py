"""The file_server cache: a hit only while every lstat its answer rested on
answers the same (fastsnake.files.server, FileChecks/FileCache in _respond).

Requests are real HttpRequests made by the real parser; files are real files
in a temporary directory, changed the ways a deploy or an editor changes
them. Each test asks twice: the first request fills the cache, the second
must be a hit, and after a change the next one must be a miss that serves
what is on disk now.
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from fastsnake._exchange import HttpRequest, PreparedHead
from fastsnake._respond import (
    CachedFileHandler,
    FileCache,
    FileChecks,
    FileHandler,
    OpenFile,
    RespondHandler,
    original_tail,
)
from fastsnake.files.server import SENDFILE_MIN, SMALL_FILE_MAX, FileServer
from tests.files_helpers import MTIME_NS, server, write
from tests.protocol_harness import capture_requests

posix = pytest.mark.skipif(sys.platform == "win32", reason="the cache is off on Windows")
pytestmark = posix


def request(target: str, *headers: str, method: str = "GET") -> HttpRequest:
    lines = [f"{method} {target} HTTP/1.1", "Host: example.com", *headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    (parsed,) = capture_requests(raw, tcp=False)
    return parsed


def ask(fs: FileServer, target: str, *headers: str, method: str = "GET") -> tuple[str, Any]:
    """("hit", handler) from the cache, or ("miss", FileResponse) as the router asks."""
    req = request(target, *headers, method=method)
    handler = fs.cached(req)
    if handler is not None:
        return "hit", handler
    return "miss", fs.respond(req.method, req.path, req.headers, None, query=req.query,
                              original_path=req.target, request=req)


def body_of(kind: str, answer: Any) -> bytes:
    if kind == "hit" and isinstance(answer, RespondHandler):
        return answer.body
    path = answer.path
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root / "a.txt", b"first version\n")
    write(root / "dir" / "b.txt", b"in a folder\n")
    return root


def test_second_request_is_a_hit_with_the_same_answer(site: Path) -> None:
    fs = server(site)
    kind, first = ask(fs, "/a.txt")
    assert kind == "miss" and first.status == 200
    kind, hit = ask(fs, "/a.txt")
    assert kind == "hit" and isinstance(hit, RespondHandler)
    assert hit.body == b"first version\n"
    # The same head, less the Content-Length the connection writes from
    # the body; checked and serialised once, for every hit.
    assert hit.status_line == b"200 OK"
    assert hit.headers == [h for h in first.headers if h[0] != b"content-length"]
    assert (b"content-length", b"14") in first.headers
    assert hit.prepared is not None
    assert hit.prepared.lines.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain")
    # HEAD shares the GET's entry (the connection sends no body for HEAD)
    assert ask(fs, "/a.txt", method="HEAD")[0] == "hit"
    assert ask(fs, "/dir/b.txt")[0] == "miss"
    assert ask(fs, "/dir/b.txt")[0] == "hit"


def test_rewritten_in_place_with_a_new_mtime(site: Path) -> None:
    fs = server(site)
    ask(fs, "/a.txt")
    write(site / "a.txt", b"other version\n", MTIME_NS + 1)  # same size, 1 ns later
    kind, answer = ask(fs, "/a.txt")
    assert kind == "miss" and body_of(kind, answer) == b"other version\n"
    assert ask(fs, "/a.txt")[1].body == b"other version\n"


def test_rewritten_in_place_keeping_size_and_mtime(site: Path) -> None:
    """Same size, mtime put back to the same nanosecond: the ctime, which no
    one can set, still tells. (Residual: a rewrite within the file system's
    timestamp tick of the write the cache saw keeps even the ctime; the loop
    below waits for the clock to move rather than assert on that case.)"""
    fs = server(site)
    ask(fs, "/a.txt")
    assert ask(fs, "/a.txt")[0] == "hit"
    seen = os.stat(site / "a.txt").st_ctime_ns
    while True:
        write(site / "a.txt", b"other version\n", MTIME_NS)
        if os.stat(site / "a.txt").st_ctime_ns != seen:
            break
    assert os.stat(site / "a.txt").st_mtime_ns == MTIME_NS
    kind, answer = ask(fs, "/a.txt")
    assert kind == "miss" and body_of(kind, answer) == b"other version\n"


def test_replaced_by_rename(site: Path) -> None:
    fs = server(site)
    ask(fs, "/a.txt")
    write(site / "new.tmp", b"renamed over\n", MTIME_NS)  # even the same mtime
    os.replace(site / "new.tmp", site / "a.txt")
    kind, answer = ask(fs, "/a.txt")
    assert kind == "miss" and body_of(kind, answer) == b"renamed over\n"


def test_deleted_is_404(site: Path) -> None:
    fs = server(site)
    ask(fs, "/a.txt")
    os.unlink(site / "a.txt")
    kind, answer = ask(fs, "/a.txt")
    assert kind == "miss" and answer.status == 404


def test_folder_renamed_away_and_replaced(site: Path) -> None:
    fs = server(site)
    ask(fs, "/dir/b.txt")
    os.rename(site / "dir", site / "old")
    write(site / "dir" / "b.txt", b"new folder!\n", MTIME_NS)
    os.utime(site / "dir", ns=(MTIME_NS, MTIME_NS))
    kind, answer = ask(fs, "/dir/b.txt")
    assert kind == "miss" and body_of(kind, answer) == b"new folder!\n"


def test_folder_replaced_by_a_symlink_out_of_the_root(site: Path, tmp_path: Path) -> None:
    fs = server(site)
    write(tmp_path / "outside" / "b.txt", b"must not leak")
    ask(fs, "/dir/b.txt")
    os.rename(site / "dir", site / "old")
    os.symlink(tmp_path / "outside", site / "dir")
    kind, answer = ask(fs, "/dir/b.txt")
    assert kind == "miss" and answer.status == 404


def test_permission_change(site: Path) -> None:
    fs = server(site)
    ask(fs, "/a.txt")
    os.chmod(site / "a.txt", 0)
    try:
        kind, answer = ask(fs, "/a.txt")
        assert kind == "miss"  # the mode is part of what is checked
        if os.geteuid() != 0:
            # the answer names the file; opening it (the exchange) is refused,
            # and the cache, which reads small files, keeps nothing
            assert ask(fs, "/a.txt")[0] == "miss"
    finally:
        os.chmod(site / "a.txt", 0o644)


def test_new_index_file_in_front_of_the_cached_one(site: Path) -> None:
    write(site / "index.txt", b"text index")
    fs = server(site)
    ask(fs, "/")
    assert ask(fs, "/")[1].body == b"text index"
    write(site / "index.html", b"html index")  # comes first in the index list
    kind, answer = ask(fs, "/")
    assert kind == "miss" and body_of(kind, answer) == b"html index"


def test_new_precompressed_sidecar(site: Path) -> None:
    fs = server(site, precompressed=("gzip",))
    ask(fs, "/a.txt", "Accept-Encoding: gzip")
    kind, hit = ask(fs, "/a.txt", "Accept-Encoding: gzip")
    assert kind == "hit" and hit.body == b"first version\n"
    write(site / "a.txt.gz", gzip.compress(b"first version\n"))
    kind, answer = ask(fs, "/a.txt", "Accept-Encoding: gzip")
    assert kind == "miss" and (b"content-encoding", b"gzip") in answer.headers
    # another Accept-Encoding is another entry, never the gzip one
    kind, plain = ask(fs, "/a.txt")
    assert kind == "miss" and (b"content-encoding", b"gzip") not in plain.headers


@pytest.mark.parametrize("header", ["Range: bytes=0-1", "If-None-Match: \"x\"",
                                    "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",
                                    "If-Match: *", "If-Range: \"x\"",
                                    "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT"])
def test_conditional_and_range_requests_are_not_cached(site: Path, header: str) -> None:
    fs = server(site)
    ask(fs, "/a.txt")
    assert ask(fs, "/a.txt", header)[0] == "miss"
    ask(fs, "/a.txt", header)
    assert len(fs.cache) == 1  # and they put nothing in it


def test_symlinked_files_are_not_cached(site: Path) -> None:
    os.symlink("a.txt", site / "link.txt")
    fs = server(site)
    assert ask(fs, "/link.txt")[1].status == 200
    assert ask(fs, "/link.txt")[0] == "miss"


def test_other_answers_are_not_cached(site: Path) -> None:
    fs = server(site, browse=True)
    for target in ("/missing", "/dir", "/dir/", "/a.txt/"):
        ask(fs, target)
        assert ask(fs, target)[0] == "miss", target
    assert ask(fs, "/a.txt", method="POST")[1].status == 405
    assert len(fs.cache) == 0


def test_large_files_are_sent_from_disk(site: Path) -> None:
    big = b"x" * (SMALL_FILE_MAX + 1)
    write(site / "big.bin", big)
    fs = server(site)
    ask(fs, "/big.bin")
    kind, hit = ask(fs, "/big.bin")
    assert kind == "hit" and isinstance(hit, FileHandler)
    assert (hit.path, hit.offset, hit.length) == (str(site / "big.bin"), 0, len(big))
    assert fs.cache.bytes_held == 0
    write(site / "big.bin", b"y" * len(big), MTIME_NS + 1)
    assert ask(fs, "/big.bin")[0] == "miss"


def test_placeholders_turn_the_cache_off(site: Path) -> None:
    assert server(site).cache is not None
    assert FileServer(server(site).spec.__class__(root=str(site) + "/{http.request.host}")
                      ).cache is None
    assert server(site, hide=("{http.request.host}",)).cache is None
    assert server(site, index=("{http.request.host}.html",)).cache is None
    assert FileServer(server(site).spec, cache=False).cache is None


# -- the bounds -------------------------------------------------------------------


def _entry(tmp_path: Path, name: str, size: int = 1) -> tuple[FileChecks, RespondHandler]:
    path = write(tmp_path / name, b"z" * size)
    return (FileChecks([(str(path), False, os.lstat(path))]),
            RespondHandler(200, b"z" * size))


def test_middling_files_are_kept_open(site: Path) -> None:
    body = bytes(range(256)) * (SENDFILE_MIN // 256)
    write(site / "mid.bin", body)
    fs = server(site)
    assert ask(fs, "/mid.bin")[0] == "miss"
    kind, hit = ask(fs, "/mid.bin")
    assert kind == "hit" and isinstance(hit, CachedFileHandler)
    assert hit.length == len(body) and os.pread(hit.file.fd, len(body) + 1, 0) == body
    assert b"content-length" not in hit.prepared.lines
    assert fs.cache.files_held == 1 and fs.cache.bytes_held == 0
    # Changed: a miss, the entry (and its hold on the old file) gone.
    write(site / "mid.bin", body[::-1], MTIME_NS + 1)
    kind, answer = ask(fs, "/mid.bin")
    assert kind == "miss" and body_of(kind, answer) == body[::-1]
    kind, hit = ask(fs, "/mid.bin")
    assert kind == "hit" and os.pread(hit.file.fd, len(body), 0) == body[::-1]
    assert fs.cache.files_held == 1
    # With no room for another open file: the body in memory.
    fs.cache = FileCache(max_files=0)
    fs.cached = fs.cache.lookup
    ask(fs, "/mid.bin")
    kind, hit = ask(fs, "/mid.bin")
    assert kind == "hit" and isinstance(hit, RespondHandler) and hit.body == body[::-1]


def test_open_files_are_bounded_and_closed_when_let_go(tmp_path: Path) -> None:
    cache = FileCache(max_files=1)
    checks, _ = _entry(tmp_path, "a", 10)
    fd = os.open(tmp_path / "a", os.O_RDONLY)
    handler = CachedFileHandler(_prepared(), OpenFile(fd), 10)
    cache.put("a", checks, handler, 0, True)
    assert cache.files_held == 1 and not cache.has_file_room()
    other = CachedFileHandler(_prepared(), OpenFile(os.open(tmp_path / "a", os.O_RDONLY)), 10)
    cache.put("b", checks, other, 0, True)  # no room: not kept
    assert cache.get("b") is None and cache.files_held == 1
    cache.drop("a")
    assert cache.files_held == 0 and cache.has_file_room()
    os.fstat(fd)  # the handler still holds it (an exchange may be sending)
    del handler
    with pytest.raises(OSError):
        os.fstat(fd)


def _prepared() -> PreparedHead:
    return PreparedHead(b"200 OK", [])


def test_least_recently_used_entry_goes_first(tmp_path: Path) -> None:
    cache = FileCache(max_entries=2)
    a, b, c = (_entry(tmp_path, n) for n in "abc")
    cache.put("a", *a)
    cache.put("b", *b)
    assert cache.get("a") is a[1]  # a is now the most recent
    cache.put("c", *c)
    assert len(cache) == 2
    assert cache.get("b") is None and cache.get("a") is a[1] and cache.get("c") is c[1]


def test_bytes_held_are_bounded(tmp_path: Path) -> None:
    cache = FileCache(max_entries=100, max_bytes=250)
    for name in "abc":
        checks, handler = _entry(tmp_path, name, 100)
        cache.put(name, checks, handler, 100)
    assert len(cache) == 2 and cache.bytes_held == 200 and cache.get("a") is None
    checks, handler = _entry(tmp_path, "huge", 300)
    cache.put("huge", checks, handler, 300)  # over the whole budget: not kept
    assert cache.get("huge") is None and cache.bytes_held == 200
    cache.put("b", *_entry(tmp_path, "b2", 10), 10)  # replacing an entry frees its bytes
    assert cache.bytes_held == 110
    cache.clear()
    assert len(cache) == 0 and cache.bytes_held == 0


def test_a_failed_check_drops_the_entry(tmp_path: Path) -> None:
    cache = FileCache()
    checks, handler = _entry(tmp_path, "a", 10)
    cache.put("a", checks, handler, 10)
    os.unlink(tmp_path / "a")
    assert cache.get("a") is None
    assert len(cache) == 0 and cache.bytes_held == 0


def test_checks_of_a_missing_name(tmp_path: Path) -> None:
    checks = FileChecks([(str(tmp_path / "nothing"), False, None)])
    assert checks.holds()
    write(tmp_path / "nothing", b"now something")
    assert not checks.holds()


def test_checks_of_a_folder_ignore_its_entries(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    checks = FileChecks([(str(folder), False, os.lstat(folder))])
    write(folder / "new", b"1")
    assert checks.holds()  # what the walk looked at (device, inode, mode) is the same
    os.chmod(folder, 0o700)
    assert not checks.holds()


def test_a_used_entry_gets_one_second_chance(tmp_path: Path) -> None:
    # Eviction passes a used entry once (clearing its flag); after that it
    # is the oldest unused one like any other.
    cache = FileCache(max_entries=2)
    a, b, c, d = (_entry(tmp_path, n) for n in "abcd")
    cache.put("a", *a)
    cache.put("b", *b)
    assert cache.get("a") is a[1] and cache.get("b") is b[1]
    cache.put("c", *c)  # a and b both used: each moves back once, then a goes
    assert len(cache) == 2 and cache.get("a") is None
    cache.put("d", *d)  # b's chance is spent, c is unused: b, the older, goes
    assert cache.get("b") is None and cache.get("c") is c[1] and cache.get("d") is d[1]


def test_run_answers_a_miss_with_the_fallback(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write(site / "a.txt", b"a")
    cache = FileCache()
    fallback = RespondHandler(404)
    seen: list[object] = []
    cache.miss = lambda request, walk: seen.append(walk) or fallback
    req = request("/a.txt")
    assert cache.run(req, "walk") is fallback and seen == ["walk"]
    checks = FileChecks([(str(site / "a.txt"), False, os.lstat(site / "a.txt"))])
    cached = RespondHandler(200, b"a")
    cache.put((None, b"/a.txt", None, None), checks, cached, 1)
    assert cache.run(req, "walk") is cached and seen == ["walk"]


def ask_rewritten(fs: FileServer, target: str, path: str) -> tuple[str, Any]:
    """ask, for a request whose path routing rewrote (handle_path, rewrite)."""
    req = request(target)
    req.path = path.encode("latin-1")
    handler = fs.cached(req)
    if handler is not None:
        return "hit", handler
    return "miss", fs.respond(req.method, req.path, req.headers, None, query=req.query,
                              original_path=req.target.partition(b"?")[0], request=req)


def status_of(answer: Any) -> int:
    return int(answer.status_line[:3]) if hasattr(answer, "status_line") else answer.status


@pytest.mark.parametrize(("target", "tail"), [
    ("/static/app.css", b"app.css"), ("/static/dir/", b"dir/"), ("/static/dir//?q=1", b"dir//"),
    ("/", b"/"), ("///", b"///"), ("/a?x=/b", b"a"), ("/static/a%2Fb", None),
    ("http://example.com/a", None), ("", None)])
def test_original_tail_is_the_last_name_and_its_slashes(target: str, tail: bytes | None) -> None:
    assert original_tail(target.encode()) == tail


def test_a_file_under_a_stripped_prefix_is_a_hit_the_second_time(site: Path) -> None:
    fs = server(site)
    kind, first = ask_rewritten(fs, "/static/a.txt", "/a.txt")
    assert kind == "miss" and first.status == 200
    kind, hit = ask_rewritten(fs, "/static/a.txt?v=2", "/a.txt")
    assert kind == "hit" and body_of(kind, hit) == b"first version\n"
    write(site / "a.txt", b"second version\n", MTIME_NS + 10**9)
    kind, changed = ask_rewritten(fs, "/static/a.txt", "/a.txt")
    assert kind == "miss" and body_of(kind, changed) == b"second version\n"


def test_canonical_redirects_of_rewritten_requests_are_never_answered_from_the_cache(
        site: Path) -> None:
    write(site / "dir" / "index.html", b"the index\n")
    fs = server(site)
    for _ in range(2):  # no slash: the redirect, every time
        kind, answer = ask_rewritten(fs, "/static/dir", "/dir")
        assert kind == "miss" and answer.status == 308
        assert dict(answer.headers)[b"location"] == b"/static/dir/"
    for expected in ("miss", "hit"):
        kind, answer = ask_rewritten(fs, "/static/dir/", "/dir/")
        assert kind == expected and body_of(kind, answer) == b"the index\n"
    # A rewrite from another name serves the index without a redirect (the
    # names differ, as Caddy decides); that answer must not reach a request
    # whose own name would be redirected.
    for expected in ("miss", "hit"):
        kind, answer = ask_rewritten(fs, "/elsewhere", "/dir")
        assert kind == expected and status_of(answer) == 200
    kind, answer = ask_rewritten(fs, "/static/dir", "/dir")
    assert kind == "miss" and answer.status == 308
    kind, answer = ask_rewritten(fs, "/static/a.txt/", "/a.txt/")
    assert kind == "miss" and answer.status == 308  # a file's name with a slash
    assert dict(answer.headers)[b"location"] == b"/static/a.txt"


def test_a_percent_escaped_original_name_is_not_cached(site: Path) -> None:
    fs = server(site)
    for _ in range(2):
        kind, answer = ask_rewritten(fs, "/static/a%2Etxt", "/a.txt")
        assert kind == "miss" and answer.status == 200
