"""The benchmark scenarios: which app, which load, which servers can run it."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from servers import App

LUA = pathlib.Path(__file__).resolve().parent / "lua"

WSGI_ALL = ("fastsnake", "granian", "granian-st", "gunicorn", "bjoern")
ASGI_ALL = ("fastsnake", "granian", "granian-st", "uvicorn", "gunicorn-uvicorn")
FILES = ("fastsnake", "nginx", "caddy")
GZIP = ("Accept-Encoding: gzip",)


def _static(size: str, gzip: bool = False) -> Scenario:
    if gzip:
        return Scenario(f"files-{size}-gz", f"file_server, {size} HTML, precompressed .gz "
                        "sidecar (Accept-Encoding: gzip)", App("static", "gzip"), FILES,
                        path=f"/{size.lower()}.html", headers=GZIP)
    return Scenario(f"files-{size}", f"file_server, {size} HTML file", App("static", ""),
                    FILES, path=f"/{size.lower()}.html")


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    app: App
    servers: tuple[str, ...]
    connections: int | None = None  # None: the --connections default
    script: str | None = None  # a Lua file in bench/lua
    websocket: bool = False  # load by bench/wsload.py, rate in messages/s
    shared_cpus: bool = False  # server and load generator both on cores 0,1
    path: str = "/"  # what the load generator asks for
    headers: tuple[str, ...] = ()  # "Name: value" lines it adds to every request

    def script_path(self) -> str | None:
        return str(LUA / self.script) if self.script else None


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("wsgi-hello", "WSGI, 13-byte text response",
             App("wsgi", "wsgi_apps:hello"), (*WSGI_ALL, "ceiling")),
    Scenario("asgi-hello", "ASGI, 13-byte text response",
             App("asgi", "asgi_apps:hello"), (*ASGI_ALL, "ceiling")),
    Scenario("wsgi-100k", "WSGI, 100 KiB response body",
             App("wsgi", "wsgi_apps:big"), WSGI_ALL),
    Scenario("asgi-echo-4k", "ASGI, POST 4 KiB, echoed back",
             App("asgi", "asgi_apps:echo"), ASGI_ALL, script="post_4k.lua"),
    Scenario("wsgi-upload-1m", "WSGI, POST 1 MiB, answers its length",
             App("wsgi", "wsgi_apps:upload"), WSGI_ALL, script="upload_1m.lua"),
    Scenario("asgi-stream", "ASGI, 64 x 1 KiB chunks with more_body (chunked)",
             App("asgi", "asgi_apps:stream"), ASGI_ALL),
    Scenario("wsgi-close", "WSGI hello, Connection: close on every request",
             App("wsgi", "wsgi_apps:hello"), (*WSGI_ALL, "ceiling"), script="close.lua"),
    Scenario("wsgi-hello-1c", "WSGI hello over 1 connection (latency)",
             App("wsgi", "wsgi_apps:hello"), (*WSGI_ALL, "ceiling"), connections=1),
    Scenario("asgi-hello-1c", "ASGI hello over 1 connection (latency)",
             App("asgi", "asgi_apps:hello"), (*ASGI_ALL, "ceiling"), connections=1),
    Scenario("asgi-hello-256c", "ASGI hello over 256 connections",
             App("asgi", "asgi_apps:hello"), (*ASGI_ALL, "ceiling"), connections=256),
    Scenario("ws-echo", "WebSocket echo, 64-byte binary messages, 32 conns x 8 in flight",
             App("asgi", "asgi_apps:ws_echo"),
             ("fastsnake", "granian", "granian-st", "uvicorn", "ceiling"),
             connections=32, websocket=True),
    Scenario("respond", "Caddyfile respond, 13-byte text (no Python app)",
             App("respond", ""), ("fastsnake", "caddy")),
    Scenario("respond-log", "respond, each request written to a JSON access log file",
             App("respond", "log"), ("fastsnake", "caddy")),
    _static("4k"), _static("64k"), _static("1m"),
    _static("4k", gzip=True), _static("64k", gzip=True), _static("1m", gzip=True),
    Scenario("site-static", "a routed site: a 4k file under handle_path /static/*, beside "
             "handle blocks and encode (no Accept-Encoding)", App("site", ""), FILES,
             path="/static/4k.html"),
    Scenario("wsgi-thread", "WSGI hello, fastsnake workers_runtime thread",
             App("wsgi", "wsgi_apps:hello"), ("fastsnake-thread", "granian", "fastsnake")),
    Scenario("scaling", "ASGI hello, fastsnake 1 vs 2 workers; wrk -t2 shares both cores",
             App("asgi", "asgi_apps:hello"), ("fastsnake-1w", "fastsnake-2w"),
             shared_cpus=True),
)}

QUICK = ("wsgi-hello", "asgi-hello", "files-4k")
