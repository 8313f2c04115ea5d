"""Caddy's routing directives on a real server: respond, redir, rewrite, uri,
handle, handle_path, route, named matchers, header, request_body, encode, abort.

Each test writes a Caddyfile, starts fastsnake on a free port and talks to it
with requests or a raw socket; the apps are tests/apps (wsgi_basic:headers
echoes SCRIPT_NAME, PATH_INFO and QUERY_STRING; asgi_basic's /scope echoes the
ASGI scope).
"""

from __future__ import annotations

import gzip
import socket

import pytest
import requests

WSGI_HEADERS = """
    python {
        module_wsgi wsgi_basic:headers
        working_dir "$APPS"
    }"""


def environ_of(response: requests.Response) -> dict[str, str]:
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_respond_and_redir_answer_before_the_app(serve):
    # python sorts before respond (caddy-snake's order), so the responds that
    # must come first go in a route block, which keeps the written order;
    # redir sorts before python by itself.
    server = serve(f"""
:$PORT {{
    route {{
        respond /health "ok" 200
        respond /gone 410
        respond /hello "hi {{path}}"
{WSGI_HEADERS}
    }}
    redir /old /new permanent
    redir /docs/* https://docs.example.com{{uri}}
    redir /page /elsewhere html
}}
""")
    base = server.base_url
    r = requests.get(base + "/health")
    assert (r.status_code, r.text, r.headers["content-type"]) == (
        200, "ok", "text/plain; charset=utf-8")
    r = requests.get(base + "/gone")
    assert (r.status_code, r.content) == (410, b"")
    assert requests.get(base + "/hello").text == "hi /hello"
    r = requests.get(base + "/old", allow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, "/new")
    r = requests.get(base + "/docs/a?b=1", allow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "https://docs.example.com/docs/a?b=1")
    r = requests.get(base + "/page", allow_redirects=False)
    assert r.status_code == 200 and "URL='/elsewhere'" in r.text
    # everything else reaches the app
    assert environ_of(requests.get(base + "/app/x"))["PATH_INFO"] == "/app/x"


def test_respond_close_ends_the_connection(serve):
    server = serve(":$PORT {\n    respond \"bye\" {\n        close\n    }\n}\n")
    reply = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n"
                                     b"Host: x\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200") == 1
    assert b"connection: close" in reply.lower()


def test_handle_path_mounts_a_wsgi_app_under_script_name(serve):
    server = serve(f"""
:$PORT {{
    handle_path /api/* {{
{WSGI_HEADERS}
    }}
    handle {{
        respond "site"
    }}
}}
""")
    env = environ_of(requests.get(server.base_url + "/api/users/7?x=1"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/api", "/users/7", "x=1")
    env = environ_of(requests.get(server.base_url + "/API/%75sers"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/API", "/users")
    assert requests.get(server.base_url + "/other").text == "site"
    assert requests.get(server.base_url + "/api").text == "site"  # /api/* needs the slash


def test_handle_path_sets_asgi_root_path_and_keeps_the_full_path(serve):
    server = serve("""
:$PORT {
    handle_path /mount/* {
        python {
            module_asgi asgi_basic:app
            working_dir "$APPS"
        }
    }
}
""")
    # asgi_basic routes on the path below root_path, as frameworks do.
    scope = requests.get(server.base_url + "/mount/scope/x").json()
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == (
        "/mount", "/mount/scope/x", "/mount/scope/x")


def test_handle_blocks_are_exclusive_and_first_match_wins(serve):
    server = serve("""
:$PORT {
    handle /a/* {
        header X-Block a
        respond "A"
    }
    handle /a/b {
        respond "never: the /a/* handle sorts first? no: the longer path does"
    }
    handle {
        respond "fallback"
    }
}
""")
    base = server.base_url
    # Caddy sorts handle blocks by path specificity: /a/b before /a/*.
    assert requests.get(base + "/a/b").text.startswith("never")
    r = requests.get(base + "/a/c")
    assert (r.text, r.headers["x-block"]) == ("A", "a")
    assert requests.get(base + "/zzz").text == "fallback"


def test_route_keeps_written_order_while_site_directives_are_sorted(serve):
    server = serve("""
:$PORT {
    route /r/* {
        respond /r/first "first"
        rewrite * /r/first
        respond "rewritten-but-too-late"
    }
    python /new-home {
        module_wsgi wsgi_basic:headers
        working_dir "$APPS"
    }
    rewrite /legacy /new-home?from=legacy
}
""")
    base = server.base_url
    assert requests.get(base + "/r/first").text == "first"
    assert requests.get(base + "/r/other").text == "rewritten-but-too-late"
    # rewrite was written last but Caddy's order runs it before python
    env = environ_of(requests.get(base + "/legacy?x=1"))
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/new-home", "from=legacy")


def test_uri_operations_rewrite_the_path(serve):
    server = serve(f"""
:$PORT {{
    uri /strip/* strip_prefix /strip
    uri /suffix/* strip_suffix .html
    uri /swap/* replace old new
    uri /re/* path_regexp ^/re/(\\d+)$ /number/$1
{WSGI_HEADERS}
}}
""")
    base = server.base_url
    assert environ_of(requests.get(base + "/strip/a/b"))["PATH_INFO"] == "/a/b"
    assert environ_of(requests.get(base + "/suffix/page.html"))["PATH_INFO"] == "/suffix/page"
    assert environ_of(requests.get(base + "/swap/old/old"))["PATH_INFO"] == "/swap/new/new"
    assert environ_of(requests.get(base + "/re/42"))["PATH_INFO"] == "/number/42"


def test_named_matchers_choose_by_method_header_and_query(serve):
    server = serve("""
:$PORT {
    @write {
        method POST PUT
        path /items/*
    }
    @json header Accept application/json
    @debug query debug=1
    @not_local not remote_ip 127.0.0.0/8
    respond @write "write"
    respond @json `{"json": true}`
    respond @debug "debug"
    respond @not_local "remote"
    respond "default"
}
""")
    base = server.base_url
    assert requests.post(base + "/items/1").text == "write"
    assert requests.get(base + "/items/1").text == "default"
    assert requests.get(base + "/x", headers={"Accept": "application/json"}).json() == {
        "json": True}
    assert requests.get(base + "/x?debug=1").text == "debug"


def test_header_operations_apply_to_the_apps_response(serve):
    server = serve(f"""
:$PORT {{
    header {{
        X-Frame-Options DENY
        +X-Extra one
        ?Cache-Control "no-store"
        -Server
        Content-Type text/(.*) application/$1
    }}
    header /keep/* Cache-Control "public"
{WSGI_HEADERS}
}}
""")
    r = requests.get(server.base_url + "/x")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-extra"] == "one"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/plain"
    assert "server" not in r.headers
    assert requests.get(server.base_url + "/keep/x").headers["cache-control"] == "public"


def test_request_header_changes_what_the_app_sees(serve):
    server = serve(f"""
:$PORT {{
    request_header X-Injected yes
    request_header -X-Secret
{WSGI_HEADERS}
}}
""")
    env = environ_of(requests.get(server.base_url + "/", headers={"X-Secret": "s"}))
    assert env["HTTP_X_INJECTED"] == "yes"
    assert "HTTP_X_SECRET" not in env


def test_request_header_host_changes_on_one_keep_alive_connection(serve):
    # A connection's WSGI environs start from a template that holds the Host
    # its requests usually send: routing's changes to Host must still win.
    server = serve(f"""
:$PORT {{
    request_header /set/* Host changed.test
    request_header /drop/* -Host
    request_header /add/* +Host added.test
{WSGI_HEADERS}
}}
""")
    paths = ("/a", "/set/x", "/a", "/drop/x", "/a", "/add/x", "/a")
    with requests.Session() as session:
        seen = [environ_of(session.get(server.base_url + path)).get("HTTP_HOST")
                for path in paths]
    host = f"127.0.0.1:{server.port}"
    assert seen == [host, "changed.test", host, None, host, f"{host},added.test", host]


def test_request_body_max_size_refuses_large_bodies_with_413(serve):
    server = serve("""
:$PORT {
    request_body /upload/* {
        max_size 1KB
    }
    python {
        module_wsgi wsgi_basic:digest
        working_dir "$APPS"
    }
}
""")
    base = server.base_url
    assert requests.post(base + "/upload/a", data=b"x" * 1000).text.startswith("1000 ")
    assert requests.post(base + "/upload/a", data=b"x" * 1001).status_code == 413
    assert requests.post(base + "/other", data=b"x" * 5000).text.startswith("5000 ")
    # a chunked body is cut as soon as it passes the limit
    assert requests.post(base + "/upload/a", data=iter([b"x" * 600] * 3)).status_code == 413


def test_encode_gzip_compresses_eligible_responses(serve):
    server = serve("""
:$PORT {
    encode gzip
    python {
        module_wsgi wsgi_basic:app
        working_dir "$APPS"
    }
}
""")
    base = server.base_url
    raw = raw_request(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip"
                                   b"\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower()
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"vary: accept-encoding" in head.lower()
    plain = requests.get(base + "/stream", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    decoded = requests.get(base + "/stream", headers={"Accept-Encoding": "gzip"})
    assert decoded.headers["content-encoding"] == "gzip"
    assert decoded.content == plain.content
    # under the 512-byte minimum: sent as is
    r = requests.get(base + "/hello", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers and r.text == "hello"
    # binary content types are not compressed
    r = requests.get(base + "/big?100000", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers and len(r.content) == 100000


def test_encode_gzip_whole_responses_keep_a_content_length(serve):
    body = "z" * 4000
    server = serve(f"""
:$PORT {{
    encode gzip
    respond "{body}"
}}
""")
    raw = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br"
                                   b"\r\nConnection: close\r\n\r\n")
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower()
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert length == len(payload) < 200
    assert gzip.decompress(payload) == body.encode()


def test_abort_drops_the_connection_and_error_answers_a_status(serve):
    server = serve("""
:$PORT {
    abort /private/*
    error /broken 503
    respond "fine"
}
""")
    assert raw_request(server.port, b"GET /private/x HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert requests.get(server.base_url + "/broken").status_code == 503
    assert requests.get(server.base_url + "/ok").text == "fine"


@pytest.mark.parametrize("host, expected", [
    ("api.example.com", "api"), ("www.example.com", "wild"), ("example.com", "main"),
    ("other.org", "catch-all"),
])
def test_host_sites_with_their_own_directives(serve, host, expected):
    server = serve("""
http://example.com:$PORT {
    respond "main"
}
http://api.example.com:$PORT {
    respond "api"
}
http://*.example.com:$PORT {
    respond "wild"
}
:$PORT {
    respond "catch-all"
}
""")
    assert requests.get(server.base_url + "/", headers={"Host": host}).text == expected


def test_bind_listens_on_the_given_interface_only(serve):
    server = serve(":$PORT {\n    bind 127.0.0.1\n    respond \"local\"\n}\n")
    assert f"serving http://127.0.0.1:{server.port}" in server.log
    assert requests.get(server.base_url).text == "local"
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None,
                                                          socket.AF_INET)} - {"127.0.0.1"}
    for address in addresses:  # another interface, if this machine has one
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=2).close()


def test_request_body_inside_a_python_block(serve):
    server = serve("""
:$PORT {
    python {
        module_wsgi wsgi_basic:digest
        working_dir "$APPS"
        request_body {
            max_size 2KiB
        }
    }
}
""")
    assert requests.post(server.base_url, data=b"x" * 2048).text.startswith("2048 ")
    assert requests.post(server.base_url, data=b"x" * 2049).status_code == 413


def test_encode_gzip_level_is_used(tmp_path):
    from fastsnake.config.loader import parse_config
    from fastsnake.errors import CaddyfileError

    config = parse_config(":80 {\n  encode {\n    gzip 9\n  }\n}\n", str(tmp_path / "Caddyfile"))
    encode = config.listeners[0].sites[0].routes[0].handler
    assert (encode.formats, encode.gzip_level) == (("gzip",), 9)
    with pytest.raises(CaddyfileError, match="Caddyfile:3: encode: gzip level must be 1 to 9"):
        parse_config(":80 {\n  encode {\n    gzip 12\n  }\n}\n", str(tmp_path / "Caddyfile"))


def test_encode_zstd_needs_python_3_14(tmp_path, caplog):
    import logging

    from fastsnake.config.directives import zstd_available
    from fastsnake.config.loader import parse_config
    from fastsnake.errors import CaddyfileError

    path = str(tmp_path / "Caddyfile")
    with caplog.at_level(logging.INFO, logger="fastsnake.config"):
        config = parse_config(":80 {\n  encode zstd gzip\n}\n", path)
    formats = config.listeners[0].sites[0].routes[0].handler.formats
    if zstd_available():
        assert formats == ("zstd", "gzip")
    else:
        assert formats == ("gzip",)
        assert "zstd needs Python 3.14+; using gzip only" in caplog.text
        with pytest.raises(CaddyfileError, match="Caddyfile:2: encode zstd needs Python 3.14"):
            parse_config(":80 {\n  encode zstd\n}\n", path)
