"""``DurableLog``: a stream's append-only log on local disk, synced in groups.

The log is a directory of segment files (see ``_segment``). ``append`` writes an entry to the
newest segment at once, on the event loop (one ``write`` call, no await), and returns a promise
that a syncer thread completes once an ``fdatasync`` covers the entry: the appends made while one
sync runs are covered by the next, so one sync serves many requests (group sync) and a lone
request waits for one sync (a fraction of a millisecond on a local SSD). Only synced records are
ever read (``read``), so nothing a reader acted on can vanish in a crash.

Readers (the table feeding from the stream, the transforms and consumers) keep their own positions;
``prune`` deletes the segments every reader has passed once they are older than the stream's
retention. The newest records are also kept decoded in memory (``cache_records``), so readers that
keep up never touch the disk.

Faults: a write that fails (a full disk, ``EFBIG``) is cut back off the segment and raises
:class:`LogFull`: nothing of it was acknowledged. Past ``max_bytes`` on disk, appends raise
:class:`LogFull` too (the readers are behind: a table that cannot commit). A failed sync fails
every waiting append and the log: it must be reopened (the stream's log actor restarts), which
scans the newest segment again and cuts a torn tail.

Why plain files: the log needs append, group sync, a checksum per entry, reads from a position and
whole-file deletion. SQLite (in the standard library, WAL mode) would add a B-tree and a
checkpointer to each append and cannot drop old records without vacuuming; an embedded broker
(Kafka, Redpanda) is a server to run. A few hundred lines of framing over ``os.write`` and
``os.fdatasync`` do exactly what is needed, and Arrow IPC is the framing of the data itself.
"""

from __future__ import annotations

import bisect
import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

import actors

from .._threads import Notify
from ._errors import StreamError
from ._log import newest
from ._segment import encode_entry, read_entries, scan, schema_bytes, segment_base, segment_name

__all__ = ("DEFAULT_MAX_BYTES", "DurableLog", "LogFull", "LogStatistics")

log = logging.getLogger("cascade_rt.stream")

DEFAULT_MAX_BYTES = 8 * 1024**3
"""Bytes a stream's log may hold on disk before appends are refused (the readers are behind)."""
DEFAULT_SEGMENT_BYTES = 64 * 1024**2
"""Size past which the log starts a new segment file."""
DEFAULT_CACHE_RECORDS = 500_000
"""Newest records the log keeps decoded in memory for its readers."""


class LogFull(StreamError):
    """The log could not take an append (disk full, or past its size limit); nothing was written.

    ``reason`` says which; ``retry_after`` is the seconds a client should wait (``Retry-After``).
    """

    def __init__(self, message: str, *, stream: str, reason: str, retry_after: float = 5.0) -> None:
        super().__init__(message, stream=stream)
        self.reason = reason
        self.retry_after = retry_after


def _entry_offset(entry: tuple[int, pa.RecordBatch, float]) -> int:
    return entry[0]


@dataclass(slots=True)
class _Segment:
    base: int
    path: Path
    end: int
    newest: float
    size: int


@dataclass(frozen=True, slots=True)
class LogStatistics:
    """A snapshot of a log: offsets, bytes on disk, segments, and what recovery found."""

    start: int
    end: int
    synced: int
    bytes: int
    segments: int
    torn_entries_cut: int


class DurableLog:
    """The durable log of one stream (see the module docstring). Blocking methods say so.

    Args:
        name: The stream, for messages.
        directory: Where the segment files live (created).
        retention_period: Seconds a segment is kept after its newest entry (None: until every
            reader has passed it).
        max_bytes: Bytes on disk past which appends raise :class:`LogFull`.
        segment_bytes: Size past which a new segment is started.
        cache_records: Newest records kept decoded in memory.
        clock: Wall-clock seconds (entry times, retention; tests pass a fake one).
    """

    def __init__(
        self,
        name: str,
        directory: str | os.PathLike[str],
        *,
        retention_period: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        cache_records: int = DEFAULT_CACHE_RECORDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1 or segment_bytes < 1:
            raise ValueError(f"stream {name!r}: max_bytes and segment_bytes must be >= 1")
        self.name = name
        self.directory = Path(directory)
        self.retention_period = retention_period
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.cache_records = cache_records
        self.clock = clock
        self.torn_entries_cut = 0
        self.failure: BaseException | None = None
        self._segments: list[_Segment] = []
        self._fd = -1
        self._dir_fd = -1
        self._end = 0
        self._synced = 0
        self._bytes = 0
        self._cache: deque[tuple[int, pa.RecordBatch, float]] = deque()
        self._cached = 0
        self._waiting: deque[tuple[int, actors.Promise[int]]] = deque()
        self._listeners: dict[str, Callable[[], object]] = {}
        self._lock = threading.Condition()
        self._retired: list[int] = []
        self._dir_dirty = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._notify: Notify | None = None
        self._schema: pa.Schema | None = None  # the schema the newest segment holds last

    # -- opening and closing (blocking) ---------------------------------------------------------

    def open(self, notify: Notify) -> None:
        """Recover the log from its directory and start the syncer thread. Blocking.

        The newest segment is scanned entry by entry: a torn or corrupt tail is cut off (logged,
        counted in ``torn_entries_cut``), and everything before it stays.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._dir_fd = os.open(self.directory, os.O_RDONLY)
        found = sorted((b, p) for p in self.directory.iterdir() if (b := segment_base(p)) is not None)
        for i, (base, path) in enumerate(found):
            stat = path.stat()
            end = found[i + 1][0] if i + 1 < len(found) else base
            self._segments.append(_Segment(base, path, end, stat.st_mtime, stat.st_size))
        if self._segments:
            self._recover_newest(self._segments[-1])
        else:
            self._start_segment(0)
        newest = self._segments[-1]
        self._fd = os.open(newest.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._end = self._synced = newest.end
        self._bytes = sum(s.size for s in self._segments)
        self._warm_cache()
        self._notify = notify
        self._thread = threading.Thread(target=self._sync_loop, name=f"log sync of {self.name}", daemon=True)
        self._thread.start()

    def _recover_newest(self, segment: _Segment) -> None:
        data = segment.path.read_bytes()
        found = scan(data, segment.base)
        if found.entries:
            segment.end = found.entries[-1].end
            segment.newest = found.entries[-1].timestamp
        if found.problem is not None:
            cut = len(data) - found.valid_bytes
            self.torn_entries_cut += 1
            log.warning(
                "stream %r: %s in %s; cut %d bytes after the last good entry (offset %d); %d records "
                "before it are kept", self.name, found.problem, segment.path.name, cut, segment.end,
                segment.end - self._segments[0].base,
            )
            with open(segment.path, "r+b") as f:
                f.truncate(found.valid_bytes)
                os.fsync(f.fileno())
        segment.size = found.valid_bytes

    def _warm_cache(self) -> None:
        """Load the newest records on disk (up to ``cache_records``) into memory: after a restart,
        peeks (``tail``) see what the log retains, and readers near the end read no files."""
        start = max(self.start, self._synced - self.cache_records)
        for segment in self._segments:
            if segment.end <= start or segment.size == 0:
                continue
            for info, batch in read_entries(segment.path, segment.base, start):
                self._cache.append((info.offset, batch, info.timestamp))
                self._cached += batch.num_rows

    def _start_segment(self, base: int) -> None:
        path = self.directory / segment_name(base)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.close(fd)
        self._segments.append(_Segment(base, path, base, self.clock(), 0))
        os.fsync(self._dir_fd)

    def close(self) -> None:
        """Sync what was appended, stop the syncer and close the files. Blocking; idempotent."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for fd in (self._fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._dir_fd = -1

    # -- appending (on the event loop) -----------------------------------------------------------

    def append(self, batch: pa.RecordBatch) -> tuple[int, actors.Promise[int]]:
        """Write ``batch`` as one entry; return its first offset and a promise of the synced end.

        Never awaits. The promise completes (on the event loop) with the offset after the batch
        once a sync covers it, or fails with the sync's error.

        Raises:
            LogFull: the disk is full or the log is past ``max_bytes``; nothing was written.
            StreamError: the log failed (a sync error) or is closed.
        """
        if self.failure is not None or self._fd < 0:
            raise StreamError(f"stream {self.name!r}: the log is not open ({self.failure or 'closed'})",
                              stream=self.name) from self.failure
        if self._bytes >= self.max_bytes:
            raise LogFull(
                f"stream {self.name!r}: the log holds {self._bytes} bytes, its limit is {self.max_bytes} "
                "(its tables are behind); nothing was written", stream=self.name, reason="log size limit")
        offset, now = self._end, self.clock()
        schema = batch.schema
        same = self._schema is not None and (schema is self._schema or schema.equals(self._schema))
        entry = encode_entry(offset, batch, now, b"" if same else schema_bytes(schema))
        segment = self._segments[-1]
        try:
            written = os.write(self._fd, entry)
            if written != len(entry):
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(entry)} bytes)")
        except OSError as exc:
            os.ftruncate(self._fd, segment.size)  # never leave part of an entry behind
            if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise LogFull(f"stream {self.name!r}: the disk under {self.directory} is full ({exc.strerror}); "
                              "nothing was written", stream=self.name, reason="disk full") from exc
            raise StreamError(f"stream {self.name!r}: writing the log failed: {exc}", stream=self.name) from exc
        end = offset + batch.num_rows
        self._schema = schema
        segment.size += len(entry)
        segment.end = end
        segment.newest = now
        self._bytes += len(entry)
        self._cache.append((offset, batch, now))
        self._cached += batch.num_rows
        while self._cached - self._cache[0][1].num_rows >= self.cache_records:
            self._cached -= self._cache.popleft()[1].num_rows
        promise: actors.Promise[int] = actors.Promise()
        self._waiting.append((end, promise))
        with self._lock:
            self._end = end
            if segment.size >= self.segment_bytes:
                self._roll(end)
            self._lock.notify()
        return offset, promise

    def _roll(self, base: int) -> None:
        """Start a new segment at ``base`` (under the lock); the syncer syncs and closes the old one."""
        self._retired.append(self._fd)
        path = self.directory / segment_name(base)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segments.append(_Segment(base, path, base, self.clock(), 0))
        self._schema = None  # each segment carries its own schema
        self._dir_dirty = True

    def listen(self, name: str, callback: Callable[[], object]) -> None:
        """Call ``callback()`` on the event loop each time more records are synced; one callback
        per ``name`` (a restarted reader replaces its own)."""
        self._listeners[name] = callback

    # -- the syncer thread -----------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while True:
            with self._lock:
                while self._end <= self._synced and not self._retired and not self._closing:
                    self._lock.wait()
                target, fd, retired, dir_dirty = self._end, self._fd, self._retired, self._dir_dirty
                self._retired, self._dir_dirty = [], False
                closing = self._closing and target <= self._synced and not retired
            if closing:
                return
            try:
                for old in retired:
                    os.fdatasync(old)
                    os.close(old)
                os.fdatasync(fd)
                if dir_dirty:
                    os.fsync(self._dir_fd)
            except OSError as exc:
                self._failed(exc)
                return
            self._synced = target
            if self._notify is not None:
                self._notify(self._on_synced)

    def _failed(self, exc: OSError) -> None:
        error = StreamError(f"stream {self.name!r}: syncing the log failed: {exc}; nothing unsynced was "
                            "acknowledged", stream=self.name)
        self.failure = error
        if self._notify is not None:
            self._notify(self._fail_waiting)

    def _fail_waiting(self) -> None:
        waiting, self._waiting = self._waiting, deque()
        for _, promise in waiting:
            if not promise.done():
                promise.set_exception(self.failure or StreamError("log failed", stream=self.name))

    def _on_synced(self) -> None:
        synced, waiting = self._synced, self._waiting
        while waiting and waiting[0][0] <= synced:
            end, promise = waiting.popleft()
            if not promise.done():
                promise.set_result(end)
        for listener in list(self._listeners.values()):
            listener()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def start(self) -> int:
        """The first offset still in the log."""
        return self._segments[0].base if self._segments else 0

    @property
    def end(self) -> int:
        """The offset after the last record appended."""
        return self._end

    @property
    def synced(self) -> int:
        """The offset after the last record synced to disk (what readers may read)."""
        return self._synced

    def timestamp_at(self, offset: int) -> float | None:
        """When the entry holding ``offset`` was appended, if it is in memory (for lag in seconds)."""
        for start, batch, when in self._cache:
            if start <= offset < start + batch.num_rows:
                return when
        return None

    def cached_from(self, start: int, max_records: int) -> list[tuple[int, pa.RecordBatch]] | None:
        """Synced entries from ``start`` (at most ``max_records`` records, at least one entry),
        out of memory; None when ``start`` is older than what memory holds (use :meth:`read`)."""
        cache, synced = self._cache, self._synced
        if start >= synced:
            return []
        if not cache or cache[0][0] > start:
            return None
        out: list[tuple[int, pa.RecordBatch]] = []
        taken = 0
        # Entries are in offset order: find the one holding ``start`` by bisection, not by a walk
        # from the oldest (the cache holds thousands of entries, and the table's feed reads it on
        # the event loop after every sync: a walk took a fifth of the server's time under overload).
        first = bisect.bisect_right(cache, start, key=_entry_offset) - 1
        for index in range(first, len(cache)):
            offset, batch, _ = cache[index]
            end = offset + batch.num_rows
            if end <= start:
                continue
            if end > synced or (out and taken + batch.num_rows > max_records):
                break
            if offset < start:
                batch, offset = batch.slice(start - offset), start
            out.append((offset, batch))
            taken += batch.num_rows
        return out

    def read(self, start: int, max_records: int) -> list[tuple[int, pa.RecordBatch]]:
        """Synced entries from ``start``, from memory or else from the segment files. Blocking."""
        cached = self.cached_from(start, max_records)
        if cached is not None:
            return cached
        start = max(start, self.start)
        synced = self._synced
        out: list[tuple[int, pa.RecordBatch]] = []
        taken = 0
        for segment in list(self._segments):
            if segment.end <= start or segment.base >= synced:
                continue
            for info, batch in read_entries(segment.path, segment.base, start):
                if info.end > synced or (out and taken + info.records > max_records):
                    return out
                offset = info.offset
                if offset < start:
                    batch, offset = batch.slice(start - offset), start
                out.append((offset, batch))
                taken += batch.num_rows
            if taken >= max_records:
                break
        return out

    def tail(self, limit: int | None = None) -> list[pa.RecordBatch]:
        """The newest records in memory (also after a restart: the newest ``cache_records`` on
        disk are loaded when the log opens), oldest first (at most ``limit``), for peeking."""
        batches = [batch for _, batch, _ in self._cache]
        return batches if limit is None else newest(batches, limit)

    # -- retention -------------------------------------------------------------------------------

    def prune(self, passed: int) -> int:
        """Delete the segments every reader has passed (all their records are before ``passed``)
        and whose newest entry is older than the retention period; never the newest segment.
        Returns the segments deleted. Blocking (unlinks files)."""
        horizon = None if self.retention_period is None else self.clock() - self.retention_period
        removed = 0
        while len(self._segments) > 1:
            oldest = self._segments[0]
            if oldest.end > passed or (horizon is not None and oldest.newest > horizon):
                break
            oldest.path.unlink(missing_ok=True)
            self._segments.pop(0)
            self._bytes -= oldest.size
            removed += 1
        if removed:
            os.fsync(self._dir_fd)
        return removed

    def statistics(self) -> LogStatistics:
        """A snapshot of the log's offsets and size."""
        return LogStatistics(self.start, self._end, self._synced, self._bytes, len(self._segments),
                             self.torn_entries_cut)

