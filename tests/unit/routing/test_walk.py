"""routing._walk: the walk through a site's steps, in C.

The steps the walk carries out itself (a fixed answer, a fixed root,
encode, a nested block) must mean what the callables they replace meant;
requests come from the real parser.
"""

from __future__ import annotations

from typing import Any

from fastsnake._exchange import ResponseFilter
from fastsnake._respond import RespondHandler
from fastsnake.config.directives import Encode
from fastsnake.routing._walk import Step, Walk, run_steps
from fastsnake.routing.compiler import Encoder
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
