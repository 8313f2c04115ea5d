"""Router: which site a request's Host picks, with the per-Host memo.

Requests come from the real parser (tests/unit/request/test_matchers.py's
helper); the sites are real SiteRoutes whose one step answers with the
site's own RespondHandler, so the handler says which site was chosen.
"""

from __future__ import annotations

from fastsnake._respond import RespondHandler
from fastsnake.routing._walk import HOST_MEMO, Step
from fastsnake.routing.router import Router, SiteRoutes
from tests.unit.request.test_matchers import request


def site(*hosts: str) -> tuple[SiteRoutes, RespondHandler]:
    answer = RespondHandler(200, ",".join(hosts).encode())
    return SiteRoutes(hosts, [Step(None, lambda request, walk: answer, "")]), answer


def test_hosts_pick_their_sites_again_and_again() -> None:
    exact, exact_answer = site("a.example.com")
    wild, wild_answer = site("*.example.com")
    rest, rest_answer = site()
    router = Router([exact, wild, rest])
    cases = [("a.example.com", exact_answer), ("A.Example.COM:8080", exact_answer),
             ("b.example.com", wild_answer), ("x.b.example.com", rest_answer),
             ("example.com", rest_answer), ("[::1]:80", rest_answer)]
    for _ in range(3):  # the first pass fills the memo, the others read it
        for host, answer in cases:
            assert router.select(request(host=host)) is answer, host
    assert router.select(request(host=None, version="1.0")) is rest_answer


def test_no_site_for_a_host_is_remembered_too() -> None:
    exact, answer = site("a.example.com")
    router = Router([exact])
    for _ in range(2):
        assert router.select(request(host="other.example.com")) is None
        assert router.select(request(host="a.example.com")) is answer


def test_the_memo_is_bounded_and_later_hosts_still_route() -> None:
    wild, wild_answer = site("*.example.com")
    rest, rest_answer = site()
    router = Router([wild, rest])
    for n in range(HOST_MEMO + 50):
        assert router.select(request(host=f"h{n}.example.com")) is wild_answer
    assert len(router.by_host) == HOST_MEMO
    assert router.select(request(host="h9999.example.com")) is wild_answer
    assert router.select(request(host="elsewhere.org")) is rest_answer
    assert len(router.by_host) == HOST_MEMO


def test_one_site_without_hosts_takes_every_request() -> None:
    rest, answer = site()
    router = Router([rest])
    for host in ("a.example.com", "b.example.org:81"):
        assert router.select(request(host=host)) is answer
    assert router.by_host == {}  # nothing to look up
