"""Whether a directive's first argument is a matcher is decided by its text,
as Caddy decides (``*``, or starting with ``/`` or ``@``), quoted or not: a
quoted path is still a path matcher, never a body or a header name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastsnake.config.directives import Headers, Respond
from fastsnake.config.model import PythonApp
from tests.config_helpers import build


def only_route(project: Path, directive: str):
    (project / "app.py").write_text("def app(e, s): pass\n")
    config = build(project, ":8080 {\n" + directive + "\n}\n")
    (route,) = config.listeners[0].sites[0].routes
    return route


@pytest.mark.parametrize("quote", ['"', "`", ""], ids=["double-quoted", "backquoted", "bare"])
def test_respond_with_a_quoted_path_matcher(tmp_path, quote):
    route = only_route(tmp_path, f"respond {quote}/healthz{quote} 200")
    assert route.paths == ("/healthz",)
    assert isinstance(route.handler, Respond)
    assert (route.handler.status, route.handler.body) == (200, "")


@pytest.mark.parametrize("quote", ['"', ""], ids=["quoted", "bare"])
def test_header_with_a_quoted_path_matcher(tmp_path, quote):
    route = only_route(tmp_path, f'header {quote}/static/*{quote} Cache-Control "max-age=3600"')
    assert route.paths == ("/static/*",)
    assert isinstance(route.handler, Headers)
    (op,) = route.handler.ops
    assert (op.name, op.value) == ("Cache-Control", "max-age=3600")


@pytest.mark.parametrize("quote", ['"', ""], ids=["quoted", "bare"])
def test_python_route_form_with_a_quoted_path(tmp_path, quote):
    route = only_route(tmp_path, f'python {quote}/api{quote} {{\n\tmodule_wsgi "app:app"\n}}')
    assert route.paths == ("/api",)
    assert isinstance(route.handler, PythonApp)


def test_quoted_star_and_named_matchers(tmp_path):
    assert only_route(tmp_path, 'respond "*" "all"').paths == ()
    config = build(tmp_path, ':8080 {\n@get method GET\nrespond "@get" "got"\n}\n')
    (route,) = config.listeners[0].sites[0].routes
    assert route.matcher_name == "@get"


def test_a_lone_path_value_stays_a_value(tmp_path):
    # root, rewrite and redir take a path as their one argument: not a matcher.
    route = only_route(tmp_path, 'redir "/new"')
    assert route.paths == ()
    assert route.handler.to == "/new"


def test_text_that_is_not_a_matcher_stays_an_argument(tmp_path):
    route = only_route(tmp_path, 'respond "hello /world" 200')
    assert route.paths == ()
    assert route.handler.body == "hello /world"
