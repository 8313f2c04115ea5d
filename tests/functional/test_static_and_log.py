"""file_server, encode and the access log on a real server.

Static files are served beside a Python app, as a Django site serves its
collected static files: ranges, conditional requests, index files,
compression of text files, and one JSON access-log line per request with
Caddy's field names.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import requests


def make_site(root: Path) -> None:
    (root / "static").mkdir(parents=True)
    (root / "static" / "app.js").write_text("console.log('x');\n" * 400)
    (root / "static" / "data.bin").write_bytes(bytes(range(256)) * 64)
    (root / "static" / "docs").mkdir()
    (root / "static" / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "secret.txt").write_text("do not serve")


def test_file_server_beside_a_python_app(serve, tmp_path):
    make_site(tmp_path / "site")
    server = serve(f"""
:$PORT {{
    handle /static/* {{
        root * {tmp_path}/site
        file_server
    }}
    handle {{
        python {{
            module_wsgi wsgi_basic:app
            working_dir "$APPS"
        }}
    }}
}}
""")
    base = server.base_url
    assert requests.get(base + "/hello").text == "hello"
    r = requests.get(base + "/static/data.bin")
    assert r.status_code == 200 and r.content == bytes(range(256)) * 64
    assert r.headers["accept-ranges"] == "bytes"
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    # a range
    r = requests.get(base + "/static/data.bin", headers={"Range": "bytes=256-511"})
    assert r.status_code == 206 and r.content == bytes(range(256))
    assert r.headers["content-range"] == f"bytes 256-511/{256 * 64}"
    # the last 10 bytes
    r = requests.get(base + "/static/data.bin", headers={"Range": "bytes=-10"})
    assert r.content == bytes(range(246, 256))
    r = requests.get(base + "/static/data.bin", headers={"Range": "bytes=99999-"})
    assert r.status_code == 416
    # conditional requests
    r = requests.get(base + "/static/data.bin", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert "content-length" not in r.headers
    r = requests.get(base + "/static/data.bin", headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    # a directory: redirect to the slash, then its index file
    r = requests.get(base + "/static/docs", allow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (308, "/static/docs/")
    assert requests.get(base + "/static/docs/").text == "<h1>docs</h1>"
    # nothing outside the root, however the path is spelled
    for path in ("/static/../secret.txt", "/static/%2e%2e/secret.txt",
                 "/static/..%2fsecret.txt"):
        r = requests.get(base + path)
        assert "do not serve" not in r.text, path
    assert requests.get(base + "/static/missing.js").status_code == 404
    assert requests.post(base + "/static/app.js").status_code == 405


def test_encode_compresses_static_text_but_not_ranges(serve, tmp_path):
    make_site(tmp_path / "site")
    server = serve(f"""
:$PORT {{
    root * {tmp_path}/site
    encode gzip
    file_server
}}
""")
    base = server.base_url
    original = (tmp_path / "site" / "static" / "app.js").read_bytes()
    r = requests.get(base + "/static/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["etag"].endswith('-gzip"')
    raw = r.raw.read(decode_content=False)
    assert len(raw) < len(original) // 10
    assert gzip.decompress(raw) == original
    r = requests.get(base + "/static/app.js", headers={"Accept-Encoding": "gzip",
                                                       "Range": "bytes=0-9"})
    assert r.status_code == 206 and "content-encoding" not in r.headers
    assert r.content == original[:10]
    # binary files are left alone
    r = requests.get(base + "/static/data.bin", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers


def read_log_lines(path: Path, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"expected {count} lines in {path}")


def test_access_log_writes_caddy_json_lines(serve, tmp_path):
    log_file = tmp_path / "access.log"
    server = serve(f"""
:$PORT {{
    log {{
        output file {log_file}
    }}
    log_skip /health
    handle /health {{
        respond "ok"
    }}
    python {{
        module_wsgi wsgi_basic:app
        working_dir "$APPS"
    }}
}}
""")
    base = server.base_url
    requests.get(base + "/health")
    requests.get(base + "/hello?x=1", headers={"Cookie": "session=secret",
                                               "User-Agent": "test-agent"})
    requests.post(base + "/digest", data=b"y" * 1000)
    requests.get(base + "/boom")
    entries = read_log_lines(log_file, 3)
    assert len(entries) == 3  # /health was skipped
    hello, digest, boom = entries
    assert hello["logger"] == "http.log.access.log0"
    assert hello["msg"] == "handled request"
    assert hello["request"]["uri"] == "/hello?x=1"
    assert hello["request"]["method"] == "GET"
    assert hello["request"]["proto"] == "HTTP/1.1"
    assert hello["request"]["remote_ip"] == "127.0.0.1"
    assert hello["request"]["headers"]["User-Agent"] == ["test-agent"]
    assert hello["request"]["headers"]["Cookie"] == ["REDACTED"]
    assert (hello["status"], hello["size"]) == (200, 5)
    assert hello["duration"] >= 0
    assert digest["bytes_read"] == 1000
    assert (boom["status"], boom["level"]) == (500, "error")


def test_try_files_falls_back_to_the_spa_index(serve, tmp_path):
    site = tmp_path / "spa"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<app/>")
    (site / "assets" / "main.js").write_text("run()")
    (tmp_path / "outside.txt").write_text("outside")
    server = serve(f"""
:$PORT {{
    root * {site}
    handle /api/* {{
        respond "api"
    }}
    handle {{
        try_files {{path}} /index.html
        file_server
    }}
    handle /strict/* {{
        try_files {{path}} =404
    }}
}}
""")
    base = server.base_url
    assert requests.get(base + "/assets/main.js").text == "run()"
    assert requests.get(base + "/some/client/route").text == "<app/>"
    assert requests.get(base + "/api/x").text == "api"
    # a candidate outside the root never exists
    assert requests.get(base + "/../outside.txt").text == "<app/>"
    assert requests.get(base + "/strict/none").status_code == 404


def test_log_hostnames_narrow_the_log_to_some_hosts(serve, tmp_path):
    log_file = tmp_path / "a.log"
    server = serve(f"""
http://a.test:$PORT, http://b.test:$PORT {{
    log {{
        output file {log_file}
        hostnames a.test
    }}
    respond "hi"
}}
""")
    for host in ("b.test", "a.test", "b.test"):
        requests.get(server.base_url, headers={"Host": f"{host}:{server.port}"})
    read_log_lines(log_file, 1)
    time.sleep(0.3)  # give a wrongly logged b.test request time to show up
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [entry["request"]["host"] for entry in entries] == [f"a.test:{server.port}"]
