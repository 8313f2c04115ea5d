"""Render README.md's benchmark results from the published results file.

    python bench/render_readme.py            # rewrite README.md between the bench markers
    python bench/render_readme.py --check    # exit 1 with a diff if README.md is stale

Everything between BEGIN and END in README.md is this script's output: the
run's description, the table of fastsnake against its best peer per scenario
(fs/x computed here from the two rates), the footnotes and the notes. To
change it, edit bench/published/latest.json (or publish a new run with
bench/publish.py) and run this script; tests/unit/bench/test_bench_render.py fails while
README.md differs from what it would write.
"""

from __future__ import annotations

import argparse
import difflib
import json
import pathlib
import re
import sys
import textwrap
from typing import Any

from servers import PEERS

BENCH = pathlib.Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
PUBLISHED = BENCH / "published" / "latest.json"
SCALING = BENCH / "published" / "scaling.json"  # bench/scaling.py's run on a many-core machine
BEGIN = ("<!-- bench:begin (rendered by bench/render_readme.py from "
         "bench/published/latest.json: edit that, not this) -->")
END = "<!-- bench:end -->"
WIDTH = 77

# How README.md names the scenarios and servers; a new one shows under its own name.
LABELS = {
    "wsgi-hello": "WSGI hello",
    "asgi-hello": "ASGI hello",
    "wsgi-100k": "WSGI 100 KiB",
    "asgi-echo-4k": "ASGI POST 4 KiB echo",
    "wsgi-upload-1m": "WSGI POST 1 MiB upload",
    "asgi-stream": "ASGI 64 × 1 KiB stream",
    "wsgi-close": "WSGI Connection: close",
    "wsgi-hello-1c": "WSGI hello, 1 connection",
    "asgi-hello-1c": "ASGI hello, 1 connection",
    "asgi-hello-256c": "ASGI hello, 256 connections",
    "ws-echo": "WebSocket echo, msgs/s",
    "respond": "`respond` (Caddyfile)",
    "respond-log": "`respond` + JSON access log",
    "files-4k": "file_server 4 KiB",
    "files-64k": "file_server 64 KiB",
    "files-1m": "file_server 1 MiB",
    "files-4k-gz": "file_server 4 KiB, .gz sidecar",
    "files-64k-gz": "file_server 64 KiB, .gz sidecar",
    "files-1m-gz": "file_server 1 MiB, .gz sidecar",
    "site-static": "4 KiB file under `handle_path`",
    "wsgi-thread": "WSGI hello, thread runtime",
}
# The fastsnake variant a scenario is about, where it is not the default one.
OURS = {"wsgi-thread": "fastsnake-thread"}
SERVER_NAMES = {"granian": "Granian", "caddy": "Caddy", "granian-st": "Granian st",
                "gunicorn-uvicorn": "gunicorn+uvicorn"}
# The versions the run description names: distribution groups, joined with " + ".
VERSION_GROUPS = (("granian",), ("uvicorn", "httptools"), ("gunicorn",), ("uvloop",))
SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"
HEADER = ("| scenario | fastsnake req/s | best peer req/s | fs/x "
          "| p99 ms fastsnake / peer | fastsnake RSS |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: |")
# A wrapped line that starts like this would turn into a list, quote, heading or table.
BLOCK_START = re.compile(r"^([-+*>#|=]|\d+[.)](\s|$))")


def rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def ratio(ours: float | None, peer: float | None) -> float | None:
    """fastsnake's rate over the peer's (fs/x): above 1 fastsnake does more."""
    return ours / peer if ours and peer else None


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ms_text(value: float | None) -> str:
    """Three significant figures, at most two decimals: 0.29, 3.14, 14.7, 114."""
    if value is None:
        return "-"
    for places in (2, 1):
        text = f"{value:.{places}f}"
        if len(text.replace(".", "").lstrip("0")) <= 3:
            return text
    return f"{value:.0f}"


def rss_text(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def server_name(server: str) -> str:
    return SERVER_NAMES.get(server, server)


def best_peer(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The peer with the highest rate (the ceiling and fastsnake's variants are no peers)."""
    peers = [r for r in rows if r["server"] in PEERS and r.get("rate")]
    return max(peers, key=lambda r: r["rate"]) if peers else None


def by_scenario(summary: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in summary:
        groups.setdefault(row["scenario"], []).append(row)
    return groups


def compared(published: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(scenario, fastsnake's row, best peer's row) for each scenario with both, in run order."""
    out = []
    for scenario, rows in by_scenario(published["summary"]).items():
        mine = OURS.get(scenario, "fastsnake")
        ours = next((r for r in rows if r["server"] == mine), None)
        peer = best_peer(rows)
        if ours is not None and peer is not None:  # not e.g. the scaling pair: no peer there
            out.append((scenario, ours, peer))
    return out


def footnote_marks(published: dict[str, Any]) -> dict[str, str]:
    """Scenario -> superscript, numbered in table order."""
    notes = published.get("footnotes", {})
    order = [scenario for scenario, _, _ in compared(published) if scenario in notes]
    missing = set(notes) - set(order)
    if missing:  # a footnote with no row to hang on would vanish silently
        raise ValueError(f"footnotes for scenarios not in the table: {sorted(missing)}")
    return {scenario: SUPERSCRIPTS[i] for i, scenario in enumerate(order)}


def table_rows(published: dict[str, Any]) -> list[list[str]]:
    """The table's cells, one list per scenario that fastsnake ran against a peer."""
    marks = footnote_marks(published)
    out = []
    for scenario, ours, peer in compared(published):
        label = LABELS.get(scenario, scenario)
        if scenario in marks:
            label += f" {marks[scenario]}"
        out.append([
            label,
            rate_text(ours.get("rate")),
            f"{rate_text(peer['rate'])} ({server_name(peer['server'])})",
            ratio_text(ratio(ours.get("rate"), peer["rate"])),
            f"{ms_text(ours.get('p99_ms'))} / {ms_text(peer.get('p99_ms'))}",
            rss_text(ours.get("peak_rss_kib")),
        ])
    return out


def table(published: dict[str, Any]) -> str:
    lines = [HEADER] + ["| " + " | ".join(cells) + " |" for cells in table_rows(published)]
    return "\n".join(lines)


def versions_text(versions: dict[str, dict[str, str | None]]) -> str:
    """"Granian 2.8.9, uvicorn 0.54.0 + httptools 0.9.0, ...": first version found per name."""
    found: dict[str, str] = {}
    for server_versions in versions.values():
        for name, version in server_versions.items():
            if version:
                found.setdefault(name, version)
    groups = []
    for group in VERSION_GROUPS:
        present = [f"{server_name(n)} {found[n]}" for n in group if n in found]
        if present:
            groups.append(" + ".join(present))
    return ", ".join(groups)


def run_description(published: dict[str, Any]) -> str:
    machine, settings = published["machine"], published["settings"]
    kernel = ".".join(machine["kernel"].split(".")[:2])  # 6.18.44-fc-v1045 -> 6.18
    text = (
        f"Latest {'run' if '--scenarios' in published['command'] else 'full run'} "
        f"({published['date_utc']} UTC, `{published['command']}` at commit "
        f"{machine['fastsnake_commit']}; {published['machine_label']}, Linux {kernel}, "
        f"Python {machine['python']}; {versions_text(published['versions'])}; one worker "
        f"pinned to core {settings['server_cpus']}, {settings['load_generator']} on core "
        f"{settings['load_cpus']}, {settings['rounds']} interleaved rounds × "
        f"{settings['duration']:g} s, medians).")
    if published.get("notes", {}).get("run"):
        text += " " + published["notes"]["run"]
    return text + " `fs/x` above 1 means fastsnake does more."


def wrap(text: str) -> str:
    """One paragraph wrapped to WIDTH, never starting a line with a Markdown block marker."""
    lines = textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False)
    i = 1
    while i < len(lines):
        if BLOCK_START.match(lines[i]):
            # Pull the word up onto the line before, even past WIDTH.
            word, _, rest = lines[i].partition(" ")
            lines[i - 1] += " " + word
            if rest:
                lines[i] = rest
                continue
            del lines[i]
            continue
        i += 1
    return "\n".join(lines)


def section(published: dict[str, Any], scaling: dict[str, Any] | None = None) -> str:
    """What goes between the markers (without them)."""
    marks = footnote_marks(published)
    paragraphs = [wrap(run_description(published)), table(published)]
    notes = published.get("footnotes", {})
    paragraphs += [wrap(f"{mark} {notes[scenario]}") for scenario, mark in marks.items()]
    paragraphs += [wrap(text) for text in published.get("notes", {}).get("after", [])]
    if scaling is not None:
        paragraphs += scaling_section(scaling)
    return "\n\n".join(paragraphs)


def scaling_section(scaling: dict[str, Any]) -> list[str]:
    """The multi-worker table (bench/scaling.py): fastsnake and Granian per worker count."""
    machine = scaling["machine"]
    intro = (f"Multi-worker scaling (`python bench/scaling.py`, a {machine['cpus']}-core "
             f"machine, Python {machine['python']}; servers on cores {machine['server_cpus']}, "
             f"wrk on cores {machine['load_cpus']} with {machine['connections']} connections, "
             f"{machine['rounds']} interleaved rounds × {machine['duration']:g} s, medians).")
    if scaling.get("note"):
        intro += " " + scaling["note"]
    lines = ["| app | workers | fastsnake req/s | Granian req/s | fs/x |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in scaling["medians"]:
        lines.append(f"| {row['app'].upper()} hello | {row['workers']} "
                     f"| {rate_text(row['fastsnake'])} | {rate_text(row['granian'])} "
                     f"| {ratio_text(ratio(row['fastsnake'], row['granian']))} |")
    return [wrap(intro), "\n".join(lines)]


def splice(readme: str, body: str) -> str:
    """``readme`` with the lines between its bench markers replaced by ``body``."""
    lines = readme.split("\n")
    begin = [i for i, line in enumerate(lines) if line.startswith("<!-- bench:begin")]
    end = [i for i, line in enumerate(lines) if line.startswith("<!-- bench:end")]
    if len(begin) != 1 or len(end) != 1 or begin[0] > end[0]:
        raise ValueError("README.md needs exactly one '<!-- bench:begin' line "
                         "followed by one '<!-- bench:end' line")
    # Blank lines around the body: an HTML comment must not swallow the paragraph next to it.
    middle = [BEGIN, "", *body.split("\n"), "", END]
    return "\n".join(lines[:begin[0]] + middle + lines[end[0] + 1:])


def load(path: pathlib.Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def rendered(readme_path: pathlib.Path, published_path: pathlib.Path,
             scaling_path: pathlib.Path | None = SCALING) -> tuple[str, str]:
    """README.md as it is, and as this script would write it."""
    current = readme_path.read_text(encoding="utf-8")
    scaling = load(scaling_path) if scaling_path is not None and scaling_path.exists() else None
    return current, splice(current, section(load(published_path), scaling))


def diff(current: str, wanted: str, name: str = "README.md") -> list[str]:
    """A unified diff from ``current`` to ``wanted``; empty when they are the same."""
    lines = list(difflib.unified_diff(current.splitlines(), wanted.splitlines(),
                                      f"{name} (as it is)", f"{name} (rendered)", lineterm=""))
    if current != wanted and not lines:  # splitlines() hides line endings
        lines = [f"{name}: differs in line endings or the final newline only"]
    return lines


def stale(readme_path: pathlib.Path = README,
          published_path: pathlib.Path = PUBLISHED) -> list[str]:
    """The diff from README.md to what it should be; empty when up to date."""
    return diff(*rendered(readme_path, published_path), readme_path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 and show a diff if README.md is stale")
    parser.add_argument("--readme", type=pathlib.Path, default=README)
    parser.add_argument("--results", type=pathlib.Path, default=PUBLISHED)
    args = parser.parse_args(argv)
    try:
        current, wanted = rendered(args.readme, args.results)
    except ValueError as exc:
        print(f"render_readme: {exc}", file=sys.stderr)
        return 2
    if args.check:
        changes = diff(current, wanted, args.readme.name)
        if changes:
            print(f"{args.readme} is not what bench/render_readme.py renders from "
                  f"{args.results}; run python bench/render_readme.py\n", file=sys.stderr)
            print("\n".join(changes))
            return 1
        print(f"{args.readme} is up to date with {args.results}")
        return 0
    if wanted != current:
        args.readme.write_text(wanted, encoding="utf-8")
        print(f"render_readme: rewrote {args.readme}")
    else:
        print(f"render_readme: {args.readme} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
