"""caddy-snake's documented configurations, run as written.

Each test serves a Caddyfile in the shape caddy-snake's docs and its own
integration tests (tests/<app>/Caddyfile there) use: the global options
block with ``http_port``/``https_port``/``log { level info }``, a
``localhost:PORT`` site, ``python /item/* { ... }`` routes with a relative
``venv "./venv"`` and a ``route / { respond 404 }`` fallback; the dynamic
multi-tenant site on ``*.127.0.0.1.nip.io`` with ``{http.request.host.labels.6}``
in the module, working_dir and env_var; ``start_timeout`` with an app that
sleeps while importing; the ``runtime`` values; ``module_esgi`` on gevent
(the rest of ESGI: test_esgi.py); branch previews with on-demand TLS and
``permission python_dir``. The apps are this project's
own, of the same kinds (Flask behind wsgiref's validator, FastAPI with a
lifespan, Django). Configurations with an equivalent test elsewhere are
not repeated here: Channels and Socket.IO (test_frameworks_realtime.py,
test_examples.py), ``runtime gevent`` (test_gevent.py), ``python_path`` to
another environment (test_python_path.py), autoreload (test_reload.py), and
``isolation docker`` (refused by name: tests/unit/config/test_python_caddysnake06.py).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
import requests

from tests.server import BANNER, free_port
from tests.websocket_helpers import RawClient

# caddy-snake's integration Caddyfiles all open with this global block.
GLOBAL = """{
\thttp_port $PORT
\thttps_port %d
\tlog {
\t\tlevel info
\t}
}
"""


def caddyfile(body: str) -> str:
    return GLOBAL % free_port() + body


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def make_venv(root: Path) -> None:
    """``./venv`` next to the Caddyfile, as caddy-snake's tests make it, holding
    a module only the app's venv has (so the test shows the venv is used)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    Path(purelib, "venv_marker.py").write_text('WHERE = "from the venv"\n')


class Localhost:
    """Requests to a ``localhost:PORT`` site, sent to 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.session.headers["Host"] = f"localhost:{port}"

    def __call__(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=10, **kwargs)


FLASK_APP = """
    from wsgiref.validate import validator

    from flask import Flask, abort, request

    import venv_marker

    flask_app = Flask(__name__)
    items = {}

    @flask_app.get("/item/<key>")
    def get_item(key):
        if key not in items:
            abort(404)
        return {"key": key, "value": items[key], "venv": venv_marker.WHERE}

    @flask_app.post("/item/<key>")
    def put_item(key):
        items[key] = request.get_json()["value"]
        return {"stored": key}, 201

    @flask_app.delete("/item/<key>")
    def delete_item(key):
        return {"deleted": items.pop(key, None) is not None}

    @flask_app.post("/item/upload/file")
    def upload():
        blob = request.files["blob"]
        return {"name": blob.filename, "size": len(blob.read()), "note": request.form["note"]}

    app = validator(flask_app)
"""

FLASK_SITE = """localhost:$PORT {
\tpython /item/* {
\t\tmodule_wsgi "main:app"
\t\tworkers 1
\t\tvenv "./venv"
\t}

\troute / {
\t\trespond 404
\t}
}
"""


def test_flask_behind_the_validator(serve, tmp_path):
    pytest.importorskip("flask")
    write(tmp_path, {"main.py": FLASK_APP})
    make_venv(tmp_path)
    server = serve(caddyfile(FLASK_SITE))
    call = Localhost(server.port)
    assert call("POST", "/item/a", json={"value": [1, 2]}).status_code == 201
    assert call("GET", "/item/a").json() == {"key": "a", "value": [1, 2],
                                             "venv": "from the venv"}
    assert call("DELETE", "/item/a").json() == {"deleted": True}
    assert call("GET", "/item/a").status_code == 404
    payload = bytes(range(256)) * 4096
    answer = call("POST", "/item/upload/file", data={"note": "hi"},
                  files={"blob": ("data.bin", payload)})
    assert answer.json() == {"name": "data.bin", "size": len(payload), "note": "hi"}
    assert call("GET", "/").status_code == 404
    assert "AssertionError" not in server.log  # the validator found nothing wrong


FASTAPI_APP = """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    state = {}

    @asynccontextmanager
    async def lifespan(app):
        state["started"] = True
        yield
        state.clear()

    app = FastAPI(lifespan=lifespan)

    @app.get("/item/{key}")
    async def get_item(key: str):
        return {"key": key, "value": state.get(key), "started": state.get("started")}

    @app.post("/item/{key}")
    async def put_item(key: str, body: dict):
        state[key] = body["value"]
        return {"stored": key}

    @app.get("/other/")
    async def other():
        return {"other": True}

    @app.get("/stream/{count}")
    async def stream(count: int):
        async def lines():
            for n in range(count):
                yield f"line {n}\\n"
        return StreamingResponse(lines(), media_type="text/plain")
"""

# caddy-snake's FastAPI test mounts the same module once per path.
FASTAPI_SITE = "localhost:$PORT {\n" + "".join(f"""\tpython {path} {{
\t\tmodule_asgi "main:app"
\t\tlifespan on
\t\tworkers 1
\t\tvenv "./venv"
\t}}

""" for path in ("/item/*", "/other/", "/stream/*")) + "\troute / {\n\t\trespond 404\n\t}\n}\n"


def test_fastapi_with_lifespan_on_three_paths(serve, tmp_path):
    pytest.importorskip("fastapi")
    write(tmp_path, {"main.py": FASTAPI_APP})
    make_venv(tmp_path)
    server = serve(caddyfile(FASTAPI_SITE))
    call = Localhost(server.port)
    assert call("POST", "/item/k", json={"value": "v"}).json() == {"stored": "k"}
    answer = call("GET", "/item/k").json()
    # Every python directive of the same module shares one app in a worker.
    assert answer["started"] is True
    assert call("GET", "/other/").json() == {"other": True}
    assert call("GET", "/stream/3").text == "line 0\nline 1\nline 2\n"
    assert call("GET", "/").status_code == 404


DJANGO_FILES = {
    "mysite/__init__.py": "",
    "mysite/settings.py": """
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["localhost"]
        ROOT_URLCONF = "mysite.urls"
        INSTALLED_APPS = []
        MIDDLEWARE = []
        DATABASES = {}
        USE_TZ = True
    """,
    "mysite/urls.py": """
        import json

        from django.http import JsonResponse
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt

        import venv_marker

        items = {}

        @csrf_exempt
        def item(request, key):
            if request.method == "POST":
                items[key] = json.loads(request.body)["value"]
                return JsonResponse({"stored": key}, status=201)
            if key not in items:
                return JsonResponse({"missing": key}, status=404)
            return JsonResponse({"value": items[key], "venv": venv_marker.WHERE})

        urlpatterns = [path("item/<str:key>", item)]
    """,
    "mysite/wsgi.py": """
        import os

        from django.core.wsgi import get_wsgi_application

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_wsgi_application()
    """,
}

DJANGO_SITE = FLASK_SITE.replace('"main:app"', '"mysite.wsgi:application"')


def test_django_project_without_working_dir(serve, tmp_path):
    pytest.importorskip("django")
    write(tmp_path, DJANGO_FILES)  # next to the Caddyfile: no working_dir, as there
    make_venv(tmp_path)
    server = serve(caddyfile(DJANGO_SITE))
    call = Localhost(server.port)
    assert call("POST", "/item/x", json={"value": 3}).status_code == 201
    assert call("GET", "/item/x").json() == {"value": 3, "venv": "from the venv"}
    assert call("GET", "/item/y").status_code == 404
    assert call("GET", "/").status_code == 404


TENANT_APP = """
    import os

    NAMES = ("APP_TEST_FROM_FILE", "APP_TEST_INLINE", "APP_TEST_OVERRIDE")

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/hello":
            body = "hello from %s" % __name__
        else:
            body = os.environ.get(scope["path"].rpartition("/")[2], "-")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body.encode()})
"""

DYNAMIC_SITE = """*.127.0.0.1.nip.io:$PORT {
\tpython /* {
\t\tmodule_asgi "{http.request.host.labels.6}:app"
\t\tworking_dir "{http.request.host.labels.6}/"
\t\tenv_file ".env"
\t\tenv_var APP_TEST_INLINE "{http.request.host.labels.6}_inline"
\t\tenv_var APP_TEST_OVERRIDE "override_{http.request.host.labels.6}"
\t\tworkers 1
\t}
}
"""


def test_dynamic_tenants_by_host_label_with_env_file_and_env_var(serve, tmp_path):
    for name in ("app1", "app2"):
        write(tmp_path / name, {
            f"{name}.py": TENANT_APP,
            ".env": f"APP_TEST_FROM_FILE={name}_file\nAPP_TEST_OVERRIDE={name}_from_file\n",
        })
    server = serve(caddyfile(DYNAMIC_SITE))

    def get(tenant: str, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{server.port}{path}", timeout=10,
                            headers={"Host": f"{tenant}.127.0.0.1.nip.io:{server.port}"})

    for name in ("app1", "app2", "app1"):
        assert get(name, "/hello").text == f"hello from {name}"
        assert get(name, "/env/APP_TEST_FROM_FILE").text == f"{name}_file"
        assert get(name, "/env/APP_TEST_INLINE").text == f"{name}_inline"
        # env_var is applied after env_file.
        assert get(name, "/env/APP_TEST_OVERRIDE").text == f"override_{name}"
    assert get("nobody", "/hello").status_code >= 400


SLOW_APP = """
    import os
    import time

    time.sleep(float(os.environ["START_DELAY"]))

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok-wsgi"]

    async def asgi_app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok-asgi"})
"""

# caddy-snake's start_timeout test writes this Caddyfile for each mode.
TIMEOUT_SITE = """{
\thttp_port $PORT
\thttps_port %d
\tauto_https off
\tlog {
\t\tlevel info
\t}
}
:$PORT {
\tpython /* {
\t\t%s
\t\tworking_dir "."
\t\tvenv "./venv"
\t\tworkers 1
\t\tstart_timeout %s
\t\tenv_var START_DELAY "%s"
\t}
}
"""

MODULES = {
    "wsgi": 'module_wsgi "app:wsgi_app"',
    "wsgi-sync": 'module_wsgi "app:wsgi_app"\n\t\truntime sync',
    "asgi": 'module_asgi "app:asgi_app"',
    "asgi-native": 'module_asgi "app:asgi_app"\n\t\truntime native',
    "asgi-uvloop": 'module_asgi "app:asgi_app"\n\t\truntime uvloop',
}


@pytest.mark.parametrize("mode", sorted(MODULES))
def test_a_worker_ready_within_start_timeout_serves(serve, tmp_path, mode):
    write(tmp_path, {"app.py": SLOW_APP})
    make_venv(tmp_path)
    server = serve(TIMEOUT_SITE % (free_port(), MODULES[mode], "10s", "0"))
    body = requests.get(server.base_url + "/", timeout=10).text
    assert body == "ok-" + mode.partition("-")[0]


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
def test_a_worker_slower_than_start_timeout_is_a_startup_failure(serve, tmp_path, mode):
    write(tmp_path, {"app.py": SLOW_APP})
    make_venv(tmp_path)
    server = serve(TIMEOUT_SITE % (free_port(), MODULES[mode], "1s", "30"), wait=False)
    assert server.proc.wait(60) != 0
    server.reader.join(5)
    assert BANNER not in server.log
    assert "start_timeout" in server.log, server.log


ESGI_APP = """
    def application(scope, protocol):
        if scope["proto"] == "ws":
            ws = protocol.accept()
            while (msg := ws.receive()).kind != 0:
                ws.send_str("got " + msg.data)
            return
        body = protocol.read_body() if scope["method"] == "POST" else b"hi"
        protocol.response_bytes(200, [("Content-Type", "text/plain")], body)
"""

ESGI_SITE = """localhost:$PORT {
\tpython /* {
\t\tmodule_esgi "main:application"
\t\truntime gevent
\t\tworkers 1
\t\tvenv "./venv"
\t}
}
"""


def test_esgi_on_gevent(serve, tmp_path):
    pytest.importorskip("gevent")
    write(tmp_path, {"main.py": ESGI_APP})
    make_venv(tmp_path)
    server = serve(caddyfile(ESGI_SITE))
    call = Localhost(server.port)
    assert call("GET", "/hello").text == "hi"
    assert call("POST", "/echo", data=b"payload").content == b"payload"
    client = RawClient(server, host=f"localhost:{server.port}")
    client.send(0x1, b"ping")
    assert client.recv() == (0x1, b"got ping")


PREVIEW_APP = """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"branch " + __name__.encode()})
"""

# caddy-snake's "pairing python_dir with dynamic Python" (branch previews),
# with the local CA as its own CI runs it.
PREVIEW_SITE = """{
\tstorage file_system data
\ton_demand_tls {
\t\tpermission python_dir {
\t\t\troot branches
\t\t\tdomain_suffix project.example
\t\t}
\t}
}

https://*.project.example:$PORT {
\ttls internal {
\t\ton_demand
\t}
\tpython /* {
\t\tmodule_asgi "{http.request.host.labels.2}:app"
\t\tworking_dir "branches/{http.request.host.labels.2}/"
\t}
}
"""


def test_branch_previews_with_python_dir_permission(serve, tmp_path):
    pytest.importorskip("cryptography")
    pytest.importorskip("acme")
    # Here, not at the top: that module skips itself without the https extra.
    from tests.functional.test_automatic_https import _root_when_made, https_get

    for branch in ("featurea", "featureb"):
        write(tmp_path / "branches" / branch, {f"{branch}.py": PREVIEW_APP})
    server = serve(PREVIEW_SITE)
    root = _root_when_made(tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt")
    for branch in ("featurea", "featureb"):
        status, body, _ = https_get(server.port, f"{branch}.project.example", root, timeout=60)
        assert (status, body) == (200, f"branch {branch}")
    with pytest.raises(ssl.SSLError):  # no folder: no certificate
        https_get(server.port, "nobranch.project.example", root, timeout=60)
    stored = {p.name for p in (tmp_path / "data" / "certificates").rglob("*.crt")}
    assert stored == {"featurea.project.example.crt", "featureb.project.example.crt"}
