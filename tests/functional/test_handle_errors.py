"""handle_errors as Caddy's docs describe it, against a real server: which
errors reach the error routes (file_server's 404, ``error``, try_files'
``=NNN``, request_body's 413, an app that raises), the ``{err.*}``
placeholders, the error's status kept by ``respond`` and ``file_server``,
status-code blocks before the fallback, and what stays untouched (an app's
own 404 or 500, ``respond 404``)."""

from __future__ import annotations

import socket
from http import HTTPStatus

import requests

SITE = """:$PORT {
\troot * $ROOT
\terror /private* "Keep out" 403
\ttry_files /gone* {path} =410
\thandle_path /wsgi/* {
\t\tpython {
\t\t\tmodule_wsgi wsgi_basic:app
\t\t\tworking_dir "$APPS"
\t\t}
\t}
\thandle_path /asgi/* {
\t\trequest_body {
\t\t\tmax_size 10B
\t\t}
\t\tpython {
\t\t\tmodule_asgi asgi_basic:app
\t\t\tworking_dir "$APPS"
\t\t}
\t}
\trespond /teapot 418
\tfile_server
\thandle_errors 404 410 {
\t\trewrite * /{err.status_code}.html
\t\tfile_server
\t}
\thandle_errors 5xx {
\t\theader X-Error-Id {err.id}
\t\trespond "server trouble: {err.status_code} {err.status_text} ({err.message})"
\t}
\thandle_errors {
\t\trespond "{err.status_code} {err.status_text}: {err.message}"
\t}
}
"""


def start(serve, tmp_path, wsgi_prefix: str = "/wsgi"):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("home")
    (root / "404.html").write_text("<h1>not here</h1>")
    (root / "410.html").write_text("<h1>gone for good</h1>")
    return serve(SITE.replace("$ROOT", str(root)))


def test_file_server_404_serves_the_error_page_with_its_status(serve, tmp_path):
    server = start(serve, tmp_path)
    response = requests.get(server.base_url + "/missing.css", timeout=10)
    assert response.status_code == 404
    assert response.text == "<h1>not here</h1>"
    assert response.headers["content-type"].startswith("text/html")
    # What exists is untouched.
    assert requests.get(server.base_url + "/", timeout=10).text == "home"


def test_try_files_status_and_error_directive(serve, tmp_path):
    server = start(serve, tmp_path)
    gone = requests.get(server.base_url + "/gone-page", timeout=10)
    assert (gone.status_code, gone.text) == (410, "<h1>gone for good</h1>")
    private = requests.get(server.base_url + "/private/x", timeout=10)
    assert private.status_code == 403
    assert private.text == "403 Forbidden: Keep out"


def test_an_app_that_raises_reaches_the_5xx_block(serve, tmp_path):
    server = start(serve, tmp_path)
    for prefix in ("/wsgi", "/asgi"):
        response = requests.get(server.base_url + prefix + "/boom", timeout=10)
        assert response.status_code == 500, prefix
        assert response.text.startswith("server trouble: 500 Internal Server Error (the app "
                                        "raised "), response.text
        assert len(response.headers["x-error-id"]) == 9
    # The server keeps serving, on the same kind of connection.
    assert requests.get(server.base_url + "/", timeout=10).text == "home"
    assert "Traceback" in server.log or "error in" in server.log


def test_responses_the_app_or_respond_write_are_not_errors(serve, tmp_path):
    server = start(serve, tmp_path)
    # The WSGI app's own 404 ("no such path") passes through, as an upstream's would.
    own = requests.get(server.base_url + "/wsgi/nothing-here", timeout=10)
    assert (own.status_code, own.text) == (404, "no such path\n")
    teapot = requests.get(server.base_url + "/teapot", timeout=10)
    assert (teapot.status_code, teapot.text) == (418, "")


def test_request_body_413_reaches_the_fallback_and_closes(serve, tmp_path):
    server = start(serve, tmp_path)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /asgi/digest HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                     + b"x" * 100)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in head.lower()
    # (The reason phrase is Python's: RFC 9110 renamed 413 "Content Too Large".)
    assert body == f"413 {HTTPStatus(413).phrase}: request body too large".encode()


def test_keep_alive_survives_an_error_page(serve, tmp_path):
    server = start(serve, tmp_path)
    with requests.Session() as session:
        first = session.get(server.base_url + "/missing", timeout=10)
        second = session.get(server.base_url + "/", timeout=10)
    assert (first.status_code, second.text) == (404, "home")


def test_without_handle_errors_the_answers_are_unchanged(serve, tmp_path):
    root = tmp_path / "plain"
    root.mkdir()
    server = serve(f":$PORT {{\n\troot * {root}\n\terror /private* 403\n\tfile_server\n}}\n")
    missing = requests.get(server.base_url + "/missing", timeout=10)
    private = requests.get(server.base_url + "/private", timeout=10)
    assert (missing.status_code, private.status_code, private.text) == (404, 403, "")


def test_threaded_wsgi_failure_reaches_handle_errors(serve):
    server = serve(":$PORT {\n\tpython {\n\t\tmodule_wsgi wsgi_basic:app\n"
                   "\t\tworking_dir \"$APPS\"\n\t\tthreads 2\n\t}\n\thandle_errors {\n"
                   "\t\trespond \"sorry: {err.status_code}\"\n\t}\n}\n")
    response = requests.get(server.base_url + "/boom", timeout=10)
    assert (response.status_code, response.text) == (500, "sorry: 500")
    assert requests.get(server.base_url + "/hello", timeout=10).status_code == 200
