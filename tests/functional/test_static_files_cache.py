"""A changed file is served changed on the very next request, by a real server.

file_server caches its answers per worker (fastsnake.files.server,
FileCache in _respond.pyx). Each test asks often enough, over fresh
connections, that every worker has the file cached; then it changes the file
the way a deploy or an editor does and asks again: every answer must be the
new one, never a stale copy, with no wait in between.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import requests

ASKS = 8  # fresh connections, so the workers (one per CPU) all answer and cache


def site_server(serve, root: Path, options: str = ""):
    # No python handler: one worker per CPU, each with its own cache.
    return serve(f"""
:$PORT {{
    root * {root}
    file_server {{
        {options}
    }}
}}
""")


def bodies(url: str, headers: dict[str, str] | None = None) -> set[tuple[int, bytes]]:
    return {(r.status_code, r.content) for r in
            (requests.get(url, headers=headers or {}) for _ in range(ASKS))}


def test_small_file_rewritten_renamed_over_and_deleted(serve, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    page = root / "page.html"
    page.write_bytes(b"<p>version 1</p>")
    server = site_server(serve, root)
    url = server.base_url + "/page.html"
    assert bodies(url) == {(200, b"<p>version 1</p>")}
    # rewritten in place, same size, the mtime put back
    stat = page.stat()
    page.write_bytes(b"<p>version 2</p>")
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert bodies(url) == {(200, b"<p>version 2</p>")}
    # replaced by rename, as deploy tools do
    (root / "page.tmp").write_bytes(b"<p>version 3, longer</p>")
    os.replace(root / "page.tmp", page)
    assert bodies(url) == {(200, b"<p>version 3, longer</p>")}
    page.unlink()
    assert bodies(url) == {(404, b"")}
    page.write_bytes(b"<p>back</p>")
    assert bodies(url) == {(200, b"<p>back</p>")}


def test_large_file_sent_from_disk_is_served_changed(serve, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    big = root / "big.bin"
    big.write_bytes(b"a" * 300_000)
    server = site_server(serve, root)
    url = server.base_url + "/big.bin"
    assert bodies(url) == {(200, b"a" * 300_000)}
    (root / "big.tmp").write_bytes(b"b" * 200_000)
    os.replace(root / "big.tmp", big)
    assert bodies(url) == {(200, b"b" * 200_000)}
    response = requests.head(url)
    assert response.headers["content-length"] == "200000"


def test_middling_file_kept_open_is_served_changed(serve, tmp_path):
    # 64-128 KiB: the cache keeps the file open and sends it with sendfile.
    root = tmp_path / "site"
    root.mkdir()
    page = root / "mid.bin"
    first = bytes(range(256)) * 320  # 80 KiB
    page.write_bytes(first)
    server = site_server(serve, root)
    url = server.base_url + "/mid.bin"
    assert bodies(url) == {(200, first)}
    stat = page.stat()
    page.write_bytes(first[::-1])  # in place, same size, the mtime put back
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert bodies(url) == {(200, first[::-1])}
    (root / "mid.tmp").write_bytes(b"m" * 100_000)
    os.replace(root / "mid.tmp", page)
    assert bodies(url) == {(200, b"m" * 100_000)}
    response = requests.head(url)
    assert (response.status_code, response.headers["content-length"]) == (200, "100000")
    page.unlink()
    assert bodies(url) == {(404, b"")}


def test_new_sidecar_and_new_index_file(serve, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "app.js").write_bytes(b"console.log(1);\n" * 50)
    (root / "index.txt").write_bytes(b"text index")
    server = site_server(serve, root, "precompressed gzip")
    js = server.base_url + "/app.js"
    plain = {(r.status_code, r.headers.get("content-encoding"), r.content) for r in (
        requests.get(js, headers={"Accept-Encoding": "gzip"}, stream=True)
        for _ in range(ASKS))}
    assert plain == {(200, None, b"console.log(1);\n" * 50)}
    (root / "app.js.gz").write_bytes(gzip.compress(b"console.log(2);\n" * 50))
    for _ in range(ASKS):
        r = requests.get(js, headers={"Accept-Encoding": "gzip"}, stream=True)
        raw = r.raw.read()
        assert r.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw) == b"console.log(2);\n" * 50
    assert bodies(server.base_url + "/") == {(200, b"text index")}
    (root / "index.html").write_bytes(b"html index")
    assert bodies(server.base_url + "/") == {(200, b"html index")}


def test_cached_answers_still_get_header_ops_and_plain_ones_a_fresh_date(serve, tmp_path):
    # A cached small file's head is serialised once (PreparedHead); a
    # response with header ops takes the per-request path instead.
    root = tmp_path / "site"
    root.mkdir()
    (root / "page.html").write_bytes(b"<p>hi</p>")
    (root / "plain.html").write_bytes(b"<p>plain</p>")
    server = serve(f"""
:$PORT {{
    root * {root}
    header /page.html X-Extra yes
    header /page.html -Server
    file_server
}}
""")
    for _ in range(ASKS):
        page = requests.get(server.base_url + "/page.html")
        assert (page.status_code, page.content) == (200, b"<p>hi</p>")
        assert page.headers["x-extra"] == "yes" and "server" not in page.headers
        plain = requests.get(server.base_url + "/plain.html")
        assert (plain.status_code, plain.content) == (200, b"<p>plain</p>")
        assert plain.headers["server"] == "fastsnake" and "date" in plain.headers
        assert plain.headers["content-length"] == "12" and "etag" in plain.headers
        assert "x-extra" not in plain.headers


def test_cached_precompressed_answers_under_encode_and_an_access_log(serve, tmp_path):
    # The sidecar's answer is already encoded, so ``encode`` leaves its
    # prepared head alone; the access log still sees each response.
    root = tmp_path / "site"
    root.mkdir()
    text = b"console.log('precompressed');\n" * 100
    (root / "app.js").write_bytes(text)
    sidecar = gzip.compress(text)
    (root / "app.js.gz").write_bytes(sidecar)
    log_file = tmp_path / "access.log"
    server = serve(f"""
:$PORT {{
    log {{
        output file {log_file}
    }}
    root * {root}
    encode gzip
    file_server {{
        precompressed gzip
    }}
}}
""")
    url = server.base_url + "/app.js"
    for _ in range(ASKS):
        r = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True)
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-length"] == str(len(sidecar))
        assert r.raw.read(decode_content=False) == sidecar
        plain = requests.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        if len(lines) >= 2 * ASKS:
            break
        time.sleep(0.05)
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(entries) == 2 * ASKS
    assert {(e["status"], e["size"]) for e in entries} == {(200, len(sidecar)),
                                                           (200, len(text))}


def test_files_under_handle_path_are_cached_and_redirected_by_the_name_sent(serve, tmp_path):
    # handle_path strips /static: the cache must still tell /static/dir (a
    # redirect, every time) from /static/dir/ (the index) and serve changes.
    root = tmp_path / "site"
    (root / "dir").mkdir(parents=True)
    (root / "app.css").write_bytes(b"body{}\n")
    (root / "dir" / "index.html").write_bytes(b"the index\n")
    server = serve(f"""
:$PORT {{
    handle_path /static/* {{
        root * {root}
        file_server
    }}
    handle {{
        respond "app"
    }}
}}
""")
    url = server.base_url
    assert bodies(url + "/static/app.css") == {(200, b"body{}\n")}
    for _ in range(ASKS):
        redirect = requests.get(url + "/static/dir", allow_redirects=False)
        assert redirect.status_code == 308 and redirect.headers["location"] == "/static/dir/"
    assert bodies(url + "/static/dir/") == {(200, b"the index\n")}
    for _ in range(ASKS):  # a file's name with a slash after it
        redirect = requests.get(url + "/static/app.css/", allow_redirects=False)
        assert redirect.status_code == 308 and redirect.headers["location"] == "/static/app.css"
    os.replace(write_new(root / "new.css", b"body{color:red}\n"), root / "app.css")
    assert bodies(url + "/static/app.css") == {(200, b"body{color:red}\n")}
    assert bodies(url + "/elsewhere") == {(200, b"app")}


def write_new(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
