"""A journal in several files: the live one, and the segments rotation renamed it to.

When the live file (``journal.jsonl``) passes a size limit, the journal's background thread
renames it to a segment beside it, ``journal.<UTC time of the rename>.jsonl``
(``journal.20261201T184512.123456Z.jsonl``: names sort as times do), and the next record
opens a new live file (smartdc_nb.journal_store). Readers read the segments, oldest
first, then the live file, as one journal (:func:`files`); pruning removes old segments
whole (smartdc_nb.journal_pruning), never the live file, and never rewrites one.

``$SMARTDC_NB_JOURNAL_ROTATE`` (or ``Journal(rotate=...)``) is the limit in bytes (``64M``,
``1G`` and ``500K`` too; default :data:`DEFAULT_ROTATE`); ``0`` or ``off`` never rotates.

Why rename, not copy and truncate (logrotate's copytruncate): a rename is one atomic step
under the writers' lock, so no record is lost or written twice, and a process that still has
the old file open writes on into the segment, which is read as part of the journal.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock (and no rename of an open file: rotation is off)
    fcntl = None  # type: ignore[assignment]

from .journal_place import OFF, JournalError

if TYPE_CHECKING:
    from .journal_store import Journal

ROTATE_ENV = "SMARTDC_NB_JOURNAL_ROTATE"
#: Bytes past which the live file becomes a segment: a month of a busy user's requests
#: (~500 bytes a record), small enough to prune a month at a time and to read in seconds.
DEFAULT_ROTATE = 64 * 1024 * 1024
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.I)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
_STAMP = r"\d{8}T\d{6}\.\d{6}Z"
_EPOCH = datetime(1970, 1, 1)

_log = logging.getLogger(__name__)


def rotate_limit(value: str | int | None) -> int | None:
    """The size limit ``value`` says (None: never rotate), or ValueError saying what is wrong;
    ``None`` itself means the default."""
    if value is None:
        return DEFAULT_ROTATE
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"the journal's rotation size must be 0 (off) or more bytes, "
                             f"not {value}")
        return value or None
    text = str(value).strip()
    if text.lower() in OFF:
        return None
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"the journal's rotation size must be a number of bytes (such as "
                         f"67108864 or 64M), or 0 or off, not {value!r}")
    return int(match[1]) * _UNITS[match[2].lower()] or None


def configured_limit(given: str | int | None) -> tuple[int | None, str | None]:
    """``Journal(rotate=given)``'s limit, else the environment's, and None; or, for a bad
    value in the environment, None and what is wrong with it (said when writing, as a bad
    sync mode is: reading does not need it). A bad ``given`` raises JournalError."""
    # an empty variable (an env file's ``NAME=``) is unset, as for $SMARTDC_NB_JOURNAL_SYNC
    from_env = (os.environ.get(ROTATE_ENV) or "").strip() or None
    try:
        return rotate_limit(given if given is not None else from_env), None
    except ValueError as exc:
        if given is not None:
            raise JournalError(str(exc)) from None
        return None, f"{exc} (${ROTATE_ENV})"


def _split(path: Path) -> tuple[str, str]:
    """``journal.jsonl`` as ("journal", ".jsonl"): a segment's name goes between the two."""
    return (path.stem, path.suffix) if path.suffix else (path.name, "")


def _pattern(path: Path) -> re.Pattern[str]:
    stem, suffix = _split(path)
    return re.compile(rf"{re.escape(stem)}\.({_STAMP}){re.escape(suffix)}")


def segments(path: Path) -> list[Path]:
    """The segments of the journal at ``path``, oldest first (none: an empty list)."""
    pattern = _pattern(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent)
                 if pattern.fullmatch(entry.name)]
    except OSError:  # no directory (yet): no segments
        return []
    return [path.parent / name for name in sorted(names)]


def strays(path: Path) -> list[Path]:
    """Files beside the journal at ``path`` named after one of its segments but not as one
    (``….jsonl.gz``, ``old-journal.<time>.jsonl``): not read, so not pruned either."""
    stem, _ = _split(path)
    named = re.compile(rf"{re.escape(stem)}\.{_STAMP}")
    pattern = _pattern(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent)
                 if named.search(entry.name) and not pattern.fullmatch(entry.name)]
    except OSError:
        return []
    return [path.parent / name for name in sorted(names)]


def segment_time(segment: Path, path: Path) -> str:
    """When ``segment`` of ``path`` was renamed from the live file (its name's UTC time)."""
    match = _pattern(path).fullmatch(segment.name)
    return match[1] if match else ""


def _segment_for(path: Path) -> Path:
    """A name for a new segment of ``path``: the UTC time now, or just after the newest
    segment's if the clock went back since (the names must sort in the order the segments
    were made), and not one that exists (os.rename would replace it)."""
    micros = time.time_ns() // 1000
    made = segments(path)
    if made:
        last = datetime.strptime(segment_time(made[-1], path), "%Y%m%dT%H%M%S.%fZ")
        micros = max(micros, (last - _EPOCH) // timedelta(microseconds=1) + 1)
    stem, suffix = _split(path)
    while True:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(micros // 1_000_000))
        target = path.with_name(f"{stem}.{stamp}.{micros % 1_000_000:06d}Z{suffix}")
        if not target.exists():
            return target
        micros += 1


def rotate(journal: Journal, limit: int) -> Path | None:
    """Rename ``journal``'s live file to a segment if it is still the file open and still
    ``limit`` bytes or more (called by its sync thread; another process may have rotated it
    first). Returns the segment, or None; the next record opens a new live file."""
    with journal._lock:  # this process's writers (flock does not part threads of one process)
        fd = journal._fd
        if fd is None or journal._stale:
            return None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # other processes' writers and readers
            try:
                target = _rename_if_over(journal, limit)
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as exc:  # Windows cannot rename an open file; a read-only directory
            journal.rotate_at = None  # not again every 200 ms: this file grows on, as before
            _log.warning("cannot rotate the journal at %s (%s); it grows on unrotated",
                         journal.path, exc)
            return None
        return target


def _rename_if_over(journal: Journal, limit: int) -> Path | None:
    """rotate's step under the locks: the path must still name the open file (another process
    may have rotated it first), and that file be ``limit`` bytes or more."""
    try:
        now = os.stat(journal.path)
    except FileNotFoundError:
        now = None
    if now is None or (now.st_dev, now.st_ino) != journal._identity:
        journal._stale = True  # rotated (or moved) by another: open the path again
        return None
    if now.st_size < limit:
        return None
    target = _segment_for(journal.path)
    os.rename(journal.path, target)
    journal._stale = True  # the next record opens a new live file
    return target


def _open_live(path: Path) -> IO[bytes] | None:
    """The live file, open with the shared lock, or None if there is none. The lock is taken
    on the file the path names once locked: one rotated before the lock is a segment."""
    while True:
        try:
            file = open(path, "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JournalError(f"cannot read the journal at {path} ({exc})") from exc
        if fcntl is None:
            return file
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # no half-written record, and no rotation
        opened = os.fstat(file.fileno())
        try:
            named = os.stat(path)
        except OSError:
            named = None
        if named is not None and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino):
            return file
        file.close()  # renamed to a segment meanwhile: it is read as one


def files(path: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    """The journal's files, oldest first, each open with the shared lock (no half-written
    record) until the next is asked for: its segments, then the live file.

    The live file is locked last, while it is read, not while the segments are: a writer waits
    only for the reader of its own file, as before segments. A rotation meanwhile made a new
    segment, which is read before the new live file (rotation needs the lock held here).
    """
    done: set[Path] = set()
    while True:
        for segment in segments(path):
            if segment in done:
                continue
            done.add(segment)
            try:
                file = open(segment, "rb")
            except FileNotFoundError:  # pruned meanwhile
                continue
            except OSError as exc:
                raise JournalError(f"cannot read the journal at {segment} ({exc})") from exc
            with file:
                if fcntl is not None:
                    fcntl.flock(file.fileno(), fcntl.LOCK_SH)
                yield segment, file
        live = _open_live(path)
        if any(segment not in done for segment in segments(path)):
            if live is not None:
                live.close()
            continue
        if live is not None:
            with live:
                yield path, live
        return


def newest_first(path: Path) -> Iterator[Path]:
    """The live file, then its segments newest first (a search for a recent record). The
    segments are listed after the live file is given: one rotated meanwhile is still listed."""
    yield path
    yield from reversed(segments(path))


__all__ = ["ROTATE_ENV", "DEFAULT_ROTATE", "rotate_limit", "configured_limit", "segments", "strays",
           "segment_time", "rotate", "files", "newest_first"]
