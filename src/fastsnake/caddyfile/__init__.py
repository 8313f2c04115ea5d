"""The Caddyfile reader, in Caddy's own three layers.

``lexer`` turns text into :class:`Token`\\ s that remember file and line;
``dispenser`` is a cursor over them that understands lines and blocks;
``parser`` groups them into the global options and server blocks, expanding
snippets and imports. What directives *mean* is left to ``fastsnake.config``.

This package imports nothing from the server side, only ``fastsnake.errors``.
"""

from fastsnake.caddyfile.dispenser import Dispenser
from fastsnake.caddyfile.lexer import Token, expand_env_vars, lex, next_on_new_line, tokenize
from fastsnake.caddyfile.parser import Caddyfile, Segment, ServerBlock, parse, parse_tokens

__all__ = [
    "Caddyfile",
    "Dispenser",
    "Segment",
    "ServerBlock",
    "Token",
    "expand_env_vars",
    "lex",
    "next_on_new_line",
    "parse",
    "parse_tokens",
    "tokenize",
]
