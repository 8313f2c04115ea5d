"""env_file (dotenv syntax) and env_var: parsing, config errors, and the app sees them."""

from __future__ import annotations

import pytest
import requests

from fastsnake.config.dotenv import DotenvError, parse_dotenv
from fastsnake.config.loader import parse_config
from fastsnake.errors import CaddyfileError


@pytest.mark.parametrize("text, expected", [
    pytest.param("A=1\nB=two words\n", [("A", "1"), ("B", "two words")], id="bare"),
    pytest.param("# comment\n\nexport C=3\n", [("C", "3")], id="comment-export"),
    pytest.param("D='lit\\n $X'\n", [("D", "lit\\n $X")], id="single-quoted"),
    pytest.param('E="a\\nb \\"q\\""\n', [("E", 'a\nb "q"')], id="double-quoted"),
    pytest.param("F=value # trailing\n", [("F", "value")], id="inline-comment"),
    pytest.param("G=\n", [("G", "")], id="empty"),
    pytest.param("H=a=b\n", [("H", "a=b")], id="equals-in-value"),
])
def test_parse(text, expected):
    assert parse_dotenv(text) == expected


@pytest.mark.parametrize("text, message", [
    pytest.param("novalue\n", "line 1: expected NAME=value", id="no-equals"),
    pytest.param("\n1BAD=x\n", "line 2: invalid variable name", id="bad-name"),
    pytest.param("Q='open\n", "line 1: unterminated '-quoted value", id="unterminated"),
    pytest.param('R="x" tail\n', "line 1: unexpected text after", id="tail"),
])
def test_parse_errors(text, message):
    with pytest.raises(DotenvError, match=message):
        parse_dotenv(text)


def test_config_collects_env_in_order(tmp_path):
    (tmp_path / "app.env").write_text("FROM_FILE=1\nSHARED=file\n")
    text = (":8080 {\n python {\n  module_wsgi main:app\n  env_file app.env\n"
            "  env_var SHARED caddyfile\n  env_var OTHER \"x y\"\n }\n}\n")
    app = parse_config(text, str(tmp_path / "Caddyfile")).listeners[0].apps[0]
    assert app.env == (("FROM_FILE", "1"), ("SHARED", "file"), ("SHARED", "caddyfile"),
                       ("OTHER", "x y"))


@pytest.mark.parametrize("body, message", [
    pytest.param("env_file missing.env", "Caddyfile:4: env_file '.*missing.env': No such file",
                 id="missing-file"),
    pytest.param("env_var ONLYNAME", "Caddyfile:4: wrong argument count", id="arg-count"),
    pytest.param("env_var 9X y", "Caddyfile:4: invalid environment variable name", id="bad-name"),
    pytest.param("env_file bad.env", r"Caddyfile:4: env_file '.*bad.env' line 1: expected",
                 id="bad-file"),
])
def test_config_errors(tmp_path, body, message):
    (tmp_path / "bad.env").write_text("garbage\n")
    text = f":8080 {{\n python {{\n  module_wsgi main:app\n  {body}\n }}\n}}\n"
    with pytest.raises(CaddyfileError, match=message):
        parse_config(text, str(tmp_path / "Caddyfile"))


APP = '''
import os
SEEN_AT_IMPORT = os.environ.get("GREETING", "unset")

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{SEEN_AT_IMPORT} {os.environ.get('SECRET_TOKEN')}".encode()]
'''


def test_the_app_sees_them_at_import(serve, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "main.py").write_text(APP)
    # Relative to working_dir, as caddy-snake reads it.
    (tmp_path / "site" / "prod.env").write_text("GREETING=hello-from-env-file\n")
    server = serve("""
:$PORT {
    python {
        module_wsgi main:app
        working_dir site
        workers 1
        env_file prod.env
        env_var SECRET_TOKEN s3cr3t
    }
}
""")
    assert requests.get(server.base_url, timeout=10).text == "hello-from-env-file s3cr3t"
