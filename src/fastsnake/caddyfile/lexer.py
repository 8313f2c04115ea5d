"""Caddyfile lexer: text in, tokens out, each remembering where it came from.

The Caddyfile has almost no syntax of its own, so the lexer is where most of
its rules live (they follow Caddy's ``caddyconfig/caddyfile/lexer.go``):

* Tokens are separated by whitespace. ``{`` and ``}`` are ordinary tokens that
  only mean something to the parser, and only when written bare: ``"{"`` is an
  argument, and ``a{`` is one word.
* ``"double quotes"`` group words; inside them only ``\\"`` is an escape, every
  other backslash is kept as written. Backticks group words with no escapes.
* ``<<MARKER`` at the start of a token opens a heredoc that ends at a line whose
  first non-blank text is ``MARKER``. The whitespace before that closing marker
  is removed from every line of the body, so heredocs can be indented with the
  file; a body line that does not start with it is an error. Text after the
  closing marker continues the line (``respond <<HTML ... HTML 200``).
* ``#`` starts a comment only at the start of a token (``a#b`` is one word).
* A backslash at the end of a line joins the next line to it: the tokens that
  follow keep the line number of the line they continue, which is how the
  parser knows they are still arguments of the same directive. ``\\<<`` is a
  literal ``<<`` (no heredoc).
* ``{$VAR}`` and ``{$VAR:default}`` are replaced from the environment before
  lexing, anywhere in the text, exactly like Caddy does it (and so, like Caddy,
  one level deep: a value is not expanded again).

Every token records its file and line, and ``line_breaks`` (how many lines its
source spans), so that the dispenser can tell "same line" from "next line"
even for multi-line quoted strings and heredocs. Errors are
``CaddyfileError``s carrying the file and line, unlike Caddy's lexer errors,
which name the line only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from fastsnake.errors import CaddyfileError

__all__ = ["Token", "expand_env_vars", "lex", "next_on_new_line", "tokenize"]

_HEREDOC_MARKER = re.compile(r"[A-Za-z0-9_-]+\Z")
_MARKER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a Caddyfile and where it was written.

    ``quote`` is the character that enclosed it: ``"`` or a backtick for
    quoted strings, ``<`` for a heredoc, empty for a bare word. ``imports`` is
    the chain of ``import`` lines (``file:line``, outermost first) through
    which the token reached the place it is used; ``snippet`` names the snippet
    it was defined in, which the import-cycle check needs.
    """

    text: str
    file: str = ""
    line: int = 0
    quote: str = ""
    line_breaks: int = 0
    imports: tuple[str, ...] = ()
    snippet: str = ""

    @property
    def quoted(self) -> bool:
        return self.quote != ""

    @property
    def is_open_brace(self) -> bool:
        """A structural ``{`` (a quoted one is just an argument)."""
        return self.text == "{" and not self.quote

    @property
    def is_close_brace(self) -> bool:
        return self.text == "}" and not self.quote

    @property
    def end_line(self) -> int:
        """The line the token's source ends on."""
        return self.line + self.line_breaks

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


def next_on_new_line(first: Token, second: Token) -> bool:
    """Whether ``second`` starts a new line relative to ``first``.

    Tokens from another file or another import are always on a new line, so
    an imported snippet never glues itself to the line that imported it.
    """
    if first.file != second.file or first.imports != second.imports:
        return True
    return first.end_line < second.line


def expand_env_vars(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``{$NAME}`` and ``{$NAME:default}`` with environment values.

    An unset variable without a default becomes the empty string; ``{$}`` is
    left alone. Replaced values are not scanned again.
    """
    env = os.environ if environ is None else environ
    parts: list[str] = []
    pos = 0
    while True:
        begin = text.find("{$", pos)
        if begin < 0:
            break
        end = text.find("}", begin + 2)
        if end < 0:
            break
        spec = text[begin + 2 : end]
        if not spec:
            parts.append(text[pos : end + 1])
            pos = end + 1
            continue
        name, has_default, default = spec.partition(":")
        value = env.get(name)
        if value is None:
            value = default if has_default else ""
        parts.append(text[pos:begin])
        parts.append(value)
        pos = end + 1
    parts.append(text[pos:])
    return "".join(parts)


def tokenize(text: str, filename: str, environ: Mapping[str, str] | None = None) -> list[Token]:
    """Expand environment variables in ``text``, then lex it."""
    return lex(expand_env_vars(text, environ), filename)


def lex(text: str, filename: str) -> list[Token]:
    """Split ``text`` into tokens (no environment expansion)."""
    return _Lexer(text, filename).run()


class _Lexer:
    """A single pass over the text.

    ``line`` is the line number given to the next token. A line continuation
    does not advance it at once: it is counted in ``skipped`` and added at the
    next real line break, so continued tokens share their line's number.
    """

    def __init__(self, text: str, filename: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        self.text = text
        self.file = filename
        self.pos = 0
        self.line = 1
        self.skipped = 0

    def error(self, message: str, line: int) -> NoReturn:
        raise CaddyfileError(message, self.file, line)

    def newline(self) -> None:
        self.line += 1 + self.skipped
        self.skipped = 0

    def run(self) -> list[Token]:
        tokens: list[Token] = []
        text = self.text
        while self.skip_blanks():
            start = self.line
            ch = text[self.pos]
            if ch == '"':
                value, quote = self.double_quoted(), '"'
            elif ch == "`":
                value, quote = self.backtick_quoted(), "`"
            elif text.startswith("<<", self.pos) and self.heredoc_opens():
                value, quote = self.heredoc(), "<"
            else:
                value, quote = self.word(), ""
            tokens.append(Token(value, self.file, start, quote, self.line - start))
        return tokens

    def skip_blanks(self) -> bool:
        """Skip whitespace, comments and line continuations; False at the end."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\n":
                self.newline()
                self.pos += 1
            elif ch.isspace():
                self.pos += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif ch == "\\" and self.continuation():
                pass
            else:
                return True
        return False

    def continuation(self) -> bool:
        """At a backslash: consume it if only blanks follow it (and the newline).

        A backslash followed by other whitespace is dropped, as Caddy does.
        """
        text, n = self.text, len(self.text)
        j = self.pos + 1
        while j < n and text[j] in " \t\r\f\v":
            j += 1
        if j < n and text[j] == "\n":
            self.pos = j + 1
            self.skipped += 1
            return True
        if j > self.pos + 1 or j == n:
            self.pos = j
            return True
        return False

    def word(self) -> str:
        text, n = self.text, len(self.text)
        out: list[str] = []
        while self.pos < n:
            ch = text[self.pos]
            if ch.isspace():
                break
            if ch == "\\":
                nxt = text[self.pos + 1] if self.pos + 1 < n else ""
                if nxt == "" or nxt.isspace():
                    break  # left for skip_blanks: a continuation, or dropped
                out.append(nxt if nxt == "<" else "\\" + nxt)
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        return "".join(out)

    def double_quoted(self) -> str:
        text, n = self.text, len(self.text)
        start = self.line
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= n:
                self.error('unterminated quoted string: missing closing "', start)
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\" and self.pos + 1 < n:
                nxt = text[self.pos + 1]
                if nxt == '"':
                    out.append('"')
                else:
                    out.append("\\" + nxt)
                    if nxt == "\n":
                        self.newline()
                self.pos += 2
                continue
            if ch == "\n":
                self.newline()
            out.append(ch)
            self.pos += 1

    def backtick_quoted(self) -> str:
        end = self.text.find("`", self.pos + 1)
        if end < 0:
            self.error("unterminated backtick string: missing closing `", self.line)
        value = self.text[self.pos + 1 : end]
        for _ in range(value.count("\n")):
            self.newline()
        self.pos = end + 1
        return value

    def heredoc_opens(self) -> bool:
        """At ``<<``: is this a heredoc opening (``<<MARKER`` then a newline)?

        ``<<`` words followed by a space or the end of the input are plain
        words. A malformed marker before the newline is an error.
        """
        text = self.text
        j = self.pos + 2
        while j < len(text) and text[j] not in " \n":
            j += 1
        if j >= len(text) or text[j] == " ":
            return False
        marker = text[self.pos + 2 : j].replace("\r", "")
        if not marker:
            self.error(
                "missing opening heredoc marker; must contain only alphanumeric characters, "
                "dashes and underscores; got empty string",
                self.line,
            )
        if marker.startswith("<"):
            self.error("too many '<' for heredoc; only use two, for example <<END", self.line)
        if not _HEREDOC_MARKER.match(marker):
            self.error(
                "heredoc marker must contain only alphanumeric characters, dashes and "
                f"underscores; got '{marker}'",
                self.line,
            )
        return True

    def heredoc(self) -> str:
        text, n = self.text, len(self.text)
        opening = self.line
        eol = text.index("\n", self.pos)
        marker = text[self.pos + 2 : eol].replace("\r", "")
        self.pos = eol + 1
        self.newline()
        body: list[tuple[int, str]] = []
        while True:
            eol = text.find("\n", self.pos)
            line_text = text[self.pos : n if eol < 0 else eol]
            rest = line_text.lstrip(" \t")
            after = rest[len(marker) : len(marker) + 1]
            if rest.startswith(marker) and (after == "" or after not in _MARKER_CHARS):
                padding = line_text[: len(line_text) - len(rest)]
                self.pos += len(padding) + len(marker)
                return self.strip_heredoc(marker, padding, body)
            if eol < 0:
                self.error(
                    f"incomplete heredoc <<{marker}: expected ending marker {marker}", opening
                )
            body.append((self.line, line_text))
            self.pos = eol + 1
            self.newline()

    def strip_heredoc(self, marker: str, padding: str, body: list[tuple[int, str]]) -> str:
        out: list[str] = []
        for line, line_text in body:
            if line_text in ("", "\r"):
                out.append("")
                continue
            if not line_text.startswith(padding):
                self.error(
                    f"mismatched leading whitespace in heredoc <<{marker}: line "
                    f"{line_text.rstrip(chr(13))!r} does not start with {padding!r}, "
                    "the indentation of the closing marker",
                    line,
                )
            out.append(line_text[len(padding) :].replace("\r", ""))
        return "\n".join(out)
