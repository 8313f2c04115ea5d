"""A cursor over tokens that understands lines and blocks.

Directive parsers read their tokens through a Dispenser, never by index, so
that "the rest of this line" and "the block this line opens" mean the same
thing everywhere (Caddy's ``caddyconfig/caddyfile/dispenser.go`` is the model).
Lines are decided by :func:`next_on_new_line`, so tokens that came through an
``import`` never run on into the line that imported them.

The error helpers all raise :class:`~fastsnake.errors.CaddyfileError` located
at the current token, with its import chain, so that every configuration error
reads ``file:line: message`` whichever layer found it.

Typical use, for a directive ``name arg { sub value }``::

    d.next()                      # the directive name
    args = d.remaining_args()
    nesting = d.nesting
    while d.next_block(nesting):
        sub = d.val()             # a subdirective; d.next_arg() reads its values
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

from fastsnake.caddyfile.lexer import Token, next_on_new_line
from fastsnake.errors import CaddyfileError

__all__ = ["Dispenser"]

_NO_TOKEN = Token("")


class Dispenser:
    """Hands out tokens one at a time; ``cursor`` starts before the first."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self.tokens: list[Token] = list(tokens)
        self.cursor = -1
        self.nesting = 0

    # -- moving -------------------------------------------------------------

    def next(self) -> bool:
        """Load the next token, wherever it is; False when none are left."""
        if self.cursor < len(self.tokens) - 1:
            self.cursor += 1
            return True
        return False

    def prev(self) -> bool:
        """Step back; may go to -1 so that ``next()`` starts over."""
        if self.cursor > -1:
            self.cursor -= 1
            return self.cursor > -1
        return False

    def next_arg(self) -> bool:
        """Load the next token if it is on the same line and is not a ``{``."""
        if not self._next_on_same_line():
            return False
        if self.tokens[self.cursor].is_open_brace:
            self.cursor -= 1  # a block opening is not an argument
            return False
        return True

    def next_line(self) -> bool:
        """Load the next token only if it starts a new line."""
        if self.cursor < 0:
            return self.next()
        if self.cursor >= len(self.tokens) - 1:
            return False
        if next_on_new_line(self.tokens[self.cursor], self.tokens[self.cursor + 1]):
            self.cursor += 1
            return True
        return False

    def next_block(self, initial_nesting: int) -> bool:
        """Loop condition that walks the block opened at the end of this line.

        Use as ``n = d.nesting`` then ``while d.next_block(n): ...``: each
        iteration loads one token inside the block (nested blocks included);
        the outer ``{`` and ``}`` are consumed and never shown.
        """
        if self.nesting > initial_nesting:
            if not self.next():
                return False  # EOF inside the block: the caller reports it
            token = self.tokens[self.cursor]
            if token.is_close_brace and not self._next_on_same_line():
                self.nesting -= 1
            elif token.is_open_brace and not self._next_on_same_line():
                self.nesting += 1
            return self.nesting > initial_nesting
        if not self._next_on_same_line():
            return False  # a block must open on the same line
        if not self.tokens[self.cursor].is_open_brace:
            self.cursor -= 1
            return False
        self.next()
        if self.tokens[self.cursor].is_close_brace:
            return False  # "{" then "}" straight away: an empty block
        self.nesting += 1
        return True

    def _next_on_same_line(self) -> bool:
        if self.cursor < 0:
            return self.next()
        if self.cursor >= len(self.tokens) - 1:
            return False
        if next_on_new_line(self.tokens[self.cursor], self.tokens[self.cursor + 1]):
            return False
        self.cursor += 1
        return True

    def reset(self) -> None:
        self.cursor = -1
        self.nesting = 0

    # -- reading ------------------------------------------------------------

    def token(self) -> Token:
        """The current token (an empty one before the first or after the last)."""
        if 0 <= self.cursor < len(self.tokens):
            return self.tokens[self.cursor]
        return _NO_TOKEN

    def val(self) -> str:
        return self.token().text

    def line(self) -> int:
        return self.token().line

    def file(self) -> str:
        return self.token().file

    def args(self, count: int) -> list[str] | None:
        """The next ``count`` arguments, or None if the line has fewer."""
        values: list[str] = []
        for _ in range(count):
            if not self.next_arg():
                return None
            values.append(self.val())
        return values

    def all_args(self, count: int) -> list[str] | None:
        """Exactly ``count`` arguments left on the line, or None."""
        values = self.args(count)
        if values is None:
            return None
        if self.next_arg():
            self.prev()
            return None
        return values

    def remaining_args(self) -> list[str]:
        """The rest of the line's arguments (a trailing ``{`` is not one)."""
        return [token.text for token in self.remaining_args_as_tokens()]

    def remaining_args_as_tokens(self) -> list[Token]:
        tokens: list[Token] = []
        while self.next_arg():
            tokens.append(self.tokens[self.cursor])
        return tokens

    def count_remaining_args(self) -> int:
        """How many arguments are left on the line, without consuming them."""
        count = 0
        while self.next_arg():
            count += 1
        self.cursor -= count
        return count

    def next_segment(self) -> list[Token]:
        """The current token to the end of its line or of the block it opens.

        The braces are included; the closing one stays current so that an
        enclosing ``next()`` loop moves past it.
        """
        tokens = [self.token()]
        while self.next_arg():
            tokens.append(self.tokens[self.cursor])
        opened = False
        nesting = self.nesting
        while self.next_block(nesting):
            if not opened:
                tokens.append(self.tokens[self.cursor - 1])  # the "{" next_block ate
                opened = True
            tokens.append(self.tokens[self.cursor])
        if opened:
            tokens.append(self.token())
        return tokens

    def is_new_line(self) -> bool:
        """Whether the current token starts a line (True for the first)."""
        if self.cursor < 1:
            return True
        if self.cursor >= len(self.tokens):
            return False
        return next_on_new_line(self.tokens[self.cursor - 1], self.tokens[self.cursor])

    def is_next_on_new_line(self) -> bool:
        """Whether the token after the current one starts a line (True at the end)."""
        if self.cursor < 0:
            return False
        if self.cursor >= len(self.tokens) - 1:
            return True
        return next_on_new_line(self.tokens[self.cursor], self.tokens[self.cursor + 1])

    # -- errors -------------------------------------------------------------

    def error(self, message: str) -> CaddyfileError:
        """A CaddyfileError at the current token (at the last one past the end)."""
        token = self.token()
        if token is _NO_TOKEN and self.tokens:
            token = self.tokens[-1] if self.cursor >= 0 else self.tokens[0]
        return CaddyfileError(message, token.file, token.line, token.imports)

    def err(self, message: str) -> NoReturn:
        raise self.error(message)

    def errf(self, template: str, *args: object) -> NoReturn:
        """Like ``err`` with ``template % args``."""
        raise self.error(template % args)

    def arg_err(self) -> NoReturn:
        """Another argument was expected, or one too many was given."""
        if self.token().is_open_brace:
            self.err("unexpected token '{', expecting argument")
        self.errf("wrong argument count or unexpected line ending after '%s'", self.val())

    def syntax_err(self, expected: str) -> NoReturn:
        self.errf("syntax error: unexpected token '%s', expecting '%s'", self.val(), expected)

    def eof_err(self) -> NoReturn:
        self.err("unexpected EOF")
