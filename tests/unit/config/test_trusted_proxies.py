"""The global servers options for trusted proxies, parsed as Caddy reads them."""

from __future__ import annotations

import pytest

from fastsnake.config.model import ClientIPPolicy
from tests.config_helpers import build, build_error

SITE = ":8080 {\n\trespond ok\n}\n"


def servers(*lines: str) -> str:
    return "{\n\tservers {\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}\n}\n" + SITE


def test_trusted_proxies_and_their_options(tmp_path):
    config = build(tmp_path, servers("trusted_proxies static private_ranges 203.0.113.0/24",
                                     "client_ip_headers CF-Connecting-IP X-Forwarded-For",
                                     "trusted_proxies_strict"))
    assert config.client_ip == ClientIPPolicy(
        ("private_ranges", "203.0.113.0/24"), ("CF-Connecting-IP", "X-Forwarded-For"), True)


def test_without_trusted_proxies_the_peer_is_the_client(tmp_path):
    assert build(tmp_path, SITE).client_ip is None
    assert build(tmp_path, servers("client_ip_headers X-Real-IP")).client_ip is None


@pytest.mark.parametrize(("line", "message"), [
    ("trusted_proxies 10.0.0.0/8", "trusted_proxies takes the 'static' source"),
    ("trusted_proxies static", "wrong argument count"),
    ("trusted_proxies static 10.0.0.0/33", "trusted_proxies: '10.0.0.0/33' is not an IP"),
    ("client_ip_headers", "wrong argument count"),
    ("trusted_proxies_strict yes", "wrong argument count"),
])
def test_errors_name_the_line(tmp_path, line, message):
    error = build_error(tmp_path, servers(line))
    assert error.startswith("<dir>/Caddyfile:3: ") and message in error, error
