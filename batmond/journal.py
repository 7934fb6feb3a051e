"""The crash-safe journal: checksummed append-only records, group-committed with fsync, compacted into snapshots.

Layout of the state directory::

    lock                 flock'ed by the one process that writes (the daemon, or `batmond meters set`)
    snapshot-00000007    the whole state as of the start of journal-00000007
    journal-00000007     records appended since
    snapshot-00000008    (the newest two generations are kept: a corrupted snapshot falls back to the one
    journal-00000008      before it plus both journals)

A file starts with a magic line; then frames of ``u32 length | u32 crc32 | payload`` (little endian), the
payload being one JSON object. A journal record is ``{"seq", "kind", "id", "data"}`` and holds the *whole*
current state of one (kind, id), so replaying is "last record wins", a torn batch is still consistent, and
compaction is writing the current state. ``kind`` is "meters" today; other kinds (charge-algorithm state)
are more records of the same shape.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("batmond.journal")

JOURNAL_MAGIC = b"batmond journal 1\n"
SNAPSHOT_MAGIC = b"batmond snapshot 1\n"
FRAME = struct.Struct("<II")
MAX_PAYLOAD = 1 << 20  # a length above this is garbage, not a record
COMPACT_BYTES = 1 << 20  # a journal this long is folded into a new snapshot (one more sync than a commit)
GROUP_COMMIT_INTERVAL = 1.0  # s: one fsync per interval for the whole daemon, however many BMS
LOCK_NAME = "lock"
FILE_RE = re.compile(r"^(journal|snapshot)-(\d{8})$")
RETRY_COMPACTION_AFTER = 8  # a failed compaction is tried again when the journal grew by 1/8 of COMPACT_BYTES
READ_ATTEMPTS = 3  # a reader racing a compaction that deletes a file it listed tries again

Key = tuple[str, str]  # (kind, id)
State = dict[Key, dict[str, Any]]


class JournalLocked(Exception):
    """Another process holds the state directory."""


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    key: str
    data: dict[str, Any]


@dataclass(slots=True)
class Recovery:
    state: State = field(default_factory=dict)
    seq: int = 0
    generation: int = 0  # the newest generation present
    problems: list[str] = field(default_factory=list)  # one log line each
    damaged: bool = False  # files were there but nothing could be read from them


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _payloads(data: bytes, start: int) -> Iterator[tuple[bytes, int]]:
    """Each frame's payload whose checksum holds, from ``start`` on, with the offset just after it."""
    offset = start
    while offset + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, offset)
        end = offset + FRAME.size + length
        if length > MAX_PAYLOAD or end > len(data):
            return
        payload = data[offset + FRAME.size : end]
        if zlib.crc32(payload) != crc:
            return
        yield payload, end
        offset = end


def read_frames(data: bytes, start: int, valid: Callable[[Any], bool] = lambda body: True) -> tuple[list[Any], int]:
    """The JSON objects of the good frames from ``start`` on, and the offset just after the last good one."""
    objects: list[Any] = []
    good = start
    for payload, end in _payloads(data, start):
        try:
            body = json.loads(payload)
        except ValueError:
            break
        if not valid(body):
            break
        objects.append(body)
        good = end
    return objects, good


def _generation_files(directory: Path) -> tuple[dict[int, Path], dict[int, Path], dict[int, list[Path]]]:
    """Snapshots and journals by generation, and what has their names but is no regular file (a directory)."""
    snapshots: dict[int, Path] = {}
    journals: dict[int, Path] = {}
    strays: dict[int, list[Path]] = {}
    for path in directory.iterdir():
        match = FILE_RE.match(path.name)
        if match and not path.is_file():
            strays.setdefault(int(match.group(2)), []).append(path)
        elif match:
            (journals if match.group(1) == "journal" else snapshots)[int(match.group(2))] = path
    return snapshots, journals, strays


def _load_snapshot(path: Path) -> tuple[State, int] | None:
    data = path.read_bytes()
    if not data.startswith(SNAPSHOT_MAGIC):
        return None
    objects, end = read_frames(data, len(SNAPSHOT_MAGIC))
    if len(objects) != 1 or end != len(data):
        return None
    body = objects[0]
    try:
        state = {(str(r["kind"]), str(r["id"])): dict(r["data"]) for r in body["records"]}
        return state, int(body["seq"])
    except (KeyError, TypeError, ValueError):
        return None


def _valid_record(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("seq"), int)
        and isinstance(body.get("kind"), str)
        and isinstance(body.get("id"), str)
        and isinstance(body.get("data"), dict)
    )


def _newest_seq(data: bytes) -> int:
    """The seq of a journal's last intact record, parsing that record only."""
    last = None
    for payload, _ in _payloads(data, len(JOURNAL_MAGIC)):
        last = payload
    try:
        return int(json.loads(last)["seq"]) if last is not None else 0
    except (ValueError, TypeError, KeyError):
        return 0


def _replay(path: Path, recovery: Recovery, repair: bool, before_snapshot: bool = False) -> None:
    data = path.read_bytes()
    if before_snapshot and _newest_seq(data) <= recovery.seq:
        return  # the usual case: the snapshot holds all of it
    if not data.startswith(JOURNAL_MAGIC):
        if JOURNAL_MAGIC.startswith(data):  # created but its header never made it, or truncated by someone
            recovery.problems.append(
                f"{path}: empty ({len(data)} bytes, no header): nothing replayed from it (a power cut before its "
                "first commit, or the file was truncated: records it held, if any, are lost)"
            )
            return
        good = 0
        objects: list[Any] = []
    else:
        objects, good = read_frames(data, len(JOURNAL_MAGIC), _valid_record)
    for body in objects:
        if body["seq"] > recovery.seq:
            recovery.state[(body["kind"], body["id"])] = body["data"]
            recovery.seq = body["seq"]
    if good < len(data):
        what = "cut" if repair else "ignored (being written, or damaged)"
        recovery.problems.append(
            f"{path}: {what} {len(data) - good} bytes of a torn or corrupted tail at byte {good} "
            f"(last good record: seq {recovery.seq})"
        )
        if repair:
            with open(path, "r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())


def recover(directory: Path, repair: bool = False) -> Recovery:
    """Rebuild the state from the newest readable snapshot and the journals after it.

    With ``repair`` (the writer, holding the lock) a torn tail is truncated and damaged files are renamed
    ``*.corrupt`` so they are kept but never read again; without it nothing is changed (``batmond meters``).
    """
    recovery = Recovery()
    snapshots, journals, strays = _generation_files(directory)
    recovery.generation = max([*snapshots, *journals, *strays], default=0)
    for path in (path for paths in strays.values() for path in paths):
        nature = "a directory" if path.is_dir() else "not a regular file"
        kind = path.name.split("-")[0]
        recovery.problems.append(f"{path}: is {nature}, not a {kind} file; "
                                 + (f"set aside as {path.name}.corrupt" if repair else "ignored"))  # fmt: skip
        if repair:
            _set_aside(path)
    base: int | None = None
    for generation in sorted(snapshots, reverse=True):
        loaded = _load_snapshot(snapshots[generation])
        if loaded is not None:
            recovery.state, recovery.seq = loaded
            base = generation
            break
        recovery.problems.append(f"{snapshots[generation]}: corrupted snapshot, falling back to an older one")
        if repair:
            _set_aside(snapshots[generation])
    if base is None and snapshots:
        recovery.problems.append(f"{directory}: no readable snapshot; replaying every journal that is left")
    had_content = bool(snapshots or strays) or any(p.stat().st_size > len(JOURNAL_MAGIC) for p in journals.values())
    # From the journal before the snapshot's on: a compaction that failed after its snapshot was written left
    # the writer appending there (records the snapshot already holds are skipped by their seq).
    first = base - 1 if base is not None else min(journals, default=0)
    for generation in sorted(g for g in journals if g >= first):
        _replay(journals[generation], recovery, repair, before_snapshot=base is not None and generation < base)
    if had_content and base is None and recovery.seq == 0:
        recovery.damaged = True
        recovery.problems.append(f"{directory}: nothing could be recovered; the damaged files are kept as *.corrupt")
        if repair:
            for path in journals.values():
                _set_aside(path)
    return recovery


def _set_aside(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.rename(path.with_name(path.name + ".corrupt"))


def read_state(directory: str | Path) -> Recovery:
    """The durable state, read without a lock and without changing anything (safe while the daemon runs)."""
    path = Path(directory)
    for attempt in range(READ_ATTEMPTS):
        try:
            return recover(path)
        except FileNotFoundError:
            if not path.is_dir() or attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Journal:
    """The writer. :meth:`open` takes the lock, recovers and starts a new generation; :meth:`commit` blocks
    until its records are on disk (call it from a thread: the daemon batches records for one commit a second).
    """

    def __init__(self, directory: Path, lock_fd: int, recovery: Recovery, compact_bytes: int) -> None:
        self.directory = directory
        self.state: State = recovery.state
        self.seq = recovery.seq
        self.generation = recovery.generation
        self.compact_bytes = compact_bytes
        self._lock_fd = lock_fd
        self._fd: int | None = None
        self._size = 0
        self._mutex = threading.Lock()
        self._compact_at = compact_bytes

    @classmethod
    def open(cls, directory: str | Path, compact_bytes: int = COMPACT_BYTES) -> Journal:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            recovery = recover(path, repair=True)
            for problem in recovery.problems:
                (log.error if recovery.damaged else log.warning)("journal: %s", problem)
            journal = cls(path, lock_fd, recovery, compact_bytes)
            with journal._mutex:
                journal._rotate([], journal.seq)
        except BaseException:
            os.close(lock_fd)
            raise
        log.info("journal %s: %d entries recovered up to seq %d, generation %d", path, len(journal.state),
                 journal.seq, journal.generation)  # fmt: skip
        return journal

    def commit(self, records: Iterable[Record]) -> int:
        """Make the records durable; on return they are. Raises OSError if they are not.

        Returns how many syncs it took: 1, or 2 when the journal was due for compaction (the records then go
        into the new snapshot instead of the journal). The caller paces its commits by that, so that the card
        sees at most one sync a second on average, compactions included.
        """
        records = list(records)
        if not records:
            return 0
        with self._mutex:
            seq = self.seq
            chunks = []
            for record in records:
                seq += 1
                body = {"seq": seq, "kind": record.kind, "id": record.key, "data": record.data}
                chunks.append(frame(json.dumps(body, separators=(",", ":")).encode()))
            data = b"".join(chunks)
            # A failed write left junk after the last good record, or the journal is full: start a new generation
            # that holds these records in its snapshot.
            if self._fd is None or self._size + len(data) >= self._compact_at:
                try:
                    self._rotate(records, seq)
                except OSError as exc:
                    if self._fd is None:
                        raise
                    if self._compact_at == self.compact_bytes:
                        log.warning("journal: compaction failed (%s); appending to the current journal", exc)
                    self._compact_at = self._size + len(data) + self.compact_bytes // RETRY_COMPACTION_AFTER
                else:
                    if self._compact_at != self.compact_bytes:
                        log.info("journal: compaction works again (generation %d)", self.generation)
                    self._compact_at = self.compact_bytes
                    return 2
            assert self._fd is not None
            try:
                _write_all(self._fd, data)
                os.fdatasync(self._fd)  # the size is part of the data on Linux, so the append itself is covered
            except OSError:
                self._undo_partial_write()
                raise
            self._size += len(data)
            self.seq = seq
            for record in records:
                self.state[(record.kind, record.key)] = record.data
            return 1

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def _undo_partial_write(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            os.close(self._fd)
            self._fd = None

    def _rotate(self, records: list[Record], seq: int) -> None:
        """Start generation n+1: a snapshot of the state with ``records`` applied, and an empty journal.

        Two syncs: the snapshot's data, then the directory (the snapshot's name and the new journal's). The new
        journal's header is synced with its first records; until then recovery reads it as empty. If this fails
        half-way, the writer goes on appending to journal n, which recovery replays after snapshot n+1 too.
        """
        generation = self.generation + 1
        state = self.state | {(record.kind, record.key): record.data for record in records}
        body = json.dumps(
            {"seq": seq, "records": [{"kind": kind, "id": key, "data": data} for (kind, key), data in state.items()]},
            separators=(",", ":"),
        ).encode()
        name = f"{generation:08d}"
        temporary = self.directory / f"snapshot-{name}.tmp"
        with open(temporary, "wb") as handle:
            _adopt_owner(self.directory, handle.fileno())
            handle.write(SNAPSHOT_MAGIC + frame(body))
            handle.flush()
            os.fsync(handle.fileno())
        fd = os.open(self.directory / f"journal-{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            _adopt_owner(self.directory, fd)
            _write_all(fd, JOURNAL_MAGIC)
            os.replace(temporary, self.directory / f"snapshot-{name}")
            _fsync_directory(self.directory)
        except OSError:
            os.close(fd)
            raise
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._size, self.generation = fd, len(JOURNAL_MAGIC), generation
        self.state, self.seq = state, seq
        self._drop_older_than(generation - 1)

    def _drop_older_than(self, keep: int) -> None:
        snapshots, journals, _ = _generation_files(self.directory)
        for files in (snapshots, journals):
            for generation, path in files.items():
                if generation < keep:
                    path.unlink(missing_ok=True)
        for stale in self.directory.glob("snapshot-*.tmp"):
            stale.unlink(missing_ok=True)


def _adopt_owner(directory: Path, fd: int) -> None:
    """Root running `batmond meters set` leaves files the daemon's own user can still take over."""
    if os.geteuid() == 0:
        owner = directory.stat()
        if owner.st_uid != 0:
            os.fchown(fd, owner.st_uid, owner.st_gid)


def _lock(directory: Path) -> int:
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    _adopt_owner(directory, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise JournalLocked(f"{directory} is in use by another batmond (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
