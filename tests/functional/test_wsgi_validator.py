"""A WSGI app wrapped in wsgiref.validate.validator (caddy-snake's own Flask
example is) works for every kind of body: JSON, a form, a file upload and a
chunked body, as it does under caddy-snake."""

from __future__ import annotations

import pytest
import requests

APP = '''
from wsgiref.validate import validator
from flask import Flask, request

flask_app = Flask(__name__)

@flask_app.post("/json")
def json_body():
    return {"got": request.get_json()["n"] + 1}

@flask_app.post("/form")
def form():
    upload = request.files.get("file")
    return {"name": request.form["name"], "file": upload.read().decode() if upload else None}

@flask_app.post("/raw")
def raw():
    return {"length": len(request.get_data())}

app = validator(flask_app)
'''

SITE = """
:$PORT {
    python {
        module_wsgi "validated:app"
        working_dir "%s"
        %s
    }
}
"""


@pytest.mark.parametrize("runtime", ["workers 1", "workers_runtime thread"])
def test_a_validator_wrapped_flask_app_reads_every_body(serve, tmp_path, runtime):
    pytest.importorskip("flask")
    (tmp_path / "validated.py").write_text(APP)
    server = serve(SITE % (tmp_path, runtime))
    base = server.base_url
    assert requests.post(base + "/json", json={"n": 41}, timeout=10).json() == {"got": 42}
    assert requests.post(base + "/form", data={"name": "ann"}, timeout=10).json() == {
        "name": "ann", "file": None}
    response = requests.post(base + "/form", data={"name": "bob"},
                             files={"file": ("a.txt", b"contents")}, timeout=10)
    assert response.json() == {"name": "bob", "file": "contents"}
    chunks = (b"x" * 1000 for _ in range(50))  # a generator: sent chunked
    assert requests.post(base + "/raw", data=chunks, timeout=10).json() == {"length": 50000}
    assert "AssertionError" not in server.log
