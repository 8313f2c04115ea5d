"""Lexer tables: Caddyfile text in, (text, line) tokens or an exact error out."""

from __future__ import annotations

import random

import pytest

from fastsnake.caddyfile import Token, expand_env_vars, lex, next_on_new_line, tokenize
from fastsnake.errors import CaddyfileError


def words(text: str) -> list[tuple[str, int]]:
    return [(t.text, t.line) for t in lex(text, "Caddyfile")]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("  \n\t\n", [], id="only-whitespace"),
        pytest.param("host:123", [("host:123", 1)], id="one-word"),
        pytest.param("host:123\n\n\tdirective", [("host:123", 1), ("directive", 3)], id="lines"),
        pytest.param(
            "host:123 {\n  directive\n}",
            [("host:123", 1), ("{", 1), ("directive", 2), ("}", 3)],
            id="block",
        ),
        pytest.param(
            "host { directive }",
            [("host", 1), ("{", 1), ("directive", 1), ("}", 1)],
            id="one-line-block",
        ),
        pytest.param("a{ }b {}", [("a{", 1), ("}b", 1), ("{}", 1)], id="braces-inside-words"),
        pytest.param(
            "host {\n  #comment\n  dir # trailing\n  # x\n}",
            [("host", 1), ("{", 1), ("dir", 3), ("}", 5)],
            id="comments",
        ),
        pytest.param("a#b c", [("a#b", 1), ("c", 1)], id="hash-inside-word"),
        pytest.param('"# not a comment" x', [("# not a comment", 1), ("x", 1)], id="hash-quoted"),
        pytest.param('dir "a b" c', [("dir", 1), ("a b", 1), ("c", 1)], id="quoted"),
        pytest.param('"a \\"b\\" c"', [('a "b" c', 1)], id="quoted-escaped-quote"),
        pytest.param('"a\\nb\\\\"', [("a\\nb\\\\", 1)], id="quoted-other-escapes-kept"),
        pytest.param('""', [("", 1)], id="quoted-empty"),
        pytest.param('"a\nb" c\nd', [("a\nb", 1), ("c", 2), ("d", 3)], id="quoted-multiline"),
        pytest.param('a"b c"', [('a"b', 1), ('c"', 1)], id="quote-mid-word-literal"),
        pytest.param('"a"b', [("a", 1), ("b", 1)], id="quote-ends-token"),
        pytest.param("`a \\\"b` c", [('a \\"b', 1), ("c", 1)], id="backticks-no-escapes"),
        pytest.param("`a\nb`\nc", [("a\nb", 1), ("c", 3)], id="backticks-multiline"),
        pytest.param('`say "hi"`', [('say "hi"', 1)], id="backticks-hold-quotes"),
        pytest.param("a \\\n  b\nc", [("a", 1), ("b", 1), ("c", 3)], id="continuation"),
        pytest.param(
            "a \\\n b \\\n c\nd", [("a", 1), ("b", 1), ("c", 1), ("d", 4)], id="continuation-x2"
        ),
        pytest.param("a\\\nb", [("a", 1), ("b", 1)], id="continuation-splits-word"),
        pytest.param("a \\  \r\nb", [("a", 1), ("b", 1)], id="continuation-trailing-blanks"),
        pytest.param("a\\b \\{x}", [("a\\b", 1), ("\\{x}", 1)], id="backslash-literal"),
        pytest.param("\\<<EOF", [("<<EOF", 1)], id="escaped-heredoc"),
        pytest.param("a \\ b", [("a", 1), ("b", 1)], id="backslash-before-space-dropped"),
        pytest.param("a\r\nb\r\n", [("a", 1), ("b", 2)], id="crlf"),
        pytest.param("\ufeffa", [("a", 1)], id="byte-order-mark"),
        pytest.param("<<EOF x", [("<<EOF", 1), ("x", 1)], id="double-angle-then-space-is-word"),
        pytest.param("a <<", [("a", 1), ("<<", 1)], id="double-angle-at-end"),
        pytest.param("a<<EOF\nb", [("a<<EOF", 1), ("b", 2)], id="double-angle-mid-word"),
    ],
)
def test_tokens(source: str, expected: list[tuple[str, int]]) -> None:
    assert words(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("respond <<EOF\nhello\nEOF", [("respond", 1), ("hello", 1)], id="simple"),
        pytest.param(
            "respond <<EOF\n  a\n    b\n\n  c\n  EOF 200\nnext",
            [("respond", 1), ("a\n  b\n\nc", 1), ("200", 6), ("next", 7)],
            id="indent-stripped-text-after-marker",
        ),
        pytest.param(
            "x <<EOF\nEOF\ny", [("x", 1), ("", 1), ("y", 3)], id="empty-body-next-line"
        ),
        pytest.param(
            "x <<END\n  FRIEND\n  END-GAME\n  END", [("x", 1), ("FRIEND\nEND-GAME", 1)],
            id="marker-must-stand-alone",
        ),
        pytest.param(
            'x <<EOF\r\n  "q" `b` # c\r\n  EOF\r\n',
            [("x", 1), ('"q" `b` # c', 1)],
            id="crlf-and-literal-body",
        ),
        pytest.param("x <<A-b_1\nz\nA-b_1", [("x", 1), ("z", 1)], id="marker-charset"),
        pytest.param(
            "x <<EOF\na\n\t\nb\nEOF", [("x", 1), ("a\n\t\nb", 1)], id="blank-line-kept"
        ),
        pytest.param(
            "x <<EOF\n\ta\n\n\tb\n\tEOF", [("x", 1), ("a\n\nb", 1)], id="empty-line-ok"
        ),
    ],
)
def test_heredoc(source: str, expected: list[tuple[str, int]]) -> None:
    assert words(source) == expected


def test_token_fields() -> None:
    tokens = lex('plain "dq" `bt` <<H\n  x\n  H\n{ "{" }', "dir/Caddyfile")
    assert [(t.text, t.quote, t.line, t.line_breaks) for t in tokens] == [
        ("plain", "", 1, 0),
        ("dq", '"', 1, 0),
        ("bt", "`", 1, 0),
        ("x", "<", 1, 2),
        ("{", "", 4, 0),
        ("{", '"', 4, 0),
        ("}", "", 4, 0),
    ]
    assert {t.file for t in tokens} == {"dir/Caddyfile"}
    assert [t.is_open_brace for t in tokens[4:]] == [True, False, False]
    assert tokens[6].is_close_brace and tokens[1].quoted and not tokens[0].quoted
    assert tokens[3].end_line == 3 and tokens[3].location == "dir/Caddyfile:1"


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        pytest.param(Token("a", "f", 1), Token("b", "f", 1), False, id="same-line"),
        pytest.param(Token("a", "f", 1), Token("b", "f", 2), True, id="next-line"),
        pytest.param(Token("a", "f", 1, '"', 1), Token("b", "f", 2), False, id="multiline-token"),
        pytest.param(Token("a", "f", 1), Token("b", "g", 1), True, id="other-file"),
        pytest.param(
            Token("a", "f", 1), Token("b", "f", 1, imports=("f:9",)), True, id="other-import"
        ),
    ],
)
def test_next_on_new_line(first: Token, second: Token, expected: bool) -> None:
    assert next_on_new_line(first, second) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param('a\n"abc\n\n', 'Caddyfile:2: unterminated quoted string: missing closing "',
                     id="unterminated-quote"),
        pytest.param('"abc\\', 'Caddyfile:1: unterminated quoted string: missing closing "',
                     id="unterminated-quote-backslash"),
        pytest.param("\n`abc", "Caddyfile:2: unterminated backtick string: missing closing `",
                     id="unterminated-backtick"),
        pytest.param("x <<EOF\na\nb", "Caddyfile:1: incomplete heredoc <<EOF: expected ending "
                     "marker EOF", id="incomplete-heredoc"),
        pytest.param("x <<\n", "Caddyfile:1: missing opening heredoc marker; must contain only "
                     "alphanumeric characters, dashes and underscores; got empty string",
                     id="heredoc-no-marker"),
        pytest.param("x <<<EOF\n", "Caddyfile:1: too many '<' for heredoc; only use two, for "
                     "example <<END", id="heredoc-three-angles"),
        pytest.param("\nx <<E.F\n", "Caddyfile:2: heredoc marker must contain only alphanumeric "
                     "characters, dashes and underscores; got 'E.F'", id="heredoc-bad-marker"),
        pytest.param("x <<EOF\n    a\n  b\n    EOF", "Caddyfile:3: mismatched leading whitespace "
                     "in heredoc <<EOF: line '  b' does not start with '    ', the indentation "
                     "of the closing marker", id="heredoc-mismatched-indent"),
        pytest.param("x <<EOF\n\ta\n  EOF", "Caddyfile:2: mismatched leading whitespace in "
                     "heredoc <<EOF: line '\\ta' does not start with '  ', the indentation of "
                     "the closing marker", id="heredoc-tab-vs-spaces"),
    ],
)
def test_errors(source: str, message: str) -> None:
    with pytest.raises(CaddyfileError) as info:
        lex(source, "Caddyfile")
    assert str(info.value) == message
    assert info.value.file == "Caddyfile"


ENV = {"HOST": "example.com", "PORT": "8080", "EMPTY": "", "LOOP": "{$HOST}"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("{$HOST}:{$PORT}", "example.com:8080", id="two-vars-in-one-word"),
        pytest.param("{$MISSING}x", "x", id="unset-is-empty"),
        pytest.param("{$MISSING:dflt}", "dflt", id="default"),
        pytest.param("{$MISSING:a:b}", "a:b", id="default-with-colon"),
        pytest.param("{$PORT:9}", "8080", id="set-beats-default"),
        pytest.param("{$EMPTY:x}", "", id="set-but-empty-beats-default"),
        pytest.param("{$LOOP}", "{$HOST}", id="one-level-only"),
        pytest.param("{$} {$HOST", "{$} {$HOST", id="not-variables"),
        pytest.param('"{$HOST}" # {$PORT}', '"example.com" # 8080', id="everywhere"),
        pytest.param("{http.request.host}", "{http.request.host}", id="placeholders-untouched"),
    ],
)
def test_expand_env_vars(source: str, expected: str) -> None:
    assert expand_env_vars(source, ENV) == expected


def test_tokenize_expands_before_lexing() -> None:
    env = {"SITE": "a.com b.com", "NL": "x\ny"}
    tokens = tokenize('{$SITE} "{$SITE}" {$NL}', "f", env)
    assert [(t.text, t.line) for t in tokens] == [
        ("a.com", 1), ("b.com", 1), ("a.com b.com", 1), ("x", 1), ("y", 2)
    ]


def test_tokenize_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTSNAKE_TEST_PORT", "9999")
    assert [t.text for t in tokenize(":{$FASTSNAKE_TEST_PORT}", "f")] == [":9999"]


def test_fuzz_only_tokens_or_caddyfile_errors() -> None:
    """Random text never crashes the lexer, and lexing is deterministic."""
    alphabet = ['"', "`", "\\", "<", "<<", "#", "{", "}", "\n", "\r", " ", "\t", "a", "EOF", "$"]
    rng = random.Random(1234)
    for _ in range(2000):
        source = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            tokens = lex(source, "fuzz")
        except CaddyfileError as exc:
            assert exc.file == "fuzz" and exc.line >= 1
            continue
        assert tokens == lex(source, "fuzz")
        assert all(t.line >= 1 and t.line_breaks >= 0 for t in tokens)
        assert [t.line for t in tokens] == sorted(t.line for t in tokens)
