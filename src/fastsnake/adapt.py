"""``fastsnake adapt``: the loaded config as JSON, shaped like Caddy's.

Caddy's own ``caddy adapt`` turns a Caddyfile into its native JSON; this
does the same for what fastsnake serves, using Caddy's structure where it
has one (``apps.http.servers.srvN`` with ``listen``, ``routes``, ``match``
and ``handle``) and a ``python`` handler carrying the directive's settings.
It reads only the config: no app is imported.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fastsnake.config import Config, Listener, PythonApp, Route, Site


def duration(seconds: float) -> str:
    """Caddy's JSON takes durations as Go duration strings."""
    return f"{seconds:g}s"


def python_handler(app: PythonApp) -> dict[str, Any]:
    handler: dict[str, Any] = {"handler": "python", f"module_{app.interface.value}": app.target}
    defaults = {f.name: f.default for f in dataclasses.fields(PythonApp)
                if f.default is not dataclasses.MISSING}
    for field in ("working_dir", "venv", "workers", "runtime", "lifespan", "autoreload",
                  "threads", "ws_max_message_size", "max_dynamic_apps", "max_requests"):
        value = getattr(app, field)
        if value != defaults.get(field):
            handler[field] = value.value if hasattr(value, "value") else value
    if app.env:
        handler["env"] = dict(app.env)
    return handler


def route_json(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"handle": [python_handler(route.handler)]}
    if route.paths:
        out["match"] = [{"path": list(route.paths)}]
    return out


def site_json(site: Site) -> dict[str, Any]:
    out: dict[str, Any] = {
        "handle": [{"handler": "subroute", "routes": [route_json(r) for r in site.routes]}],
        "terminal": True,
    }
    if site.hosts:
        out["match"] = [{"host": list(site.hosts)}]
    return out


def server_json(listener: Listener, config: Config) -> dict[str, Any]:
    timeouts = {name: duration(value)
                for name, value in dataclasses.asdict(config.timeouts).items()
                if value is not None}
    return {
        "listen": [f"{listener.host}:{listener.port}"],
        "routes": [site_json(site) for site in listener.sites],
        "fastsnake": {"runtime": listener.runtime.value, "workers": listener.workers},
        "timeouts": timeouts,
        "max_header_bytes": config.limits.max_header_size,
    }


def adapt(config: Config) -> dict[str, Any]:
    servers = {f"srv{index}": server_json(listener, config)
               for index, listener in enumerate(config.listeners)}
    return {"apps": {"http": {"grace_period": duration(config.grace_period),
                              "servers": servers}}}


def to_json(config: Config, pretty: bool = False) -> str:
    return json.dumps(adapt(config), indent=2 if pretty else None, sort_keys=False)
