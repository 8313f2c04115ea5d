"""``fastsnake hash-password``: a bcrypt hash for ``basic_auth``, as
``caddy hash-password`` writes one (same format, same default cost), so a
Caddyfile's hashes work in both servers."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from fastsnake.errors import FatalError

DEFAULT_COST = 14  # Caddy's


def add_parser(commands: Any) -> None:
    sub = commands.add_parser("hash-password",
                              help="print a bcrypt hash of a password, for basic_auth")
    sub.add_argument("--plaintext", "-p", default=None,
                     help="the password (default: asked on the terminal, or read from "
                          "standard input)")
    sub.add_argument("--algorithm", "-a", default="bcrypt", choices=["bcrypt"],
                     help="the hash algorithm (only bcrypt)")
    sub.add_argument("--cost", type=int, default=DEFAULT_COST,
                     help=f"bcrypt's cost factor, 4 to 31 (default: {DEFAULT_COST}, as Caddy)")


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Enter password: ")
    if getpass.getpass("Confirm password: ") != first:
        raise FatalError("the passwords do not match")
    return first


def hash_password(args: argparse.Namespace) -> int:
    try:
        import bcrypt
    except ImportError:
        raise FatalError("hash-password needs the bcrypt package: "
                         "pip install 'fastsnake[auth]'") from None
    if not 4 <= args.cost <= 31:
        raise FatalError(f"--cost must be between 4 and 31, not {args.cost}")
    password = args.plaintext if args.plaintext is not None else read_password()
    if not password:
        raise FatalError("the password is empty")
    print(bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(args.cost)).decode("ascii"))
    return 0
