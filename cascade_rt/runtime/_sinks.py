"""Where ingested records go: a table writer (group commit) or a stream; and the HTTP endpoints.

``TableSink`` turns "write this batch and tell me when it is durable" into a ``Write`` message
carrying a promise that the writer completes at the group commit that holds it.
``PipelineEndpoint`` is what the HTTP layer (and ``Runtime.ingest``) talks to: admission through a
bounded in-flight limit with a bounded line (``_admission``: a batch either gets in and runs to
durability, or is refused with 503 before anything of it was written), then publish to the stream
or table, and the invalid records of a rejected request to the dead-letter queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pyarrow as pa

import actors

from ..ingest import Backpressure, Unavailable
from ..stream import dead_letters_for
from ..table import Flush, Maintain, Positions, Write
from ._admission import Admission

log = logging.getLogger("cascade_rt.runtime")

DEFAULT_MAX_INFLIGHT = 256
"""Requests one endpoint holds in flight before new ones wait for admission (then 503)."""
DEFAULT_MAX_WAITING = 256
"""Requests with an admission budget that may wait for a slot at once; more are answered 503 at once."""


class TableSink:
    """The durable end of a pipeline: one table's writer actor."""

    def __init__(self, name: str, writer: actors.ActorRef, *, identifier: str, catalog: Any = None) -> None:
        self.name = name
        self.writer = writer
        self.identifier = identifier
        self.catalog = catalog

    def read(self, branch: str = "main") -> pa.Table:
        """The whole table (on ``branch``) as Arrow, from the runtime's catalog. Blocking."""
        from ..table import read_branch

        return read_branch(self.catalog.load_table(self.identifier), branch)

    async def __call__(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Writes ``batch`` and returns once the group commit holding it succeeded."""
        await (await self.enqueue(batch)).wait()

    async def enqueue(self, batch: pa.RecordBatch | pa.Table) -> actors.Promise[Any]:
        """Hands ``batch`` to the writer (waiting only while its mailbox is full); returns the
        promise that the group commit holding it completes."""
        promise: actors.Promise[Any] = actors.Promise()
        await self.writer.tell(Write(batch, promise))
        return promise

    async def positions(self) -> dict[str, int]:
        """The stream positions the table has committed (a stream's log feeds it from there)."""
        result: dict[str, int] = await self.writer.ask(Positions(), timeout=60.0)
        return result

    async def write(self, batch: pa.RecordBatch, promise: actors.Promise[Any], source: tuple[str, int, int]) -> None:
        """Queues ``batch`` from a stream's log for the next group commit, exactly once."""
        await self.writer.tell(Write(batch, promise, source=source))

    async def flush(self) -> None:
        """Commits everything buffered now."""
        promise: actors.Promise[Any] = actors.Promise()
        await self.writer.tell(Flush(promise))
        await promise.wait()

    async def maintain(self, action: str = "compact") -> Any:
        """Runs a maintenance pass (``compact``, ``remove_orphans`` or ``expire_rows``) in the writer's commit
        queue, after what is buffered; returns its result."""
        promise: actors.Promise[Any] = actors.Promise()
        await self.writer.tell(Maintain(action, promise))
        return await promise.wait()


class PipelineEndpoint:
    """One ingest API as the HTTP layer and ``Runtime.ingest`` see it (``IngestEndpoint``)."""

    def __init__(self, api: Any, target: Any, *, dlq: Any = None, metrics: Any = None,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        self.api = api
        self.name: str = api.name
        self.version: str | None = api.config.version
        self.schema = api.schema
        self.format: str | None = api.format
        self.target = target  # a Stream (publish) or a TableSink (call)
        self.dlq = dlq
        self.metrics = metrics
        self.closed = False
        self.admission = Admission(self.name, max_inflight, max_waiting)

    def refusal(self) -> Backpressure | Unavailable | None:
        """What a new batch with an admission budget gets now without waiting (the HTTP layer
        asks before it reads a body), or None when it may be admitted or wait in line."""
        if self.closed:
            return Unavailable(self.name, "shutting down")
        return self.admission.refusal()

    async def admit(self, budget: float) -> object:
        """Takes room for one batch before it is decoded, waiting at most ``budget`` seconds; the
        ticket goes to :meth:`submit` and back to :meth:`release` (see ``_admission``).

        Raises:
            Backpressure: no room in time, or the line of waiting requests is full.
            Unavailable: the runtime is stopping.
        """
        if self.closed:
            raise Unavailable(self.name, "shutting down")
        ticket = object()
        await self.admission.enter(ticket, budget)
        return ticket

    def release(self, ticket: object) -> None:
        """Gives back the room :meth:`admit` took."""
        self.admission.leave(ticket)

    async def submit(self, batch: pa.RecordBatch, *, admission_timeout: float | None = None,
                     wait: str = "log", ticket: object | None = None) -> None:
        """Admits ``batch`` within ``admission_timeout`` seconds, then returns once it is durable:
        synced to the stream's log, or with ``wait="table"`` committed to the table it feeds.

        ``admission_timeout=None`` waits for room as long as it takes (``Runtime.ingest``); with a
        budget, a batch that finds the line of waiting batches full is refused at once. With a
        ``ticket`` from :meth:`admit` the batch uses that room (its caller releases it).

        Raises:
            ValueError: ``wait`` is not one the destination can take; nothing was written.
            Backpressure: no room was free in time; nothing of the batch was written.
            Unavailable: the runtime is stopping, or the destination failed before it was admitted.
        """
        if self.closed:
            raise Unavailable(self.name, "shutting down")
        if wait != "log":
            check = getattr(self.target, "check_wait", None)
            if check is not None:
                check(wait)  # ValueError: nothing was written
        started = time.perf_counter()
        if ticket is not None:
            await self._deliver(batch, wait)
        else:
            token = object()  # one borrower per call: a task may submit more than once at a time
            await self.admission.enter(token, admission_timeout)
            started = time.perf_counter()
            try:
                await self._deliver(batch, wait)
            finally:
                self.admission.leave(token)
        if self.metrics is not None:
            self.metrics.observe_commit(self.name, time.perf_counter() - started)

    async def _deliver(self, batch: pa.RecordBatch, wait: str) -> None:
        publish = getattr(self.target, "publish", None)
        try:
            if publish is not None:
                if wait == "log":
                    await publish(batch)
                else:
                    await publish(batch, wait=wait)
            else:
                await self.target(batch)
        except Exception as exc:
            # Nothing of this batch was acknowledged: the client may retry (503), whatever failed.
            if not _is_unavailable(exc):
                log.warning("ingest API %r: delivery failed: %r", self.name, exc)
            raise Unavailable(self.name, f"the write did not complete: {exc}") from exc

    async def reject(self, body: bytes, errors: list[dict[str, Any]], fmt: str) -> None:
        """Sends the invalid records of a rejected request, each with its error, to the DLQ."""
        if self.dlq is None:
            return
        records = _split_records(body, fmt, len(errors))
        await self._dead_letter(zip(records, errors, strict=False))

    async def reject_records(self, records: Sequence[Any], errors: list[dict[str, Any]]) -> None:
        """The Python-caller form of :meth:`reject`: ``errors[k]["index"]`` indexes ``records``."""
        if self.dlq is None:
            return
        pairs = []
        for error in errors:
            index = error.get("index")
            pairs.append((records[index] if isinstance(index, int) and 0 <= index < len(records) else None, error))
        await self._dead_letter(pairs)

    async def _dead_letter(self, pairs: Iterable[tuple[Any, dict[str, Any]]]) -> None:
        """One dead letter per ``(record, error)``, sent to the DLQ together."""
        source = f"ingest_api:{self.name}"
        letters = [letter for record, error in pairs
                   for letter in dead_letters_for([record], _error_text(error), source)]
        await self.dlq.send_letters(letters)


def _error_text(error: dict[str, Any]) -> str:
    index = error.get("index")
    where = f"record {index} " if index is not None else ""
    return f"{where}at {error.get('path', '$')}: {error.get('message', 'invalid')}"


def _split_records(body: bytes, fmt: str, count: int) -> list[Any]:
    """The records of ``body`` as JSON values (or raw text where they do not parse)."""
    try:
        if fmt == "NDJSON":
            return [_parse(line) for line in body.splitlines() if line.strip()]
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [body.decode("utf-8", "replace")] * max(count, 1)
    if fmt == "JSON_ARRAY" and isinstance(value, list):
        return value
    return [value] * max(count, 1)


def _parse(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return line.decode("utf-8", "replace")


def _is_unavailable(exc: BaseException) -> bool:
    from ..stream import LogFull, StreamUnavailable

    return isinstance(exc, (StreamUnavailable, LogFull, actors.ActorStopped))

