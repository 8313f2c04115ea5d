"""Dynamic apps with ``isolation process`` (the default): each tenant in a
process of its own, reached by the front worker over a Unix socket."""

from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import signal
import socket
import time

import requests

from tests.protocol_harness import parse_responses
from tests.websocket_helpers import FIN, raw, split_server_frame

WSGI_TENANT = '''
import json
import os
import sys

TOKEN = []

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        os._exit(1)
    if path == "/set":
        os.environ["LEAKED"] = "yes"
        json.LEAKED = True
        TOKEN.append(1)
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([n]) * 65536 for n in range(16))
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = {"pid": os.getpid(), "leaked": os.environ.get("LEAKED"),
            "json": hasattr(json, "LEAKED"), "token": len(TOKEN),
            "folder": os.path.basename(os.path.dirname(__file__)),
            "remote": environ.get("REMOTE_ADDR"), "scheme": environ["wsgi.url_scheme"],
            "private": environ.get("HTTP_X_FASTSNAKE_CLIENT")}
    return [json.dumps(seen).encode()]
'''

ASGI_ECHO = '''
async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo " + event["text"]})
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi"})
'''

CADDYFILE = """
http://*.example.com:$PORT {
    python {
        module_%s "app:app"
        working_dir "tenants/{http.request.host.labels.2}"
        workers 1
        %s
    }
}
"""


def make_tenants(root: pathlib.Path, names: list[str], source: str = WSGI_TENANT) -> None:
    for name in names:
        folder = root / "tenants" / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(source)


def get(server, host: str, path: str = "/", **kwargs) -> requests.Response:
    return requests.get(server.base_url + path, headers={"Host": f"{host}.example.com",
                                                         **kwargs.pop("headers", {})},
                        timeout=30, **kwargs)


def tenant_pids(server) -> set[int]:
    """The tenant processes: children of the workers running server.tenant."""
    found = set()
    for worker in server.worker_pids():
        try:
            children = pathlib.Path(f"/proc/{worker}/task/{worker}/children").read_text()
        except OSError:
            continue
        for pid in map(int, children.split()):
            if alive(pid) and b"fastsnake.server.tenant" in cmdline(pid):
                found.add(pid)
    return found


def cmdline(pid: int) -> bytes:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def eventually(predicate, timeout: float = 20.0) -> bool:
    """Poll for a state the server reaches on its own (a process exiting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_tenants_are_apart(serve, tmp_path):
    make_tenants(tmp_path, ["alpha", "beta"])
    server = serve(CADDYFILE % ("wsgi", ""))
    workers = server.worker_pids()
    alpha = get(server, "alpha", "/set").json()
    beta = get(server, "beta").json()
    assert alpha["folder"] == "alpha" and beta["folder"] == "beta"  # both `app`, both load
    assert alpha["pid"] != beta["pid"] and not {alpha["pid"], beta["pid"]} & workers
    assert beta == {**beta, "leaked": None, "json": False, "token": 0}
    again = get(server, "alpha").json()
    assert again["pid"] == alpha["pid"] and again["leaked"] == "yes" and again["token"] == 1
    # The client as the app would see it in-process; the private field a
    # client sends is dropped, never trusted.
    forged = get(server, "beta", headers={"X-Fastsnake-Client": "6.6.6.6"}).json()
    assert forged["remote"] == "127.0.0.1" and forged["private"] is None
    assert forged["scheme"] == "http"
    assert tenant_pids(server) == {alpha["pid"], beta["pid"]}


def test_a_crash_is_a_502_for_that_request_only(serve, tmp_path):
    make_tenants(tmp_path, ["alpha", "beta"])
    server = serve(CADDYFILE % ("wsgi", ""))
    first = get(server, "alpha").json()["pid"]
    beta = get(server, "beta").json()["pid"]
    assert get(server, "alpha", "/crash").status_code == 502
    assert get(server, "beta").json()["pid"] == beta
    assert server.wait_for_text("exited with code 1")
    restarted = get(server, "alpha")
    assert restarted.status_code == 200 and restarted.json()["pid"] != first


def test_at_most_max_dynamic_apps_processes(serve, tmp_path):
    make_tenants(tmp_path, ["t1", "t2", "t3"])
    server = serve(CADDYFILE % ("wsgi", "max_dynamic_apps 2"))
    for name in ["t1", "t2", "t3", "t1"]:
        assert get(server, name).status_code == 200
        assert eventually(lambda: len(tenant_pids(server)) <= 2)
    assert server.log.count("max_dynamic_apps 2 reached") == 2


def test_idle_tenant_is_stopped(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"])
    server = serve(CADDYFILE % ("wsgi", ""), env={"FASTSNAKE_TENANT_IDLE_TTL": "0.3"})
    pid = get(server, "alpha").json()["pid"]
    assert server.wait_for_text("idle for 0.3s")
    assert eventually(lambda: not alive(pid))
    assert get(server, "alpha").json()["pid"] != pid  # started again


def test_bodies_relay_intact_both_ways(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"])
    server = serve(CADDYFILE % ("wsgi", ""))
    body = os.urandom(1024 * 1024)
    echoed = requests.post(server.base_url + "/echo", data=body, timeout=30,
                           headers={"Host": "alpha.example.com"})
    assert echoed.status_code == 200 and echoed.content == body
    chunked = requests.post(server.base_url + "/echo", data=iter([body[:1000], body[1000:]]),
                            timeout=30, headers={"Host": "alpha.example.com"})
    assert chunked.content == body
    streamed = get(server, "alpha", "/stream")
    assert streamed.content == b"".join(bytes([n]) * 65536 for n in range(16))


def test_websocket_through_a_tenant(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"], ASGI_ECHO)
    server = serve(CADDYFILE % ("asgi", ""))
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: alpha.example.com\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        accept = base64.b64encode(hashlib.sha1(
            key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        assert accept in head
        sock.sendall(raw(FIN | 0x1, b"hello"))
        while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
            rest += sock.recv(65536)
        assert split_server_frame(rest) == (FIN | 0x1, b"echo hello")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert parse_responses(data)[0][2] == b"asgi"


def test_a_slow_start_is_a_504(serve, tmp_path):
    make_tenants(tmp_path, ["slow"], "import time\ntime.sleep(3)\n" + WSGI_TENANT)
    server = serve(CADDYFILE % ("wsgi", "start_timeout 500ms"))
    assert get(server, "slow").status_code == 504
    assert server.wait_for_text("not ready within start_timeout")


def test_no_tenant_outlives_the_server(serve, tmp_path):
    make_tenants(tmp_path, ["alpha", "beta"])
    server = serve(CADDYFILE % ("wsgi", ""))
    pids = {get(server, name).json()["pid"] for name in ("alpha", "beta")}
    assert server.stop() == 0
    assert not any(alive(pid) for pid in pids)


def test_a_killed_worker_takes_its_tenants(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"])
    server = serve(CADDYFILE % ("wsgi", ""))
    pid = get(server, "alpha").json()["pid"]
    (worker,) = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    assert eventually(lambda: not alive(pid))  # PR_SET_PDEATHSIG


def test_https_ends_at_the_front(serve, tmp_path):
    from tests.functional.test_tls import https_get, make_cert

    make_tenants(tmp_path, ["alpha"])
    cert, key = make_cert(tmp_path, "localhost")
    server = serve(f"""
https://localhost:$PORT {{
    tls {cert} {key}
    python {{
        module_wsgi "app:app"
        working_dir "tenants/{{path.0}}"
        workers 1
    }}
}}
""")
    _, reply = https_get(server.port, "localhost", cert, "/alpha/")
    assert reply.startswith(b"HTTP/1.1 200")
    assert b'"scheme": "https"' in reply and b'"folder": "alpha"' in reply


def test_sighup_retires_the_old_workers_tenants(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"])
    server = serve(CADDYFILE % ("wsgi", ""))
    old = get(server, "alpha").json()["pid"]
    server.signal(signal.SIGHUP)
    assert eventually(lambda: not alive(old))
    assert get(server, "alpha").json()["pid"] != old


def test_head_and_keep_alive_through_a_tenant(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"])
    server = serve(CADDYFILE % ("wsgi", ""))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"HEAD /echo HTTP/1.1\r\nHost: alpha.example.com\r\n"
                     b"Content-Length: 3\r\n\r\nabc"
                     b"GET / HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_answer, get_answer = parse_responses(data, ["HEAD", "GET"])
    assert head_answer[0] == 200 and head_answer[2] == b""
    assert head_answer[1]["content-length"] == "3"
    assert get_answer[0] == 200 and b'"folder": "alpha"' in get_answer[2]


LIFESPAN_APP = '''
import pathlib

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "started"
                await send({"type": "lifespan.startup.complete"})
            else:
                pathlib.Path("shut-down").write_text("yes")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["state"]["greeting"].encode()})
'''


def test_lifespan_runs_in_the_tenant_process(serve, tmp_path):
    make_tenants(tmp_path, ["alpha"], LIFESPAN_APP)
    server = serve(CADDYFILE % ("asgi", "lifespan on"))
    assert get(server, "alpha").text == "started"
    assert server.stop() == 0
    assert (tmp_path / "tenants" / "alpha" / "shut-down").read_text() == "yes"
