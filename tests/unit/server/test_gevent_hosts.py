"""The gevent worker's Host check: a site's names as the Router picks them."""

from __future__ import annotations

import pytest

pytest.importorskip("gevent")

from fastsnake.server.gevent_worker import host_matches  # noqa: E402


@pytest.mark.parametrize(("hosts", "header", "expected"), [
    ((), "anything:8080", True),
    (("example.com",), "example.com", True),
    (("example.com",), "Example.COM:8080", True),
    (("example.com",), "other.com", False),
    (("*.example.com",), "a.example.com:80", True),
    (("*.example.com",), "a.b.example.com", False),
    (("*.example.com",), "example.com", False),
    (("[::1]",), "[::1]:8080", True),
    (("127.0.0.1",), "", False),
])
def test_host_matches(hosts, header, expected):
    assert host_matches(hosts, header) is expected
