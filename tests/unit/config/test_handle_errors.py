"""handle_errors in the Caddyfile: status-code blocks, their order, their
routes sorted as a site's, the {err.*} placeholders, and exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastsnake.adapt import adapt
from fastsnake.config import directives as dv
from fastsnake.config.model import ErrorRoutes, Route
from tests.config_helpers import build, build_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


def site_of(project: Path, body: str):
    return build(project, ":8080 {\n" + body + "\n}\n").listeners[0].sites[0]


def test_blocks_with_codes_come_before_the_fallback(project: Path) -> None:
    site = site_of(project, "handle_errors {\n respond \"any\"\n}\n"
                            "handle_errors 404 410 {\n respond \"gone\"\n}\n"
                            "handle_errors 5xx {\n respond \"oops\"\n}")
    assert [group.codes for group in site.error_routes] == [("404", "410"), ("5xx",), ()]
    assert site.routes == ()


def test_error_routes_sort_as_a_site_and_respond_keeps_the_error_status(project: Path) -> None:
    site = site_of(project, "handle_errors {\n respond \"{err.status_code} {err.status_text}\"\n"
                            " rewrite * /{err.status_code}.html\n}")
    group = site.error_routes[0]
    assert [route.directive for route in group.routes] == ["rewrite", "respond"]
    assert group.routes[1].handler == dv.Respond(200, "{err.status_code} {err.status_text}",
                                                 explicit_status=False)


@pytest.mark.parametrize(("codes", "status", "caught"), [
    ((), 404, True), (("404",), 404, True), (("404",), 403, False), (("4xx",), 418, True),
    (("4xx",), 500, False), (("5xx", "403"), 403, True), (("5xx",), 503, True),
])
def test_catches(codes: tuple[str, ...], status: int, caught: bool) -> None:
    assert ErrorRoutes(codes, ()).catches(status) is caught


def test_respond_with_a_status_keeps_it(project: Path) -> None:
    site = site_of(project, "handle_errors {\n respond \"x\" 503\n}")
    assert site.error_routes[0].routes == (Route(dv.Respond(503, "x"), directive="respond"),)


@pytest.mark.parametrize(("body", "message"), [
    ("handle_errors 4O4 {\n respond x\n}",
     "<dir>/Caddyfile:2: handle_errors: '4O4' is not a status code (a 3-digit number, or "
     "4xx / 5xx)"),
    ("handle_errors 600 {\n respond x\n}", "<dir>/Caddyfile:2: handle_errors: '600' is not a"),
    ("handle_errors", "<dir>/Caddyfile:2: handle_errors needs a block"),
    ("handle {\n handle_errors {\n  respond x\n }\n}",
     "<dir>/Caddyfile:3: handle_errors is a site-level directive"),
    ("handle_errors {\n respond \"{err.nope}\"\n}", "<dir>/Caddyfile:3: unknown placeholder"),
])
def test_errors(project: Path, body: str, message: str) -> None:
    assert build_error(project, ":8080 {\n" + body + "\n}\n").startswith(message)


def test_apps_in_error_routes_are_served(project: Path) -> None:
    config = build(project, ":8080 {\n handle_errors {\n  python main:app\n }\n}\n")
    assert [app.target for app in config.listeners[0].apps] == ["main:app"]


def test_adapt_shows_errors_routes(project: Path) -> None:
    config = build(project, "a.example:8080 {\n handle_errors 404 {\n  respond \"gone\"\n }\n}\n")
    server = adapt(config)["apps"]["http"]["servers"]["srv0"]
    assert server["errors"]["routes"] == [{
        "handle": [{"handler": "subroute", "routes": [{"handle": [
            {"handler": "static_response", "body": "gone"}]}]}],
        "match": [{"host": ["a.example"], "status_code": ["404"]}],
    }]
