"""Dispenser and parser tables: tokens in, blocks/segments or an exact error out."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from fastsnake.caddyfile import Caddyfile, Dispenser, lex, parse
from fastsnake.errors import CaddyfileError
from tests import TESTDATA

CADDYFILES = TESTDATA / "caddyfiles"


def dispenser(source: str) -> Dispenser:
    return Dispenser(lex(source, "Testfile"))


# -- Dispenser ---------------------------------------------------------------


def test_next_and_prev() -> None:
    d = dispenser("a b\nc")
    assert d.val() == "" and d.line() == 0 and d.file() == ""
    assert [d.next(), d.val(), d.next(), d.val(), d.next(), d.val()] == [
        True, "a", True, "b", True, "c"
    ]
    assert d.next() is False and d.val() == "c"
    assert d.prev() and d.val() == "b"
    d.reset()
    assert d.next() and d.val() == "a"


def test_next_arg_stops_at_line_end_and_block() -> None:
    d = dispenser('dir a "{" {\n  sub x\n}\nnext')
    d.next()
    assert d.remaining_args() == ["a", "{"]
    assert d.val() == "{" and d.token().quoted  # quoted brace is an argument
    assert d.next_arg() is False and d.val() == "{"  # the real "{" is not loaded


def test_next_line() -> None:
    d = dispenser("a b\nc")
    assert d.next_line() and d.val() == "a"
    assert d.next_line() is False and d.val() == "a"
    d.next()
    assert d.next_line() and d.val() == "c"
    assert d.next_line() is False


def test_next_block_walks_nested_blocks() -> None:
    d = dispenser("dir {\n  a 1\n  b {\n    c\n  }\n}\nafter")
    d.next()
    seen = []
    nesting = d.nesting
    while d.next_block(nesting):
        seen.append((d.val(), d.nesting))
    assert seen == [("a", 1), ("1", 1), ("b", 1), ("{", 2), ("c", 2), ("}", 1)]
    assert d.val() == "}" and d.nesting == 0
    assert d.next() and d.val() == "after"


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("dir\n{\n}", id="brace-on-next-line"),
        pytest.param("dir {\n}", id="empty-block"),
        pytest.param("dir", id="no-block"),
    ],
)
def test_next_block_without_contents(source: str) -> None:
    d = dispenser(source)
    d.next()
    assert d.next_block(0) is False and d.nesting == 0


def test_subdirective_arguments_in_block() -> None:
    d = dispenser("python {\n  module_wsgi main:app\n  autoreload\n}")
    d.next()
    found = {}
    while d.next_block(0):
        name = d.val()
        found[name] = d.remaining_args()
    assert found == {"module_wsgi": ["main:app"], "autoreload": []}


def test_args_helpers() -> None:
    d = dispenser("dir a b c\nnext")
    d.next()
    assert d.count_remaining_args() == 3 and d.val() == "dir"
    assert d.args(2) == ["a", "b"]
    assert d.all_args(2) is None  # only one left
    d.reset()
    d.next()
    assert d.all_args(3) == ["a", "b", "c"]
    d.reset()
    d.next()
    assert d.all_args(2) is None and d.val() == "b"


def test_next_segment() -> None:
    d = dispenser("a 1 {\n  b\n}\nc")
    d.next()
    assert [t.text for t in d.next_segment()] == ["a", "1", "{", "b", "}"]
    assert d.next() and d.val() == "c"
    assert [t.text for t in d.next_segment()] == ["c"]


def test_new_line_predicates() -> None:
    d = dispenser("a b\nc")
    assert d.is_new_line() is True
    d.next()
    assert d.is_new_line() and not d.is_next_on_new_line()
    d.next()
    assert not d.is_new_line() and d.is_next_on_new_line()
    d.next()
    assert d.is_new_line() and d.is_next_on_new_line()


@pytest.mark.parametrize(
    ("source", "steps", "raise_it", "message"),
    [
        pytest.param("a b", 1, lambda d: d.err("boom"), "Testfile:1: boom", id="err"),
        pytest.param(
            "a\nb", 2, lambda d: d.errf("bad %s (%d)", "x", 3), "Testfile:2: bad x (3)", id="errf"
        ),
        pytest.param(
            "a b", 2, lambda d: d.arg_err(),
            "Testfile:1: wrong argument count or unexpected line ending after 'b'", id="arg-err",
        ),
        pytest.param(
            "a {\n}", 2, lambda d: d.arg_err(),
            "Testfile:1: unexpected token '{', expecting argument", id="arg-err-on-brace",
        ),
        pytest.param(
            "a\nb", 2, lambda d: d.syntax_err("{"),
            "Testfile:2: syntax error: unexpected token 'b', expecting '{'", id="syntax-err",
        ),
        pytest.param("a\nb", 9, lambda d: d.eof_err(), "Testfile:2: unexpected EOF", id="eof"),
        pytest.param("a", 0, lambda d: d.err("x"), "Testfile:1: x", id="before-first-token"),
    ],
)
def test_errors_are_located(source: str, steps: int, raise_it, message: str) -> None:
    d = dispenser(source)
    for _ in range(steps):
        d.next()
    with pytest.raises(CaddyfileError) as info:
        raise_it(d)
    assert str(info.value) == message


def test_error_on_empty_dispenser_has_no_location() -> None:
    with pytest.raises(CaddyfileError) as info:
        Dispenser([]).eof_err()
    assert str(info.value) == "unexpected EOF"


# -- Parser ------------------------------------------------------------------


def shape(cf: Caddyfile) -> tuple[list[list[str]], list[tuple[list[str], list[list[str]]]]]:
    """Global option segments and (addresses, segments) as plain text."""
    options = [[t.text for t in seg] for seg in cf.global_options]
    blocks = [
        (list(b.addresses), [[t.text for t in seg] for seg in b.segments])
        for b in cf.server_blocks
    ]
    return options, blocks


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("", ([], []), id="empty"),
        pytest.param(":8080", ([], [([":8080"], [])]), id="address-only"),
        pytest.param(
            ":8080\npython a:b\nfoo x",
            ([], [([":8080"], [["python", "a:b"], ["foo", "x"]])]),
            id="single-site-without-braces",
        ),
        pytest.param(
            "{\n  debug\n  servers {\n    timeouts {\n      idle 1m\n    }\n  }\n}\n:80 {\n}",
            (
                [["debug"], ["servers", "{", "timeouts", "{", "idle", "1m", "}", "}"]],
                [([":80"], [])],
            ),
            id="global-options",
        ),
        pytest.param("{\n}\n:80", ([], [([":80"], [])]), id="empty-global-block"),
        pytest.param(
            "{\n  debug\n}\n:8080\npython a:b",
            ([["debug"]], [([":8080"], [["python", "a:b"]])]),
            id="global-options-then-braceless-site",
        ),
        pytest.param(
            "a.com, b.com:80 c.com {\n}",
            ([], [(["a.com", "b.com:80", "c.com"], [])]),
            id="comma-and-space-separated",
        ),
        pytest.param(
            "a.com,\n  b.com,\n  c.com {\n}",
            ([], [(["a.com", "b.com", "c.com"], [])]),
            id="trailing-commas-continue-lines",
        ),
        pytest.param(
            "a.com , b.com {\n}", ([], [(["a.com", "b.com"], [])]), id="lone-comma-ignored"
        ),
        pytest.param(
            ':1 {\n  a "{" `}`\n  b "}"\n}',
            ([], [([":1"], [["a", "{", "}"], ["b", "}"]])]),
            id="quoted-braces-are-arguments",
        ),
        pytest.param(
            ":1 {\n  a {\n    b {\n      c\n    }\n  }\n  d\n}\n:2 {\n  e\n}",
            (
                [],
                [
                    ([":1"], [["a", "{", "b", "{", "c", "}", "}"], ["d"]]),
                    ([":2"], [["e"]]),
                ],
            ),
            id="nested-blocks-and-two-sites",
        ),
        pytest.param(
            ":1 {\n  respond <<EOF\n    hi\n    EOF 200\n  x\n}",
            ([], [([":1"], [["respond", "hi", "200"], ["x"]])]),
            id="heredoc-argument",
        ),
        pytest.param(
            ":1 {\n  a b \\\n    c\n  d\n}",
            ([], [([":1"], [["a", "b", "c"], ["d"]])]),
            id="line-continuation",
        ),
        pytest.param(
            '(s) {\n  dir {args[0]} "{args[1]}x"\n}\n:1 {\n  import s a b\n}',
            ([], [([":1"], [["dir", "a", "bx"]])]),
            id="snippet-args",
        ),
        pytest.param(
            "(s) {\n  dir {args[:]}\n  one {args[1:]}\n  two {args[:1]}\n}\n"
            ":1 {\n  import s a b c\n}",
            ([], [([":1"], [["dir", "a", "b", "c"], ["one", "b", "c"], ["two", "a"]])]),
            id="snippet-variadic-args",
        ),
        pytest.param(
            "(s) {\n  dir {args[5]} {args[2:9]} {args.0}\n}\n:1 {\n  import s a\n}",
            ([], [([":1"], [["dir", "{args[5]}", "{args[2:9]}", "a"]])]),
            id="snippet-args-out-of-range-kept",
        ),
        pytest.param(
            "(s) {\n  a\n}\n:1 {\n  import s\n  b\n  import s\n}",
            ([], [([":1"], [["a"], ["b"], ["a"]])]),
            id="snippet-twice",
        ),
        pytest.param(
            "(s) {\n  wrap {\n    import inner\n  }\n}\n(inner) {\n  x {args[0]}\n}\n"
            ":1 {\n  import s\n}",
            ([], [([":1"], [["wrap", "{", "x", "{args[0]}", "}"]])]),
            id="snippet-import-resolved-where-used",
        ),
        pytest.param(
            "(inner) {\n  x 1\n}\n(s) {\n  wrap {\n    import inner\n  }\n}\n:1 {\n  import s\n}",
            ([], [([":1"], [["wrap", "{", "x", "1", "}"]])]),
            id="snippet-importing-snippet",
        ),
        pytest.param(
            "(s) {\n  :9 {\n    x\n  }\n}\nimport s",
            ([], [([":9"], [["x"]])]),
            id="snippet-of-a-whole-site",
        ),
        pytest.param(
            "(s) {\n  head\n  {block}\n}\n:1 {\n  import s {\n    a 1\n    b\n  }\n}",
            ([], [([":1"], [["head"], ["a", "1"], ["b"]])]),
            id="import-block",
        ),
        pytest.param(
            "(s) {\n  {blocks.one}\n  y {\n    {blocks.two}\n  }\n  z {\n    {blocks.none}\n"
            "  }\n}\n:1 {\n  import s {\n    one a b\n    two {\n      c d\n    }\n  }\n}",
            ([], [([":1"], [["a", "b"], ["y", "{", "c", "d", "}"], ["z", "{", "}"]])]),
            id="import-blocks-mapping",
        ),
    ],
)
def test_parse(source: str, expected: object) -> None:
    assert shape(parse(source, "Caddyfile", environ={})) == expected


def test_named_route_is_marked() -> None:
    cf = parse("&(r) {\n  x\n}\n:1 {\n}", "Caddyfile")
    route = cf.server_blocks[0]
    assert route.is_named_route and route.addresses == ("r",)
    assert [t.text for t in route.segments[0]] == ["r", "{", "x", "}"]


def test_braces_flag() -> None:
    assert parse(":1 {\n}", "C").server_blocks[0].has_braces
    assert not parse(":1\nx", "C").server_blocks[0].has_braces


def test_env_vars_in_addresses_and_arguments() -> None:
    env = {"PORT": "8080"}
    cf = parse(":{$PORT} {\n  dir {$APP:main:app}\n}", "C", environ=env)
    assert shape(cf) == ([], [([":8080"], [["dir", "main:app"]])])


def test_snippet_tokens_keep_definition_line_and_import_chain() -> None:
    cf = parse("(s) {\n  dir {args[0]}\n}\n:1 {\n  import s x\n}", "C")
    (token, arg) = cf.server_blocks[0].segments[0]
    assert (token.text, token.file, token.line, token.imports) == ("dir", "C", 2, ("C:5",))
    assert arg.text == "x" and arg.imports == ("C:5",)


def test_error_in_snippet_names_import_line() -> None:
    with pytest.raises(CaddyfileError) as info:
        parse("(s) {\n  dir {}\n}\n:1 {\n  import s\n}", "C")
    assert str(info.value) == "C:2: unexpected '{}' at end of line (imported from C:5)"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(":1 {\n  dir\n", "C:1: unclosed '{': expected a matching '}' before the "
                     "end of the file", id="unclosed-site"),
        pytest.param(":1 {\n  dir {\n    x\n", "C:2: unclosed '{': expected a matching '}' "
                     "before the end of the file", id="unclosed-directive-block"),
        pytest.param("(s) {\n  x\n", "C:1: unclosed '{': expected a matching '}' before the "
                     "end of the file", id="unclosed-snippet"),
        pytest.param(":1 {\n}\n}", "C:3: unexpected '}' because no matching opening brace",
                     id="stray-close-brace-top"),
        pytest.param(":1\ndir\n}", "C:3: unexpected '}' because no matching opening brace",
                     id="stray-close-brace-braceless"),
        pytest.param(":1 {\n  dir }\n}", "C:2: unexpected '}' because no matching opening "
                     "brace", id="close-brace-after-directive"),
        pytest.param(":1 { dir }", "C:1: unexpected '}' because no matching opening brace",
                     id="one-line-block"),
        pytest.param(":1 {\n  dir { a\n  }\n}", "C:2: unexpected next token after '{' on same "
                     "line", id="token-after-open-brace"),
        pytest.param(":1 {\n  dir\n  {\n  }\n}", "C:3: unexpected '{' on a new line; did you "
                     "mean to place the '{' on the previous line?", id="brace-on-new-line"),
        pytest.param(":1 {\n  dir {}\n}", "C:2: unexpected '{}' at end of line",
                     id="empty-braces-at-end"),
        pytest.param("a.com{\n}", "C:1: site addresses cannot end with a curly brace: 'a.com{' - "
                     "put a space between the token and the brace", id="address-glued-brace"),
        pytest.param("a.com,b.com {\n}", "C:1: site addresses cannot contain a comma ',': "
                     "'a.com,b.com' - put a space after the comma to separate site addresses",
                     id="address-comma-no-space"),
        pytest.param("a.com, {\n}", "C:1: expected another address but had '{' - check for "
                     "extra comma", id="address-extra-comma"),
        pytest.param("a.com,", "C:1: unexpected EOF", id="address-comma-at-eof"),
        pytest.param("@m path /x\n", "C:1: request matchers may not be defined globally, they "
                     "must be in a site block; found @m", id="global-matcher"),
        pytest.param(":1 {\n}\n{\n  debug\n}", "C:3: server block without any key is global "
                     "configuration, and if used, it must be first", id="global-block-not-first"),
        pytest.param("(s) {\n}\n(s) {\n}", "C:3: redeclaration of previously declared snippet s",
                     id="snippet-redeclared"),
        pytest.param("(s)\ndir", "C:2: syntax error: unexpected token 'dir', expecting '{'",
                     id="snippet-without-block"),
        pytest.param("(s)", "C:1: '(s)' must be followed by a '{ ... }' block",
                     id="snippet-at-eof"),
        pytest.param(":1 {\n  import\n}", "C:2: wrong argument count or unexpected line ending "
                     "after 'import'", id="import-without-argument"),
        pytest.param(':1 {\n  import ""\n}', "C:2: import requires a non-empty filepath",
                     id="import-empty"),
        pytest.param("(s) {\n  x\n}\n:1 {\n  import s {\n    {\n    }\n  }\n}",
                     "C:6: anonymous blocks are not supported", id="import-anonymous-block"),
        pytest.param("(a) {\n  import b\n}\n(b) {\n  import a\n}\n:1 {\n  import a\n}",
                     "C:5: import cycle: (b) -> (a) -> (b) (imported from C:2) "
                     "(imported from C:8)", id="snippet-cycle"),
        pytest.param("(a) {\n  import a\n}\n:1 {\n  import a\n}",
                     "C:2: import cycle: (a) -> (a) (imported from C:5)", id="snippet-self-import"),
    ],
)
def test_parse_errors(source: str, message: str) -> None:
    with pytest.raises(CaddyfileError) as info:
        parse(source, "C")
    assert str(info.value) == message


# -- file imports ------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fixture_with_relative_imports_and_glob() -> None:
    main = CADDYFILES / "imports" / "Caddyfile"
    cf = parse(main.read_text(), str(main), environ={})
    assert shape(cf) == (
        [["debug"]],
        [
            (["a.example.com:8080"], [["python", "a:app"]]),
            (["b.example.com:8080"], [["python", "b:app"]]),
            ([":9000"], [["python", "{", "module_asgi", "main:app", "workers", "2", "}"]]),
        ],
    )
    site_a = cf.server_blocks[0]
    assert site_a.keys[0].file == str(CADDYFILES / "imports" / "sites" / "a.caddy")
    assert site_a.keys[0].imports == (f"{main}:5",)


def test_import_is_relative_to_importing_file(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "inner.caddy", "dir inner {args[0]}")
    write(tmp_path / "conf" / "outer.caddy", "import inner.caddy {args[0]}")
    main = write(tmp_path / "Caddyfile", ":1 {\n  import conf/outer.caddy x\n}")
    cf = parse(main.read_text(), str(main))
    (segment,) = cf.server_blocks[0].segments
    assert [t.text for t in segment] == ["dir", "inner", "x"]
    assert segment[0].file == str(tmp_path / "conf" / "inner.caddy")
    assert segment[0].imports == (f"{main}:2", f"{tmp_path / 'conf' / 'outer.caddy'}:1")


def test_import_absolute_path(tmp_path: Path) -> None:
    other = write(tmp_path / "other.caddy", ":7 {\n}")
    cf = parse(f"import {other}", str(tmp_path / "x" / "Caddyfile"))
    assert shape(cf) == ([], [([":7"], [])])


def test_glob_skips_dotfiles_and_sorts(tmp_path: Path) -> None:
    write(tmp_path / "d" / "b.caddy", "dir b")
    write(tmp_path / "d" / "a.caddy", "dir a")
    write(tmp_path / "d" / ".hidden", "dir hidden")
    main = write(tmp_path / "Caddyfile", ":1 {\n  import d/*\n}")
    cf = parse(main.read_text(), str(main))
    assert shape(cf) == ([], [([":1"], [["dir", "a"], ["dir", "b"]])])


def test_glob_without_matches_and_empty_file_import_nothing(tmp_path: Path) -> None:
    write(tmp_path / "empty.caddy", "  \n\n")
    main = write(tmp_path / "Caddyfile", ":1 {\n  import none/*.caddy\n  import empty.caddy\n}")
    assert shape(parse(main.read_text(), str(main))) == ([], [([":1"], [])])


def test_imported_file_args_spare_its_snippet_definitions(tmp_path: Path) -> None:
    write(tmp_path / "snips.caddy", "(s) {\n  dir {args[0]}\n}\n:{args[0]} {\n}")
    main = write(tmp_path / "Caddyfile", "import snips.caddy 7\n:2 {\n  import s Y\n}")
    cf = parse(main.read_text(), str(main))
    assert shape(cf) == ([], [([":7"], []), ([":2"], [["dir", "Y"]])])


def test_file_import_cycle(tmp_path: Path) -> None:
    a = write(tmp_path / "a.caddy", "import b.caddy")
    b = write(tmp_path / "b.caddy", "\nimport a.caddy")
    main = write(tmp_path / "Caddyfile", "import a.caddy")
    with pytest.raises(CaddyfileError) as info:
        parse(main.read_text(), str(main))
    assert str(info.value) == (
        f"{b}:2: import cycle: {b} -> {a} -> {b} (imported from {a}:1) (imported from {main}:1)"
    )


def test_file_importing_itself(tmp_path: Path) -> None:
    main = write(tmp_path / "Caddyfile", ":1 {\n}\nimport Caddyfile")
    with pytest.raises(CaddyfileError) as info:
        parse(main.read_text(), str(main))
    assert str(info.value) == f"{main}:3: import cycle: {main} -> {main}"


@pytest.mark.parametrize(
    ("import_line", "setup", "message"),
    [
        pytest.param("import missing.caddy", None,
                     "{main}:2: file to import not found: missing.caddy", id="missing"),
        pytest.param("import sub", "dir",
                     "{main}:2: could not import {tmp}/sub: is a directory", id="directory"),
        pytest.param("import a*/*.caddy", None,
                     "{main}:2: glob pattern may only contain one wildcard (*), but has others: "
                     "{tmp}/a*/*.caddy", id="two-wildcards"),
        pytest.param("import [ab].caddy", None,
                     "{main}:2: glob pattern may only contain one wildcard (*), but has others: "
                     "{tmp}/[ab].caddy", id="character-class"),
        pytest.param("import bad.caddy", "bad",
                     '{tmp}/bad.caddy:3: unterminated quoted string: missing closing " '
                     "(imported from {main}:2)", id="lex-error-in-imported-file"),
    ],
)
def test_file_import_errors(tmp_path: Path, import_line: str, setup: str | None,
                            message: str) -> None:
    if setup == "dir":
        (tmp_path / "sub").mkdir()
    elif setup == "bad":
        write(tmp_path / "bad.caddy", 'a\nb\n"c\n')
    main = write(tmp_path / "Caddyfile", f":1 {{\n  {import_line}\n}}")
    with pytest.raises(CaddyfileError) as info:
        parse(main.read_text(), str(main))
    assert str(info.value) == message.format(main=main, tmp=tmp_path)


def test_relative_main_file_imports_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "site.caddy", ":5 {\n}")
    write(tmp_path / "conf" / "Caddyfile", "import site.caddy")
    monkeypatch.chdir(tmp_path)
    cf = parse((tmp_path / "conf" / "Caddyfile").read_text(), os.path.join("conf", "Caddyfile"))
    assert cf.server_blocks[0].addresses == (":5",)


def test_fuzz_only_blocks_or_caddyfile_errors(tmp_path: Path) -> None:
    """Random token soup parses or fails with a located CaddyfileError, nothing else."""
    alphabet = ["{", "}", "\n", " ", "a", ":80", ",", "import", "s", "(s)", "&(r)", "@m",
                "{args[0]}", "{args[:]}", "{block}", '"', "{}", "x"]
    rng = random.Random(4321)
    anchor = str(tmp_path / "Caddyfile")
    for _ in range(3000):
        source = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        try:
            cf = parse(source, anchor, environ={})
        except CaddyfileError as exc:
            assert exc.line >= 1, (source, str(exc))
            continue
        assert all(block.keys for block in cf.server_blocks)
