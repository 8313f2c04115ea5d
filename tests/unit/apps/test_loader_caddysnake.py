"""An app that imports caddy-snake's cache client gets a refusal that names it."""

from __future__ import annotations

import importlib.util

import pytest

from fastsnake.apps.loader import import_target
from fastsnake.errors import AppImportError


def test_an_app_importing_caddysnake_is_told_why(tmp_path, monkeypatch):
    if importlib.util.find_spec("caddysnake") is not None:
        pytest.skip("the caddysnake package is installed here")
    (tmp_path / "uses_cache.py").write_text(
        "from caddysnake import cache\n\ndef app(environ, start_response):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AppImportError) as info:
        import_target("uses_cache:app", "Caddyfile:3")
    assert str(info.value) == (
        "Caddyfile:3: uses_cache imports caddysnake: caddy-snake's shared cache (the "
        "caddysnake package) is not supported by fastsnake: its client talks to a cache "
        "server inside the Caddy plugin, which fastsnake does not run; share state between "
        "workers through Redis, memcached or a database")
