"""Caddyfile parser: tokens grouped into server blocks and directive segments.

Like Caddy's ``parse.go``, this layer knows the shape of a Caddyfile and
nothing of what directives mean:

* An optional global options block comes first: a block with no addresses,
  ``{ ... }``. A key-less block anywhere else is an error.
* ``(name) { ... }`` defines a snippet; ``import name args...`` pastes it.
  ``import path`` pastes a file, or every file a glob matches, relative to the
  importing file. ``{args[N]}`` and ``{args[a:b]}`` in pasted tokens are
  replaced by the import's arguments; ``{block}`` and ``{blocks.key}`` by the
  block written after the import. Imports of imports form a graph, and a cycle
  in it is an error rather than endless recursion.
* A site block is one or more addresses (separated by spaces or commas; a
  trailing comma continues the list on the next line) and a ``{ ... }`` body.
  A lone site may leave out the braces.
* A body is a list of segments: a directive line, plus the block it opens.

Tokens keep their file, line and import chain through all of this, so the
config builder's errors still point at the right place.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fastsnake.caddyfile.dispenser import Dispenser
from fastsnake.caddyfile.lexer import Token, next_on_new_line, tokenize
from fastsnake.errors import CaddyfileError

__all__ = ["Caddyfile", "Segment", "ServerBlock", "parse", "parse_tokens"]

log = logging.getLogger("fastsnake.caddyfile")

Segment = tuple[Token, ...]
"""A directive's tokens: its line and the block it opens, braces included."""


@dataclass(frozen=True)
class ServerBlock:
    """Addresses (``keys``) and the directive segments that serve them."""

    keys: tuple[Token, ...]
    segments: tuple[Segment, ...]
    has_braces: bool = True
    is_named_route: bool = False

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(key.text for key in self.keys)


@dataclass(frozen=True)
class Caddyfile:
    """A parsed Caddyfile: global option segments and the site blocks."""

    filename: str
    global_options: tuple[Segment, ...]
    server_blocks: tuple[ServerBlock, ...]


def parse(text: str, filename: str, environ: Mapping[str, str] | None = None) -> Caddyfile:
    """Parse Caddyfile ``text`` read from ``filename`` (used for imports and errors).

    ``environ`` replaces ``os.environ`` for ``{$VAR}`` expansion, here and in
    imported files.
    """
    blocks = parse_tokens(tokenize(text, filename, environ), environ)
    global_options: tuple[Segment, ...] = ()
    if blocks and not blocks[0].keys:
        global_options = blocks[0].segments
        blocks = blocks[1:]
    return Caddyfile(filename, global_options, tuple(blocks))


def parse_tokens(
    tokens: list[Token], environ: Mapping[str, str] | None = None
) -> list[ServerBlock]:
    """Group ``tokens`` into server blocks (the global options block included)."""
    return _Parser(tokens, environ).parse_all()


class _Parser:
    def __init__(self, tokens: list[Token], environ: Mapping[str, str] | None) -> None:
        self.d = Dispenser(tokens)
        self.environ = environ
        self.snippets: dict[str, list[Token]] = {}
        self.graph = _ImportGraph()

    def parse_all(self) -> list[ServerBlock]:
        d = self.d
        blocks: list[ServerBlock] = []
        while d.next():
            first = d.token()
            block = self.parse_one()
            if block is None or not (block.keys or block.segments):
                continue
            if not block.keys and blocks:
                raise CaddyfileError(
                    "server block without any key is global configuration, and if used, "
                    "it must be first",
                    first.file,
                    first.line,
                    first.imports,
                )
            blocks.append(block)
        return blocks

    def parse_one(self) -> ServerBlock | None:
        """Parse one block starting at the current token; None for a snippet."""
        d = self.d
        keys, has_braces, eof = self.addresses()
        if len(keys) == 1 and keys[0].text.startswith(("(", "&(")) and keys[0].text.endswith(")"):
            if eof:
                d.errf("'%s' must be followed by a '{ ... }' block", keys[0].text)
            if keys[0].text.startswith("&("):
                name_token = replace(keys[0], text=keys[0].text[2:-1])
                body = self.block_tokens(retain_braces=True)
                segment = (name_token, *body)
                return ServerBlock((name_token,), (segment,), True, is_named_route=True)
            self.define_snippet(keys[0].text[1:-1])
            return None
        if eof:
            return ServerBlock(tuple(keys), (), has_braces=False)
        return ServerBlock(tuple(keys), self.block_contents(), has_braces)

    def addresses(self) -> tuple[list[Token], bool, bool]:
        """Read a block's addresses: (keys, opened with a brace, hit the end)."""
        d = self.d
        keys: list[Token] = []
        expecting_another = False
        while True:
            token = d.token()
            value = token.text
            if value.startswith("@"):
                d.errf(
                    "request matchers may not be defined globally, they must be in a site "
                    "block; found %s",
                    value,
                )
            if value == "import" and not token.quoted and d.is_new_line():
                self.do_import(0)
                if not d.next():
                    if expecting_another:
                        d.eof_err()
                    return keys, False, True
                continue
            if token.is_open_brace:
                if expecting_another:
                    d.err("expected another address but had '{' - check for extra comma")
                return keys, True, False
            if token.is_close_brace:
                d.err("unexpected '}' because no matching opening brace")
            if value.endswith("{") and not token.quoted:
                d.errf(
                    "site addresses cannot end with a curly brace: '%s' - put a space "
                    "between the token and the brace",
                    value,
                )
            if value:
                expecting_another = value.endswith(",")
                value = value.removesuffix(",")
                if "," in value:
                    d.errf(
                        "site addresses cannot contain a comma ',': '%s' - put a space after "
                        "the comma to separate site addresses",
                        value,
                    )
                if value:
                    keys.append(replace(token, text=value))
            if not d.next():
                if expecting_another:
                    d.eof_err()
                return keys, False, True
            if not expecting_another and d.is_new_line():
                return keys, False, False

    def define_snippet(self, name: str) -> None:
        if name in self.snippets:
            self.d.errf("redeclaration of previously declared snippet %s", name)
        body = self.block_tokens(retain_braces=False)
        self.snippets[name] = [replace(token, snippet=name) for token in body]

    def block_tokens(self, retain_braces: bool) -> list[Token]:
        """Every token of the block opened by the current ``{``, for later replay."""
        d = self.d
        opening = d.token()
        if not opening.is_open_brace:
            d.syntax_err("{")
        tokens = [opening] if retain_braces else []
        nesting = 1
        while d.next():
            token = d.token()
            if token.is_close_brace:
                nesting -= 1
                if nesting == 0:
                    if retain_braces:
                        tokens.append(token)
                    return tokens
            elif token.is_open_brace:
                nesting += 1
            tokens.append(token)
        raise _unclosed(opening)

    def block_contents(self) -> tuple[Segment, ...]:
        """The directives of a site body; without braces, those up to the end."""
        d = self.d
        opening = d.token() if d.token().is_open_brace else None
        if opening is None:
            d.cursor -= 1  # single-site Caddyfile without braces
        segments: list[Segment] = []
        while d.next():
            token = d.token()
            if token.is_close_brace:
                if opening is None:
                    d.err("unexpected '}' because no matching opening brace")
                return tuple(segments)
            if token.text == "import" and not token.quoted:
                self.do_import(1)
                continue
            segments.append(self.directive())
        if opening is not None:
            raise _unclosed(opening)
        return tuple(segments)

    def directive(self) -> Segment:
        """Collect the current directive's line and the block it opens."""
        d = self.d
        segment = [d.token()]
        open_braces: list[Token] = []
        while d.next():
            token = d.token()
            if token.is_open_brace:
                open_braces.append(token)
                if not d.is_next_on_new_line():
                    d.err("unexpected next token after '{' on same line")
                if d.is_new_line():
                    d.err(
                        "unexpected '{' on a new line; did you mean to place the '{' on the "
                        "previous line?"
                    )
            elif token.text == "{}" and not token.quoted:
                if d.is_next_on_new_line():
                    d.err("unexpected '{}' at end of line")
            elif d.is_new_line() and not open_braces:
                d.cursor -= 1  # read one too far: that token starts the next directive
                break
            elif token.is_close_brace:
                if not open_braces:
                    d.err("unexpected '}' because no matching opening brace")
                open_braces.pop()
            elif token.text == "import" and not token.quoted and d.is_new_line():
                self.do_import(1)
                continue
            segment.append(token)
        if open_braces:
            raise _unclosed(open_braces[-1])
        return tuple(segment)

    # -- import -------------------------------------------------------------

    def do_import(self, nesting: int) -> None:
        """Replace the ``import`` line at the cursor by what it imports.

        Afterwards the cursor is just before the first imported token, so the
        caller's next ``next()`` reads it. ``nesting`` is 0 at the top level,
        where imported files may define snippets of their own.
        """
        d = self.d
        start = d.cursor
        importer = d.token()
        if not d.next_arg():
            d.arg_err()
        pattern = d.val()
        if not pattern:
            d.err("import requires a non-empty filepath")
        args = d.remaining_args()
        block: list[Token] = []
        outer = d.nesting
        while d.next_block(outer):
            block.append(d.token())
        if d.nesting != outer:
            raise _unclosed(importer)
        end = d.cursor

        if pattern in self.snippets:
            imported = self.snippets[pattern]
            nodes = [f"({pattern})"]
        else:
            imported, nodes = self.import_files(importer, pattern)
        self.graph.add_edges(importer, _node_name(importer), nodes)

        expanded = _expand_import(imported, importer, args, block, nesting)
        d.tokens[start : end + 1] = expanded
        d.cursor = start - 1

    def import_files(self, importer: Token, pattern: str) -> tuple[list[Token], list[str]]:
        d = self.d
        base = os.path.dirname(os.path.abspath(importer.file))
        full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
        if full.count("*") > 1 or full.count("?") > 1 or ("[" in full and "]" in full):
            # a pattern with many wildcards can take very long to expand (caddy#2096)
            d.errf("glob pattern may only contain one wildcard (*), but has others: %s", full)
        matches = sorted(glob.glob(full))
        if not matches:
            if any(c in full for c in "*?[]"):
                log.warning("no files match import glob pattern %s", pattern)
            else:
                d.errf("file to import not found: %s", pattern)
        chain = (*importer.imports, importer.location)
        tokens: list[Token] = []
        for match in matches:
            path = os.path.abspath(match)
            if os.path.isdir(path):
                d.errf("could not import %s: is a directory", path)
            try:
                with open(path, encoding="utf-8-sig") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                d.errf("could not import %s: %s", path, getattr(exc, "strerror", None) or exc)
            if not text.strip():
                log.warning("import file is empty: %s", path)
                continue
            try:
                tokens.extend(tokenize(text, path, self.environ))
            except CaddyfileError as exc:
                raise CaddyfileError(exc.message, exc.file, exc.line, chain) from None
        return tokens, [os.path.abspath(m) for m in matches]


def _unclosed(opening: Token) -> CaddyfileError:
    return CaddyfileError(
        "unclosed '{': expected a matching '}' before the end of the file",
        opening.file,
        opening.line,
        opening.imports,
    )


def _node_name(token: Token) -> str:
    """The import-graph node a token belongs to: its snippet, else its file."""
    return f"({token.snippet})" if token.snippet else os.path.abspath(token.file)


class _ImportGraph:
    """Who imported whom, to refuse cycles (Caddy's ``importgraph.go``)."""

    def __init__(self) -> None:
        self.edges: dict[str, set[str]] = {}

    def add_edges(self, importer: Token, source: str, targets: list[str]) -> None:
        for target in targets:
            path = self.path(target, source)
            if path is not None:
                cycle = " -> ".join([source, *path])
                raise CaddyfileError(
                    f"import cycle: {cycle}", importer.file, importer.line, importer.imports
                )
            self.edges.setdefault(source, set()).add(target)

    def path(self, start: str, goal: str) -> list[str] | None:
        """Nodes from ``start`` to ``goal`` along edges (both ends included)."""
        stack: list[list[str]] = [[start]]
        seen: set[str] = set()
        while stack:
            trail = stack.pop()
            node = trail[-1]
            if node == goal:
                return trail
            if node in seen:
                continue
            seen.add(node)
            for target in sorted(self.edges.get(node, ())):
                stack.append([*trail, target])
        return None


_ARG_INDEX = re.compile(r"\{args(?:\[(\d+)\]|\.(\d+))\}")
_VARIADIC = re.compile(r"\{args\[(\d*):(\d*)\]\}\Z")


def _expand_import(
    imported: list[Token], importer: Token, args: list[str], block: list[Token], nesting: int
) -> list[Token]:
    """Copy imported tokens, filling in ``{args[...]}``, ``{block}`` and ``{blocks.x}``.

    Snippet definitions inside an imported file keep their placeholders: they
    belong to that snippet's own imports, not to this one.
    """
    chain = (*importer.imports, importer.location)
    mapping = _block_mapping(block)
    out: list[Token] = []
    in_snippet = False
    maybe_snippet = False
    line_index = 0
    previous: Token | None = None
    for original in imported:
        token = replace(original, imports=chain)
        if not in_snippet and nesting == 0:
            new_line = previous is None or next_on_new_line(previous, token)
            line_index = 0 if new_line else line_index + 1
            if line_index == 0:
                text = token.text
                maybe_snippet = len(text) >= 3 and text.startswith("(") and text.endswith(")")
        previous = token
        if token.is_open_brace:
            nesting += 1
            if line_index == 1 and maybe_snippet and nesting == 1:
                in_snippet = True
                maybe_snippet = False
        elif token.is_close_brace:
            nesting -= 1
            if nesting == 0 and in_snippet:
                in_snippet = False
                out.append(token)
                continue
        if in_snippet:
            out.append(token)
            continue
        if token.text == "{block}":
            out.extend(block)
            continue
        if token.text.startswith("{blocks.") and token.text.endswith("}"):
            out.extend(mapping.get(token.text[len("{blocks.") : -1], []))
            continue
        span = _variadic_range(token, len(args))
        if span is not None:
            out.extend(replace(token, text=arg) for arg in args[span[0] : span[1]])
            continue
        out.append(replace(token, text=_replace_args(token, args)))
    return out


def _block_mapping(block: list[Token]) -> dict[str, list[Token]]:
    """``import x { key args \\n other { ... } }`` -> {"key": args, "other": body}."""
    mapping: dict[str, list[Token]] = {}
    bd = Dispenser(block)
    while bd.next():
        if bd.token().is_open_brace:
            bd.err("anonymous blocks are not supported")
        key = bd.val()
        tokens = bd.remaining_args_as_tokens()
        nesting = bd.nesting
        while bd.next_block(nesting):
            tokens.append(bd.token())
        mapping[key] = tokens
    return mapping


def _variadic_range(token: Token, count: int) -> tuple[int, int] | None:
    """For a whole-token ``{args[a:b]}``, the slice of arguments it stands for."""
    match = _VARIADIC.match(token.text)
    if match is None:
        return None
    start = int(match[1]) if match[1] else 0
    end = int(match[2]) if match[2] else count
    if start > end or end > count:
        log.warning(
            "%s: placeholder %s is out of bounds, only %d argument(s) exist",
            token.location,
            token.text,
            count,
        )
        return None
    return start, end


def _replace_args(token: Token, args: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        index = int(match[1] or match[2])
        if match[2] is not None:
            log.warning(
                "%s: placeholder {args.%s} is deprecated, use {args[%s]}",
                token.location,
                match[2],
                match[2],
            )
        if index >= len(args):
            log.warning(
                "%s: placeholder %s is out of bounds, only %d argument(s) exist",
                token.location,
                match[0],
                len(args),
            )
            return match[0]
        return args[index]

    if "{args" not in token.text:
        return token.text
    return _ARG_INDEX.sub(substitute, token.text)
