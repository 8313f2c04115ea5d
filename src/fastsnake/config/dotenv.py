"""Reading ``env_file`` files (dotenv syntax) for the ``python`` directive.

One ``NAME=value`` per line; blank lines and ``#`` comments are skipped; an
``export`` prefix is allowed; values may be single-quoted (taken literally),
double-quoted (``\\n``, ``\\t``, ``\\"`` and ``\\\\`` escapes) or bare (a
`` #`` starts a comment, surrounding spaces are trimmed). No variable
expansion: what is written is what the app gets.
"""

from __future__ import annotations

import re

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class DotenvError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def unquote_double(text: str, line: int) -> str:
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_value(raw: str, line: int) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        while quote == '"' and end > 0 and raw[end - 1] == "\\":
            end = raw.find(quote, end + 1)
        if end < 0:
            raise DotenvError(line, f"unterminated {quote}-quoted value")
        rest = raw[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise DotenvError(line, f"unexpected text after the quoted value: {rest!r}")
        inner = raw[1:end]
        return unquote_double(inner, line) if quote == '"' else inner
    comment = raw.find(" #")
    return (raw[:comment] if comment >= 0 else raw).strip()


def parse_dotenv(text: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].lstrip()
        name, eq, value = stripped.partition("=")
        name = name.strip()
        if not eq:
            raise DotenvError(number, f"expected NAME=value, got {stripped!r}")
        if not NAME.fullmatch(name):
            raise DotenvError(number, f"invalid variable name {name!r}")
        pairs.append((name, parse_value(value, number)))
    return pairs
