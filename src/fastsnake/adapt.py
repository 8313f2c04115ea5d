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

from fastsnake.certs.policy import AutoHttps, Issuer
from fastsnake.config import directives as dv
from fastsnake.config.auth import BasicAuth
from fastsnake.config.https import AcmeChallenge, ManagedTls
from fastsnake.config.model import Config, Listener, PythonApp, Route, Site
from fastsnake.config.routes import SetRoot, Subroute


def duration(seconds: float) -> str:
    """Caddy's JSON takes durations as Go duration strings."""
    return f"{seconds:g}s"


def python_handler(app: PythonApp) -> dict[str, Any]:
    handler: dict[str, Any] = {"handler": "python", f"module_{app.interface.value}": app.target}
    defaults = {f.name: f.default for f in dataclasses.fields(PythonApp)
                if f.default is not dataclasses.MISSING}
    for field in ("working_dir", "venv", "workers", "runtime", "lifespan", "autoreload",
                  "threads", "ws_max_message_size", "max_dynamic_apps", "max_requests",
                  "max_body_size", "isolation"):
        value = getattr(app, field)
        if value != defaults.get(field):
            handler[field] = value.value if hasattr(value, "value") else value
    if app.env:
        handler["env"] = dict(app.env)
    return handler


def handler_json(handler: Any) -> list[dict[str, Any]]:
    """A directive's handlers as Caddy's JSON names them."""
    if isinstance(handler, PythonApp):
        return [python_handler(handler)]
    if isinstance(handler, Subroute):
        out: list[dict[str, Any]] = []
        if handler.strip_prefix:
            out.append({"handler": "rewrite", "strip_path_prefix": handler.strip_prefix})
        out.append({"handler": "subroute", "routes": [route_json(r) for r in handler.routes]})
        return out
    if isinstance(handler, dv.Respond):
        # Without a status Caddy's JSON has none: 200, or the error's in error routes.
        status = {"status_code": handler.status} if handler.explicit_status else {}
        return [{"handler": "static_response", **status,
                 **({"body": handler.body} if handler.body else {}),
                 **({"close": True} if handler.close else {})}]
    if isinstance(handler, dv.Redirect):
        return [{"handler": "static_response", "status_code": handler.status,
                 "headers": {"Location": [handler.to]}}]
    if isinstance(handler, dv.Rewrite):
        return [{"handler": "rewrite", "uri": handler.to}]
    if isinstance(handler, dv.UriOp):
        names = {"strip_prefix": "strip_path_prefix", "strip_suffix": "strip_path_suffix"}
        if handler.op in names:
            return [{"handler": "rewrite", names[handler.op]: handler.find}]
        key = "uri_substring" if handler.op == "replace" else "path_regexp"
        return [{"handler": "rewrite", key: [{"find": handler.find, "replace": handler.replace,
                                              **({"limit": handler.limit} if handler.limit
                                                 else {})}]}]
    if isinstance(handler, dv.Headers):
        ops: dict[str, Any] = {}
        for op in handler.ops:
            if op.op == "delete":
                ops.setdefault("delete", []).append(op.name)
            elif op.op == "replace":
                ops.setdefault("replace", {}).setdefault(op.name, []).append(
                    {"search_regexp": op.find, "replace": op.value})
            else:
                ops.setdefault(op.op, {}).setdefault(op.name, []).append(op.value)
        return [{"handler": "headers", "request" if handler.request else "response": ops}]
    if isinstance(handler, dv.RequestBody):
        return [{"handler": "request_body", "max_size": handler.max_size}]
    if isinstance(handler, dv.Encode):
        return [{"handler": "encode", "encodings": {f: {} for f in handler.formats},
                 "prefer": list(handler.formats), "minimum_length": handler.minimum_length}]
    if isinstance(handler, SetRoot):
        return [{"handler": "vars", "root": handler.path}]
    if isinstance(handler, dv.Abort):
        return [{"handler": "static_response", "abort": True}]
    if isinstance(handler, dv.ErrorStatus):
        return [{"handler": "error", "status_code": handler.status,
                 **({"error": handler.message} if handler.message else {})}]
    if isinstance(handler, dv.SkipLog):
        return [{"handler": "vars", "log_skip": True}]
    if isinstance(handler, AcmeChallenge):
        return [{"handler": "acme_http_challenge", "storage": handler.storage}]
    if isinstance(handler, BasicAuth):
        return [{"handler": "authentication", "providers": {"http_basic": {
            "accounts": [{"username": user, "password": hashed}
                         for user, hashed in handler.accounts],
            "hash": {"algorithm": "bcrypt"}, "realm": handler.realm}}}]
    if dataclasses.is_dataclass(handler):  # file_server
        fields = {k: v for k, v in dataclasses.asdict(handler).items()
                  if v not in (None, False, (), "") and k != "location"}
        return [{"handler": "file_server", **fields}]
    raise TypeError(f"cannot adapt {type(handler).__name__}")


def route_json(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.group:
        out["group"] = route.group
    if route.paths and "*" not in route.paths:
        out["match"] = [{"path": list(route.paths)}]
    elif route.matcher is not None:
        definition = " ".join(token.text for token in route.matcher[1:])
        out["match"] = [{"named": route.matcher_name, "definition": definition}]
    out["handle"] = handler_json(route.handler)
    return out


def site_json(site: Site) -> dict[str, Any]:
    out: dict[str, Any] = {
        "handle": [{"handler": "subroute", "routes": [route_json(r) for r in site.routes]}],
        "terminal": True,
    }
    if site.access_logs:
        out["logs"] = [spec.name for spec in site.access_logs]
    if site.hosts:
        out["match"] = [{"host": list(site.hosts)}]
    if isinstance(site.tls, ManagedTls):
        out["fastsnake_tls"] = {"managed": list(site.tls.names) or ["(on demand)"],
                                "on_demand": site.tls.on_demand}
    elif site.tls is not None:
        out["fastsnake_tls"] = {"certificate": site.tls.cert, "key": site.tls.key}
    return out


def issuer_json(issuer: Issuer) -> dict[str, Any]:
    if issuer.kind == "internal":
        return {"module": "internal"}
    out: dict[str, Any] = {"module": "acme", "ca": issuer.directory,
                           "challenges": list(issuer.challenges)}
    if issuer.email:
        out["email"] = issuer.email
    if issuer.ca_root:
        out["trusted_roots_pem_files"] = [issuer.ca_root]
    return out


def tls_json(auto: AutoHttps) -> dict[str, Any]:
    """What automatic HTTPS decided, in Caddy's ``apps.tls.automation`` shape:
    one policy per managed name (fastsnake keeps one certificate per name)."""
    policies = [{"subjects": list(m.names) or ["*"], "issuers": [issuer_json(i)
                                                                  for i in m.issuers],
                 **({"on_demand": True} if m.on_demand else {})} for m in auto.managed]
    out: dict[str, Any] = {"automation": {"policies": policies}, "storage": auto.storage,
                           "http_port": auto.http_port, "https_port": auto.https_port,
                           "redirects": auto.redirects}
    if auto.on_demand is not None:
        out["automation"]["on_demand"] = {"ask": auto.on_demand.ask}
    return out


def error_routes_json(site: Site) -> list[dict[str, Any]]:
    """A site's handle_errors blocks as Caddy's server-level ``errors`` routes:
    one per block, matched by host and (with codes) by the error's status."""
    out: list[dict[str, Any]] = []
    for group in site.error_routes:
        route: dict[str, Any] = {
            "handle": [{"handler": "subroute", "routes": [route_json(r) for r in group.routes]}],
        }
        match: dict[str, Any] = {}
        if site.hosts:
            match["host"] = list(site.hosts)
        if group.codes:
            match["status_code"] = list(group.codes)
        if match:
            route["match"] = [match]
        out.append(route)
    return out


def server_json(listener: Listener, config: Config) -> dict[str, Any]:
    timeouts = {name: duration(value)
                for name, value in dataclasses.asdict(config.timeouts).items()
                if value is not None}
    out: dict[str, Any] = {
        "listen": [f"{listener.host}:{listener.port}"],
        "routes": [site_json(site) for site in listener.sites],
        "fastsnake": {"runtime": listener.runtime.value, "workers": listener.workers},
        "timeouts": timeouts,
        "max_header_bytes": config.limits.max_header_size,
    }
    errors = [route for site in listener.sites for route in error_routes_json(site)]
    if errors:
        out["errors"] = {"routes": errors}
    return out


def adapt(config: Config) -> dict[str, Any]:
    servers = {f"srv{index}": server_json(listener, config)
               for index, listener in enumerate(config.listeners)}
    apps: dict[str, Any] = {"http": {"grace_period": duration(config.grace_period),
                                     "servers": servers}}
    if config.auto_https is not None:
        apps["tls"] = tls_json(config.auto_https)
    return {"apps": apps}


def to_json(config: Config, pretty: bool = False) -> str:
    return json.dumps(adapt(config), indent=2 if pretty else None, sort_keys=False)
