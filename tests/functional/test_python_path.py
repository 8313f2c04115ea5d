"""caddy-snake 0.6's ``python_path``: the server runs under the named
interpreter's environment (its packages, its Python), with a real venv made
by the test in which fastsnake is importable."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import requests

APP = """import sys

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{sys.prefix}|{__import__('only_here').MARK}".encode()]
"""


def make_environment(folder: Path) -> Path:
    """A venv that sees this checkout's fastsnake (through this environment's
    site-packages) and holds a package only it has."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "fastsnake_under_test.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    Path(purelib, "only_here.py").write_text("MARK = 'from the other environment'\n")
    return python


def test_the_server_runs_under_python_path(serve, tmp_path: Path) -> None:
    python = make_environment(tmp_path / "other-env")
    (tmp_path / "app.py").write_text(APP)
    server = serve(f":$PORT {{\n\tpython {{\n\t\tmodule_wsgi app:app\n"
                   f"\t\tworking_dir \"{tmp_path}\"\n\t\tpython_path \"{python}\"\n\t}}\n}}\n")
    prefix, mark = requests.get(server.base_url, timeout=10).text.split("|")
    assert Path(prefix).resolve() == (tmp_path / "other-env").resolve()
    assert mark == "from the other environment"
    assert f"starting again under {python}" in server.log
    assert sys.prefix != prefix


def test_validate_names_the_missing_fastsnake(tmp_path: Path) -> None:
    venv.EnvBuilder(with_pip=False).create(tmp_path / "bare")
    python = tmp_path / "bare" / "bin" / "python"
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f":8080 {{\n\tpython {{\n\t\tmodule_wsgi app:app\n"
                         f"\t\tpython_path \"{python}\"\n\t}}\n}}\n")
    done = subprocess.run([sys.executable, "-m", "fastsnake", "validate", "--config",
                           str(caddyfile)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"{caddyfile}:4: python_path '{python}' cannot import fastsnake" in done.stderr
