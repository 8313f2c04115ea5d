"""Config builder tables: Caddyfile text in, Config fields or an exact error out."""

from __future__ import annotations

import logging
import os
import pickle
import sys
from pathlib import Path

import pytest

from fastsnake.config.loader import load_config, parse_config
from fastsnake.config.model import (
    Config,
    Interface,
    Limits,
    Listener,
    PythonApp,
    Route,
    Runtime,
    Site,
    Timeouts,
    default_workers,
)
from fastsnake.errors import CaddyfileError, FatalError
from tests import TESTDATA
from tests.config_helpers import build, build_error

CONFIG_DIR = TESTDATA / "caddyfiles" / "config"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with an app dir, a POSIX and a Windows-style venv, and a file."""
    (tmp_path / "app").mkdir()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # a venv of this Python
    (tmp_path / "venv" / "lib" / version / "site-packages").mkdir(parents=True)
    (tmp_path / "winvenv" / "Lib" / "site-packages").mkdir(parents=True)
    (tmp_path / "notvenv").mkdir()
    (tmp_path / "file.txt").write_text("x")
    return tmp_path


def only_app(config: Config) -> PythonApp:
    (listener,) = config.listeners
    (site,) = listener.sites
    (route,) = site.routes
    return route.handler


# -- site addresses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        pytest.param(":8080", [(8080, [()], "http")], id="port-only"),
        # Caddy's rule: a host and no http:// (nor the HTTP port) is HTTPS.
        pytest.param("localhost:8080", [(8080, [("localhost",)], "https")], id="localhost"),
        pytest.param("127.0.0.1:8080", [(8080, [("127.0.0.1",)], "https")], id="ipv4"),
        pytest.param("[::1]:8080", [(8080, [("[::1]",)], "https")], id="ipv6"),
        pytest.param("example.com", [(443, [("example.com",)], "https"),
                                     (80, [("example.com",)], "http")], id="bare-hostname"),
        pytest.param("a.com:80", [(80, [("a.com",)], "http")], id="host-on-http-port"),
        pytest.param("http://Example.COM:8080", [(8080, [("example.com",)], "http")],
                     id="http-host-port"),
        pytest.param("http://example.com", [(80, [("example.com",)], "http")],
                     id="http-default-port"),
        pytest.param("HTTP://example.com", [(80, [("example.com",)], "http")], id="scheme-case"),
        pytest.param("http://:8080", [(8080, [()], "http")], id="http-catch-all"),
        pytest.param("http://*.example.com:9080", [(9080, [("*.example.com",)], "http")],
                     id="wildcard"),
        pytest.param("*.example.localhost:9080", [(9080, [("*.example.localhost",)], "https")],
                     id="wildcard-local-ca"),
        pytest.param("http://a.com:8080 http://b.com:8080",
                     [(8080, [("a.com", "b.com")], "http")], id="two-hosts-one-port"),
        pytest.param("http://a.com:8080, :8080", [(8080, [()], "http")],
                     id="catch-all-absorbs-hosts"),
        pytest.param("a.com:8080, a.com:8080", [(8080, [("a.com",)], "https")],
                     id="repeated-in-block"),
        pytest.param(
            "http://a.com:8080, b.com:9090",
            [(8080, [("a.com",)], "http"), (9090, [("b.com",)], "https")], id="two-ports",
        ),
    ],
)
def test_addresses(project: Path, addresses: str, expected: list) -> None:
    config = build(project, f"{addresses} {{\n  python main:app\n}}")
    got = [(lst.port, [site.hosts for site in lst.sites], lst.scheme)
           for lst in config.listeners]
    assert got == expected
    assert all(lst.host == "" for lst in config.listeners)  # always every interface


def test_http_port_option_moves_http_sites(project: Path) -> None:
    config = build(project, "{\n  http_port 8000\n}\nhttp://a.com {\n}\n:9000 {\n}")
    assert [(lst.port, lst.sites[0].hosts) for lst in config.listeners] == [
        (8000, ("a.com",)), (9000, ())
    ]


def test_https_port_option_changes_what_needs_tls(project: Path) -> None:
    config = build(project, "{\n  https_port 8443\n}\n:443 {\n}")
    assert config.listeners[0].port == 443
    assert build_error(project, "{\n  https_port 8443\n}\n:8443 {\n}").startswith(
        "<dir>/Caddyfile:4: site address ':8443' is the HTTPS port without a host name"
    )


def test_blocks_share_a_listener_per_port(project: Path) -> None:
    config = build(
        project,
        "a.com:80 {\n  python a:app\n}\nb.com:80, :81 {\n  python b:app\n}\n:80 {\n}",
    )
    assert [lst.port for lst in config.listeners] == [80, 81]
    first = config.listeners[0]
    assert [site.hosts for site in first.sites] == [("a.com",), ("b.com",), ()]
    assert [len(site.routes) for site in first.sites] == [1, 1, 0]
    assert config.listeners[1].sites[0].routes[0].handler.target == "b:app"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(":443 {\n}", "1: site address ':443' is the HTTPS port without a host "
                     "name: give the site 'tls <cert_file> <key_file>' (or tls { on_demand }), "
                     "or name its host", id="https-port"),
        pytest.param("*.example.com {\n}", "1: the wildcard '*.example.com' needs ACME's DNS "
                     "challenge, which fastsnake lacks: use 'tls internal', 'tls <cert_file> "
                     "<key_file>', or name each host", id="wildcard-acme"),
        pytest.param("{\n auto_https off\n}\nexample.com {\n}", "4: site address "
                     "'example.com' is served over HTTPS, but auto_https off manages no "
                     "certificates: give the site 'tls <cert_file> <key_file>', or serve it "
                     "over HTTP with 'http://example.com'", id="auto-https-off"),
        pytest.param("a.com:8080, :8080 {\n}", "1: site address ':8080' is HTTP but "
                     "'a.com:8080' of the same block is HTTPS on port 8080: one port serves "
                     "either; write http://a.com:8080 for HTTP", id="mixed-in-block"),
        pytest.param("https://:8443 {\n}", "1: site address 'https://:8443' is served over "
                     "HTTPS without a host name to get a certificate for: give the site "
                     "'tls <cert_file> <key_file>', tls { on_demand }, or a host name",
                     id="https-catch-all"),
        pytest.param("http://a.com:443 {\n}", "1: site address 'http://a.com:443': http:// on "
                     "the HTTPS port 443 violates convention", id="http-on-https-port"),
        pytest.param("a.com:80/api {\n}", "1: site address 'a.com:80/api' has a path, which "
                     "fastsnake does not support yet; use a path matcher instead, such as "
                     "'python /api/* ...'", id="path"),
        pytest.param("ws://a.com:80 {\n}", "1: the scheme ws:// is only supported in browsers; "
                     "use http:// instead", id="ws"),
        pytest.param("wss://a.com {\n}", "1: the scheme wss:// is only supported in browsers; "
                     "use https:// instead", id="wss"),
        pytest.param("ftp://a.com:21 {\n}", "1: unsupported URL scheme ftp://", id="ftp"),
        pytest.param("a.com:http {\n}", "1: invalid port 'http' in site address 'a.com:http'",
                     id="port-name"),
        pytest.param(":70000 {\n}", "1: invalid port '70000' in site address ':70000'",
                     id="port-range"),
        pytest.param("[::1:80 {\n}", "1: invalid site address '[::1:80'", id="ipv6-unclosed"),
        pytest.param("::1:80 {\n}", "1: invalid site address '::1:80': IPv6 addresses must be "
                     "in brackets, such as '[::1]:8080'", id="ipv6-no-brackets"),
        pytest.param(":80 python main:app", "1: parsed 'python' as a site address, but it is a "
                     "known directive; directives must appear in a site block",
                     id="directive-as-address"),
        pytest.param("&(r) {\n}", "1: named routes (&(name)) are not supported by fastsnake yet",
                     id="named-route"),
        pytest.param("a.com:80 {\n}\nb.com:80, A.com:80 {\n}", "3: ambiguous site definition: "
                     "a.com:80 is also defined at <dir>/Caddyfile:1", id="ambiguous-host"),
        pytest.param(":80 {\n}\nhttp://:80 {\n}", "3: ambiguous site definition: :80 is also "
                     "defined at <dir>/Caddyfile:1", id="ambiguous-catch-all"),
        pytest.param("[::1]:80 {\n}\n[::1]:80 {\n}", "3: ambiguous site definition: [::1]:80 "
                     "is also defined at <dir>/Caddyfile:1", id="ambiguous-ipv6"),
    ],
)
def test_address_errors(project: Path, source: str, message: str) -> None:
    assert build_error(project, source) == f"<dir>/Caddyfile:{message}"


# -- site directives ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(":80 {\n  reverse_proxy localhost:9000\n}", '2: directive '
                     '"reverse_proxy" is not supported by fastsnake', id="unsupported-directive"),
        pytest.param(":80\npython main:app\n:81", '3: directive ":81" is not supported by '
                     "fastsnake (if you meant to define a second site, put curly braces around "
                     "each site's directives)", id="second-site-without-braces"),
        pytest.param(":80 {\n  @api path /api/*\n  @api path /v2/*\n}", "3: matcher is "
                     "defined more than once: @api", id="matcher-defined-twice"),
    ],
)
def test_directive_errors(project: Path, source: str, message: str) -> None:
    assert build_error(project, source) == f"<dir>/Caddyfile:{message}"


def test_site_without_handlers(project: Path) -> None:
    config = build(project, ":8080 {\n}")
    assert config.listeners[0].sites == (Site((), ()),)


# -- the python directive ----------------------------------------------------


def app_of(project: Path, body: str) -> tuple[PythonApp, tuple[str, ...]]:
    config = build(project, f":8080 {{\n{body}\n}}")
    route = config.listeners[0].sites[0].routes[0]
    return route.handler, route.paths


@pytest.mark.parametrize(
    ("body", "fields", "paths"),
    [
        pytest.param("python main:app", {"interface": Interface.WSGI, "target": "main:app"}, (),
                     id="simple"),
        pytest.param('python "pkg.sub.wsgi:application"',
                     {"target": "pkg.sub.wsgi:application"}, (), id="simple-quoted-dotted"),
        pytest.param("python /api/* api:app", {"target": "api:app"}, ("/api/*",),
                     id="simple-with-path"),
        pytest.param("python * main:app", {"target": "main:app"}, (), id="star-matches-all"),
        pytest.param("python {\n module_wsgi main:app\n}",
                     {"interface": Interface.WSGI, "target": "main:app", "workers": None,
                      "runtime": None, "lifespan": False, "autoreload": False, "threads": None,
                      "working_dir": None, "venv": None}, (), id="block-defaults"),
        pytest.param('python /v1/* {\n module_asgi "main:app"\n lifespan on\n}',
                     {"interface": Interface.ASGI, "lifespan": True}, ("/v1/*",),
                     id="asgi-with-path"),
        pytest.param("python {\n module_asgi main:app\n lifespan off\n}", {"lifespan": False},
                     (), id="lifespan-off"),
        pytest.param("python {\n module_wsgi main:app\n workers 4\n threads 16\n}",
                     {"workers": 4, "threads": 16}, (), id="workers-threads"),
        pytest.param("python {\n module_wsgi main:app\n workers_runtime thread\n autoreload\n}",
                     {"runtime": Runtime.THREAD, "autoreload": True}, (), id="thread-autoreload"),
        pytest.param("python {\n module_wsgi main:app\n workers_runtime process\n}",
                     {"runtime": Runtime.PROCESS}, (), id="process"),
        pytest.param("python {\n module_wsgi main:app\n working_dir app\n venv venv\n}",
                     {"working_dir": "<dir>/app", "venv": "<dir>/venv"}, (), id="relative-paths"),
        pytest.param("python {\n module_wsgi main:app\n working_dir ./app/../app/\n}",
                     {"working_dir": "<dir>/app"}, (), id="normalised-path"),
        pytest.param("python {\n module_wsgi main:app\n venv winvenv\n}",
                     {"venv": "<dir>/winvenv"}, (), id="windows-venv-layout"),
        pytest.param('python {\n module_asgi "{http.request.host.labels.2}:app"\n'
                     ' working_dir "{http.request.host.labels.2}/"\n venv "{env.VENV}"\n}',
                     {"target": "{http.request.host.labels.2}:app",
                      "working_dir": "{http.request.host.labels.2}/", "venv": "{env.VENV}"},
                     (), id="placeholders-kept"),
        pytest.param("python {\n module_asgi main:app\n working_dir apps/{path.0}\n}",
                     {"working_dir": "<dir>/apps/{path.0}"}, (), id="relative-placeholder-path"),
    ],
)
def test_python(project: Path, body: str, fields: dict, paths: tuple[str, ...]) -> None:
    app, got_paths = app_of(project, body)
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.replace("<dir>", str(project))
        assert getattr(app, name) == value, name
    assert got_paths == paths
    assert app.location == f"{project}/Caddyfile:2"


def test_absolute_working_dir(project: Path) -> None:
    app, _ = app_of(project, f'python {{\n module_wsgi main:app\n working_dir "{project}/app"\n}}')
    assert app.working_dir == f"{project}/app"


def test_routes_sort_as_caddy_sorts_one_directive(project: Path) -> None:
    config = build(project, ":80 {\n  python /a/* a:app\n  python b:app\n  python /c c:app\n}")
    routes = config.listeners[0].sites[0].routes
    assert [(r.paths, r.handler.target) for r in routes] == [
        (("/a/*",), "a:app"), (("/c",), "c:app"), ((), "b:app")
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("python", "2: wrong argument count or unexpected line ending after "
                     "'python'", id="no-target"),
        pytest.param("python /api/*", "2: wrong argument count or unexpected line ending after "
                     "'python'", id="path-no-target"),
        pytest.param("python a:app b:app", "2: wrong argument count or unexpected line ending "
                     "after 'b:app'", id="two-targets"),
        pytest.param("python a:app {\n module_wsgi b:app\n}", "2: unexpected block after "
                     "'a:app': write either 'python module:variable' or a 'python { ... }' "
                     "block", id="target-and-block"),
        pytest.param("python @api a:app", "2: unrecognized matcher name: @api",
                     id="undefined-named-matcher"),
        pytest.param("python main", "2: invalid python target 'main': expected "
                     "'module:variable', such as 'main:app'", id="target-no-colon"),
        pytest.param("python {\n module_wsgi main:\n}", "3: invalid module_wsgi target "
                     "'main:': expected 'module:variable', such as 'main:app'", id="no-variable"),
        pytest.param("python {\n module_asgi 1x:app\n}", "3: invalid module_asgi target "
                     "'1x:app': expected 'module:variable', such as 'main:app'", id="bad-module"),
        pytest.param("python {\n module_asgi a..b:app\n}", "3: invalid module_asgi target "
                     "'a..b:app': expected 'module:variable', such as 'main:app'",
                     id="empty-module-part"),
        pytest.param("python {\n module_wsgi main:app()\n}", "3: invalid module_wsgi target "
                     "'main:app()': expected 'module:variable', such as 'main:app'",
                     id="call-expression"),
        pytest.param("python {\n workers 2\n}", "2: python block needs module_wsgi or "
                     "module_asgi (e.g. 'module_wsgi main:app')", id="no-module"),
        pytest.param("python {\n}", "2: python block needs module_wsgi or module_asgi (e.g. "
                     "'module_wsgi main:app')", id="empty-block"),
        pytest.param("python {\n module_wsgi a:app\n module_asgi b:app\n}", "4: use either "
                     "module_wsgi or module_asgi, not both (module_wsgi is set)", id="both"),
        pytest.param("python {\n module_wsgi a:app\n module_wsgi b:app\n}", "4: duplicate "
                     "subdirective 'module_wsgi' (already set at line 3)", id="duplicate"),
        pytest.param("python {\n module_wsgi\n}", "3: wrong argument count or unexpected line "
                     "ending after 'module_wsgi'", id="module-no-arg"),
        pytest.param("python {\n module_wsgi a:app b:app\n}", "3: wrong argument count or "
                     "unexpected line ending after 'b:app'", id="module-two-args"),
        pytest.param("python {\n module_wsgi a:app {\n  x\n }\n}", "3: unexpected block after "
                     "'a:app'", id="module-with-block"),
        pytest.param("python {\n module_asgi a:app\n lifespan yes\n}", "4: lifespan must be "
                     "'on' or 'off', got 'yes'", id="lifespan-value"),
        pytest.param("python {\n module_asgi a:app\n workers 0\n}", "4: workers must be a "
                     "positive integer, got '0'", id="workers-zero"),
        pytest.param("python {\n module_asgi a:app\n workers -2\n}", "4: workers must be a "
                     "positive integer, got '-2'", id="workers-negative"),
        pytest.param("python {\n module_asgi a:app\n workers many\n}", "4: workers must be a "
                     "positive integer, got 'many'", id="workers-word"),
        pytest.param("python {\n module_wsgi a:app\n threads 0\n}", "4: threads must be a "
                     "positive integer, got '0'", id="threads-zero"),
        pytest.param("python {\n module_asgi a:app\n workers_runtime fork\n}", "4: "
                     "workers_runtime must be 'process' or 'thread', got 'fork'", id="runtime"),
        pytest.param("python {\n module_asgi a:app\n autoreload on\n}", "4: wrong argument "
                     "count or unexpected line ending after 'on'", id="autoreload-arg"),
        pytest.param("python {\n module_asgi a:app\n pythonpath /usr/bin/python3\n}", "4: "
                     "unknown python subdirective 'pythonpath'", id="unknown-subdirective"),
        pytest.param("python {\n module_wsgi a:app\n working_dir missing\n}", "4: working_dir "
                     "'<dir>/missing' does not exist", id="working-dir-missing"),
        pytest.param("python {\n module_wsgi a:app\n working_dir file.txt\n}", "4: working_dir "
                     "'<dir>/file.txt' is not a directory", id="working-dir-file"),
        pytest.param("python {\n module_wsgi a:app\n venv nope\n}", "4: venv '<dir>/nope' does "
                     "not exist", id="venv-missing"),
        pytest.param("python {\n module_wsgi a:app\n venv notvenv\n}", "4: venv "
                     "'<dir>/notvenv' is not a virtual environment: it has no "
                     "lib/python*/site-packages or Lib/site-packages", id="venv-not-a-venv"),
    ],
)
def test_python_errors(project: Path, body: str, message: str) -> None:
    assert build_error(project, f":8080 {{\n{body}\n}}") == f"<dir>/Caddyfile:{message}"


def test_python_error_inside_snippet_names_import(project: Path) -> None:
    source = "(s) {\n  python {args[0]}\n}\n:80 {\n  import s nope\n}"
    assert build_error(project, source) == (
        "<dir>/Caddyfile:2: invalid python target 'nope': expected 'module:variable', such as "
        "'main:app' (imported from <dir>/Caddyfile:5)"
    )


def test_lifespan_on_wsgi_is_noted(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fastsnake.config"):
        app_of(project, "python {\n module_wsgi a:app\n lifespan on\n threads 2\n}")
    assert caplog.messages == [
        f"{project}/Caddyfile:2: lifespan only applies to ASGI apps; ignored"
    ]


def test_windows_defaults_to_threads_and_refuses_processes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert build(project, ":80 {\n python a:app\n}").listeners[0].runtime is Runtime.THREAD
    assert build_error(
        project, ":80 {\n python {\n  module_wsgi a:app\n  workers_runtime process\n }\n}"
    ) == ("<dir>/Caddyfile:4: workers_runtime process is not available on Windows; use 'thread'")


# -- listeners ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("apps", "runtime", "workers"),
    [
        pytest.param([""], Runtime.PROCESS, None, id="defaults"),
        pytest.param(["workers 3", "workers 5", ""], Runtime.PROCESS, 5, id="most-workers"),
        pytest.param(["", "workers_runtime thread"], Runtime.THREAD, None, id="explicit-thread"),
        pytest.param(["workers_runtime thread\n workers 2", "workers_runtime thread"],
                     Runtime.THREAD, 2, id="agreeing-runtimes"),
    ],
)
def test_listener_runtime_and_workers(
    project: Path, apps: list[str], runtime: Runtime, workers: int | None
) -> None:
    body = "".join(f"python {{\n module_wsgi a:app\n {extra}\n}}\n" for extra in apps)
    (listener,) = build(project, f":80 {{\n{body}}}").listeners
    assert listener.runtime is runtime
    assert listener.workers == (workers or default_workers())


def test_mixed_runtimes_on_one_listener(project: Path) -> None:
    source = (
        "a.com:80 {\n python {\n  module_wsgi a:app\n  workers_runtime process\n }\n}\n"
        "b.com:80 {\n python {\n  module_wsgi b:app\n  workers_runtime thread\n }\n}\n"
    )
    assert build_error(project, source) == (
        "<dir>/Caddyfile:8: workers_runtime thread conflicts with workers_runtime process at "
        "<dir>/Caddyfile:2: every python handler on port 80 must use the same runtime"
    )


def test_runtimes_may_differ_across_listeners(project: Path) -> None:
    source = (
        ":80 {\n python {\n  module_wsgi a:app\n  workers_runtime process\n }\n}\n"
        ":81 {\n python {\n  module_wsgi b:app\n  workers_runtime thread\n }\n}\n"
    )
    assert [lst.runtime for lst in build(project, source).listeners] == [
        Runtime.PROCESS, Runtime.THREAD
    ]


# -- loading -----------------------------------------------------------------


def test_load_fixture() -> None:
    path = str(CONFIG_DIR / "Caddyfile")
    config = load_config(path)
    base = str(CONFIG_DIR)
    api = PythonApp(Interface.ASGI, "main:app", working_dir=f"{base}/app", venv=f"{base}/venv",
                    workers=2, lifespan=True, location=f"{path}:19")
    plain = PythonApp(Interface.WSGI, "main:app", location=f"{path}:30")
    threaded = PythonApp(Interface.WSGI, "main:app", working_dir=f"{base}/app",
                         runtime=Runtime.THREAD, threads=8, autoreload=True, location=f"{path}:34")
    assert config == Config(
        listeners=(
            Listener("", 8080, (Site((), (Route(api, ("/api/*",)), Route(plain))),),
                     Runtime.PROCESS, 2),
            Listener("", 8000, (Site(("example.com",), (Route(threaded),)),),
                     Runtime.THREAD, default_workers()),
        ),
        grace_period=10.0,
        timeouts=Timeouts(read_header=5.0, read_body=30.0, write=60.0, idle=120.0),
        limits=Limits(max_header_size=32000),
        source=path,
        admin=False,
    )
    assert pickle.loads(pickle.dumps(config)) == config


def test_load_relative_path_resolves_against_caddyfile_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(CONFIG_DIR.parent)
    config = load_config(os.path.join("config", "Caddyfile"))
    assert config.listeners[0].sites[0].routes[0].handler.working_dir == f"{CONFIG_DIR}/app"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("missing", "Caddyfile not found: {path}", id="missing"),
        pytest.param("dir", "cannot read Caddyfile {path}: Is a directory", id="directory"),
        pytest.param("latin1", "Caddyfile {path} is not UTF-8 text: invalid continuation byte",
                     id="not-utf8"),
    ],
)
def test_load_errors(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    if name == "dir":
        path.mkdir()
    elif name == "latin1":
        path.write_bytes(b":80 {\n  python caf\xe9:app\n}")
    with pytest.raises(FatalError) as info:
        load_config(str(path))
    assert isinstance(info.value, CaddyfileError)
    assert str(info.value) == message.format(path=path)


def test_empty_caddyfile_has_no_listeners(project: Path) -> None:
    assert build(project, "# nothing here\n").listeners == ()


def test_websocket_max_message_size(tmp_path):

    text = ":8080 {\n python {\n  module_asgi main:app\n  websocket_max_message_size 1MiB\n }\n}\n"
    config = parse_config(text, str(tmp_path / "Caddyfile"))
    assert config.listeners[0].apps[0].ws_max_message_size == 1024 * 1024
    bad = text.replace("1MiB", "lots")
    with pytest.raises(CaddyfileError, match=r"Caddyfile:4: websocket_max_message_size must be"):
        parse_config(bad, str(tmp_path / "Caddyfile"))


def test_unknown_placeholder_is_a_config_error(tmp_path):

    text = (":8080 {\n python {\n  module_wsgi \"{labels.2}:app\"\n"
            "  working_dir \"{bogus.thing}\"\n }\n}\n")
    with pytest.raises(CaddyfileError, match=r"Caddyfile:4: unknown placeholder \{bogus.thing\}"):
        parse_config(text, str(tmp_path / "Caddyfile"))


def test_python_handlers_sort_by_path_specificity(tmp_path):

    text = (":8080 {\n"
            " python main:app\n"
            " python /api/* api:app\n"
            " python /api/v2/* v2:app\n"
            " python /healthz health:app\n"
            "}\n")
    routes = parse_config(text, str(tmp_path / "Caddyfile")).listeners[0].sites[0].routes
    assert [r.handler.target for r in routes] == ["v2:app", "health:app", "api:app", "main:app"]


@pytest.mark.parametrize(("source", "message"), [
    (":80 {\n  bind 127.0.0.1 ::1\n}", "2: bind takes one address here"),
    (":80 {\n  bind ip//0.0.0.0\n}", "2: bind 'ip//0.0.0.0': a network fastsnake does not "
     "know"),
    (":80 {\n  bind example\n}", "2: bind 'example' is not an IP address"),
    ("http://a.com:80 {\n  bind 127.0.0.1\n}\nhttp://b.com:80 {\n}",
     "4: port 80 is bound to '*' here but to '127.0.0.1' at <dir>/Caddyfile:1"),
])
def test_bind_errors(project: Path, source: str, message: str) -> None:
    assert build_error(project, source).startswith(f"<dir>/Caddyfile:{message}")


def test_bind_sets_the_listener_address(project: Path) -> None:
    config = build(project, ":8080 {\n  bind ::1\n}")
    assert (config.listeners[0].host, config.listeners[0].display_address) == ("::1", "[::1]:8080")
