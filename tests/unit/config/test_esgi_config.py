"""``module_esgi`` (caddy-snake's ESGI): a gevent app, and what is refused."""

from __future__ import annotations

import sys

import pytest

from fastsnake.config.model import Interface, Runtime
from tests.config_helpers import build, build_error


def site(lines: str, matcher: str = "/* ") -> str:
    return f':8080 {{\n\tpython {matcher}{{\n\t\tmodule_esgi "main:application"\n{lines}\t}}\n}}\n'


@pytest.mark.parametrize("lines", ["", "\t\truntime gevent\n"])
@pytest.mark.parametrize("matcher", ["", "/* ", "* "])
def test_module_esgi_runs_on_gevent_by_default(tmp_path, lines, matcher):
    listener = build(tmp_path, site(lines, matcher)).listeners[0]
    app = listener.sites[0].routes[0].handler
    assert (app.interface, app.gevent, listener.runtime) == (
        Interface.ESGI, True, Runtime.GEVENT)


@pytest.mark.parametrize(("lines", "message"), [
    ("\t\truntime sync\n", "4: module_esgi runs on runtime gevent only (ESGI's protocol calls "
                           "block, and greenlets let them), got 'sync'"),
    ("\t\truntime uvloop\n", "got 'uvloop'"),
    ("\t\tworkers_runtime thread\n", "3: module_esgi runs the app in gevent worker "
                                     "processes; it cannot be combined with "
                                     "workers_runtime thread (line 4)"),
    ('\t\tmodule_wsgi "main:app"\n', "4: use either module_esgi or module_wsgi, not both "
                                     "(module_esgi is set)"),
])
def test_module_esgi_mistakes(tmp_path, lines, message):
    assert message in build_error(tmp_path, site(lines))


def test_module_esgi_shares_the_gevent_port_rules(tmp_path):
    message = build_error(tmp_path, site("", "/api/* "))
    assert "runtime gevent serves one WSGI or ESGI app per port" in message


def test_without_gevent_installed_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gevent", None)
    assert ("Caddyfile:3: module_esgi runs on gevent, which is not installed: "
            "pip install 'fastsnake[gevent]'") in build_error(tmp_path, site(""))
