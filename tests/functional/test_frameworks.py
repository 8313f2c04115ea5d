"""Real frameworks from the package index, served by a real fastsnake."""

from __future__ import annotations

import concurrent.futures
import pathlib
import textwrap

import pytest
import requests

FLASK_APP = '''
from flask import Flask, jsonify, request

app = Flask(__name__)
items = {}

@app.get("/items/<key>")
def get_item(key):
    if key not in items:
        return jsonify(error="missing"), 404
    return jsonify(key=key, value=items[key])

@app.put("/items/<key>")
def put_item(key):
    items[key] = request.get_json()["value"]
    return jsonify(key=key, value=items[key]), 201

@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(name=f.filename, size=len(data), form=request.form.get("note"))
'''

DJANGO_FILES = {
    "proj/__init__.py": "",
    "proj/settings.py": '''
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        ROOT_URLCONF = "proj.urls"
        INSTALLED_APPS = []
        MIDDLEWARE = []
        DATABASES = {}
        USE_TZ = True
    ''',
    "proj/urls.py": '''
        from django.http import HttpResponse, JsonResponse
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt

        def hello(request):
            return HttpResponse("hello from django " + request.GET.get("who", ""))

        @csrf_exempt
        def echo(request):
            return JsonResponse({"method": request.method, "size": len(request.body),
                                 "host": request.get_host(), "path": request.path})

        urlpatterns = [path("hello/", hello), path("echo/", echo)]
    ''',
    "proj/wsgi.py": '''
        import os
        from django.core.wsgi import get_wsgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        application = get_wsgi_application()
    ''',
}

CADDYFILE = """
:$PORT {
    python {
        module_wsgi "%s"
        working_dir %s
        workers 4
    }
}
"""


def write_files(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_flask_crud_and_upload_on_four_workers(serve, tmp_path):
    pytest.importorskip("flask")
    write_files(tmp_path / "site", {"app.py": FLASK_APP})
    server = serve(CADDYFILE % ("app:app", "site"))
    base = server.base_url

    def crud(n: int) -> None:
        with requests.Session() as session:
            key = f"k{n}"
            resp = session.put(f"{base}/items/{key}", json={"value": n}, timeout=10)
            assert resp.status_code == 201
            resp = session.get(f"{base}/items/{key}", timeout=10)
            # With 4 processes the item may live in another worker's memory.
            assert resp.status_code in (200, 404)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(crud, range(64)))
    payload = b"x" * (3 * 1024 * 1024)
    resp = requests.post(f"{base}/upload", files={"file": ("big.bin", payload)},
                         data={"note": "hi"}, timeout=30)
    assert resp.json() == {"name": "big.bin", "size": len(payload), "form": "hi"}


def test_django_project_on_four_workers(serve, tmp_path):
    pytest.importorskip("django")
    write_files(tmp_path / "djsite", DJANGO_FILES)
    server = serve(CADDYFILE % ("proj.wsgi:application", "djsite"))
    resp = requests.get(server.base_url + "/hello/?who=me", timeout=10)
    assert resp.status_code == 200
    assert resp.text == "hello from django me"
    body = b"a" * 100_000
    resp = requests.post(server.base_url + "/echo/", data=body, timeout=10)
    assert resp.json() == {"method": "POST", "size": len(body),
                           "host": f"127.0.0.1:{server.port}", "path": "/echo/"}
    # Chunked upload: Django trusts CONTENT_LENGTH, which fastsnake fills in.
    resp = requests.post(server.base_url + "/echo/", data=iter([body[:50_000], body[50_000:]]),
                         timeout=10)
    assert resp.json()["size"] == len(body)
    assert requests.get(server.base_url + "/nope/", timeout=10).status_code == 404
