"""Rolling log files: names, sizes, keeping, compressing, with real files and
real processes (fastsnake.routing.logroll, through logwriter.LineWriter)."""

from __future__ import annotations

import fcntl
import gzip
import multiprocessing
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fastsnake.config.log import LogOutput
from fastsnake.config.timelayout import TimeLayout, check_round_trip
from fastsnake.routing.accesslog import LineWriter, reopen_files
from fastsnake.routing.logroll import (
    Backup,
    Roller,
    RollPolicy,
    backup_path,
    list_backups,
    lock_path,
    mill,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

WHEN = datetime(2026, 1, 30, 22, 15, 42, 123456, tzinfo=timezone.utc).timestamp()


def output(path: Path, **kw: Any) -> LogOutput:
    return LogOutput("file", str(path), **kw)


def policy(**kw: Any) -> RollPolicy:
    return RollPolicy.of(LogOutput("file", "/x/a.log", **kw))


def read_all(path: Path) -> dict[str, bytes]:
    """Every backup of ``path`` (decompressed) and the file itself, by name.
    A backup that exists both ways was compressed and not yet removed: its
    compressed copy is the whole of it."""
    found = {}
    for item in sorted(path.parent.iterdir()):
        name = item.name
        if name.startswith("."):
            continue
        if name.endswith(".gz"):
            found[name[:-3]] = gzip.decompress(item.read_bytes())
        elif name not in found:
            found[name] = item.read_bytes()
    return found


def writer(path: Path, **kw: Any) -> LineWriter:
    return LineWriter(output(path, **kw), warn=pytest.fail)


def finish(w: LineWriter) -> None:
    assert w.roller is not None and w.roller.wait_for_mill(30)
    w.close()


# -- names ------------------------------------------------------------------


def test_backup_names_are_timberjacks(tmp_path: Path) -> None:
    log = str(tmp_path / "access.log")
    assert backup_path(log, policy(), WHEN, "size") == str(
        tmp_path / "access-2026-01-30T22-15-42.123-size.log")
    assert backup_path(str(tmp_path / "access"), policy(), WHEN, "time") == str(
        tmp_path / "access-2026-01-30T22-15-42.123-time")
    assert backup_path(str(tmp_path / "a.b.json"), policy(), WHEN, "size") == str(
        tmp_path / "a.b-2026-01-30T22-15-42.123-size.json")
    assert backup_path(log, policy(backup_time_format="20060102-150405"), WHEN, "size") == str(
        tmp_path / "access-20260130-221542-size.log")


def test_a_taken_backup_name_moves_on_by_the_layouts_step(tmp_path: Path) -> None:
    log = str(tmp_path / "access.log")
    (tmp_path / "access-2026-01-30T22-15-42.123-size.log.gz").write_bytes(b"")
    (tmp_path / "access-2026-01-30T22-15-42.124-size.log").write_bytes(b"")
    assert backup_path(log, policy(), WHEN, "size") == str(
        tmp_path / "access-2026-01-30T22-15-42.125-size.log")


def test_a_backup_is_named_after_every_backup_even_one_pruned_meanwhile(
        tmp_path: Path) -> None:
    # Rolls within one millisecond were named .123, .124, .125; the mill then
    # pruned .123. A roll still in that millisecond must not take .123 again:
    # named older than the others, it would be the next backup pruned.
    log = str(tmp_path / "access.log")
    (tmp_path / "access-2026-01-30T22-15-42.124-size.log.gz").write_bytes(b"")
    (tmp_path / "access-2026-01-30T22-15-42.125-size.log").write_bytes(b"")
    assert backup_path(log, policy(), WHEN, "size") == str(
        tmp_path / "access-2026-01-30T22-15-42.126-size.log")
    # likewise after the clock was set back: still the newest, by one step
    assert backup_path(log, policy(), WHEN - 3600, "time") == str(
        tmp_path / "access-2026-01-30T22-15-42.126-time.log")


def test_local_time_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30, no daylight saving
    time.tzset()
    try:
        local = policy(roll_local_time=True)
        name = backup_path(str(tmp_path / "a.log"), local, WHEN, "size")
        assert name == str(tmp_path / "a-2026-01-31T03-45-42.123-size.log")
        Path(name).write_bytes(b"")
        (backup,) = list_backups(str(tmp_path / "a.log"), local)
        assert backup.when == pytest.approx(WHEN, abs=0.001)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_list_backups_newest_first_and_only_ours(tmp_path: Path) -> None:
    for name in ("a-2026-01-30T22-15-42.123-size.log.gz", "a-2026-01-31T00-00-00.000-time.log",
                 "a-2025-12-01T10-00-00.000-size.log", "a.log", "a-admin.log", "b.log",
                 "a-2026-01-30T22-15-42.123-size.txt", ".a.log.lock", "a-nonsense-size.log"):
        (tmp_path / name).write_bytes(b"")
    found = list_backups(str(tmp_path / "a.log"), policy())
    assert [(Path(b.path).name, b.compressed) for b in found] == [
        ("a-2026-01-31T00-00-00.000-time.log", False),
        ("a-2026-01-30T22-15-42.123-size.log.gz", True),
        ("a-2025-12-01T10-00-00.000-size.log", False),
    ]
    assert found[1].when == pytest.approx(WHEN, abs=0.001)


def test_go_layouts() -> None:
    moment = datetime(2026, 1, 3, 14, 5, 9, 120000, tzinfo=timezone.utc)
    cases = {
        "2006-01-02T15-04-05.000": "2026-01-03T14-05-09.120",
        "2006-01-02 15:04:05.999": "2026-01-03 14:05:09.12",
        "2006.01.02-15.04.05": "2026.01.03-14.05.09",  # dots before digits: separators
        "Jan _2 3:04:05PM 06": "Jan  3 2:05:09PM 26",
        "Monday 002 Z07:00 -0700": "Saturday 003 Z +0000",
        "20060102150405,000000": "20260103140509,120000",
    }
    for layout, text in cases.items():
        compiled = TimeLayout(layout)
        assert compiled.format(moment) == text, layout
        back = compiled.parse(text)
        assert back is not None, layout
    assert TimeLayout("2006-01-02T15-04-05.000").parse("2026-01-03T14-05-09.120") == moment
    assert TimeLayout("2006-01-02").parse("not a date") is None
    assert check_round_trip("2006-01-02T15-04-05") is None
    assert check_round_trip("2006-01-02") is not None      # two rolls a day, one name
    assert check_round_trip("15-04-05.000") is not None    # no date


# -- when a file rolls ------------------------------------------------------


def test_rolls_once_the_size_is_reached(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    w = writer(path, roll_size=1000, roll_compression="none")
    lines = [b"%04d %s\n" % (i, b"x" * 94) for i in range(100)]  # 100 bytes each
    for line in lines:
        w.write(line)
    finish(w)
    files = read_all(path)
    backups = [name for name in files if name != "a.log"]
    # 10000 bytes, 1000 a file: a roll after every tenth line, the last file still live
    assert len(backups) == 9 and all(name.endswith("-size.log") for name in backups)
    assert all(len(files[name]) == 1000 for name in backups)
    assert b"".join(files[name] for name in sorted(backups)) + files["a.log"] == b"".join(lines)


def test_backups_are_gzipped_by_default_and_kept_to_roll_keep(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    w = writer(path, roll_size=1000, roll_keep=3)
    lines = [b"%04d %s\n" % (i, b"y" * 94) for i in range(100)]
    for line in lines:
        w.write(line)
    finish(w)
    names = sorted(p.name for p in tmp_path.iterdir())
    backups = [name for name in names if name.startswith("a-")]
    assert len(backups) == 3 and all(name.endswith("-size.log.gz") for name in backups)
    assert ".a.log.lock" in names and not [n for n in names if n.endswith(".tmp")]
    # the newest three were kept: the last 3000 bytes before the live file
    files = read_all(path)
    kept = b"".join(files[name[:-3]] for name in backups) + files["a.log"]
    assert kept == b"".join(lines)[-len(kept):] and len(kept) == 3000 + len(files["a.log"])


def test_roll_disabled_never_rolls(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    w = writer(path, roll=False, roll_size=100)
    for _ in range(50):
        w.write(b"z" * 99 + b"\n")
    assert w.roller is None
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["a.log"]
    assert path.stat().st_size == 5000


def test_an_existing_full_file_rolls_at_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"old\n" * 300)
    w = writer(path, roll_size=1000, roll_compression="none")
    w.write(b"new\n")
    finish(w)
    files = read_all(path)
    assert files.pop("a.log") == b"new\n"
    assert list(files.values()) == [b"old\n" * 300]


def test_time_rolling_is_due_at_the_interval_and_the_marks() -> None:
    def roller(**kw: Any) -> Roller:
        return Roller("/x/a.log", policy(**kw), 0o600, pytest.fail)

    every_hour = roller(roll_interval=3600.0)
    every_hour.started(0, WHEN)
    assert every_hour.due(0, WHEN + 3599) is None
    assert every_hour.due(0, WHEN + 3600) == "time"
    assert every_hour.due(200 << 20, WHEN) == "size"  # size first, as timberjack checks it

    start = datetime(2026, 1, 30, 10, 10, tzinfo=timezone.utc).timestamp()
    halves = roller(roll_minutes=(0, 30))
    halves.started(0, start)
    assert halves.due(0, start + 20 * 60 - 1) is None
    assert halves.due(0, start + 20 * 60) == "time"          # 10:30
    midnight = roller(roll_at=("00:00", "12:00"))
    midnight.started(0, start)
    assert midnight.due(0, start + 110 * 60 - 1) is None
    assert midnight.due(0, start + 110 * 60) == "time"        # 12:00
    midnight.started(0, start + 110 * 60)                     # rolled: the next is midnight
    assert midnight.due(0, start + 110 * 60 + 12 * 3600 - 1) is None
    assert midnight.due(0, start + 110 * 60 + 12 * 3600) == "time"


def test_a_backup_found_both_ways_counts_once(tmp_path: Path) -> None:
    # A mill that renamed the compressed copy into place but has not (yet)
    # deleted the original: the backup is there twice, and counting it twice
    # would prune a newer one past roll_keep.
    path = tmp_path / "a.log"
    names = [f"a-2026-01-30T22-15-4{second}.000-size.log" for second in range(4)]
    for name in names:
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress(name.encode()))
    (tmp_path / names[3]).write_bytes(names[3].encode())  # the newest, half done
    (tmp_path / names[1]).write_bytes(names[1].encode())  # and one to be pruned
    rules = RollPolicy.of(output(path, roll_keep=2))
    found = list_backups(str(path), rules)
    assert [(Path(b.path).name, b.compressed) for b in found] == [
        (names[3], False), (names[2] + ".gz", True), (names[1], False),
        (names[0] + ".gz", True)]
    assert mill(str(path), rules, pytest.fail, now=WHEN) is False  # none too old
    assert sorted(p.name for p in tmp_path.iterdir()) == [names[2] + ".gz", names[3] + ".gz"]


def test_keep_for_prunes_by_the_time_in_the_name(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    layout = TimeLayout("2006-01-02T15-04-05.000")
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    for days, suffix in ((1, ""), (29, ".gz"), (31, ""), (40, ".gz")):
        stamp = layout.format(now - timedelta(days=days))
        (tmp_path / f"a-{stamp}-size.log{suffix}").write_bytes(b"old\n")
    # roll_keep_for 30d (Caddy's days); compression off so only pruning shows
    rules = RollPolicy.of(output(path, roll_keep_days=30, roll_compression="none"))
    assert mill(str(path), rules, pytest.fail, now=now.timestamp()) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a-2026-05-03T00-00-00.000-size.log.gz", "a-2026-05-31T00-00-00.000-size.log"]


# -- safety with other writers ----------------------------------------------


def test_a_backup_someone_still_appends_to_is_neither_compressed_nor_deleted(
        tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    backup = Path(backup_path(str(path), policy(), time.time(), "size"))  # a fresh one
    backup.write_bytes(b"late\n")
    held = os.open(backup, os.O_WRONLY | os.O_APPEND)
    fcntl.flock(held, fcntl.LOCK_SH)  # what a writer that has not noticed the roll holds
    try:
        rules = RollPolicy.of(output(path))
        assert mill(str(path), rules, pytest.fail) is True  # left for later
        assert backup.exists()
        rules = RollPolicy.of(output(path, roll_keep=-1, roll_keep_days=1))
        assert mill(str(path), rules, pytest.fail, now=time.time() + 10 * 86400) is True
        assert backup.exists()  # too old, but still written to
        os.write(held, b"later\n")
    finally:
        os.close(held)
    assert mill(str(path), RollPolicy.of(output(path)), pytest.fail) is False
    assert gzip.decompress((tmp_path / (backup.name + ".gz")).read_bytes()) == b"late\nlater\n"
    assert not backup.exists()


def test_tidy_stops_the_mill_thread_first(tmp_path: Path) -> None:
    # A stopping worker's mill thread is a daemon: cut short at exit, a
    # backup it had claimed would be left as it is, skipped by the last
    # tidy as held. So tidy() has the thread stop and does the work itself.
    path = tmp_path / "a.log"
    backup = Path(backup_path(str(path), policy(), time.time(), "size"))
    backup.write_bytes(b"late\n")
    roller = Roller(str(path), RollPolicy.of(output(path)), 0o600, pytest.fail)
    held = os.open(backup, os.O_WRONLY | os.O_APPEND)
    fcntl.flock(held, fcntl.LOCK_SH)  # the thread finds it held, and keeps retrying
    roller.mill_soon()
    thread = roller._mill_thread
    assert thread is not None
    os.close(held)  # the writer let go
    roller.tidy()
    assert not thread.is_alive() and roller._mill_thread is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [backup.name + ".gz"]
    roller.mill_soon()  # a roll after tidy (there is none: the writer is closed) starts none
    assert roller._mill_thread is None


def test_a_writer_follows_a_roll_made_by_another(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    first, second = writer(path, roll_size=1000), writer(path, roll_size=1000)
    first.write(b"a" * 999 + b"\n")
    second.write(b"b\n")        # the file is full: this one rolls it
    first.write(b"c\n")         # lands in the backup or the new file, never lost
    for _ in range(20):          # first finds the roll at its next look (a budget, or 0.1 s)
        first.write(b"d" * 49 + b"\n")
    finish(second)
    finish(first)
    files = read_all(path)
    assert len(files) == 2
    everything = b"".join(files.values())
    assert sorted(everything.splitlines()) == sorted(
        [b"a" * 999, b"b", b"c"] + [b"d" * 49] * 20)


def test_reopen_files_moves_every_writer_to_the_path(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import fastsnake.routing.logwriter as logwriter

    monkeypatch.setattr(logwriter, "_REOPEN_CHECK", 3600.0)  # only SIGUSR1 can tell it
    path = tmp_path / "a.log"
    w = writer(path, roll=False)
    w.write(b"one\n")
    os.rename(path, tmp_path / "a.log.1")  # logrotate, then its postrotate SIGUSR1
    w.write(b"two\n")
    reopen_files()
    w.write(b"three\n")
    w.close()
    assert (tmp_path / "a.log.1").read_bytes() == b"one\ntwo\n"
    assert path.read_bytes() == b"three\n"


def test_the_lock_file_sits_beside_the_log(tmp_path: Path) -> None:
    assert lock_path("/var/log/site/access.log") == "/var/log/site/.access.log.lock"
    assert Backup("x", 0.0, False).compressed is False


# -- several processes ------------------------------------------------------

ROLL_SIZE = 20_000


def _append(path: str, keep: int, tag: int, count: int, start: Any) -> None:
    w = LineWriter(LogOutput("file", path, roll_size=ROLL_SIZE, roll_keep=keep))
    start.wait()
    for i in range(count):
        size = 6000 if i % 50 == 0 else 40 + (i * 7) % 200  # some lines over a page
        w.write(b"%d %d " % (tag, i) + b"p" * size + b"\n")
    w.close()


def _run_writers(path: Path, keep: int, processes: int = 4, count: int = 1500) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes)
    workers = [ctx.Process(target=_append, args=(str(path), keep, tag, count, start))
               for tag in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    # A process may exit before its mill is done; what it left is what the
    # next mill starts from (here, this one), and nobody holds a backup now.
    assert mill(str(path), RollPolicy.of(output(path, roll_keep=keep)), pytest.fail) is False


def test_processes_appending_to_one_file_roll_it_once_per_crossing(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    processes, count = 4, 1500
    _run_writers(path, keep=10_000, processes=processes, count=count)
    files = read_all(path)
    backups = {name: data for name, data in files.items() if name != "a.log"}
    assert len(backups) >= 10
    # One roll per crossing: a second roll of the same crossing would rename
    # a fresh, nearly empty file; every backup reached roll_size first.
    assert all(len(data) >= ROLL_SIZE for data in backups.values())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    seen: list[tuple[int, int]] = []
    for data in files.values():
        assert data.endswith(b"\n")
        for line in data.splitlines():
            tag, i, body = line.split(b" ")
            assert body == b"p" * len(body)  # whole: nothing torn or glued on
            seen.append((int(tag), int(i)))
    # every line exactly once: none lost to a compressed or deleted backup
    assert sorted(seen) == [(tag, i) for tag in range(processes) for i in range(count)]


def test_processes_keep_no_more_backups_than_roll_keep(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    _run_writers(path, keep=3)
    backups = [p.name for p in tmp_path.iterdir() if p.name.startswith("a-")]
    assert len(backups) == 3 and all(name.endswith(".log.gz") for name in backups)
    seen = set()
    for data in read_all(path).values():
        for line in data.splitlines():
            tag, i, body = line.split(b" ")
            assert body == b"p" * len(body)
            assert (tag, i) not in seen
            seen.add((tag, i))
