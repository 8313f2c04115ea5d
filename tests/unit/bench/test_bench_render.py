"""README.md's benchmark section is rendered from bench/published/latest.json.

No server runs here: these render small in-test results, and check that the
committed README.md is what bench/render_readme.py makes of the committed
results file, so a hand edit of the table fails.
"""

from __future__ import annotations

import copy
import pathlib
import sys
from typing import Any

import pytest

from tests import REPO

BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import publish  # noqa: E402  (bench modules, found through the path above)
import render_readme  # noqa: E402

ROW = {"rounds": 3, "p99_ms": None, "peak_rss_kib": None}


def _row(scenario: str, server: str, rate: float | None, **extra: Any) -> dict[str, Any]:
    return {**ROW, "scenario": scenario, "server": server, "rate": rate, **extra}


PUBLISHED: dict[str, Any] = {
    "format": 1,
    "run": "20260101-120000",
    "date_utc": "2026-01-01 12:00",
    "command": "python bench/run.py",
    "machine": {"nproc": 2, "cpu_model": "Test CPU", "kernel": "6.1.2-test",
                "python": "3.11.7", "wrk": "wrk 4.1.0", "fastsnake_commit": "abc1234"},
    "machine_label": "2-core test box",
    "versions": {"fastsnake": {"fastsnake": "0.1.0", "uvloop": "0.23.0"},
                 "granian": {"granian": "2.8.9", "uvloop": "0.23.0"},
                 "uvicorn": {"uvicorn": "0.54.0", "httptools": "0.9.0"},
                 "gunicorn": {"gunicorn": "27.0.1"}},
    "settings": {"rounds": 3, "duration": 5.0, "warmup": 1.0, "connections": 64,
                 "load_generator": "wrk", "server_cpus": "0", "load_cpus": "1"},
    "reruns": [],
    "summary": [
        _row("wsgi-hello", "fastsnake", 88588.4, p99_ms=3.141, peak_rss_kib=26214),
        _row("wsgi-hello", "granian", 45925.0, p99_ms=9.93),
        _row("wsgi-hello", "granian-st", 46000.0, p99_ms=14.72),  # the best peer
        _row("wsgi-hello", "ceiling", 121109.0),  # faster, but no peer
        _row("ws-echo", "fastsnake", 1000.0, p99_ms=39.96, peak_rss_kib=34406),
        _row("ws-echo", "uvicorn", 300.0, p99_ms=113.83),
        _row("ws-echo", "granian", None),  # failed every round: no rate
        _row("scaling", "fastsnake-1w", 82952.0),  # no fastsnake/peer pair: not in the table
        _row("scaling", "fastsnake-2w", 91209.0),
    ],
    "notes": {"run": "A shared machine.", "after": ["Notes after the table."]},
    "footnotes": {"ws-echo": "One connection only."},
}


def test_table_rows_compare_fastsnake_with_its_best_peer():
    assert render_readme.table_rows(PUBLISHED) == [
        ["WSGI hello", "88,588", "46,000 (Granian st)", "1.93", "3.14 / 14.7", "25.6 MiB"],
        ["WebSocket echo, msgs/s ¹", "1,000", "300 (uvicorn)", "3.33", "40.0 / 114",
         "33.6 MiB"],
    ]


def test_ratio_is_computed_from_the_rates():
    assert render_readme.ratio(88588.4, 46000.0) == pytest.approx(1.9258, abs=1e-4)
    assert render_readme.ratio(None, 300.0) is None
    assert render_readme.ratio(1000.0, 0.0) is None
    # Nothing in the published file holds a ratio: changing a rate changes fs/x.
    changed = copy.deepcopy(PUBLISHED)
    changed["summary"][5]["rate"] = 500.0
    assert render_readme.table_rows(changed)[1][3] == "2.00"


@pytest.mark.parametrize(("value", "text"), [
    (0.29, "0.29"), (3.141, "3.14"), (9.999, "10.0"), (14.72, "14.7"), (39.96, "40.0"),
    (113.83, "114"), (99.96, "100"), (None, "-"),
])
def test_p99_has_three_significant_figures(value: float | None, text: str):
    assert render_readme.ms_text(value) == text


def test_section_has_the_run_table_footnotes_and_notes():
    text = render_readme.section(PUBLISHED)
    assert text.startswith("Latest full run (2026-01-01 12:00 UTC, `python bench/run.py` at")
    flat = " ".join(text.split())
    assert ("2-core test box, Linux 6.1, Python 3.11.7; Granian 2.8.9, uvicorn 0.54.0 + "
            "httptools 0.9.0, gunicorn 27.0.1, uvloop 0.23.0; one worker pinned to core 0, "
            "wrk on core 1, 3 interleaved rounds × 5 s, medians). A shared machine.") in flat
    assert "| WSGI hello | 88,588 | 46,000 (Granian st) | 1.93 | 3.14 / 14.7 | 25.6 MiB |" in text
    assert "\n\n¹ One connection only.\n\n" in text
    assert text.endswith("\n\nNotes after the table.")


def test_wrap_never_starts_a_line_with_a_block_marker():
    text = "word " * 14 + "- dash " + "word " * 14 + "12. twelve"
    lines = render_readme.wrap(text).split("\n")
    assert len(lines) > 1
    assert not any(render_readme.BLOCK_START.match(line) for line in lines[1:])
    assert " ".join(lines) == " ".join(text.split())


def test_a_footnote_without_a_table_row_is_an_error():
    broken = copy.deepcopy(PUBLISHED)
    broken["footnotes"]["scaling"] = "no row carries this"
    with pytest.raises(ValueError, match="scaling"):
        render_readme.section(broken)


def test_splice_replaces_only_what_is_between_the_markers():
    readme = ("# Title\n\n## Benchmarks\n\nIntro.\n\n"
              "<!-- bench:begin -->\nold\n<!-- bench:end -->\n\nTail.\n")
    out = render_readme.splice(readme, "new\ntable")
    assert out == ("# Title\n\n## Benchmarks\n\nIntro.\n\n" + render_readme.BEGIN
                   + "\n\nnew\ntable\n\n" + render_readme.END + "\n\nTail.\n")
    assert render_readme.splice(out, "new\ntable") == out
    assert render_readme.diff(out, out + "\n") != []
    with pytest.raises(ValueError):
        render_readme.splice("# no markers\n", "new")


def test_committed_readme_is_rendered_from_the_committed_results():
    diff = render_readme.stale(render_readme.README, render_readme.PUBLISHED)
    assert diff == [], ("README.md's benchmark section differs from what "
                        "`python bench/render_readme.py` renders:\n" + "\n".join(diff))


def test_a_hand_edit_of_the_table_is_caught():
    current, wanted = render_readme.rendered(render_readme.README, render_readme.PUBLISHED)
    first = render_readme.table_rows(render_readme.load(render_readme.PUBLISHED))[0]
    line = "| " + " | ".join(first) + " |"
    assert line in wanted
    edited = current.replace(line, line.replace(f"| {first[1]} |", f"| {first[1]}0 |"))
    assert edited != current
    assert any(diff_line == "+" + line for diff_line in render_readme.diff(edited, wanted))


def test_check_exit_status(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]):
    results = tmp_path / "latest.json"
    publish.write(results, PUBLISHED)
    readme = tmp_path / "README.md"
    readme.write_text("## Benchmarks\n\n<!-- bench:begin -->\n<!-- bench:end -->\n")
    argv = ["--readme", str(readme), "--results", str(results)]
    assert render_readme.main([*argv, "--check"]) == 1
    assert "+| WSGI hello | 88,588" in capsys.readouterr().out
    assert render_readme.main(argv) == 0
    assert render_readme.main([*argv, "--check"]) == 0
    assert readme.read_text().startswith("## Benchmarks\n\n" + render_readme.BEGIN)


def _run(rows: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    """A results document as run.py writes it, cut to what publish reads."""
    full = [{**row, "p50_ms": 1.0, "fastsnake_ratio": 1.5, "per_cpu_second": 9.0}
            for row in rows]
    return {
        "machine": {**PUBLISHED["machine"], "loadavg_at_start": [0.1, 0.2, 0.3]},
        "versions": PUBLISHED["versions"],
        "settings": {**PUBLISHED["settings"], "quick": False, **settings},
        "scenarios": {row["scenario"]: {} for row in rows},
        "runs": [{"ok": True}],
        "summary": full,
        "finished_utc": "2026-01-01 12:00:59",
    }


def test_publish_keeps_a_subset_of_the_run_and_takes_reruns():
    main = _run(PUBLISHED["summary"])
    rerun = _run([_row("ws-echo", "fastsnake", 2000.0), _row("ws-echo", "uvicorn", 500.0)],
                 rounds=5)
    out = publish.published(main, "20260101-120059", "2-core test box", [(rerun, "rerun")])
    assert out["date_utc"] == "2026-01-01 12:00"
    assert "loadavg_at_start" not in out["machine"] and "quick" not in out["settings"]
    assert all(set(row) == set(publish.ROW_KEYS) for row in out["summary"])
    assert [(r["scenario"], r["server"], r["rate"]) for r in out["summary"][3:7]] == [
        ("wsgi-hello", "ceiling", 121109.0), ("ws-echo", "fastsnake", 2000.0),
        ("ws-echo", "uvicorn", 500.0), ("scaling", "fastsnake-1w", 82952.0)]
    assert out["reruns"] == [{
        "run": "rerun", "scenarios": ["ws-echo"], "rounds": 5, "duration": 5.0,
        "command": "python bench/run.py --scenarios ws-echo --rounds 5"}]
    assert out["command"] == "python bench/run.py --scenarios wsgi-hello,ws-echo,scaling"
    assert render_readme.table_rows(out)[1][1:4] == ["2,000", "500 (uvicorn)", "4.00"]


def test_publish_refuses_a_quick_run():
    with pytest.raises(ValueError, match="quick"):
        publish.published(_run(PUBLISHED["summary"], quick=True), "20260101-120059")


def test_scaling_table_rows_and_ratio():
    scaling = {"machine": {"cpus": 16, "python": "3.12.3", "server_cpus": "0-7",
                           "load_cpus": "8-15", "connections": 256, "rounds": 2,
                           "duration": 6.0},
               "medians": [{"app": "wsgi", "workers": 1, "fastsnake": 80000.0,
                            "granian": 40000.0},
                           {"app": "asgi", "workers": 8, "fastsnake": 500000.0,
                            "granian": None}]}
    intro, rows = render_readme.scaling_section(scaling)
    assert "16-core machine" in intro and "cores 8-15" in intro
    assert "| WSGI hello | 1 | 80,000 | 40,000 | 2.00 |" in rows
    assert "| ASGI hello | 8 | 500,000 | - | - |" in rows
