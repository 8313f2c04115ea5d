"""How each server under test is installed and started.

Every server serves the same app module from bench/apps (or, for the static
scenarios, the same generated site, see site.py) with one worker process
(the scaling variants excepted), pinned by the harness to the CPUs in
``cpus``. ``has_master`` says whether the started process is a supervisor
whose children are the workers (RSS is read from the workers). Python peers
live in venvs under bench/.venvs; nginx and Caddy are Debian's packages
(``apt``), installed by a full run when missing.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import site_files
import venvs

BENCH = pathlib.Path(__file__).resolve().parent
APPS = BENCH / "apps"
REPO = BENCH.parent


@dataclass(frozen=True)
class App:
    # "wsgi" / "asgi": target is "module:attribute" in bench/apps;
    # "respond": a fixed 13-byte answer from the server's config (target
    # "log": with an access log file);
    # "static": the generated site (site_files.py), target "gzip" to serve
    # its precompressed .gz sidecars; "site": a front door's routes, the
    # generated site under handle_path /static/* beside handle blocks.
    interface: str
    target: str


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    files: dict[str, str]  # name -> text, written into the run's folder first
    env: dict[str, str] = field(default_factory=dict)  # added to the environment


@dataclass(frozen=True)
class Server:
    name: str
    venv: str | None  # None: the harness's own environment
    packages: tuple[str, ...]  # what the venv gets
    distributions: tuple[str, ...]  # whose versions are recorded
    has_master: bool
    build: Callable[[str, App, int], Launch]  # (python, app, port) -> Launch
    workers: int = 1
    cpus: str = "0"
    apt: tuple[str, ...] = ()  # Debian packages it needs (nginx, caddy, libev-dev)
    binary: str | None = None  # a server that is a program, not a Python module

    def python(self) -> str:
        return sys.executable if self.venv is None else venvs.python(self.venv)

    def installed(self) -> bool:
        if self.binary is not None:
            return shutil.which(self.binary) is not None
        return self.venv is None or venvs.is_installed(self.venv, self.packages)

    def version(self) -> dict[str, str | None]:
        """The versions of what runs: the distributions, or the program's own."""
        if self.binary is None:
            return venvs.versions(self.python(), self.distributions)
        argv = [self.binary, "version"] if self.binary == "caddy" else [self.binary, "-v"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        text = (done.stdout + done.stderr).strip().splitlines()
        return {self.binary: text[0].rpartition("/")[2].split()[0] if text else None}

    def install(self) -> None:
        if self.apt and (self.binary is None or not self.installed()):
            apt_install(self.apt)
        if self.venv is not None:
            venvs.ensure(self.venv, self.packages)


def apt_install(packages: tuple[str, ...]) -> None:
    """Debian packages, as root; only those dpkg does not list as installed."""
    missing = [p for p in packages if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout != "install ok installed"]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"bench needs {' '.join(missing)}: apt-get install -y {' '.join(missing)}")
    print(f"bench: apt-get install {' '.join(missing)}", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # policy-rc.d-less images would start the packaged services; the harness
    # starts its own instances, so a stray default one only costs a port.
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL, timeout=900)


CADDYFILE = """\
:{port} {{
    python {{
        module_{interface} "{target}"
        working_dir {apps}
        workers {workers}{runtime}
    }}
}}
"""
HELLO = "Hello, world!"


def site_block(app: App, port: int, fastsnake_workers: int | None) -> str:
    """The Caddyfile site both fastsnake and Caddy serve for respond and static."""
    if fastsnake_workers:
        # Without a python handler fastsnake starts one worker per CPU; this
        # site (a host no request names) only fixes the count.
        options = (f"http://workers.invalid:{port} {{\n    python {{\n"
                   f'        module_wsgi "wsgi_apps:hello"\n        working_dir {APPS}\n'
                   f"        workers {fastsnake_workers}\n    }}\n}}\n")
    else:
        options = "{\n    admin off\n    auto_https off\n}\n"
    if app.interface == "respond":
        # target "log": each request also written to a JSON access log file
        # in the run's folder (Caddy's default format; both servers append).
        log = "    log {\n        output file access.log\n    }\n" if app.target == "log" else ""
        return f'{options}:{port} {{\n{log}    respond "{HELLO}" 200\n}}\n'
    root = site_files.ensure()
    if app.interface == "site":
        return (f"{options}:{port} {{\n    encode gzip\n    handle_path /static/* {{\n"
                f"        root * {root}\n        file_server\n    }}\n"
                f'    handle /api/* {{\n        respond "api"\n    }}\n'
                f'    handle {{\n        respond "{HELLO}" 200\n    }}\n}}\n')
    if app.target == "gzip":
        return (f"{options}:{port} {{\n    root * {root}\n    encode gzip\n"
                f"    file_server {{\n        precompressed gzip\n    }}\n}}\n")
    return f"{options}:{port} {{\n    root * {root}\n    file_server\n}}\n"


def fastsnake(workers: int, runtime: str = "") -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        if app.interface in ("respond", "static", "site"):
            text = site_block(app, port, workers)
        else:
            text = CADDYFILE.format(port=port, interface=app.interface, target=app.target,
                                    apps=APPS, workers=workers,
                                    runtime=f"\n        workers_runtime {runtime}" if runtime
                                    else "")
        return Launch([python, "-m", "fastsnake", "Caddyfile"], {"Caddyfile": text})
    return build


def caddy(python: str, app: App, port: int) -> Launch:
    """Caddy 2 on one OS thread's worth of Go scheduler (GOMAXPROCS=1), access
    logs off (its default), no admin endpoint, no automatic HTTPS."""
    return Launch(["caddy", "run", "--config", "Caddyfile", "--adapter", "caddyfile"],
                  {"Caddyfile": site_block(app, port, None)},
                  {"GOMAXPROCS": "1", "XDG_DATA_HOME": ".", "XDG_CONFIG_HOME": "."})


NGINX_CONF = """\
worker_processes 1;
daemon off;
{user}pid nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path tmp;
    proxy_temp_path tmp;
    fastcgi_temp_path tmp;
    uwsgi_temp_path tmp;
    scgi_temp_path tmp;
    server {{
        listen 127.0.0.1:{port};
        {server}
    }}
}}
"""
# The "site" scenario's routes, as nginx writes them.
NGINX_SITE = """\
gzip on;
        location /static/ {{
            alias {root}/;
        }}
        location /api/ {{
            return 200 "api";
        }}
        location / {{
            return 200 "{hello}";
        }}"""


def nginx(python: str, app: App, port: int) -> Launch:
    """nginx with one worker process (its master only supervises), sendfile,
    no access log; ``gzip_static`` serves the .gz sidecars; the "site"
    scenario's routes as locations."""
    user = ""
    if os.geteuid() == 0:  # as root its worker would drop to nobody; stay who we are
        user = "user root;\n"
    if app.interface == "site":
        server = NGINX_SITE.format(root=site_files.ensure(), hello=HELLO)
    else:
        gzip = "gzip_static on;" if app.target == "gzip" else ""
        server = f"root {site_files.ensure()};\n        {gzip}"
    text = NGINX_CONF.format(user=user, port=port, server=server)
    # -p: the run's folder holds the pid, the temp paths and the config.
    return Launch(["nginx", "-p", ".", "-c", "nginx.conf", "-e", "stderr"],
                  {"nginx.conf": text})


def bjoern(python: str, app: App, port: int) -> Launch:
    """bjoern (libev, one thread, C) runs the WSGI app with bench/bjoern_serve.py."""
    return Launch([python, str(BENCH / "bjoern_serve.py"), "--port", str(port),
                   "--app-dir", str(APPS), app.target], {})


def granian(mode: str) -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        return Launch([python, "-m", "granian", "--interface", app.interface,
                       "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                       "--runtime-mode", mode, "--loop", "uvloop", "--no-access-log",
                       "--log-level", "warning", "--working-dir", str(APPS), app.target], {})
    return build


def uvicorn(python: str, app: App, port: int) -> Launch:
    return Launch([python, "-m", "uvicorn", app.target, "--host", "127.0.0.1",
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                   "--ws", "websockets", "--no-access-log", "--log-level", "warning",
                   "--app-dir", str(APPS)], {})


def gunicorn(worker_class: str) -> Callable[[str, App, int], Launch]:
    def build(python: str, app: App, port: int) -> Launch:
        return Launch([python, "-m", "gunicorn", "--workers", "1", "--worker-class",
                       worker_class, "--bind", f"127.0.0.1:{port}", "--chdir", str(APPS),
                       "--log-level", "warning", app.target], {})
    return build


def ceiling(python: str, app: App, port: int) -> Launch:
    return Launch([python, str(BENCH / "ceiling.py"), "--port", str(port)], {})


GRANIAN = ("granian[uvloop]",)
UVICORN = ("uvicorn", "uvloop", "httptools", "websockets")
GUNICORN = ("gunicorn", "uvicorn-worker", "uvloop", "httptools")
BJOERN = ("bjoern",)

SERVERS: dict[str, Server] = {s.name: s for s in (
    Server("fastsnake", None, (), ("fastsnake", "uvloop"), True, fastsnake(1)),
    Server("granian", "granian", GRANIAN, ("granian", "uvloop"), True, granian("mt")),
    Server("granian-st", "granian", GRANIAN, ("granian", "uvloop"), True, granian("st")),
    Server("uvicorn", "uvicorn", UVICORN, ("uvicorn", "uvloop", "httptools", "websockets"),
           False, uvicorn),
    Server("gunicorn", "gunicorn", GUNICORN, ("gunicorn",), True, gunicorn("sync")),
    Server("gunicorn-uvicorn", "gunicorn", GUNICORN,
           ("gunicorn", "uvicorn-worker", "uvicorn", "uvloop", "httptools"), True,
           gunicorn("uvicorn_worker.UvicornWorker")),
    Server("ceiling", None, (), ("uvloop",), False, ceiling),
    Server("nginx", None, (), (), True, nginx, apt=("nginx",), binary="nginx"),
    Server("caddy", None, (), (), False, caddy, apt=("caddy",), binary="caddy"),
    # bjoern builds against libev; its wheel-less sdist needs the headers.
    Server("bjoern", "bjoern", BJOERN, ("bjoern",), False, bjoern, apt=("libev-dev",)),
    # The thread runtime's worker is a thread of the supervisor: no child to read.
    Server("fastsnake-thread", None, (), ("fastsnake", "uvloop"), False,
           fastsnake(1, "thread")),
    # The scaling pair: both on cores 0 and 1, which the load generator shares.
    Server("fastsnake-1w", None, (), ("fastsnake", "uvloop"), True, fastsnake(1), 1, "0,1"),
    Server("fastsnake-2w", None, (), ("fastsnake", "uvloop"), True, fastsnake(2), 2, "0,1"),
)}

PEERS = ("granian", "granian-st", "uvicorn", "gunicorn", "gunicorn-uvicorn", "nginx", "caddy",
         "bjoern")


def is_fastsnake(name: str) -> bool:
    return name.startswith("fastsnake")
