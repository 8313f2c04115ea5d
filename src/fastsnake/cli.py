"""Command line: translate arguments into a Config and a runtime; nothing else.

Spellings follow Caddy's, so fastsnake drops in where ``caddy run`` was used:

    fastsnake [Caddyfile]                    run (default file: ./Caddyfile)
    fastsnake run [--config F] [--adapter caddyfile] [--debug]
    fastsnake validate [--config F]         load and check; import nothing
    fastsnake adapt [--config F] [--pretty]   the config as JSON, shaped like Caddy's
    fastsnake fmt [--overwrite] [F]          lay a Caddyfile out as caddy fmt does
    fastsnake version
    fastsnake trust [--print] [--storage DIR]   the local CA's root into the system
    fastsnake untrust [--storage DIR]           trust store, and out (fastsnake.certs)
    fastsnake serve module:app [options]    no Caddyfile: one app, like uvicorn
                                            (see fastsnake.quickstart)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastsnake import __version__
from fastsnake.errors import FatalError

if TYPE_CHECKING:
    from fastsnake.config.model import Config

COMMANDS = ("run", "validate", "adapt", "fmt", "version", "serve", "reload", "stop",
            "hash-password", "trust", "untrust")
DEFAULT_CONFIG = "Caddyfile"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastsnake",
        description="Serve the Python apps that a Caddyfile's python directives name.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in (("run", "load the config and serve (the default)"),
                            ("validate", "load the config and check it; import nothing"),
                            ("adapt", "print the config as JSON shaped like Caddy's; "
                                      "import nothing")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", "-c", default=DEFAULT_CONFIG,
                         help="the Caddyfile to read (default: ./Caddyfile)")
        sub.add_argument("--adapter", "-a", default="caddyfile", choices=["caddyfile"],
                         help="the config format (only caddyfile)")
        if name == "adapt":
            sub.add_argument("--pretty", "-p", action="store_true", help="indent the JSON")
        if name == "run":
            sub.add_argument("--debug", action="store_true",
                             help="verbose logging (as the global debug option)")
    fmt = commands.add_parser("fmt", help="format a Caddyfile as caddy fmt does")
    fmt.add_argument("path", nargs="?", default=DEFAULT_CONFIG,
                     help="the Caddyfile (default: ./Caddyfile)")
    fmt.add_argument("--overwrite", "-w", action="store_true",
                     help="write the result back to the file instead of printing it")
    commands.add_parser("version", help="print the version")
    for name, help_text in (("reload", "check the Caddyfile, then have the server running it "
                                       "re-read it (SIGHUP: no connection dropped)"),
                            ("stop", "stop the server running the Caddyfile (SIGTERM: "
                                     "requests in flight finish) and wait for it")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", "-c", default=DEFAULT_CONFIG,
                         help="the Caddyfile the server runs (default: ./Caddyfile)")
        sub.add_argument("--adapter", "-a", default="caddyfile", choices=["caddyfile"],
                         help="the config format (only caddyfile)")
    add_trust_parsers(commands)
    add_serve_parser(commands)
    from fastsnake.hash_password import add_parser as add_hash_password_parser

    add_hash_password_parser(commands)
    return parser


def add_trust_parsers(commands: Any) -> None:
    storage_help = ("the data directory that holds the local CA (default: "
                    "$XDG_DATA_HOME/fastsnake or ~/.local/share/fastsnake)")
    trust = commands.add_parser(
        "trust", help="install the local CA's root certificate into the system trust "
                      "store, as caddy trust does (creating the CA if needed)")
    trust.add_argument("--print", dest="print_root", action="store_true",
                       help="print the root certificate (PEM) instead of installing it")
    trust.add_argument("--storage", metavar="DIR", help=storage_help)
    untrust = commands.add_parser(
        "untrust", help="remove the local CA's root certificate from the system trust "
                        "store, as caddy untrust does")
    untrust.add_argument("--storage", metavar="DIR", help=storage_help)


SERVE_DESCRIPTION = """\
Serve one WSGI or ASGI app without writing a Caddyfile, the way
`uvicorn main:app` or `gunicorn app:app` would. The options stand for a
Caddyfile with one site and one python directive, and are loaded exactly
as that Caddyfile would be; --print-caddyfile shows it.

Unless --wsgi or --asgi says, the app is imported once (in a separate
interpreter) to look at it: a coroutine function of 3 arguments (scope,
receive, send), or an object whose __call__ is one, is ASGI; anything
else is WSGI. A line on stderr says which was chosen.
"""

SERVE_EPILOG = """\
examples:
  fastsnake serve main:app --workers 4 --reload     uvicorn main:app --workers 4 --reload
  fastsnake serve app:app --listen :8000 --workers 4 --threads 8
                                                     gunicorn -w 4 --threads 8 -b :8000 app:app
  fastsnake serve main:app --print-caddyfile > Caddyfile && fastsnake Caddyfile
"""


def add_serve_parser(commands: Any) -> None:
    sub = commands.add_parser(
        "serve", help="serve one module:app without a Caddyfile (like uvicorn)",
        description=SERVE_DESCRIPTION, epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("target", metavar="module:app",
                     help="the app: a module (a .py file or package in the working "
                          "directory) and the name of the app in it, such as main:app")
    kind = sub.add_mutually_exclusive_group()
    kind.add_argument("--wsgi", dest="interface", action="store_const", const="wsgi",
                      help="the app is WSGI (Flask, Django's wsgi.py, ...): module_wsgi")
    kind.add_argument("--asgi", dest="interface", action="store_const", const="asgi",
                      help="the app is ASGI (FastAPI, Starlette, Django's asgi.py, ...): "
                           "module_asgi")
    sub.add_argument("--listen", "-l", default=":8000", metavar="ADDR",
                     help="where to listen: :8000 (the default, every interface), 8000, "
                          "127.0.0.1:8000 or [::1]:8000; a host becomes the site's bind")
    sub.add_argument("--workers", "-w", type=positive_int, metavar="N",
                     help="worker processes (default: the CPU count); workers N")
    sub.add_argument("--runtime", choices=["process", "thread"],
                     help="process: N worker processes (the default on Linux and macOS); "
                          "thread: one process, WSGI on a thread pool; workers_runtime")
    sub.add_argument("--threads", type=positive_int, metavar="N",
                     help="a pool of N threads per process for a WSGI app; threads N")
    sub.add_argument("--reload", action="store_true",
                     help="reload the app when a .py file under the working directory "
                          "changes; autoreload")
    sub.add_argument("--lifespan", nargs="?", const="on", default="auto",
                     choices=("auto", "on", "off"),
                     help="run an ASGI app's lifespan protocol (startup/shutdown) in each "
                          "worker: auto (the default, as uvicorn's) and on run it and go on "
                          "without it, with a notice, when the app does not speak it; "
                          "off skips it; lifespan on|off")
    sub.add_argument("--working-dir", "--chdir", metavar="DIR",
                     help="the folder the module is imported from, and the workers' current "
                          "directory (default: the current directory); working_dir")
    sub.add_argument("--access-log", action="store_true",
                     help="one line per request on stderr, in Caddy's JSON format; log")
    sub.add_argument("--debug", action="store_true",
                     help="verbose logging; the global debug option")
    sub.add_argument("--supervisor", choices=["on", "off", "watchdog"], default="on",
                     help="on (the default): a supervisor process and its workers; off: "
                          "this one process serves (one worker, as uvicorn); watchdog: that "
                          "process under a small C watchdog that restarts it; the global "
                          "supervisor option")
    sub.add_argument("--print-caddyfile", action="store_true",
                     help="print the equivalent Caddyfile and exit, without serving")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``fastsnake FILE`` and bare ``fastsnake`` mean ``fastsnake run``."""
    args = list(argv)
    if not args:
        return ["run"]
    if args[0] in COMMANDS or args[0].startswith("-"):
        return args
    return ["run", "--config", args[0], *args[1:]]


@contextlib.contextmanager
def notices_shown() -> Iterator[None]:
    """While a Caddyfile loads, its notices (an option ignored, a site served
    over plain HTTP where Caddy would use HTTPS...) go to stderr: the
    server's own logging is only set up after the load, and without a
    handler Python would drop them."""
    if os.environ.get("FASTSNAKE_HANDOVER"):
        # A run that takes over listening sockets (a reload's re-exec, the
        # watchdog's server): the run before it has shown them already.
        yield
        return
    logger = logging.getLogger("fastsnake")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fastsnake: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run(config_path: str, debug: bool = False) -> int:
    import dataclasses

    from fastsnake.config.loader import load_config

    with notices_shown():
        config = load_config(config_path)
    if debug:
        config = dataclasses.replace(config, debug=True)
    if not config.listeners:
        raise FatalError(f"{config_path}: no site block to serve")
    if config.interpreter:
        # python_path names another environment: run the server there (its
        # packages and Python version are the app's), as caddy-snake does.
        print(f"fastsnake: python_path: starting again under {config.interpreter}",
              file=sys.stderr, flush=True)
        args = [config.interpreter, "-m", "fastsnake", "run", "--config", config_path]
        os.execv(config.interpreter, args + (["--debug"] if debug else []))
    return serve_config(config)


def serve_config(config: Config) -> int:
    """Serve until stopped (both `run` and `serve` end here): worker processes
    under the supervisor, or in this process where there is no fork."""
    from fastsnake.server.serve import serve as serve_with_runtime

    return serve_with_runtime(config)


def serve(args: argparse.Namespace) -> int:
    from fastsnake.config.model import Interface
    from fastsnake.quickstart import ServeOptions, load

    options = ServeOptions(
        target=args.target,
        interface=Interface(args.interface) if args.interface else None,
        listen=args.listen, workers=args.workers, runtime=args.runtime, threads=args.threads,
        reload=args.reload, lifespan=args.lifespan, working_dir=args.working_dir,
        debug=args.debug, supervisor=args.supervisor, access_log=args.access_log)
    with notices_shown():
        text, config = load(options)
    if args.print_caddyfile:
        print(text, end="")
        return 0
    return serve_config(config)


def fmt(path: str, overwrite: bool) -> int:
    from fastsnake.caddyfile.fmt import format_caddyfile

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise FatalError(f"{path}: {exc.strerror or exc}") from exc
    formatted = format_caddyfile(text)
    if overwrite:
        with open(path, "w", encoding="utf-8") as f:
            f.write(formatted)
    else:
        print(formatted, end="")
    return 0


def control(command: str, config_path: str) -> int:
    """``reload`` and ``stop``: reach the server that runs this Caddyfile."""
    from fastsnake.server import control as running

    if command == "reload":
        from fastsnake.config.loader import load_config

        with notices_shown():
            load_config(config_path)  # a Caddyfile that does not load is refused here
        pid = running.reload(config_path)
        print(f"fastsnake: asked the server (pid {pid}) to reload {config_path}",
              file=sys.stderr)
    else:
        pid = running.stop(config_path)
        print(f"fastsnake: the server (pid {pid}) has stopped", file=sys.stderr)
    return 0


def validate(config_path: str) -> int:
    from fastsnake.config.loader import load_config

    with notices_shown():
        config = load_config(config_path)
    apps = sum(len(listener.apps) for listener in config.listeners)
    print(f"{config_path}: valid configuration ({len(config.listeners)} listener(s), "
          f"{apps} app(s))")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(normalise_argv(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "version":
            print(f"fastsnake {__version__}")
            return 0
        if args.command == "validate":
            return validate(args.config)
        if args.command == "fmt":
            return fmt(args.path, args.overwrite)
        if args.command == "adapt":
            from fastsnake.adapt import to_json
            from fastsnake.config.loader import load_config

            with notices_shown():
                config = load_config(args.config)
            print(to_json(config, pretty=args.pretty))
            return 0
        if args.command == "serve":
            return serve(args)
        if args.command in ("reload", "stop"):
            return control(args.command, args.config)
        if args.command == "hash-password":
            from fastsnake.hash_password import hash_password

            return hash_password(args)
        if args.command in ("trust", "untrust"):
            from fastsnake.certs import trust

            if args.command == "trust":
                return trust.trust_command(args.storage, args.print_root)
            return trust.untrust_command(args.storage)
        return run(args.config, getattr(args, "debug", False))
    except FatalError as exc:
        print(f"fastsnake: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
