"""Trusted proxies on a real server: {client_ip}, the client_ip matcher, the
access log and, for apps that opt in with proxy_headers, the client address
and scheme a trusted proxy named. Clients here connect from 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import requests

APP = '''
import json

def wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps([environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]]).encode()]

async def asgi(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body",
                "body": json.dumps([scope["client"][0], scope["scheme"]]).encode()})
'''

SITE = """
{
    servers {
        trusted_proxies static %(trusted)s
        trusted_proxies_strict
    }
}
:$PORT {
    log {
        output file %(log)s {
            roll_disabled
        }
    }
    @inside {
        path /inside
        client_ip 192.0.2.0/24
    }
    respond @inside "inside {client_ip}"
    respond /ip "{client_ip}"
    python /wsgi {
        module_wsgi "proxied:wsgi"
        working_dir "%(dir)s"
        workers 1
        proxy_headers
    }
    python /asgi {
        module_asgi "proxied:asgi"
        working_dir "%(dir)s"
        workers 1
        proxy_headers
    }
    python /plain {
        module_wsgi "proxied:wsgi"
        working_dir "%(dir)s"
        workers 1
    }
}
"""

FORWARDED = {"X-Forwarded-For": "1.1.1.1, 192.0.2.50", "X-Forwarded-Proto": "https"}


def start(serve, tmp_path, trusted: str):
    (tmp_path / "proxied.py").write_text(APP)
    return serve(SITE % {"trusted": trusted, "log": tmp_path / "access.log", "dir": tmp_path})


def get(server, path: str, headers=FORWARDED):
    return requests.get(server.base_url + path, headers=headers, timeout=10)


def test_a_trusted_proxy_names_the_client(serve, tmp_path):
    server = start(serve, tmp_path, "127.0.0.1/32")
    # Strict: the right-most untrusted hop, not what the client prepended.
    assert get(server, "/ip").text == "192.0.2.50"
    assert get(server, "/inside").text == "inside 192.0.2.50"
    assert get(server, "/wsgi").json() == ["192.0.2.50", "https"]
    assert get(server, "/asgi").json() == ["192.0.2.50", "https"]
    # Without proxy_headers the app sees the peer, as it always did.
    assert get(server, "/plain").json() == ["127.0.0.1", "http"]
    # No header: the peer is the client.
    assert get(server, "/ip", headers={}).text == "127.0.0.1"
    lines = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert lines[0]["request"]["client_ip"] == "192.0.2.50"
    assert lines[0]["request"]["remote_ip"] == "127.0.0.1"


@pytest.mark.parametrize("path", ["/ip", "/wsgi", "/asgi"])
def test_an_untrusted_peer_cannot_claim_another_address(serve, tmp_path, path):
    server = start(serve, tmp_path, "10.0.0.0/8")  # 127.0.0.1 is not trusted here
    response = get(server, path)
    assert "192.0.2.50" not in response.text and "https" not in response.text
    assert get(server, "/inside").status_code == 200  # the matcher did not match:
    assert get(server, "/inside").text == ""          # no route answered
