"""routing._walk: the walk through a site's steps, in C.

The steps the walk carries out itself (a fixed answer, a fixed root,
encode, a nested block) must mean what the callables they replace meant;
requests come from the real parser.
"""

from __future__ import annotations

from typing import Any

import pytest

from fastsnake._exchange import ResponseFilter
from fastsnake._respond import RespondHandler
from fastsnake.config.directives import Encode
from fastsnake.request.path_matcher import path_matcher
from fastsnake.routing._walk import PathTest, Step, Walk, run_steps, strip_path_prefix
from fastsnake.routing.compiler import Encoder, path_test
from fastsnake.routing.router import SiteRoutes
from tests.unit.request.test_matchers import request

FIRST = RespondHandler(200, b"first")
SECOND = RespondHandler(200, b"second")


def path_is(path: bytes) -> Any:
    return lambda req: req.path == path


def test_the_first_matching_answer_wins_and_unmatched_steps_are_skipped() -> None:
    steps = (Step(path_is(b"/a"), None, answer=FIRST), Step(None, None, answer=SECOND))
    assert run_steps(steps, request("/a"), Walk()) is FIRST
    assert run_steps(steps, request("/b"), Walk()) is SECOND
    assert run_steps((Step(path_is(b"/a"), None, answer=FIRST),), request("/b"), Walk()) is None


def test_a_handle_group_is_exclusive_once_one_of_its_steps_matched() -> None:
    seen: list[str] = []

    def note(name: str) -> Any:
        def run(req: Any, walk: Walk) -> None:
            seen.append(name)
        return run

    steps = (Step(path_is(b"/a"), note("a"), "g1"), Step(None, note("rest"), "g1"),
             Step(None, note("other group"), "g2"), Step(None, note("no group"), ""))
    assert run_steps(steps, request("/a"), Walk()) is None
    assert seen == ["a", "other group", "no group"]
    seen.clear()
    run_steps(steps, request("/b"), Walk())
    assert seen == ["rest", "other group", "no group"]


def test_a_fixed_root_sets_the_root_var_and_goes_on() -> None:
    req = request("/x")
    req.vars = {"kept": "yes"}
    steps = (Step(None, None, root="/srv/one"), Step(None, None, root="/srv/two"),
             Step(None, lambda r, w: RespondHandler(200, r.vars["root"].encode())))
    answer = run_steps(steps, req, Walk())
    assert req.vars == {"kept": "yes", "root": "/srv/two"}
    fresh = request("/x")
    run_steps(steps[:1], fresh, Walk())
    assert fresh.vars == {"root": "/srv/one"}
    assert isinstance(answer, RespondHandler)


def test_a_nested_block_runs_its_own_steps_and_may_answer_none() -> None:
    inner = (Step(path_is(b"/in"), None, answer=FIRST),)
    steps = (Step(None, None, steps=inner), Step(None, None, answer=SECOND))
    assert run_steps(steps, request("/in"), Walk()) is FIRST
    assert run_steps(steps, request("/out"), Walk()) is SECOND


def test_encode_is_noted_and_becomes_the_response_filter_with_the_chosen_format() -> None:
    encoder = Encoder(Encode(("zstd", "gzip")))
    site = SiteRoutes((), [Step(None, None, encoder=encoder), Step(None, None, answer=FIRST)])
    walk = Walk()
    req = request("/", headers=("Accept-Encoding: gzip",))
    assert run_steps(site.steps, req, walk) is FIRST
    assert walk.encode is encoder
    assert site.select(req) is FIRST
    assert isinstance(req.response_filter, ResponseFilter)
    plain = request("/")
    assert site.select(plain) is FIRST
    assert plain.response_filter is None  # nothing accepted: no filter at all


def test_a_site_without_response_work_allocates_no_filter() -> None:
    site = SiteRoutes((), [Step(None, None, root="/srv"), Step(None, None, answer=FIRST)])
    req = request("/")
    assert site.select(req) is FIRST
    assert req.response_filter is None and req.vars == {"root": "/srv"}


PATTERNS = [("/static/*",), ("/api",), ("*.css", "*.js"), ("*admin*",), ("/a/*", "/b"),
            ("/Mixed/*",), ("/x/*.txt",), ("/a//b*",), ("/caf\u00e9/*",)]
PATHS = ["/static/app.css", "/STATIC/App.CSS", "/static", "/staticx", "/api", "/API", "/api/",
         "/style.css", "/js/app.JS", "/x/admin/y", "/ADMIN", "/b", "/a/", "/mixed/1",
         "/x/y.txt", "/x/y/z.txt", "/a//b", "/a/b", "/caf%C3%A9/x", "/%73tatic/x",
         "/static/../api", "/./api", "//static/x", "/static//x", "/st%", "/\u00e9", "relative"]


@pytest.mark.parametrize("patterns", PATTERNS, ids=lambda p: ",".join(p))
def test_the_c_path_test_answers_as_the_path_matcher(patterns: tuple[str, ...]) -> None:
    fast = path_test(patterns)
    slow = path_matcher(patterns)
    for path in PATHS:
        req = request("/")
        req.path = path.encode("utf-8")
        assert fast(req) == slow.matches(req), (patterns, path)


def test_simple_patterns_get_the_c_test_and_globs_the_python_one() -> None:
    assert isinstance(path_test(["/static/*", "*.css", "/api"]), PathTest)
    assert not isinstance(path_test(["/x/*.txt"]), PathTest)
    assert not isinstance(path_test(["/a//b*"]), PathTest)  # no slash merging


@pytest.mark.parametrize(("path", "prefix", "after", "script_name"), [
    ("/static/app.css", "/static/", "/app.css", "/static"),
    ("/STATIC/app.css", "/static/", "/app.css", "/STATIC"),
    ("/static/", "/static/", "/", "/static"),
    ("/st%61tic/a%20b", "/static/", "/a%20b", "/static"),
    ("/static", "/static/", "/static", ""),
    ("/other/x", "/static/", "/other/x", ""),
    ("/api", "/api", "/", "/api"),
])
def test_handle_path_strips_its_prefix_into_script_name(path: str, prefix: str, after: str,
                                                        script_name: str) -> None:
    req = request(path)
    strip_path_prefix(req, prefix, True)
    assert (req.path, req.script_name) == (after.encode(), script_name.encode())
    plain = request(path)
    strip_path_prefix(plain, prefix, False)
    assert (plain.path, plain.script_name) == (after.encode(), b"")
