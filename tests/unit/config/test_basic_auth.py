"""basic_auth in the Caddyfile: Caddy's forms, the old base64 hashes, and
exact errors for what cannot work."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from fastsnake.config.auth import BasicAuth
from tests.config_helpers import build, build_error

HASH = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


def routes(project: Path, body: str):
    return build(project, ":8080 {\n" + body + "\n}\n").listeners[0].sites[0].routes


def test_forms(project: Path) -> None:
    [route] = routes(project, f"basic_auth /admin/* {{\n Bob {HASH}\n}}")
    assert route.paths == ("/admin/*",)
    assert route.handler == BasicAuth((("Bob", HASH),), "restricted", route.handler.location)
    [route] = routes(project, f"basic_auth bcrypt \"My realm\" {{\n Bob {HASH}\n ann {HASH}\n}}")
    assert (route.handler.realm, len(route.handler.accounts)) == ("My realm", 2)


def test_base64_hashes_of_older_caddy_are_decoded(project: Path) -> None:
    legacy = base64.b64encode(HASH.encode()).decode()
    [route] = routes(project, f"basic_auth {{\n Bob {legacy}\n}}")
    assert route.handler.accounts == (("Bob", HASH),)


def test_basicauth_spelling_sorts_as_basic_auth_with_a_notice(
        project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fastsnake.config"):
        found = routes(project, f"respond \"x\"\nbasicauth {{\n Bob {HASH}\n}}")
    assert [route.directive for route in found] == ["basicauth", "respond"]
    assert any("basicauth is deprecated" in message for message in caplog.messages)


@pytest.mark.parametrize(("body", "message"), [
    ("basic_auth {\n Bob hiccup\n}", "3: basic_auth: the password must be a bcrypt hash"),
    ("basic_auth", "2: basic_auth needs at least one '<username> <hashed_password>' line"),
    ("basic_auth {\n Bob\n}", "3: basic_auth: each line is '<username> <hashed_password>'"),
    (f"basic_auth {{\n Bob {HASH}\n Bob {HASH}\n}}", "4: basic_auth: user 'Bob' is given twice"),
    (f"basic_auth argon2id {{\n Bob {HASH}\n}}", "2: basic_auth: argon2id hashes are not"),
    (f"basic_auth md5 {{\n Bob {HASH}\n}}", "2: basic_auth: unknown hash algorithm 'md5'"),
])
def test_errors(project: Path, body: str, message: str) -> None:
    assert build_error(project, ":8080 {\n" + body + "\n}\n").startswith(
        f"<dir>/Caddyfile:{message}")
