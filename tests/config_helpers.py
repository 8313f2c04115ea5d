"""Building a Config from Caddyfile text in a test folder, for the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastsnake.config.loader import parse_config
from fastsnake.config.model import Config
from fastsnake.errors import CaddyfileError


def build(project: Path, text: str) -> Config:
    return parse_config(text, str(project / "Caddyfile"))


def build_error(project: Path, text: str) -> str:
    with pytest.raises(CaddyfileError) as info:
        build(project, text)
    return str(info.value).replace(str(project), "<dir>")
