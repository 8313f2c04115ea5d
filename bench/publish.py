"""Publish a run: write the results file that README.md's benchmark section is rendered from.

    python bench/publish.py bench/results/20261202-081119.json --machine "2-core Xeon VM"
    python bench/publish.py RUN.json --rerun RERUN.json   # RERUN's scenarios replace RUN's
    python bench/render_readme.py                         # then re-render README.md

The published file (bench/published/latest.json) is a subset of the JSON that
run.py writes to bench/results/ (which is git-ignored), plus what only a person
can say about the run:

- ``run``: the results file's name without ``.json``; ``date_utc``: when it was
  written (``YYYY-MM-DD HH:MM``); ``command``: the run.py command line.
- ``machine``, ``versions``: run.py's, ``machine`` without ``loadavg_at_start``;
  ``machine_label``: how README.md names the machine (e.g. "2-core Xeon VM").
- ``settings``: run.py's, less ``quick`` (a smoke run is never published).
- ``summary``: report.summarise()'s rows cut to ROW_KEYS, one per (scenario,
  server); no ratio is stored: the renderer computes ``fs/x`` from the rates.
- ``reruns``: scenarios whose rows come from a later, narrower run instead.
- ``notes``: ``run`` (a sentence after the run's description) and ``after``
  (paragraphs after the table); ``footnotes``: scenario name -> text. These are
  prose and are left empty here: write them into the file by hand.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import report
from scenarios import SCENARIOS

BENCH = pathlib.Path(__file__).resolve().parent
PUBLISHED = BENCH / "published" / "latest.json"
FORMAT = 1
MACHINE_KEYS = ("nproc", "cpu_model", "kernel", "python", "wrk", "fastsnake_commit")
SETTINGS_KEYS = ("rounds", "duration", "warmup", "connections", "load_generator",
                 "server_cpus", "load_cpus")
ROW_KEYS = ("scenario", "server", "rounds", "rate", "p99_ms", "peak_rss_kib")
# run.py's defaults: a command line names only what differs from them.
DEFAULTS = {"rounds": 3, "duration": 5.0, "connections": 64, "load_generator": "wrk"}


def date_utc(document: dict[str, Any], stem: str) -> str:
    """When the run was written, in UTC.

    run.py records ``finished_utc``; older results only have their file name,
    which is the local time of the machine that ran them, taken here to be this
    machine's time zone.
    """
    if document.get("finished_utc"):
        return str(document["finished_utc"])[:16]
    local = time.strptime(stem, "%Y%m%d-%H%M%S")
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.mktime(local)))


def command(document: dict[str, Any]) -> str:
    """The run.py command line that made this run, as far as its JSON tells."""
    settings = document["settings"]
    parts = ["python", "bench/run.py"]
    scenarios = list(document.get("scenarios", SCENARIOS))
    if scenarios != list(SCENARIOS):
        parts += ["--scenarios", ",".join(scenarios)]
    for key, default in DEFAULTS.items():
        if settings.get(key, default) != default:
            value = settings[key]
            parts += [f"--{key.replace('_', '-')}",
                      format(value, "g") if isinstance(value, float) else str(value)]
    return " ".join(parts)


def rows_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary rows cut to ROW_KEYS (recomputed from the runs if absent)."""
    summary = document.get("summary") or report.summarise(document["runs"])
    return [{key: row.get(key) for key in ROW_KEYS} for row in summary]


def replace_scenarios(rows: list[dict[str, Any]],
                      newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with every scenario that ``newer`` has taken from ``newer``, in place."""
    replaced = {row["scenario"] for row in newer}
    out: list[dict[str, Any]] = []
    placed: set[str] = set()
    for row in rows:
        name = row["scenario"]
        if name not in replaced:
            out.append(row)
        elif name not in placed:
            out += [r for r in newer if r["scenario"] == name]
            placed.add(name)
    out += [r for r in newer if r["scenario"] not in placed]
    return out


def check_publishable(document: dict[str, Any], stem: str) -> None:
    if document["settings"].get("quick"):
        raise ValueError(f"{stem} is a --quick smoke run: not a result to publish")
    failed = [r for r in document.get("runs", []) if not r["ok"]]
    if failed:
        print(f"publish: warning: {stem} has {len(failed)} failed run(s)", file=sys.stderr)


def published(document: dict[str, Any], stem: str, machine_label: str | None = None,
              reruns: list[tuple[dict[str, Any], str]] | None = None) -> dict[str, Any]:
    """The published file's content for run ``document`` (named ``stem``)."""
    check_publishable(document, stem)
    machine = document["machine"]
    rows = rows_of(document)
    rerun_notes = []
    for rerun, rerun_stem in reruns or []:
        check_publishable(rerun, rerun_stem)
        newer = rows_of(rerun)
        rows = replace_scenarios(rows, newer)
        rerun_notes.append({
            "run": rerun_stem, "scenarios": list(dict.fromkeys(r["scenario"] for r in newer)),
            "rounds": rerun["settings"]["rounds"], "duration": rerun["settings"]["duration"],
            "command": command(rerun)})
    return {
        "format": FORMAT,
        "run": stem,
        "date_utc": date_utc(document, stem),
        "command": command(document),
        "machine": {key: machine.get(key) for key in MACHINE_KEYS},
        "machine_label": machine_label or f"{machine['nproc']}-core {machine['cpu_model']}",
        "versions": document["versions"],
        "settings": {key: document["settings"].get(key) for key in SETTINGS_KEYS},
        "reruns": rerun_notes,
        "summary": rows,
        "notes": {"run": "", "after": []},
        "footnotes": {},
    }


def write(target: pathlib.Path, content: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # ensure_ascii off: the notes are prose with ×, – and the like, kept readable.
    target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def _load(path: str) -> tuple[dict[str, Any], str]:
    source = pathlib.Path(path)
    return json.loads(source.read_text()), source.stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a run's JSON from bench/results/")
    parser.add_argument("--rerun", action="append", default=[], metavar="JSON",
                        help="a later run whose scenarios replace the main run's (repeatable)")
    parser.add_argument("--machine", help="the machine as README.md names it")
    parser.add_argument("--out", default=str(PUBLISHED), help=f"default {PUBLISHED}")
    args = parser.parse_args(argv)
    document, stem = _load(args.results)
    try:
        content = published(document, stem, args.machine, [_load(p) for p in args.rerun])
    except ValueError as exc:
        raise SystemExit(f"publish: {exc}") from exc
    write(pathlib.Path(args.out), content)
    print(f"publish: wrote {args.out}; add its notes and footnotes by hand, "
          f"then run python bench/render_readme.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
