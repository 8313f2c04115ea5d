"""Rolling a log file that several processes append to, as Caddy rolls one.

Caddy's file writer (timberjack) renames a full file to
``<name>-<time>-<reason><ext>`` (``access-2026-01-30T22-15-42.123-size.log``;
the time in UTC unless ``roll_local_time``, the reason ``size`` or
``time``), starts a new one, then gzips the backups and deletes those beyond
``roll_keep`` (the newest kept) or older than ``roll_keep_for`` (by the time
in their names). It assumes one process owns the file; fastsnake has several
worker processes appending to it, so the same steps are split up:

* Each writer watches the file without a syscall per line: it counts the
  bytes it writes and stats the path when that count says the file could be
  near ``roll_size`` (the count is scaled by how fast the file grew between
  two stats, so other workers' lines are allowed for), and at most every
  0.1 s. The stat also says whether the path still names the writer's file.
* Rolling takes ``flock`` on ``.<name>.lock`` beside the log, and renames
  only if the path still names the file this writer found full. A writer
  that lost the race finds a new file there and simply reopens: one rename
  per crossing, however many workers saw it.
* A writer that did not roll keeps appending to the renamed file until its
  next stat (0.1 s at most while it writes). That is fine as long as the
  renamed file is not compressed or deleted meanwhile, and it is not: every
  writer holds a shared ``flock`` on the file it appends to, and the backup
  is compressed (or pruned) only under an exclusive, non-blocking ``flock``,
  which is granted only once no writer holds the file open any more. A
  writer opening the log takes its shared lock, then checks that the path
  still names what it opened, so it cannot slip into a backup either.
* Compressing and pruning run on a thread of the process that rolled, at
  low priority, off the request path; what is still held is retried with a
  growing pause, and otherwise left to the next roll. A stopping worker
  tidies once more after closing its file (its mill thread stopped first,
  so nothing of its own is half done or held), so the last one to stop
  leaves the backups as ``roll_keep`` says.

``roll_interval``, ``roll_minutes`` and ``roll_at`` are checked at the same
stats, so an idle server rolls at its next line rather than on the minute
(Caddy runs a timer). Each process counts an interval from when it opened
the file, as timberjack counts from its first write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from fastsnake.config.log import LogOutput
from fastsnake.config.timelayout import DEFAULT_BACKUP_LAYOUT, TimeLayout

__all__ = ["Backup", "RollPolicy", "Roller", "backup_path", "list_backups", "lock_path",
           "mill"]

# Caddy's defaults (modules/logging/filewriter.go): a 0 means the default too.
DEFAULT_SIZE = 100 << 20
DEFAULT_KEEP = 10
DEFAULT_KEEP_DAYS = 90

_SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
_FORMS = ("", ".gz", ".zst")  # a backup's name as written, and compressed
_CHUNK = 1 << 20
_ROLL_RETRY = 10.0     # seconds before trying again after a failed roll
_MILL_PATIENCE = 600.0  # how long a mill waits for writers to let go of a backup
_MILL_NICE = 10


@dataclass(frozen=True)
class RollPolicy:
    """A ``LogOutput``'s rolling, with Caddy's defaults filled in."""

    size: int
    keep: int            # backups kept by count; 0: any number
    keep_for: float      # seconds a backup is kept; 0: forever
    compression: str     # "none", "gzip" or "zstd"
    local_time: bool
    layout: TimeLayout
    interval: float      # seconds; 0: off
    marks: tuple[tuple[int, int], ...]  # (hour, minute) to roll at, sorted

    @classmethod
    def of(cls, output: LogOutput) -> RollPolicy:
        keep = output.roll_keep or DEFAULT_KEEP
        marks = {(hour, minute) for minute in output.roll_minutes for hour in range(24)}
        marks |= {(int(h), int(m)) for h, _, m in (at.partition(":") for at in output.roll_at)}
        return cls(
            size=output.roll_size or DEFAULT_SIZE,
            keep=max(keep, 0),  # timberjack: a negative count keeps any number
            keep_for=(output.roll_keep_days or DEFAULT_KEEP_DAYS) * 86400.0,
            compression=output.roll_compression or "gzip",
            local_time=output.roll_local_time,
            layout=TimeLayout(output.backup_time_format or DEFAULT_BACKUP_LAYOUT),
            interval=max(output.roll_interval or 0.0, 0.0),
            marks=tuple(sorted(marks)),
        )

    @property
    def suffix(self) -> str:
        return _SUFFIXES.get(self.compression, "")

    def moment(self, wall: float) -> datetime:
        """``wall`` as an aware time in the zone backup names are written in."""
        utc = datetime.fromtimestamp(wall, timezone.utc)
        return utc.astimezone() if self.local_time else utc


@dataclass(frozen=True)
class Backup:
    path: str
    when: float          # the time in its name (epoch seconds)
    compressed: bool


def _split(path: str) -> tuple[str, str, str]:
    """Directory, name without extension, extension: as Go's filepath.Ext cuts."""
    directory, base = os.path.split(path)
    dot = base.rfind(".")
    if dot < 0:
        return directory, base, ""
    return directory, base[:dot], base[dot:]


def lock_path(path: str) -> str:
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.lock")


def _temp_path(target: str) -> str:
    directory, base = os.path.split(target)
    return os.path.join(directory, f".{base}.tmp")


def backup_path(path: str, policy: RollPolicy, wall: float, reason: str) -> str:
    """The name ``path`` is renamed to when rolled at ``wall``.

    It must sort as the newest backup: pruning keeps the newest by the time
    in their names, so a new backup named at or before an existing one would
    be the next one deleted. Rolls closer together than the layout's step
    (or a clock set back) would give such names: one taken, or one freed
    meanwhile by pruning the oldest. So the name's time is the later of
    ``wall`` and the newest backup's, moved on by the layout's step until it
    is later than every backup's and not taken in any form. Called under the
    roll lock, so no other roller picks the same name."""
    directory, stem, ext = _split(path)
    backups = list_backups(path, policy)
    newest = backups[0].when if backups else float("-inf")
    moment = policy.moment(max(wall, newest))  # a jump, not 10,000 steps, past a set-back
    step = policy.layout.resolution
    for _ in range(10_000):
        stamp = policy.layout.format(moment)
        name = os.path.join(directory, f"{stem}-{stamp}-{reason}{ext}")
        # Compared as list_backups will read the name back (the layout truncates).
        named = policy.layout.parse(stamp, policy.local_time)
        later = named is None or named.timestamp() > newest
        if later and not any(os.path.lexists(name + suffix) for suffix in _FORMS):
            return name
        moment += step
    raise FileExistsError(f"no free backup name for {path}")


def list_backups(path: str, policy: RollPolicy) -> list[Backup]:
    """The backups of ``path`` in its directory, newest first (by the time in
    their names, as timberjack sorts them); names that do not parse are not ours.

    One entry per backup, even while it exists both ways (a mill between
    renaming the compressed copy into place and deleting the original, or
    one stopped there): counted twice, it would push a newer backup past
    ``roll_keep``. Such a backup is listed by its original, uncompressed,
    so the mill finishes it (compressing finds the copy and deletes the
    original; pruning deletes both)."""
    directory, stem, ext = _split(path)
    found: dict[str, Backup] = {}
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    for name in names:
        plain = name
        for suffix in (".gz", ".zst"):
            if plain.endswith(suffix):
                plain = plain[:-len(suffix)]
                break
        if not plain.startswith(stem + "-") or not plain.endswith(ext):
            continue
        middle = plain[len(stem) + 1:len(plain) - len(ext)]
        stamp, _, reason = middle.rpartition("-")
        when = policy.layout.parse(stamp, policy.local_time) if stamp and reason else None
        if when is None:
            continue
        if plain in found and plain != name:
            continue  # the original is listed already
        found[plain] = Backup(os.path.join(directory, name), when.timestamp(), plain != name)
    return sorted(found.values(), key=lambda backup: (backup.when, backup.path), reverse=True)


@contextlib.contextmanager
def _roll_lock(path: str, mode: int) -> Iterator[None]:
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a stat, a rename and an open
        yield
    finally:
        os.close(fd)


def hold_shared(fd: int) -> bool:
    """Mark ``fd`` as appended to: no backup is compressed while it is held.
    False when the file is being compressed (so it is a backup already)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        pass  # a file system without flock: backups then stay uncompressed (see _claim)
    return True


_BUSY = -1
_GONE = -2


def _claim(path: str) -> int:
    """An exclusive hold on a backup: its descriptor, or _BUSY (a writer or
    another mill has it), or _GONE (someone else finished with it)."""
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)  # NFS grants LOCK_EX to writers only
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return _GONE
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:
            os.close(fd)
            return _GONE
    except OSError:  # held (BlockingIOError), or no flock here: never safe to touch
        os.close(fd)
        return _BUSY
    return fd


def mill(path: str, policy: RollPolicy, warn: Callable[[str], None],
         now: float | None = None) -> bool:
    """Prune and compress the backups of ``path`` once; True if some backup
    was still held by a writer and is left for later."""
    now = time.time() if now is None else now
    busy = False
    kept = []
    for index, backup in enumerate(list_backups(path, policy)):
        old = policy.keep_for and backup.when < now - policy.keep_for
        if (policy.keep and index >= policy.keep) or old:
            busy |= not _remove(backup, warn)
        else:
            kept.append(backup)
    if policy.compression != "none":
        for backup in kept:
            if not backup.compressed:
                busy |= not _compress(backup.path, policy, warn)
    return busy


def _remove(backup: Backup, warn: Callable[[str], None]) -> bool:
    plain = backup.path
    fd = -1
    if backup.compressed:  # nobody appends to a compressed backup
        plain = plain[:plain.rfind(".")]
    else:  # maybe still appended to: deleted only once claimed
        fd = _claim(plain)
        if fd == _BUSY:
            return False
        # _GONE: another mill compressed it meanwhile (or pruned it): its
        # copy is as old, so it goes all the same.
    try:
        if fd >= 0:
            os.unlink(plain)
        # Every compressed copy too: a mill that stopped short of deleting
        # the original leaves both, listed as one backup; and what a mill
        # stopped half-way left.
        for suffix in (".gz", ".zst"):
            for leftover in (plain + suffix, _temp_path(plain + suffix)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
    except OSError as exc:
        warn(f"log rolling: cannot delete old backup '{backup.path}': {exc.strerror or exc}")
    finally:
        if fd >= 0:
            os.close(fd)
    return True


def _compressor(compression: str) -> object:
    if compression == "zstd":
        from compression import zstd  # Python 3.14+; the config checks it exists

        return zstd.ZstdCompressor()
    return zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip's format, gzip's default level


def _compress(source: str, policy: RollPolicy, warn: Callable[[str], None]) -> bool:
    fd = _claim(source)
    if fd == _BUSY:
        return False
    if fd == _GONE:
        return True
    target = source + policy.suffix
    temp = _temp_path(target)
    try:
        if os.path.exists(target):  # done before, then stopped short of the unlink
            os.unlink(source)
            return True
        info = os.fstat(fd)
        compressor = _compressor(policy.compression)
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                      info.st_mode & 0o777)
        try:
            while block := os.read(fd, _CHUNK):
                _write_all(out, compressor.compress(block))  # type: ignore[attr-defined]
            _write_all(out, compressor.flush())  # type: ignore[attr-defined]
        finally:
            os.close(out)
        os.utime(temp, ns=(info.st_atime_ns, info.st_mtime_ns))
        os.rename(temp, target)  # whole or not at all
        os.unlink(source)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        warn(f"log rolling: cannot compress '{source}': {exc.strerror or exc}")
    finally:
        os.close(fd)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Roller:
    """The rolling of one writer's file: when it is due, the rename, the mill.

    The writer (``logwriter.LineWriter``) owns the descriptor; it calls
    :meth:`started` when it opens a file, :meth:`due` and :meth:`plan` at each
    stat, and :meth:`roll` when :meth:`due` says so.
    """

    def __init__(self, path: str, policy: RollPolicy, mode: int,
                 warn: Callable[[str], None]) -> None:
        self.path = path
        self.policy = policy
        self.mode = mode
        self.warn = warn
        self._time_due = float("inf")
        self._last_size = 0
        self._ratio = 1.0       # file growth / own writes, between two stats
        self._failing = False
        self._retry_at = 0.0
        self._mill_lock = threading.Lock()
        self._mill_wanted = False
        self._mill_thread: threading.Thread | None = None
        self._mill_stop = threading.Event()

    def started(self, size: int, wall: float) -> None:
        """A writer opened the file at ``path``: its time-based rolling counts from now."""
        self._last_size = size
        self._time_due = self._next_time(wall)

    def _next_time(self, start: float) -> float:
        policy = self.policy
        due = start + policy.interval if policy.interval else float("inf")
        if policy.marks:
            day = policy.moment(start).replace(hour=0, minute=0, second=0, microsecond=0)
            for offset in range(3):
                base = day + timedelta(days=offset)
                for hour, minute in policy.marks:
                    mark = base.replace(hour=hour, minute=minute)
                    if policy.local_time:  # the wall clock's hour, whatever the offset is then
                        mark = mark.replace(tzinfo=None).astimezone()
                    if mark.timestamp() > start:
                        return min(due, mark.timestamp())
        return due

    def due(self, size: int, wall: float) -> str | None:
        """Why the file should roll now (``size`` or ``time``), or None."""
        if self._failing and time.monotonic() < self._retry_at:
            return None
        if size >= self.policy.size:
            return "size"
        if wall >= self._time_due:
            return "time"
        return None

    def plan(self, size: int, own: int) -> int:
        """How many more bytes this writer may append before it stats again.

        ``own``: what it appended since the last stat. The file grew by that
        and what other processes appended; the ratio of the two says how much
        of the growth the next bytes of this writer stand for. Half of the
        room left, so the stats come closer as the file fills.
        """
        grew = size - self._last_size
        if own > 0 and grew >= own:
            self._ratio = grew / own
        self._last_size = size
        return max(0, int((self.policy.size - size) / (2 * self._ratio)))

    def roll(self, reason: str, ident: tuple[int, int], reopen: Callable[[], None]) -> None:
        """Rename the file if the path still names ``ident`` (else another
        process rolled it first), then ``reopen`` the path, all under the lock."""
        rolled = False
        try:
            with _roll_lock(self.path, self.mode):
                try:
                    info = os.stat(self.path)
                except FileNotFoundError:
                    info = None
                if info is not None and (info.st_dev, info.st_ino) == ident:
                    os.rename(self.path, backup_path(self.path, self.policy, time.time(),
                                                     reason))
                    rolled = True
                reopen()
        except OSError as exc:
            self._retry_at = time.monotonic() + _ROLL_RETRY
            if not self._failing:
                self._failing = True
                self.warn(f"log rolling: cannot roll '{self.path}' ({exc.strerror or exc}); "
                          f"lines keep going to it, and rolling is retried every "
                          f"{_ROLL_RETRY:g}s")
            return
        if self._failing:
            self._failing = False
            self.warn(f"log rolling: '{self.path}' rolls again")
        if rolled:
            self.mill_soon()

    # -- the mill: compressing and pruning, on a thread

    def mill_soon(self) -> None:
        with self._mill_lock:
            self._mill_wanted = True
            if self._mill_thread is None and not self._mill_stop.is_set():
                self._mill_thread = threading.Thread(
                    target=self._mill_loop, name="fastsnake-logroll", daemon=True)
                self._mill_thread.start()

    def _mill_loop(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: just this thread
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _MILL_NICE)
        pause, give_up = 0.05, time.monotonic() + _MILL_PATIENCE
        while True:
            with self._mill_lock:
                if self._mill_stop.is_set():  # tidy() takes over
                    self._mill_thread = None
                    return
                self._mill_wanted = False
            try:
                busy = mill(self.path, self.policy, self.warn)
            except Exception as exc:  # never let the thread die loudly
                self.warn(f"log rolling: tidying the backups of '{self.path}' failed: {exc!r}")
                busy = False
            with self._mill_lock:
                if self._mill_wanted or self._mill_stop.is_set():
                    pause, give_up = 0.05, time.monotonic() + _MILL_PATIENCE
                    continue
                if not busy or time.monotonic() >= give_up:
                    self._mill_thread = None
                    return
            # Writers let go of a backup at their next stat, 0.1 s at most
            # while they write; an idle one only when it writes again.
            self._mill_stop.wait(pause)
            pause = min(pause * 2, 10.0)

    def tidy(self) -> None:
        """One mill, here and now (a writer closing), once this process's
        mill thread is done: the thread is a daemon, cut short wherever it
        is when the process exits, and a backup it had claimed (to prune or
        compress) is one this mill would skip as held. Other processes'
        mills may run beside it: each backup is claimed under its own lock."""
        with self._mill_lock:
            self._mill_stop.set()  # no new thread; the running one stops after this pass
            thread = self._mill_thread
        if thread is not None:
            thread.join()  # one pass at most: it waits for no writer
        try:
            mill(self.path, self.policy, self.warn)
        except Exception as exc:
            self.warn(f"log rolling: tidying the backups of '{self.path}' failed: {exc!r}")

    def wait_for_mill(self, timeout: float) -> bool:
        """For tests and orderly stops: wait until no mill runs; False on timeout."""
        thread = self._mill_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
