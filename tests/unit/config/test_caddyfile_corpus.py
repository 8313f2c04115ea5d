"""A corpus of real-world Caddyfiles, adapted: each one is served or refused.

tests/testdata/caddyfiles/corpus/*.caddyfile are written in the spirit of Caddy's own
documentation (the Caddyfile concepts, matchers and common-patterns pages,
each directive's examples, caddytest's caddyfile_adapt cases) and of
caddy-snake's documented configurations, one concern per file. The first line
of each says what fastsnake must do with it:

    # expect: ok                          parse_config builds a Config
    # expect: error <line>: <text>        a CaddyfileError "<file>:<line>: ..."
    # expect: error <file>:<line>: <text> the same, in an imported file

and the second line (``# models: ...``) what it was modelled on. The error is
exactly one ``file:line: message`` line, and ``fastsnake validate`` prints it
and exits 1. A few of the ``ok`` files are also served for real, to check
that they mean here what they mean in Caddy.

Environment variables the files expand at parse time: ``{$APPS}`` (the test
apps), ``{$TLS_DIR}`` (a certificate made with openssl), ``{$SITE_ROOT:site}``
(a static site the served tests make) and ``{$PORT:8080}``, which the served
tests turn into a free port.

Where fastsnake falls short of what Caddy or caddy-snake document, the case
is marked xfail (strict) with what is wrong, so that fixing it shows up here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from fastsnake.config.loader import parse_config
from fastsnake.errors import CaddyfileError
from tests import TESTDATA
from tests.server import TEST_APPS

CORPUS = TESTDATA / "caddyfiles" / "corpus"
FILES = sorted(CORPUS.glob("*.caddyfile"))
EXPECT = re.compile(
    r"# expect: (?:(?P<ok>ok)|error (?:(?P<file>\S+):)?(?P<line>\d+): (?P<text>.+))")
MODELS = re.compile(r"# models: \S")

# Where fastsnake falls short today; each reason says what it does and what it should do.
XFAIL: dict[str, str] = {}  # file name -> what fastsnake gets wrong (none now)

# Checked through the command line as well (a subprocess each, so only a few).
CLI_OK = ("snake-readme-flask-route.caddyfile", "snake-dynamic-host-labels.caddyfile",
          "import-file-snippets.caddyfile", "www-redirect-and-health.caddyfile")
CLI_ERROR = ("bad-unclosed-site-brace.caddyfile", "unsupported-reverse-proxy.caddyfile",
             "args-python-two-targets.caddyfile", "import-cycle.caddyfile",
             "undefined-named-matcher.caddyfile")


@dataclass(frozen=True)
class Expectation:
    ok: bool
    file: str = ""       # where the error is reported (absolute)
    line: int = 0
    text: str = ""       # a substring of the message

    @property
    def prefix(self) -> str:
        return f"{self.file}:{self.line}: "


def expectation(path: Path) -> Expectation:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    found = EXPECT.fullmatch(first)
    assert found, f"{path.name}: the first line must be '# expect: ok' or '# expect: error N: ...'"
    assert MODELS.match(second), f"{path.name}: the second line must be '# models: ...'"
    if found["ok"]:
        return Expectation(True)
    file = str(CORPUS / found["file"]) if found["file"] else str(path)
    return Expectation(False, file, int(found["line"]), found["text"])


def corpus_params(names: tuple[str, ...] | None = None) -> list[object]:
    params = []
    for path in FILES:
        if names is not None and path.name not in names:
            continue
        marks = ([pytest.mark.xfail(strict=True, reason=XFAIL[path.name])]
                 if path.name in XFAIL else [])
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate and key for localhost, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    folder = tmp_path_factory.mktemp("corpus-tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem")],
        check=True, capture_output=True)
    return folder


def corpus_env(request: pytest.FixtureRequest, path: Path) -> dict[str, str]:
    """The variables the corpus files expand; the defaults ({$PORT:8080}...) apply."""
    env = {"APPS": str(TEST_APPS)}
    if "{$TLS_DIR}" in path.read_text(encoding="utf-8"):
        env["TLS_DIR"] = str(request.getfixturevalue("tls_dir"))
    return env


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    def apply(path: Path) -> dict[str, str]:
        for name in ("PORT", "SITE_ADDRESS", "WEB_CONCURRENCY"):
            monkeypatch.delenv(name, raising=False)
        env = corpus_env(request, path)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


def test_the_corpus_is_there():
    assert len(FILES) >= 40  # it grows with every documentation example a feature unlocks
    kinds = [expectation(path).ok for path in FILES]
    assert kinds.count(True) >= 25 and kinds.count(False) >= 25


@pytest.mark.parametrize("path", corpus_params())
def test_caddyfile(path: Path, set_env) -> None:
    set_env(path)
    want = expectation(path)
    text = path.read_text(encoding="utf-8")
    if want.ok:
        config = parse_config(text, str(path))
        assert config.listeners, "an ok Caddyfile serves at least one site"
        return
    with pytest.raises(CaddyfileError) as info:
        parse_config(text, str(path))
    message = str(info.value)
    assert message.startswith(want.prefix), message
    assert want.text in message, message
    assert "\n" not in message


def validate(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    for name in ("PORT", "SITE_ADDRESS", "WEB_CONCURRENCY"):
        full_env.pop(name, None)
    # Caddy's spelling: caddy validate --config <file>
    return subprocess.run(
        [sys.executable, "-m", "fastsnake", "validate", "--config", str(path)],
        capture_output=True, text=True, env=full_env, cwd=str(CORPUS), timeout=60)


@pytest.mark.parametrize("path", corpus_params(CLI_OK))
def test_validate_accepts(path: Path, request: pytest.FixtureRequest) -> None:
    assert expectation(path).ok
    done = validate(path, corpus_env(request, path))
    assert done.returncode == 0, done.stderr
    assert "valid configuration" in done.stdout


@pytest.mark.parametrize("path", corpus_params(CLI_ERROR))
def test_validate_refuses_with_one_line(path: Path, request: pytest.FixtureRequest) -> None:
    want = expectation(path)
    assert not want.ok
    done = validate(path, corpus_env(request, path))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"fastsnake: {want.prefix}"), lines[0]
    assert want.text in lines[0]


# -- served for real ------------------------------------------------------------


def make_site(root: Path) -> Path:
    """A small static site: an SPA shell, a page and an asset."""
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(
        '<!doctype html><title>shell</title><div id="root">corpus spa shell</div>\n')
    (root / "about.html").write_text("<!doctype html><title>about</title><p>about page</p>\n")
    (root / "assets" / "app.css").write_text("body { font-family: sans-serif; }\n")
    return root


def served(serve, name: str, tmp_path: Path):
    """Serve a corpus file as the ``serve`` fixture does (it fills in $PORT, a free
    port, and $APPS); ``{$SITE_ROOT}`` comes from the environment."""
    path = CORPUS / name
    assert expectation(path).ok
    text = path.read_text(encoding="utf-8")
    text = text.replace("{$PORT:8080}", "$PORT").replace("{$APPS}", "$APPS")
    site = make_site(tmp_path / "site")
    return serve(text, env={"SITE_ROOT": str(site)})


def environ_of(response: requests.Response) -> dict[str, str]:
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def test_served_security_headers(serve, tmp_path: Path) -> None:
    # header ops apply to what the app answers; -Server removes the field
    server = served(serve, "security-headers.caddyfile", tmp_path)
    r = requests.get(server.base_url + "/hello", timeout=10)
    assert (r.status_code, r.text) == (200, "hello")
    assert r.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Server" not in r.headers
    # also on the app's own 404
    r = requests.get(server.base_url + "/missing", timeout=10)
    assert r.status_code == 404 and r.headers["X-Frame-Options"] == "DENY"


def test_served_handle_path_beside_static_site(serve, tmp_path: Path) -> None:
    server = served(serve, "snake-in-handle-path.caddyfile", tmp_path)
    base = server.base_url
    # handle_path strips /api: the app is mounted there (SCRIPT_NAME)
    env = environ_of(requests.get(base + "/api/orders/7?full=1", timeout=10))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/api", "/orders/7", "full=1")
    # everything else is the static site
    r = requests.get(base + "/", timeout=10)
    assert r.status_code == 200 and "corpus spa shell" in r.text
    assert r.headers["Content-Type"].startswith("text/html")
    r = requests.get(base + "/assets/app.css", timeout=10)
    assert r.status_code == 200 and r.text.startswith("body {")
    assert requests.get(base + "/nope.html", timeout=10).status_code == 404


def test_served_spa_fallback(serve, tmp_path: Path) -> None:
    server = served(serve, "spa-try-files.caddyfile", tmp_path)
    base = server.base_url
    # a client-side route gets the index file; real files are served as they are
    r = requests.get(base + "/dashboard/settings", timeout=10)
    assert r.status_code == 200 and "corpus spa shell" in r.text
    r = requests.get(base + "/about.html", timeout=10)
    assert r.status_code == 200 and "about page" in r.text
    r = requests.get(base + "/assets/app.css", timeout=10)
    assert r.status_code == 200 and r.text.startswith("body {")
    # the API is the app, with the full path (handle does not strip)
    env = environ_of(requests.get(base + "/api/items", timeout=10))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/api/items")


def test_served_www_redirect_slash_and_health(serve, tmp_path: Path) -> None:
    server = served(serve, "www-redirect-and-health.caddyfile", tmp_path)
    base, port = server.base_url, server.port

    def get(host: str, target: str) -> requests.Response:
        return requests.get(base + target, headers={"Host": f"{host}:{port}"},
                            allow_redirects=False, timeout=10)

    # www. removed for both domains, {labels.1}.{labels.0}{uri}
    r = get("www.example.test", "/shop/cart?id=3")
    assert (r.status_code, r.headers["Location"]) == (301, "http://example.test/shop/cart?id=3")
    r = get("www.shop.test", "/")
    assert (r.status_code, r.headers["Location"]) == (301, "http://shop.test/")
    # trailing-slash enforcement, health check, then the app
    r = get("example.test", "/docs")
    assert (r.status_code, r.headers["Location"]) == (301, "/docs/")
    r = get("shop.test", "/healthz")
    assert (r.status_code, r.text) == (200, '{"status":"ok"}')
    env = environ_of(get("example.test", "/docs/"))
    assert (env["PATH_INFO"], env["HTTP_HOST"]) == ("/docs/", f"example.test:{port}")


def test_served_respond_json_body_is_json(serve, tmp_path: Path) -> None:
    server = served(serve, "www-redirect-and-health.caddyfile", tmp_path)
    r = requests.get(server.base_url + "/healthz",
                     headers={"Host": f"example.test:{server.port}"}, timeout=10)
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"] == "application/json"


def test_served_global_order_is_honoured(serve, tmp_path: Path) -> None:
    server = served(serve, "global-order-respond-first.caddyfile", tmp_path)
    r = requests.get(server.base_url + "/healthz", timeout=10)
    assert (r.status_code, r.text) == (200, "ok")
