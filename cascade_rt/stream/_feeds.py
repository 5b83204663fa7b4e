"""The actors around a stream's durable log: its owner, the table feed and the delivery feed.

    <stream>          Supervisor
    ├── log           LogOwner: opens (recovers) the log, prunes it, closes it (stops last)
    ├── table-feed    TableFeed: the log → the destination table's writer, exactly once
    └── delivery      DeliveryFeed: the log → transforms and consumers, at least once

Each feed keeps a *position*, the offset of the next record it has not finished with, and reads
the log from there. The table feed sends each entry as a ``Write`` carrying its source
``(log:<stream>, start, end)``; the table commits the position in the same snapshot as the rows
(see ``cascade_rt.table._sources``), so on start the feed asks the writer for it and resumes there.
The delivery feed keeps its position in a file beside the log, written after each round.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

import actors

from .._threads import loop_notifier
from ._types import FeedSink, wait_all

if TYPE_CHECKING:
    from ._durable import DurableLog
    from ._stream import Stream

__all__ = ("DeliveryFeed", "LogOwner", "Progress", "TableFeed")

log = logging.getLogger("cascade_rt.stream")

PUMP = "pump"
REWIND = "rewind"
PRUNE = "prune"
PRUNE_INTERVAL = 10.0
"""Seconds between retention passes over a log."""
READ_RECORDS = 100_000
"""Records a feed reads from the log at a time."""


class Progress:
    """How far one reader of a log has got, and who waits for it to get further.

    ``position`` is the offset of the first record not yet done (committed to the table, or
    delivered). ``wait_for(end)`` returns a promise completed once ``position >= end``.
    """

    def __init__(self, position: int = 0) -> None:
        self.position = position
        self.known = False
        self._waiting: list[tuple[int, actors.Promise[int]]] = []

    def wait_for(self, end: int) -> actors.Promise[int]:
        promise: actors.Promise[int] = actors.Promise()
        if self.known and self.position >= end:
            promise.set_result(self.position)
        else:
            self._waiting.append((end, promise))
        return promise

    def advance(self, position: int) -> None:
        self.position = position
        self.known = True
        if not self._waiting:
            return
        still = []
        for end, promise in self._waiting:
            if end <= position:
                if not promise.done():
                    promise.set_result(position)
            else:
                still.append((end, promise))
        self._waiting = still

    def fail(self, error: BaseException) -> None:
        waiting, self._waiting = self._waiting, []
        for _, promise in waiting:
            if not promise.done():
                promise.set_exception(error)


class LogOwner(actors.Actor):
    """Opens the stream's log when it starts (recovering it), prunes it on a timer, closes it last."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    @property
    def log(self) -> DurableLog:
        durable = self.stream.durable
        if durable is None:  # pragma: no cover - spawned only for a stream with a log
            raise RuntimeError(f"stream {self.stream.name!r} has no log")
        return durable

    async def started(self) -> None:
        durable = self.log
        durable.failure = None
        notify = loop_notifier()
        await anyio.to_thread.run_sync(durable.open, notify)
        self.schedule_every(PRUNE_INTERVAL, PRUNE)

    async def receive(self, message: Any) -> Any:
        if message == PRUNE:
            passed = min((p.position for p in self.stream.readers()), default=self.log.end)
            return await anyio.to_thread.run_sync(self.log.prune, passed)
        return None

    async def stopped(self) -> None:
        await anyio.to_thread.run_sync(self.log.close)


class _Feed(actors.Actor):
    """What both feeds share: being woken when the log has more, at most one pump queued."""

    stream: Stream
    _queued = False

    def wake(self) -> None:
        if self._queued:
            return
        self._queued = True
        try:
            self.ref.tell_nowait(PUMP)
        except (actors.MailboxFull, actors.ActorStopped):
            self._queued = False

    async def _entries(self, start: int) -> list[tuple[int, Any]]:
        durable = self.stream.durable
        if durable is None:
            return []
        cached = durable.cached_from(start, READ_RECORDS)
        if cached is not None:
            return cached
        return await anyio.to_thread.run_sync(durable.read, start, READ_RECORDS)


class TableFeed(_Feed):
    """Feeds the stream's log into its destination table's writer, exactly once.

    Sends at most ``window`` records to the writer before their commits, so a table that cannot
    commit stops its feed (the log then grows up to its limit, and appends are refused).
    """

    def __init__(self, stream: Stream, sink: FeedSink, progress: Progress, window: int) -> None:
        self.stream = stream
        self.sink = sink
        self.progress = progress
        self.window = window
        self.key = f"log:{stream.name}"
        self.position = 0
        self.inflight: deque[tuple[int, int, actors.Promise[Any]]] = deque()
        self.inflight_rows = 0
        self._rewinding = False

    async def started(self) -> None:
        await self._rewind()
        self.stream.durable_listen("table", self.wake)
        self.wake()

    async def receive(self, message: Any) -> None:
        if message == PUMP:
            self._queued = False
            await self._pump()
        elif message == REWIND:
            await self._rewind()
            await self._pump()

    async def _rewind(self) -> None:
        positions = await self.sink.positions()
        durable = self.stream.durable
        start = durable.start if durable is not None else 0
        position = max(positions.get(self.key, start), start)
        self.position = position
        self.inflight.clear()
        self.inflight_rows = 0
        self._rewinding = False
        self.progress.advance(position)

    async def _pump(self) -> None:
        while self.inflight_rows < self.window and not self._rewinding:
            entries = await self._entries(self.position)
            if not entries:
                return
            for offset, batch in entries:
                end = offset + batch.num_rows
                promise: actors.Promise[Any] = actors.Promise()
                self.inflight.append((end, batch.num_rows, promise))
                self.inflight_rows += batch.num_rows
                self.position = end
                promise.add_done_callback(self._settled)
                await self.sink.write(batch, promise, (self.key, offset, end))

    def _settled(self, _promise: actors.Promise[Any]) -> None:
        """A write's commit finished (on the event loop): advance over what is done, in order."""
        inflight = self.inflight
        advanced = False
        while inflight and inflight[0][2].done():
            end, rows, promise = inflight.popleft()
            exc = promise.exception()
            if exc is not None:
                if not self._rewinding:
                    log.info("stream %r: table feed rewinds after a failed write: %s", self.stream.name, exc)
                    self._rewinding = True
                    try:
                        self.ref.tell_nowait(REWIND)
                    except (actors.MailboxFull, actors.ActorStopped):
                        pass
                return
            self.inflight_rows -= rows
            self.progress.advance(end)
            advanced = True
        if advanced:
            self.wake()


class DeliveryFeed(_Feed):
    """Runs the stream's transforms and consumers (and a sink that is not a table) over its log,
    at least once: the position is saved after each round, so a crash repeats at most a round."""

    def __init__(self, stream: Stream, progress: Progress, path: Path) -> None:
        self.stream = stream
        self.progress = progress
        self.position_file = path
        self.position = 0

    async def started(self) -> None:
        durable = self.stream.durable
        start = durable.start if durable is not None else 0
        saved = await anyio.to_thread.run_sync(_load_position, self.position_file)
        self.position = max(saved if saved is not None else start, start)
        self.progress.advance(self.position)
        self.stream.durable_listen("delivery", self.wake)
        self.stream.when_released(self.wake)

    async def receive(self, message: Any) -> None:
        if message != PUMP:
            return
        self._queued = False
        if self.stream.delivery_held:  # its transforms and consumers are not wired yet
            return
        while True:
            entries = await self._entries(self.position)
            if not entries:
                return
            if self.stream.has_functions():
                waiters = await self.stream.dispatch_functions(entries)
                await wait_all(waiters)
            else:
                self.stream.count_delivered(sum(batch.num_rows for _, batch in entries))
            self.position = entries[-1][0] + entries[-1][1].num_rows
            await anyio.to_thread.run_sync(_save_position, self.position_file, self.position)
            self.progress.advance(self.position)


def _load_position(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["position"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unreadable (%s); delivery starts at the log's start", path, exc)
        return None


def _save_position(path: Path, position: int) -> None:
    """Replace the position file atomically (write, sync, rename)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"position": position}))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

