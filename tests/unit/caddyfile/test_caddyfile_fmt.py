"""fastsnake fmt: layout as caddy fmt, tokens unchanged."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from fastsnake.caddyfile import lex
from fastsnake.caddyfile.fmt import format_caddyfile
from tests import REPO, TESTDATA


@pytest.mark.parametrize("text, expected", [
    pytest.param(":80 {\n    python   main:app\n}\n", ":80 {\n\tpython main:app\n}\n",
                 id="indent-and-spaces"),
    pytest.param("\n\n:80 {\n\n  a\n\n\n  b\n\n}\n\n", ":80 {\n\ta\n\n\tb\n}\n",
                 id="blank-lines"),
    pytest.param(':80 {\n  respond "a   b"   # keep   this\n}\n',
                 ':80 {\n\trespond "a   b" # keep   this\n}\n', id="quotes-and-comments"),
    pytest.param(":80 {\n python {\n  module_wsgi `x  y`\n }\n}\n",
                 ":80 {\n\tpython {\n\t\tmodule_wsgi `x  y`\n\t}\n}\n", id="nested-backticks"),
    pytest.param(":80 {\n  respond <<EOF\n    keep   me\n    EOF 200\n    header   a b\n}\n",
                 ":80 {\n\trespond <<EOF\n    keep   me\n    EOF 200\n\theader a b\n}\n",
                 id="heredoc"),
    pytest.param(":80 {\n  python {labels.2}:app\n}\n", ":80 {\n\tpython {labels.2}:app\n}\n",
                 id="placeholder-braces-are-not-blocks"),
    pytest.param("", "", id="empty"),
])
def test_format(text, expected):
    assert format_caddyfile(text) == expected
    assert format_caddyfile(expected) == expected  # idempotent


def caddyfiles() -> list[pathlib.Path]:
    found = sorted(REPO.glob("examples/*/Caddyfile"))
    found += sorted((TESTDATA / "caddyfiles").rglob("Caddyfile"))
    return found


@pytest.mark.parametrize("path", caddyfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_tokens_survive_formatting(path):
    text = path.read_text()
    formatted = format_caddyfile(text)
    assert [t.text for t in lex(formatted, "f")] == [t.text for t in lex(text, "f")]
    assert format_caddyfile(formatted) == formatted


def test_cli_overwrite(tmp_path):
    target = tmp_path / "Caddyfile"
    target.write_text(":80 {\n      python main:app\n}")
    subprocess.run([sys.executable, "-m", "fastsnake", "fmt", "--overwrite", str(target)],
                   check=True, timeout=60)
    assert target.read_text() == ":80 {\n\tpython main:app\n}\n"


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

WORD = st.text(alphabet="abcdefgxyz_:/.*-{}$0123456789", min_size=1, max_size=8).filter(
    lambda w: w not in ("{", "}") and not w.startswith("<<") and not w.startswith("#")
    and not w.startswith("{$"))
QUOTED = st.text(alphabet='ab c\t#{}"\\', max_size=8).map(
    lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
TOKEN = st.one_of(WORD, QUOTED, st.sampled_from(["{", "}"]))
SPACE = st.sampled_from([" ", "  ", "\t", " \t "])
LINE = st.tuples(st.lists(TOKEN, min_size=1, max_size=5), SPACE,
                 st.sampled_from(["", "", " # a comment  here"]))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.tuples(LINE, st.sampled_from(["\n", "\n\n", "\n  \n"])),
                           max_size=12))
def test_formatting_never_changes_the_tokens(lines):
    text = "".join(indent.join(tokens) + comment + end
                   for (tokens, indent, comment), end in lines)
    formatted = format_caddyfile(text)
    assert [t.text for t in lex(formatted, "f")] == [t.text for t in lex(text, "f")]
    assert format_caddyfile(formatted) == formatted
