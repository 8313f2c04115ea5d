"""fastsnake adapt: the config as JSON shaped like Caddy's."""

from __future__ import annotations

import json
import subprocess
import sys

from fastsnake.adapt import adapt
from fastsnake.config.loader import parse_config

CADDYFILE = """
{
    grace_period 10s
}
http://app.example.com:8080, :8080 {
    python /api/* {
        module_asgi "api:app"
        lifespan on
        env_var MODE prod
    }
    python main:app
}
"""


def test_shape(tmp_path):
    config = parse_config(CADDYFILE, str(tmp_path / "Caddyfile"))
    http = adapt(config)["apps"]["http"]
    assert http["grace_period"] == "10s"
    (server,) = http["servers"].values()
    assert server["listen"] == [":8080"]
    assert server["timeouts"] == {"read_header": "60s", "idle": "300s"}
    routes = server["routes"][0]["handle"][0]["routes"]
    assert routes[0] == {"match": [{"path": ["/api/*"]}], "handle": [{
        "handler": "python", "module_asgi": "api:app", "lifespan": True,
        "env": {"MODE": "prod"}}]}
    assert routes[1] == {"handle": [{"handler": "python", "module_wsgi": "main:app"}]}


def test_cli_prints_json_and_imports_nothing(tmp_path):
    (tmp_path / "Caddyfile").write_text(CADDYFILE)
    out = subprocess.run([sys.executable, "-m", "fastsnake", "adapt", "--config",
                          str(tmp_path / "Caddyfile"), "--pretty"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["apps"]["http"]["servers"]["srv0"]["listen"] == [":8080"]
    bad = subprocess.run([sys.executable, "-m", "fastsnake", "adapt", "--config",
                          str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "not found" in bad.stderr
