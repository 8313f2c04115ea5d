"""``on_demand_tls { permission ... }``: Caddy's ``http`` (the long form of
``ask``) and caddy-snake's ``python_dir`` (a folder per allowed name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastsnake.certs.on_demand import OnDemandGate, python_dir_allows
from fastsnake.certs.policy import OnDemand
from tests.config_helpers import build, build_error

SITE = "https://*.project.example {\n tls {\n  on_demand\n }\n}\n"


def test_python_dir_as_caddy_snake_writes_it(tmp_path: Path) -> None:
    config = build(tmp_path, "{\n on_demand_tls {\n  permission python_dir {\n"
                             "   root branches\n   domain_suffix project.example\n  }\n }\n}\n"
                             + SITE)
    demand = config.auto_https.on_demand
    assert demand == OnDemand("", demand.location, str(tmp_path / "branches"),
                              "project.example")
    assert config.auto_https.managed[0].on_demand


def test_permission_http_is_ask(tmp_path: Path) -> None:
    config = build(tmp_path, "{\n on_demand_tls {\n  permission http {\n"
                             "   endpoint http://127.0.0.1:9/ok\n  }\n }\n}\n" + SITE)
    assert config.auto_https.on_demand.ask == "http://127.0.0.1:9/ok"


@pytest.mark.parametrize(("block", "message"), [
    ("permission dns", "3: on_demand_tls permission 'dns' is not supported by fastsnake; "
                       "use ask, permission http or permission python_dir"),
    ("permission python_dir {\n   root x\n  }",
     "5: permission python_dir needs root <dir> and domain_suffix <suffix>"),
    ("permission python_dir {\n   root x\n   suffix y\n  }",
     "5: permission python_dir option 'suffix' is not supported (root and domain_suffix are)"),
    ("ask http://127.0.0.1:9/ok\n  permission python_dir {\n   root x\n"
     "   domain_suffix y\n  }",
     "2: on_demand_tls: use either ask (permission http) or permission python_dir, not both"),
])
def test_permission_mistakes(tmp_path: Path, block: str, message: str) -> None:
    source = "{\n on_demand_tls {\n  " + block + "\n }\n}\n" + SITE
    assert message in build_error(tmp_path, source)


@pytest.mark.parametrize(("name", "allowed"), [
    ("featureb.project.example", True),
    ("missing.project.example", False),     # no such folder
    ("a.featureb.project.example", False),  # one label only
    ("project.example", False),
    ("featureb.other.example", False),
    ("..project.example", False),
    ("-x.project.example", False),
])
def test_python_dir_allows(tmp_path: Path, name: str, allowed: bool) -> None:
    (tmp_path / "featureb").mkdir()
    (tmp_path / "-x").mkdir()
    assert python_dir_allows((str(tmp_path), "project.example"), name) is allowed


def test_the_gate_looks_at_the_folder_each_time(tmp_path: Path) -> None:
    gate = OnDemandGate(python_dir=(str(tmp_path), "project.example"))
    assert not gate.allowed("new.project.example")
    (tmp_path / "new").mkdir()  # deployed: allowed at once, no cached refusal
    assert gate.allowed("new.project.example")
    assert gate.asked == 0
