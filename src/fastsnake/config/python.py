"""The ``python`` directive: which app a route serves, and how.

Grammar (docs/python-directive.md, caddy-snake's, plus a matcher)::

    python [<matcher>] module:variable          # WSGI
    python [<matcher>] {
        module_wsgi | module_asgi | module_esgi  module:variable   # esgi: on gevent
        lifespan on|off
        working_dir PATH
        venv PATH
        workers N
        workers_runtime process|thread
        autoreload
        threads N                                # fastsnake's own
        env_file PATH / env_var NAME VALUE       # repeatable
        websocket_max_message_size SIZE
        max_dynamic_apps N
        max_requests N
        request_body { max_size SIZE }
        start_timeout DURATION | forever         # caddy-snake 0.6
        runtime sync | gevent | uvloop | native  # caddy-snake 0.6 (gevent: the extra)
        python_path PATH                         # caddy-snake 0.6: the server runs under it
        isolation none | process | worker        # caddy-snake 0.6's none (docker: refused);
                                                 # dynamic apps: a process per tenant or not
        proxy_headers                            # fastsnake's own: see request.client_ip
    }

``<matcher>`` is Caddy's matcher token (a path pattern, ``*`` or ``@name``);
config.routes takes it off the segment before this module sees it.

Everything that can be checked before serving is checked here, so a typo is a
``file:line`` error at startup rather than a 500 at the first request: the
target's shape, and that ``working_dir`` and ``venv`` exist. Values holding
request placeholders (``{http.request.host.labels.2}``) can only be checked
when a request resolves them, so they are kept as written. Relative paths are
resolved against the Caddyfile's directory, so a Caddyfile means the same
thing whatever directory fastsnake was started from.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import re
import subprocess
import sys
from typing import NoReturn

from fastsnake.caddyfile import Dispenser, Segment, Token
from fastsnake.config.args import (
    check_placeholders,
    expect_no_args,
    expect_one_arg,
    parse_duration,
    parse_size,
    refuse_block,
)
from fastsnake.config.dotenv import DotenvError, parse_dotenv
from fastsnake.config.model import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_WS_MAX_MESSAGE_SIZE,
    Interface,
    PythonApp,
    Runtime,
)
from fastsnake.errors import CaddyfileError

__all__ = ["default_runtime", "has_placeholder", "parse_python"]

log = logging.getLogger("fastsnake.config")

_PLACEHOLDER = re.compile(r"\{[^{}\s]+\}")


def has_placeholder(value: str) -> bool:
    """Whether ``value`` holds a request placeholder such as ``{path.0}``."""
    return _PLACEHOLDER.search(value) is not None


REPEATABLE = frozenset({"env_file", "env_var"})
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _environment(entries: list[tuple[str, str, str, Token]], dynamic: bool,
                 working_dir: str | None, base_dir: str
                 ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]:
    """``env_var`` and ``env_file``, in the order written: (env, templates).

    As caddy-snake reads them: a relative env_file is taken from the app's
    working_dir (else the Caddyfile's folder). A static app's are read now,
    so a missing file is a config error with a place. A dynamic app's are
    kept as templates and resolved for each tenant when its app is created
    (placeholders in values and paths, the tenant's own working_dir)."""
    if dynamic:
        return (), tuple((kind, first, second or token.location)
                         for kind, first, second, token in entries)
    env: list[tuple[str, str]] = []
    for kind, first, second, token in entries:
        if has_placeholder(second if kind == "var" else first):
            raise CaddyfileError(
                f"{kind if kind == 'file' else 'env_var'} '{second or first}' has a request "
                "placeholder, which only a dynamic app (placeholders in module_*, working_dir "
                "or venv) can resolve", token.file, token.line, token.imports)
        if kind == "var":
            env.append((first, second))
        else:
            env.extend(_env_file(token, first, working_dir or base_dir))
    return tuple(env), ()


def read_env_file(path: str) -> list[tuple[str, str]]:
    """A dotenv file's variables (OSError, DotenvError as they come)."""
    with open(path, encoding="utf-8") as f:
        return parse_dotenv(f.read())


def _env_file(token: Token, value: str, folder: str) -> list[tuple[str, str]]:
    """Read a dotenv file now, so its mistakes are config errors with a place."""
    path = os.path.normpath(os.path.join(folder, value))
    try:
        return read_env_file(path)
    except OSError as exc:
        message = f"env_file '{path}': {exc.strerror or exc}"
    except DotenvError as exc:
        message = f"env_file '{path}' {exc}"
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _request_body(d: Dispenser) -> int:
    """``request_body N``, ``request_body max_size N`` or ``request_body {
    max_size N }`` in a python block: the same limit as Caddy's request_body
    directive, for this app."""
    args = d.remaining_args()
    found: str | None = None
    if len(args) == 1:
        found = args[0]  # caddy-snake's shorthand: request_body 10MB
    elif args:
        if len(args) != 2 or args[0] != "max_size":
            d.err("request_body takes a size: request_body <size> or request_body max_size "
                  "<size>")
        found = args[1]
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() != "max_size":
            d.errf("request_body: '%s' is not supported by fastsnake (only max_size)", d.val())
        found = expect_one_arg(d)
    if found is None:
        d.err("request_body needs a max_size")
    try:
        return parse_size(found)
    except ValueError as exc:
        d.errf("request_body max_size: %s", exc)


def default_runtime() -> Runtime:
    """Windows has no fork and no SO_REUSEPORT: threads are all it can do."""
    return Runtime.THREAD if sys.platform == "win32" else Runtime.PROCESS


def parse_python(segment: Segment, base_dir: str) -> PythonApp:
    """The app of one ``python`` segment (its matcher already taken off);
    paths resolve against ``base_dir``."""
    d = Dispenser(segment)
    d.next()
    directive = d.token()
    args = d.remaining_args_as_tokens()
    if len(args) > 1:
        d.arg_err()
    if args:
        if not d.is_next_on_new_line():
            d.next()
            d.errf(
                "unexpected block after '%s': write either 'python module:variable' or a "
                "'python { ... }' block",
                args[0].text,
            )
        target = _check_target(d, args[0], "python")
        if has_placeholder(target):
            raise CaddyfileError(_UNCONFINED % target, args[0].file, args[0].line,
                                 args[0].imports)
        return PythonApp(Interface.WSGI, target, location=directive.location)
    if d.is_next_on_new_line():
        d.arg_err()  # neither a target nor a block
    return _parse_block(d, directive, base_dir)


def _parse_block(d: Dispenser, directive: Token, base_dir: str) -> PythonApp:
    seen: dict[str, Token] = {}
    interface: Interface | None = None
    target = ""
    working_dir: str | None = None
    venv: str | None = None
    workers: int | None = None
    threads: int | None = None
    runtime: Runtime | None = None
    lifespan = autoreload = False
    ws_max_message_size = DEFAULT_WS_MAX_MESSAGE_SIZE
    max_dynamic_apps = 128
    max_requests: int | None = None
    max_body_size: int | None = None
    start_timeout: float | None = DEFAULT_START_TIMEOUT
    loop_runtime: Token | None = None
    proxy_headers = False
    isolation = "process"
    python = ""
    env_entries: list[tuple[str, str, str, Token]] = []
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.token()
        name = sub.text
        if name in seen and name not in REPEATABLE:
            d.errf("duplicate subdirective '%s' (already set at line %d)", name, seen[name].line)
        if name in _MODULES:
            other = next((m for m in _MODULES if m in seen and m != name), None)
            if other is not None:
                d.errf("use either %s or %s, not both (%s is set)", other, name, other)
        seen[name] = sub
        if name in _MODULES:
            expect_one_arg(d)
            target = _check_target(d, d.token(), name)
            interface = _MODULES[name]
        elif name == "lifespan":
            value = expect_one_arg(d)
            if value not in ("on", "off"):
                d.errf("lifespan must be 'on' or 'off', got '%s'", value)
            lifespan = value == "on"
        elif name == "working_dir":
            working_dir = _directory(d, expect_one_arg(d), base_dir, venv=False)
        elif name == "venv":
            venv = _directory(d, expect_one_arg(d), base_dir, venv=True)
        elif name in ("workers", "threads", "max_dynamic_apps", "max_requests"):
            value = expect_one_arg(d)
            if not (value.isascii() and value.isdigit()) or int(value) < 1:
                d.errf("%s must be a positive integer, got '%s'", name, value)
            if name == "workers":
                workers = int(value)
            elif name == "threads":
                threads = int(value)
            elif name == "max_requests":
                max_requests = int(value)
            else:
                max_dynamic_apps = int(value)
        elif name == "workers_runtime":
            runtime = _runtime(d, expect_one_arg(d))
        elif name == "autoreload":
            expect_no_args(d)
            autoreload = True
        elif name == "proxy_headers":
            expect_no_args(d)
            proxy_headers = True
        elif name == "env_var":
            values = d.remaining_args()
            if len(values) != 2:
                d.arg_err()
            if not ENV_NAME.fullmatch(values[0]):
                d.errf("invalid environment variable name '%s'", values[0])
            check_placeholders(d, values[1])
            env_entries.append(("var", values[0], values[1], d.token()))
        elif name == "env_file":
            value = expect_one_arg(d)
            check_placeholders(d, value)
            env_entries.append(("file", value, "", d.token()))
        elif name == "websocket_max_message_size":
            value = expect_one_arg(d)
            try:
                ws_max_message_size = parse_size(value)
            except ValueError:
                d.errf("websocket_max_message_size must be a size such as 16MiB, got '%s'",
                       value)
            if ws_max_message_size < 1:
                d.errf("websocket_max_message_size must be positive, got '%s'", value)
        elif name == "request_body":
            max_body_size = _request_body(d)
        elif name == "start_timeout":
            start_timeout = _start_timeout(d, expect_one_arg(d))
        elif name == "runtime":
            expect_one_arg(d)
            loop_runtime = d.token()
        elif name == "python_path":
            python = _python_path(d, expect_one_arg(d), base_dir)
        elif name == "isolation":
            isolation = _isolation(d)
        else:
            d.errf("unknown python subdirective '%s'", name)
    if interface is None:
        raise CaddyfileError(
            "python block needs module_wsgi or module_asgi (e.g. 'module_wsgi main:app')",
            directive.file,
            directive.line,
            directive.imports,
        )
    gevent = False
    if loop_runtime is None and interface is Interface.ESGI:
        gevent = True  # ESGI's only runtime, so its default (as in caddy-snake)
        if not gevent_installed():
            esgi = seen["module_esgi"]
            raise CaddyfileError("module_esgi runs on gevent, which is not installed: "
                                 "pip install 'fastsnake[gevent]'",
                                 esgi.file, esgi.line, esgi.imports)
        if runtime is Runtime.THREAD:
            esgi = seen["module_esgi"]
            raise CaddyfileError(
                "module_esgi runs the app in gevent worker processes; it cannot be combined "
                f"with workers_runtime thread (line {seen['workers_runtime'].line})",
                esgi.file, esgi.line, esgi.imports)
    if loop_runtime is not None:
        _check_runtime(loop_runtime, interface, directive.location)
        gevent = loop_runtime.text == "gevent"
        if gevent and runtime is Runtime.THREAD:
            raise CaddyfileError(
                "runtime gevent runs the app in gevent worker processes; it cannot be "
                f"combined with workers_runtime thread (line {seen['workers_runtime'].line})",
                loop_runtime.file, loop_runtime.line, loop_runtime.imports)
    dynamic = any(value is not None and has_placeholder(value)
                  for value in (target, working_dir, venv))
    env, env_templates = _environment(env_entries, dynamic, working_dir, base_dir)
    if has_placeholder(target) and working_dir is None:
        where = next(seen[m] for m in _MODULES if m in seen)
        raise CaddyfileError(_UNCONFINED % target, where.file, where.line, where.imports)
    if lifespan and interface is not Interface.ASGI:
        log.info("%s: lifespan only applies to ASGI apps; ignored", directive.location)
    if threads is not None and interface is not Interface.WSGI:
        log.info("%s: threads only applies to WSGI apps; ignored", directive.location)
    return PythonApp(
        interface,
        target,
        working_dir=working_dir,
        venv=venv,
        workers=workers,
        runtime=runtime,
        lifespan=lifespan,
        autoreload=autoreload,
        proxy_headers=proxy_headers,
        threads=threads,
        ws_max_message_size=ws_max_message_size,
        max_dynamic_apps=max_dynamic_apps,
        env=env,
        env_templates=env_templates,
        max_requests=max_requests,
        max_body_size=max_body_size,
        start_timeout=start_timeout,
        python=python,
        gevent=gevent,
        location=directive.location,
        isolation=isolation,
    )


# caddy-snake's ``runtime``: what runs the app inside a worker. fastsnake
# accepts the values that name what it does.
_RUNTIMES = {Interface.WSGI: ("sync", "gevent"), Interface.ASGI: ("uvloop", "native"),
             Interface.ESGI: ("gevent",)}
_MODULES = {"module_wsgi": Interface.WSGI, "module_asgi": Interface.ASGI,
            "module_esgi": Interface.ESGI}
# caddy-snake 0.6's isolation docker, refused, and why.
_DOCKER = ("fastsnake starts its workers as processes of its own and runs no containers; "
           "run fastsnake itself in the container (its workers inherit the limits)")
# Words for "no start_timeout", as caddy-snake takes them.
_FOREVER = ("-1", "forever", "none", "inf", "indefinite")


def _check_runtime(token: Token, interface: Interface, location: str) -> None:
    allowed = _RUNTIMES[interface]
    value = token.text

    def fail(message: str) -> NoReturn:
        raise CaddyfileError(message, token.file, token.line, token.imports)

    if value not in allowed and interface is Interface.ESGI:
        fail(f"module_esgi runs on runtime gevent only (ESGI's protocol calls block, and "
             f"greenlets let them), got '{value}'")
    if value not in allowed:
        fail(f"runtime for module_{interface.value} must be {' or '.join(allowed)}, "
             f"got '{value}'")
    if value == "gevent" and not gevent_installed():
        fail("runtime gevent needs the gevent package, which is not installed: "
             "pip install 'fastsnake[gevent]'")
    if value == "native" and sys.platform != "win32":
        log.info("%s: runtime native: fastsnake runs ASGI apps on uvloop, which implements "
                 "the asyncio loop the app expects", token.location)


def gevent_installed() -> bool:
    """Whether gevent can be imported (found, not imported: the supervisor
    must not load it; only a gevent worker does, after its fork)."""
    return importlib.util.find_spec("gevent") is not None


def _isolation(d: Dispenser) -> str:
    """caddy-snake's ``isolation``: ``none``, its default, is what fastsnake
    does (workers are host processes, no container), and for dynamic apps that
    is a process per tenant, as ``process`` says explicitly; fastsnake's own
    ``worker`` keeps a dynamic app's tenants in the worker. ``docker`` is
    refused by name."""
    if not d.next_arg():
        d.arg_err()
    value = d.val()
    if value == "docker":  # before its arguments and block: they configure Docker
        d.errf("caddy-snake's isolation docker is not supported by fastsnake: %s", _DOCKER)
    if value not in ("none", "process", "worker"):
        d.errf("isolation must be 'none' or 'process' (a dynamic app's tenants each in a "
               "process of its own) or 'worker' (they share the worker); caddy-snake's docker "
               "backend is not supported by fastsnake; got '%s'", value)
    if d.next_arg():
        d.arg_err()
    refuse_block(d, value)
    return "worker" if value == "worker" else "process"


def _start_timeout(d: Dispenser, value: str) -> float | None:
    """A duration (``30s``, ``2m``), or ``-1``/``forever``: no limit."""
    if value.lower() in _FOREVER:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        d.errf("invalid start_timeout '%s': %s", value, exc)
    if seconds <= 0:
        d.errf("start_timeout must be a positive duration, -1 or forever, got '%s'", value)
    return seconds


def _python_path(d: Dispenser, value: str, base_dir: str) -> str:
    """caddy-snake runs its workers under this interpreter. fastsnake runs
    the whole server under it: when it names another environment than the
    one fastsnake runs in, ``fastsnake run`` starts again under it (so its
    packages, its venv and its Python version are the app's), which needs
    fastsnake importable there. Returns that interpreter, or "" for this one."""
    path = os.path.normpath(os.path.join(base_dir, value))
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        d.errf("python_path '%s' is not an executable file", path)
    if _python_environment(path) == _python_environment(sys.executable):
        return ""
    try:
        done = subprocess.run([path, "-c", "import fastsnake._http"], capture_output=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        d.errf("python_path '%s' cannot be run: %s", path, exc)
    if done.returncode != 0:
        d.errf("python_path '%s' cannot import fastsnake: install it in that environment "
               "('%s -m pip install fastsnake') or leave python_path out", path, path)
    return path


def _python_environment(python: str) -> str:
    """What an interpreter path stands for: its virtual environment (the
    folder with pyvenv.cfg), else the interpreter itself."""
    folder = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if os.path.isfile(os.path.join(folder, "pyvenv.cfg")):
        return os.path.realpath(folder)
    return os.path.realpath(python)


# A module chosen per request is looked up in one folder only; without a
# working_dir that folder would be the whole Python path (any module a
# client names: os, antigravity, ...).
_UNCONFINED = ("the module of '%s' is chosen per request, so it needs a working_dir to "
               "look in: add 'working_dir <folder>' (it may hold placeholders too)")


def _check_target(d: Dispenser, token: Token, what: str) -> str:
    target = token.text
    if has_placeholder(target):
        check_placeholders(d, target)
        return target
    module, colon, variable = target.partition(":")
    if not (
        colon and variable.isidentifier() and all(part.isidentifier() for part in module.split("."))
    ):
        d.errf(
            "invalid %s target '%s': expected 'module:variable', such as 'main:app'",
            what,
            target,
        )
    return target


def _runtime(d: Dispenser, value: str) -> Runtime:
    if value not in ("process", "thread"):
        d.errf("workers_runtime must be 'process' or 'thread', got '%s'", value)
    if value == "process" and sys.platform == "win32":
        d.err("workers_runtime process is not available on Windows; use 'thread'")
    return Runtime(value)


def _directory(d: Dispenser, value: str, base_dir: str, *, venv: bool) -> str:
    """Resolve a working_dir or venv path and check it, unless it has placeholders.

    A path that starts with a placeholder may turn out absolute, so it is kept
    as written; the app loader resolves it against the Caddyfile's directory.
    """
    what = "venv" if venv else "working_dir"
    if has_placeholder(value):
        check_placeholders(d, value)
        if value.startswith("{") or os.path.isabs(value):
            return value
        return os.path.join(base_dir, value)
    path = os.path.normpath(os.path.join(base_dir, value))
    if not os.path.exists(path):
        d.errf("%s '%s' does not exist", what, path)
    if not os.path.isdir(path):
        d.errf("%s '%s' is not a directory", what, path)
    if venv and not _is_venv(path):
        d.errf(
            "venv '%s' is not a virtual environment: it has no lib/python*/site-packages "
            "or Lib/site-packages",
            path,
        )
    if venv and not venv_site_packages(path):
        others = ", ".join(os.path.basename(os.path.dirname(p)) for p in _all_site_packages(path))
        d.errf("venv '%s' is for another Python (%s); fastsnake runs on python%d.%d, whose "
               "compiled packages could not load from it: make the venv with this Python",
               path, others, sys.version_info[0], sys.version_info[1])
    return path


def _is_venv(path: str) -> bool:
    return bool(_all_site_packages(path))


def _all_site_packages(venv: str) -> list[str]:
    found = sorted(glob.glob(os.path.join(glob.escape(venv), "lib", "python*", "site-packages")))
    windows = os.path.join(venv, "Lib", "site-packages")
    if os.path.isdir(windows):
        found.append(windows)
    return found


def venv_site_packages(venv: str) -> list[str]:
    """The site-packages folders of a virtual environment that this Python
    can use: ``lib/pythonX.Y/site-packages`` of this version (POSIX), or
    ``Lib/site-packages`` (Windows, where the folder names no version)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return [path for path in _all_site_packages(venv)
            if os.path.basename(os.path.dirname(path)) in (version, "Lib")]
