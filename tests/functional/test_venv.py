"""``venv`` is a real environment: a venv made by ``python -m venv`` for
this Python, its ``.pth`` files honoured (an editable install, ``pip
install -e``, is one), and a venv of another Python refused at load."""

from __future__ import annotations

import subprocess
import sys

import requests

APP = '''
import editable_lib

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [editable_lib.GREETING.encode()]
'''

SITE = """
:$PORT {
    python {
        module_wsgi "main:app"
        working_dir "%s"
        venv "%s"
        workers 1
    }
}
"""


def make_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    return venv, site_packages


def test_a_venv_with_an_editable_install(serve, tmp_path):
    venv, site_packages = make_venv(tmp_path)
    source = tmp_path / "lib-source"  # the project an editable install points at
    source.mkdir()
    (source / "editable_lib.py").write_text("GREETING = 'from an editable install'\n")
    (site_packages / "__editable__.editable_lib.pth").write_text(f"{source}\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(APP)
    server = serve(SITE % (app, venv))
    assert requests.get(server.base_url, timeout=10).text == "from an editable install"


def test_a_venv_of_another_python_is_refused(tmp_path):
    other = f"python{sys.version_info[0]}.{sys.version_info[1] + 1}"
    (tmp_path / "venv" / "lib" / other / "site-packages").mkdir(parents=True)
    (tmp_path / "main.py").write_text(APP)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f':8080 {{\n\tpython {{\n\t\tmodule_wsgi "main:app"\n'
                         f'\t\tvenv "{tmp_path / "venv"}"\n\t}}\n}}\n')
    done = subprocess.run([sys.executable, "-m", "fastsnake", "validate", "--config",
                           str(caddyfile)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{caddyfile}:4:" in done.stderr
    assert f"is for another Python ({other})" in done.stderr
