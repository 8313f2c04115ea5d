"""``fastsnake fmt``: lay a Caddyfile out as ``caddy fmt`` does.

One tab per nesting level; tokens on a line separated by one space (quoted
strings, backticks, comments and heredoc bodies untouched); a single blank
line kept between lines, none just inside a block's braces; a final
newline. Only whitespace changes, so the tokens the lexer reads stay the
same (the tests check that round trip).
"""

from __future__ import annotations


def split_line(line: str) -> list[str]:
    """The tokens of one stripped line, quotes and a trailing comment kept whole."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] in " \t":
            i += 1
            continue
        if line[i] == "#":
            tokens.append(line[i:])
            break
        start = i
        while i < n and line[i] not in " \t":
            if line[i] == '"':
                i += 1
                while i < n and line[i] != '"':
                    i += 2 if line[i] == "\\" else 1
                i += 1
            elif line[i] == "`":
                end = line.find("`", i + 1)
                i = n if end < 0 else end + 1
            else:
                i += 1
        tokens.append(line[start:i])
    return tokens


def heredoc_marker(tokens: list[str]) -> str | None:
    for token in tokens:
        if token.startswith("<<") and len(token) > 2 and not token.startswith("<<<"):
            return token[2:]
    return None


def format_caddyfile(text: str) -> str:
    out: list[str] = []
    nesting = 0
    pending_blank = False
    marker: str | None = None
    for raw in text.splitlines():
        if marker is not None:
            out.append(raw)  # a heredoc body is content, kept as written
            words = raw.split()
            if words and words[0] == marker:  # the closing line (arguments may follow)
                marker = None
            continue
        stripped = raw.strip()
        if not stripped:
            pending_blank = bool(out)
            continue
        tokens = split_line(stripped)
        closes_first = tokens[0] == "}"
        if pending_blank and not out[-1].endswith("{") and not closes_first:
            out.append("")
        pending_blank = False
        indent = max(nesting - (1 if closes_first else 0), 0)
        out.append("\t" * indent + " ".join(tokens))
        nesting += tokens.count("{") - tokens.count("}")
        marker = heredoc_marker(tokens)
    return "\n".join(out) + "\n" if out else ""
