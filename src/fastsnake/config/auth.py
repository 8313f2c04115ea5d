"""``basic_auth`` (and its older spelling ``basicauth``): HTTP Basic
authentication with password hashes, as Caddy's Caddyfile writes it::

    basic_auth [<matcher>] [<hash_algorithm> [<realm>]] {
        <username> <hashed_password>
        ...
    }

Hashes are bcrypt's, as ``caddy hash-password`` and ``fastsnake
hash-password`` write them (``$2a$14$...``); Caddy's older base64-encoded
form is decoded here. Checking them needs the ``bcrypt`` package (the
``auth`` extra), so a Caddyfile that uses basic_auth without it is refused
at load with the line to run, instead of failing on the first request.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import re
from dataclasses import dataclass

from fastsnake.caddyfile import Dispenser, Segment

# $2a$/$2b$/$2y$ (bcrypt's versions), a two-digit cost, 53 characters of salt and hash.
BCRYPT_HASH = re.compile(r"\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
DEFAULT_REALM = "restricted"  # Caddy's


@dataclass(frozen=True)
class BasicAuth:
    """Accounts as (username, bcrypt hash) pairs; the realm clients are told."""

    accounts: tuple[tuple[str, str], ...]
    realm: str = DEFAULT_REALM
    location: str = ""


def parse_basic_auth(segment: Segment) -> BasicAuth:
    d = Dispenser(segment)
    d.next()
    location = d.token().location
    args = d.remaining_args()
    if len(args) > 2:
        d.arg_err()
    algorithm = args[0] if args else "bcrypt"
    realm = args[1] if len(args) > 1 else DEFAULT_REALM
    if algorithm == "argon2id":
        d.err("basic_auth: argon2id hashes are not supported by fastsnake; use bcrypt hashes "
              "('fastsnake hash-password' writes them)")
    if algorithm != "bcrypt":
        d.errf("basic_auth: unknown hash algorithm '%s' (bcrypt)", algorithm)
    accounts: list[tuple[str, str]] = []
    seen: set[str] = set()
    nesting = d.nesting
    while d.next_block(nesting):
        username = d.val()
        rest = d.remaining_args()
        if len(rest) != 1:
            d.err("basic_auth: each line is '<username> <hashed_password>'")
        if username in seen:
            d.errf("basic_auth: user '%s' is given twice", username)
        seen.add(username)
        accounts.append((username, _bcrypt_hash(d, rest[0])))
    if not accounts:
        d.err("basic_auth needs at least one '<username> <hashed_password>' line in a block")
    if importlib.util.find_spec("bcrypt") is None:
        d.err("basic_auth needs the bcrypt package: pip install 'fastsnake[auth]'")
    return BasicAuth(tuple(accounts), realm, location)


def _bcrypt_hash(d: Dispenser, text: str) -> str:
    """The hash as bcrypt reads it; Caddy before 2.8 wrote it base64-encoded."""
    if not text.startswith("$"):
        try:
            text = base64.b64decode(text, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            text = ""
    if not BCRYPT_HASH.fullmatch(text):
        d.err("basic_auth: the password must be a bcrypt hash, as 'fastsnake hash-password' "
              "writes it (never the password itself)")
    return text
