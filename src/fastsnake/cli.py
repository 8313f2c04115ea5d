"""Command line: translate arguments into a Config and a runtime; nothing else.

Spellings follow Caddy's, so fastsnake drops in where ``caddy run`` was used:

    fastsnake [Caddyfile]                    run (default file: ./Caddyfile)
    fastsnake run [--config F] [--adapter caddyfile]
    fastsnake validate [--config F]         load and check; import nothing
    fastsnake version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastsnake import __version__
from fastsnake.errors import FatalError

COMMANDS = ("run", "validate", "version")
DEFAULT_CONFIG = "Caddyfile"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastsnake",
        description="Serve the Python apps that a Caddyfile's python directives name.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in (("run", "load the config and serve (the default)"),
                            ("validate", "load the config and check it; import nothing")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", "-c", default=DEFAULT_CONFIG,
                         help="the Caddyfile to read (default: ./Caddyfile)")
        sub.add_argument("--adapter", "-a", default="caddyfile", choices=["caddyfile"],
                         help="the config format (only caddyfile)")
    commands.add_parser("version", help="print the version")
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``fastsnake FILE`` and bare ``fastsnake`` mean ``fastsnake run``."""
    args = list(argv)
    if not args:
        return ["run"]
    if args[0] in COMMANDS or args[0].startswith("-"):
        return args
    return ["run", "--config", args[0], *args[1:]]


def run(config_path: str) -> int:
    from fastsnake.config import load_config
    from fastsnake.supervisor import Supervisor

    config = load_config(config_path)
    if not config.listeners:
        raise FatalError(f"{config_path}: no site block to serve")
    return Supervisor(config).run()


def validate(config_path: str) -> int:
    from fastsnake.config import load_config

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
        return run(args.config)
    except FatalError as exc:
        print(f"fastsnake: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
