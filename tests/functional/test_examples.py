"""Every app in examples/, served from its own Caddyfile by a real fastsnake.

Each test copies the example's folder to tmp_path, puts ``$PORT`` in place
of the Caddyfile's fixed port (its relative ``working_dir`` then points at
the copy) and drives it with real clients. The examples' behaviour is what
their READMEs promise; the framework tests in test_frameworks*.py cover the
frameworks themselves.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest
import requests

from tests.server import REPO, RunningServer

EXAMPLES = REPO / "examples"
MiB = 1024 * 1024


def start_example(serve, tmp_path, name: str) -> RunningServer:
    source = EXAMPLES / name
    shutil.copytree(source, tmp_path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
    text, count = re.subn(r"(?m)^(\S*):\d+(\s*\{)", r"\1:$PORT\2",
                          (source / "Caddyfile").read_text())
    assert count == 1, "expected one site address with a port"
    # A short grace period: a test that fails with a client still connected
    # should not wait the default 30 s at teardown.
    return serve("{\n\tgrace_period 3s\n}\n" + text)


def stop_cleanly(server: RunningServer) -> str:
    assert server.stop() == 0
    assert "Traceback" not in server.log, server.log
    return server.log


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_examples_are_all_tested():
    tested = {"hello", "flask", "django", "fastapi", "starlette", "channels", "socketio",
              "multitenant"}
    assert {p.name for p in EXAMPLES.iterdir() if (p / "Caddyfile").exists()} == tested
    ports = [re.search(r"(?m)^\S*:(\d+)\s*\{", (EXAMPLES / n / "Caddyfile").read_text())[1]
             for n in sorted(tested)]
    assert len(set(ports)) == len(ports), "each example needs a port of its own"


# -- flask ------------------------------------------------------------------------


def test_flask_notes_from_many_threads(serve, tmp_path):
    pytest.importorskip("flask")
    server = start_example(serve, tmp_path, "flask")
    base = server.base_url + "/notes"

    def life_of_a_note(n: int) -> int | None:
        with requests.Session() as http:
            created = http.post(base, json={"text": f"note {n}", "tags": ["t"]}, timeout=10)
            assert created.status_code == 201
            note_id = created.json()["id"]
            assert http.get(f"{base}/{note_id}", timeout=10).json()["text"] == f"note {n}"
            replaced = http.put(f"{base}/{note_id}", json={"text": f"note {n}!"}, timeout=10)
            assert replaced.json() == {"id": note_id, "text": f"note {n}!", "tags": []}
            if n % 2:
                assert http.delete(f"{base}/{note_id}", timeout=10).status_code == 204
                assert http.get(f"{base}/{note_id}", timeout=10).status_code == 404
                return None
            return note_id

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        kept = [i for i in pool.map(life_of_a_note, range(120)) if i is not None]
    # One worker process: every request saw the same dict.
    listed = requests.get(base, timeout=10).json()
    assert sorted(note["id"] for note in listed) == sorted(kept)
    assert len(set(kept)) == len(kept) == 60

    big = "x" * (4 * MiB)
    created = requests.post(base, json={"text": big}, timeout=30)
    assert created.status_code == 201
    again = requests.get(f"{base}/{created.json()['id']}", timeout=30).json()
    assert again["text"] == big

    wrong = requests.post(base, data=b"not json", timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "Bad Request"
    stop_cleanly(server)


def test_flask_multipart_upload(serve, tmp_path):
    pytest.importorskip("flask")
    server = start_example(serve, tmp_path, "flask")
    first, second = os.urandom(3 * MiB), os.urandom(MiB + 17)
    resp = requests.post(server.base_url + "/upload", timeout=30, data={"note": "two files"},
                         files=[("doc", ("a.bin", first)), ("doc", ("b.bin", second))])
    assert resp.status_code == 200
    assert resp.json() == {
        "files": [
            {"field": "doc", "filename": "a.bin", "size": len(first), "sha256": sha256(first)},
            {"field": "doc", "filename": "b.bin", "size": len(second),
             "sha256": sha256(second)},
        ],
        "form": {"note": "two files"},
    }
    # Uploads from several clients at once, each read in full.
    blobs = [os.urandom(MiB * 2 + n) for n in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda blob: requests.post(server.base_url + "/upload", timeout=30,
                                       files={"f": ("x", blob)}).json(), blobs))
    assert [a["files"][0]["sha256"] for a in answers] == [sha256(b) for b in blobs]
    assert requests.post(server.base_url + "/upload", timeout=10).status_code == 400
    stop_cleanly(server)


# -- django -----------------------------------------------------------------------


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page
    return match[1]


def test_django_guestbook_csrf_sessions_and_static(serve, tmp_path):
    pytest.importorskip("django")
    shutil.copytree(EXAMPLES / "django", tmp_path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=tmp_path, check=True, timeout=60)
    server = start_example(serve, tmp_path, "django")
    base = server.base_url

    with requests.Session() as browser:
        page = browser.get(base + "/", timeout=10)
        assert page.status_code == 200 and "Your session holds 0 entries." in page.text
        token = csrf_token(page.text)
        # Without the token: CsrfViewMiddleware refuses the POST.
        refused = browser.post(base + "/sign/", data={"name": "eve", "message": "hi"},
                               timeout=10)
        assert refused.status_code == 403
        invalid = browser.post(base + "/sign/", timeout=10,
                               data={"csrfmiddlewaretoken": token, "name": "ann"})
        assert invalid.status_code == 400 and "errorlist" in invalid.text
        # Two worker processes answer in turn; the session is in the cookie.
        for n in range(12):
            signed = browser.post(base + "/sign/", allow_redirects=False, timeout=10,
                                  data={"csrfmiddlewaretoken": token, "name": "ann",
                                        "message": f"hello {n}"})
            assert signed.status_code == 302 and signed.headers["Location"] == "/"
        page = browser.get(base + "/", timeout=10).text
        assert "Your session holds 10 entries." in page
        assert "hello 1<" not in page and "hello 2<" in page and "hello 11<" in page
        browser.post(base + "/forget/", data={"csrfmiddlewaretoken": token}, timeout=10)
        assert "Your session holds 0 entries." in browser.get(base + "/", timeout=10).text

    # Another visitor has a session of their own.
    assert "holds 0 entries" in requests.get(base + "/", timeout=10).text
    css = requests.get(base + "/static/guestbook/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.content == (tmp_path / "guestbook/static/guestbook/style.css").read_bytes()
    assert css.headers["ETag"]  # file_server, not Django, answers /static/
    admin_css = requests.get(base + "/static/admin/css/base.css", timeout=10,
                             headers={"Accept-Encoding": "gzip"})
    assert admin_css.status_code == 200 and admin_css.headers["Content-Encoding"] == "gzip"
    login = requests.get(base + "/admin/login/", timeout=10)
    assert login.status_code == 200 and "/static/admin/css/" in login.text
    assert requests.get(base + "/static/nothing.css", timeout=10).status_code == 404
    assert requests.get(base + "/static/../mysite/settings.py", timeout=10).status_code == 404
    stop_cleanly(server)


# -- fastapi ----------------------------------------------------------------------


@pytest.fixture
def fastapi_example(serve, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("python_multipart", reason="FastAPI's uploads need python-multipart")
    return start_example(serve, tmp_path, "fastapi")


def test_fastapi_lifespan_json_upload_and_stream(fastapi_example):
    server = fastapi_example
    base = server.base_url
    pids = {requests.get(base + "/", timeout=10).json()["worker_pid"] for _ in range(20)}
    assert pids <= set(server.worker_pids())

    body = "é" * (2 * MiB)  # 4 MiB of UTF-8
    resp = requests.post(base + "/documents", json={"title": "big", "body": body}, timeout=30)
    assert resp.json() == {"title": "big", "length": len(body),
                           "sha256": sha256(body.encode())}
    assert requests.post(base + "/documents", json={"title": 1}, timeout=10).status_code == 422

    blob = os.urandom(3 * MiB)
    resp = requests.post(base + "/upload", files={"file": ("data.bin", blob, "image/png")},
                         data={"note": "a picture"}, timeout=30)
    assert resp.json() == {"filename": "data.bin", "content_type": "image/png",
                           "size": len(blob), "sha256": sha256(blob), "note": "a picture"}

    with requests.get(base + "/stream?count=3000", stream=True, timeout=30) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        lines = b"".join(resp.iter_content(8192)).decode().splitlines()
    assert lines == [f"line {i}: {'.' * 64}" for i in range(3000)]
    assert server.wait_for_text("stream ended after 3000 of 3000 lines")

    log = stop_cleanly(server)
    # Lifespan: one startup and one shutdown in each of the two workers.
    assert len(re.findall(r"\[\d+\]: startup", log)) == 2
    assert len(re.findall(r"\[\d+\]: shutdown", log)) == 2


def test_fastapi_abandoned_stream(fastapi_example):
    server = fastapi_example
    with requests.get(server.base_url + "/stream?count=100000&delay=0.001", stream=True,
                      timeout=10) as resp:
        received = 0
        for chunk in resp.iter_content(4096):
            received += len(chunk)
            if received > 16 * 1024:
                break  # hang up half-way
    ended = server.wait_for(lambda line: "stream ended after" in line)
    assert ended is not None and not ended.endswith("100000 of 100000 lines")
    assert requests.get(server.base_url + "/", timeout=10).status_code == 200
    stop_cleanly(server)


def test_fastapi_websocket_sessions(fastapi_example):
    pytest.importorskip("websockets")
    from websockets.sync.client import connect

    server = fastapi_example
    url = f"ws://127.0.0.1:{server.port}/ws"

    def session(n: int) -> int:
        with connect(url) as ws:
            total = 0
            for i in range(40):
                ws.send(json.dumps({"add": n + i}))
                total += n + i
                assert json.loads(ws.recv(timeout=10)) == {"total": total}
            ws.send(json.dumps({"add": "one"}))
            assert "error" in json.loads(ws.recv(timeout=10))
            return total

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        totals = list(pool.map(session, range(6)))
    assert totals == [sum(n + i for i in range(40)) for n in range(6)]
    for n in range(6):
        assert server.wait_for_text(f"websocket closed with code 1000; total was {totals[n]}")
    stop_cleanly(server)


# -- starlette --------------------------------------------------------------------


def test_starlette_file_response(serve, tmp_path):
    pytest.importorskip("starlette")
    server = start_example(serve, tmp_path, "starlette")
    url = server.base_url + "/download/price-list.csv"
    data = (tmp_path / "downloads" / "price-list.csv").read_bytes()
    full = requests.get(url, timeout=10)
    assert full.status_code == 200 and full.content == data
    assert full.headers["Content-Length"] == str(len(data))
    assert full.headers["Content-Disposition"] == 'attachment; filename="price-list.csv"'
    etag = full.headers["ETag"]
    part = requests.get(url, headers={"Range": "bytes=5-14"}, timeout=10)
    assert part.status_code == 206 and part.content == data[5:15]
    assert part.headers["Content-Range"] == f"bytes 5-14/{len(data)}"
    # If-Range with the current ETag: the range; with another: the whole file.
    assert requests.get(url, headers={"Range": "bytes=0-3", "If-Range": etag},
                        timeout=10).content == data[:4]
    assert requests.get(url, headers={"Range": "bytes=0-3", "If-Range": '"old"'},
                        timeout=10).content == data
    head = requests.head(url, timeout=10)
    assert head.headers["Content-Length"] == str(len(data)) and head.content == b""
    for missing in ("nothing.csv", "..%2Fapp.py"):
        assert requests.get(server.base_url + "/download/" + missing,
                            timeout=10).status_code == 404
    stop_cleanly(server)


def test_starlette_background_tasks_run_after_the_response(serve, tmp_path):
    pytest.importorskip("starlette")
    server = start_example(serve, tmp_path, "starlette")
    base = server.base_url
    with requests.Session() as http:
        resp = http.post(base + "/signup", data={"email": "ann@example.com"}, timeout=10)
        assert resp.status_code == 202
        # The task sleeps 0.5 s before it sends: the response did not wait for
        # it, and the same keep-alive connection is answered meanwhile.
        assert http.get(base + "/outbox", timeout=10).json() == []
    assert server.wait_for_text("welcome mail sent to ann@example.com")
    emails = [f"user{n}@example.com" for n in range(10)]
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda email: requests.post(
            base + "/signup", json={"email": email}, timeout=10).status_code, emails))
    assert codes == [202] * 10
    for email in emails:
        assert server.wait_for_text(f"welcome mail sent to {email}")
    sent = {m["to"] for m in requests.get(base + "/outbox", timeout=10).json()}
    assert sent == {"ann@example.com", *emails}
    assert requests.post(base + "/signup", data={"email": "nope"}, timeout=10).status_code == 400
    stop_cleanly(server)


# -- channels ---------------------------------------------------------------------


def test_channels_chat_rooms(serve, tmp_path):
    pytest.importorskip("channels")
    pytest.importorskip("websockets")
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = start_example(serve, tmp_path, "channels")
    page = requests.get(server.base_url + "/?room=kitchen", timeout=10)
    assert page.status_code == 200
    assert '<script id="room-name" type="application/json">"kitchen"</script>' in page.text

    origin = f"http://127.0.0.1:{server.port}"
    url = f"ws://127.0.0.1:{server.port}/ws/chat/%s/"
    with contextlib.ExitStack() as stack:
        people = [stack.enter_context(connect(url % "kitchen", origin=origin))
                  for _ in range(5)]
        elsewhere = stack.enter_context(connect(url % "attic", origin=origin))
        for n, ws in enumerate(people):
            ws.send(json.dumps({"name": f"p{n}", "text": f"hi from {n}"}))
        for ws in people:
            heard = sorted(json.loads(ws.recv(timeout=10))["text"] for _ in people)
            assert heard == sorted(f"hi from {n}" for n in range(5))
        elsewhere.send(json.dumps({"name": "x", "text": "  "}))
        assert json.loads(elsewhere.recv(timeout=10)) == {"error": "empty message"}
        elsewhere.send(json.dumps({"text": "anyone?"}))
        assert json.loads(elsewhere.recv(timeout=10)) == {
            "room": "attic", "name": "anonymous", "text": "anyone?"}
        with pytest.raises(TimeoutError):  # the kitchen did not hear the attic
            people[0].recv(timeout=0.3)
    # A page of another site may not open the chat (its Origin is refused).
    with pytest.raises(InvalidStatus) as refused:
        connect(url % "kitchen", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    stop_cleanly(server)


# -- socketio ---------------------------------------------------------------------


def test_socketio_rooms(serve, tmp_path):
    socketio = pytest.importorskip("socketio")
    server = start_example(serve, tmp_path, "socketio")
    page = requests.get(server.base_url + "/", timeout=10)
    assert page.status_code == 200 and "<title>Socket.IO rooms</title>" in page.text

    heard: dict[str, list] = {}
    lock = threading.Lock()
    bob_heard = threading.Event()
    clients = {}
    try:
        for name, room in [("ann", "red"), ("bob", "red"), ("cy", "blue"), ("di", "red")]:
            client = socketio.Client(reconnection=False)
            heard[name] = []

            def record(data, name=name):
                with lock:
                    heard[name].append(data)
                    if name == "bob" and data.get("text") == "hello red":
                        bob_heard.set()

            client.on("message", record)
            client.on("notice", record)
            client.connect(server.base_url, transports=["websocket"], wait_timeout=10)
            clients[name] = client
            assert client.call("join", {"room": room, "name": name}, timeout=10) == {
                "joined": room}
        assert clients["cy"].call("say", {"room": "red", "text": "x"}, timeout=10) == {
            "error": "join 'red' first"}
        assert clients["di"].call("leave", {"room": "red"}, timeout=10) == {"left": "red"}
        assert clients["ann"].call("say", {"room": "red", "text": "hello red"},
                                   timeout=10) == {"sent": True}
        assert clients["cy"].call("say", {"room": "blue", "text": "hello blue"},
                                  timeout=10) == {"sent": True}
        # An acknowledged call returns once the server has emitted to the
        # room; delivery to the others is asynchronous.
        assert bob_heard.wait(10)
    finally:
        for client in clients.values():
            client.disconnect()
    said = {name: [m["text"] for m in heard[name] if "name" in m] for name in heard}
    assert said == {"ann": ["hello red"], "bob": ["hello red"], "cy": ["hello blue"],
                    "di": []}
    assert [m["text"] for m in heard["ann"] if "name" not in m] == [
        "ann joined", "bob joined", "di joined", "di left"]
    stop_cleanly(server)


# -- multitenant ------------------------------------------------------------------


def test_multitenant_by_subdomain(serve, tmp_path):
    pytest.importorskip("flask")
    server = start_example(serve, tmp_path, "multitenant")

    def get(host: str, path: str = "/") -> requests.Response:
        return requests.get(server.base_url + path, headers={"Host": host}, timeout=10)

    hosts = ["acme.localhost", "globex.localhost"] * 20
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        texts = list(pool.map(lambda host: get(host).text, hosts))
    assert texts == [
        "Welcome to ACME Corp.\n" if h.startswith("acme") else
        "Globex Corporation: hello from a plain WSGI app.\n" for h in hosts]
    assert get("acme.localhost", "/orders").json()[0]["item"] == "anvil"
    assert get(f"globex.localhost:{server.port}", "/status").json() == {
        "tenant": "globex", "host": f"globex.localhost:{server.port}"}
    # Each tenant was imported once, on its first request.
    assert server.log.count("created dynamic app acme:app") == 1
    assert server.log.count("created dynamic app globex:app") == 1
    # No folder for this tenant: 404, and no import attempted.
    assert get("initech.localhost").status_code == 404
    # *.localhost matches exactly one label: these reach no tenant.
    for host in ("localhost", "a.acme.localhost", "example.com"):
        assert "ACME" not in get(host).text

    # Autoreload: an edit to one tenant replaces that tenant only.
    mark = len(server.lines)
    source = tmp_path / "tenants" / "acme" / "acme.py"
    source.write_text(source.read_text().replace("Welcome to ACME Corp.", "ACME, reloaded."))
    assert server.wait_for(
        lambda line: "evicted 1 dynamic app(s) of" in line and line.endswith("acme"), start=mark)
    assert get("acme.localhost").text == "ACME, reloaded.\n"
    assert server.log.count("created dynamic app acme:app") == 2
    assert server.log.count("created dynamic app globex:app") == 1
    # A new tenant is a new folder, served without a restart.
    (tmp_path / "tenants" / "initech").mkdir()
    (tmp_path / "tenants" / "initech" / "initech.py").write_text(
        (tmp_path / "tenants" / "globex" / "globex.py").read_text().replace("Globex", "Initech"))
    assert get("initech.localhost").text.startswith("Initech Corporation")
    stop_cleanly(server)


# -- hello ------------------------------------------------------------------------


def test_hello(serve, tmp_path):
    server = start_example(serve, tmp_path, "hello")
    assert requests.get(server.base_url + "/?name=you", timeout=10).text == (
        "Hello, you! (served by fastsnake)\n")
    stop_cleanly(server)
