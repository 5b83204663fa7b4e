"""``TableWriter``: the one actor that commits to an Iceberg table, with group commit.

Writes are buffered and committed together when ``max_rows`` rows are waiting or ``max_delay``
seconds after the first of them arrived (an actor timer), whichever comes first, or, with
``min_interval`` set (the runtime's default), as soon as no further write is queued and at least
``min_interval`` seconds passed since the last commit began: a durable acknowledgement then costs about
one commit, not ``max_delay``, while commits stay at most ``1 / min_interval`` per second. While a commit
runs (in a worker thread, or in a process of its own with ``commit_process=True``: see
``_commit_worker``) the actor handles no message, so the writes that arrive meanwhile queue
in its mailbox and make up the next commit: the busier the table, the bigger each commit.
Every ``Write`` carrying a promise is completed at the commit that made it durable, with that
commit's :class:`CommitResult`, or with its exception.

After its commits the writer expires old snapshots by the table's retention (see
``_maintenance``), so that a table committed to several times a second keeps a bounded history
and a commit's cost does not grow with every commit before it.

A failed commit fails every write it held and then crashes the actor, so its supervisor sees
the failure and restarts it; the messages still queued in the mailbox survive the restart and
go into the next commit. Nothing whose promise succeeded is lost; a ``Write`` without promise
that was in a failed commit is lost with it (the failure is counted and reported by the crash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH

from actors import Actor

from ._commit_process import CommitProcess, check_catalog_source
from ._create import PartitionBy, ensure_table
from ._group import commit_buffered
from ._maintenance import expire_snapshots, retention_due
from ._upsert import CommitResult, commit_data, conform

if TYPE_CHECKING:
    from actors import Promise

logger = logging.getLogger("cascade_rt.table")


@dataclass(frozen=True, slots=True)
class Write:
    """Buffer ``data`` for the next group commit on ``branch``; ``promise`` gets its CommitResult."""

    data: pa.RecordBatch | pa.Table
    promise: Promise[CommitResult] | None = None
    branch: str = MAIN_BRANCH


@dataclass(frozen=True, slots=True)
class Flush:
    """Commit everything buffered now; ``promise`` gets the last CommitResult (None if nothing was buffered)."""

    promise: Promise[CommitResult | None] | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    """Upsert ``data`` on ``keys`` (default: the writer's key fields) right away, after pending writes.

    Used by batch assets: one commit for the whole batch, on ``branch``; ``promise`` gets its
    CommitResult. ``keys=()`` with a writer that does not deduplicate appends instead.
    """

    data: pa.Table | pa.RecordBatch
    keys: Sequence[str] | None = None
    branch: str = MAIN_BRANCH
    promise: Promise[CommitResult] | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """Ask message: the writer replies with its :class:`WriterStatistics`."""


@dataclass(frozen=True, slots=True)
class _Tick:
    generation: int


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """A snapshot of a writer's counters (for metrics).

    Attributes:
        table: The table identifier.
        commits: Successful commits.
        failed_commits: Commits that raised.
        rows_committed: Rows written by successful commits (after deduplication).
        last_commit_seconds: Wall time of the last commit, in seconds (0.0 before any).
        buffered_rows: Rows waiting for the next commit.
        waiting_writes: Writes waiting for the next commit.
        snapshots_expired: Snapshots expired by the writer's retention passes.
        expiry_failures: Retention passes that raised (logged; the data is unaffected).
    """

    table: str
    commits: int
    failed_commits: int
    rows_committed: int
    last_commit_seconds: float
    buffered_rows: int
    waiting_writes: int
    snapshots_expired: int = 0
    expiry_failures: int = 0


def commit_due(buffered_rows: int, first_at: float | None, now: float, *, max_rows: int, max_delay: float) -> bool:
    """The group-commit rule: commit once ``max_rows`` rows wait, or ``max_delay`` s after the first."""
    if buffered_rows <= 0 or first_at is None:
        return False
    return buffered_rows >= max_rows or now - first_at >= max_delay


STEADY_WAIT = 0.01
"""The least time the oldest buffered write waits for queued writes to join it (see below)."""


def eager_commit_due(first_at: float, now: float, queued: Callable[[], int], *, min_interval: float) -> bool:
    """The ``min_interval`` rule: commit before ``max_delay`` once no further write is queued
    (``queued()`` is 0), or once the oldest buffered write waited ``min_interval`` (under steady
    load the mailbox is seldom empty when a write is handled, and waiting for it would leave the
    writes to ``max_delay``), but never less than ``STEADY_WAIT``: the writes queued during a
    commit join the next one instead of each making its own. The caller still keeps
    ``min_interval`` between commits."""
    return now - first_at >= max(min_interval, STEADY_WAIT) or queued() == 0


@dataclass
class _Pending:
    batches: dict[str, list[pa.RecordBatch | pa.Table]] = field(default_factory=dict)
    promises: dict[str, list[Promise[CommitResult]]] = field(default_factory=dict)
    rows: int = 0
    writes: int = 0
    first_at: float | None = None


class TableWriter(Actor):
    """The single committer of one Iceberg table (spawn it with these keyword options).

    Args:
        catalog: A pyiceberg catalog, or a zero-argument callable returning one (called in a
            worker thread at each start, so a restart reconnects).
        identifier: ``"namespace.table"``.
        schema: The declared pyiceberg schema (the table is created or evolved at start).
        key_fields: Key column names; default: the schema's identifier fields.
        deduplicate: Upsert on the key fields (last write wins) instead of appending; replaced
            rows go to position delete files (merge-on-read) unless the table property
            ``write.merge.mode`` is ``copy-on-write`` (see ``commit_upsert``).
        partition_by: Partitioning, used when the table is created (see ``ensure_table``).
        order_by: Sort order field names, used when the table is created.
        max_rows: Commit once this many rows are buffered.
        max_delay: Commit at most this many seconds after the first buffered write.
        min_interval: When set, commit as soon as the mailbox holds no further write, but no sooner
            than this many seconds after the previous commit began (None: wait for ``max_rows`` or
            ``max_delay``).
        commit_process: Run the commits (and the retention passes) in a process of its own,
            started with each incarnation, instead of a worker thread: their CPU then leaves the
            event loop alone. ``catalog`` must be a picklable factory, and :meth:`commit_batches`
            is not called.

    Raises:
        ValueError: ``deduplicate=True`` without key fields, or non-positive limits.
        TypeError: ``commit_process=True`` with a catalog that cannot reach another process.
    """

    def __init__(
        self,
        *,
        catalog: Catalog | Callable[[], Catalog],
        identifier: str,
        schema: Schema,
        key_fields: Sequence[str] | None = None,
        deduplicate: bool = False,
        partition_by: PartitionBy = None,
        order_by: Sequence[str] = (),
        max_rows: int = 100_000,
        max_delay: float = 1.0,
        min_interval: float | None = None,
        commit_process: bool = False,
    ) -> None:
        if not isinstance(schema, Schema):
            raise TypeError(f"TableWriter({identifier!r}) needs a pyiceberg Schema, got {type(schema).__name__}")
        keys = list(key_fields) if key_fields is not None else list(schema.identifier_field_names())
        if deduplicate and not keys:
            raise ValueError(
                f"TableWriter({identifier!r}): deduplicate=True needs key fields; pass key_fields=[...] or "
                "declare identifier fields in the schema"
            )
        if max_rows < 1 or max_delay <= 0:
            raise ValueError(f"TableWriter({identifier!r}): max_rows must be >= 1 and max_delay > 0")
        if commit_process:
            check_catalog_source(identifier, catalog)
        self.catalog_source = catalog
        self.identifier = identifier
        self.schema = schema
        self.key_fields = keys
        self.deduplicate = deduplicate
        self.partition_by = partition_by
        self.order_by = tuple(order_by)
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.min_interval = min_interval
        self.commit_process = commit_process
        self._process: CommitProcess | None = None
        self._last_commit_start = 0.0
        self._idle_tick = -1
        self.table: Table | None = None
        self._target: tuple[int, pa.Schema] | None = None
        self._pending = _Pending()
        self._generation = 0
        self._commits = 0
        self._failed = 0
        self._rows_committed = 0
        self._last_seconds = 0.0
        self._since_expiry = 0
        self._expired = 0
        self._expiry_failures = 0

    def statistics(self) -> WriterStatistics:
        """A snapshot of the counters (also the reply to ``ask(Stats())``)."""
        return WriterStatistics(
            table=self.identifier,
            commits=self._commits,
            failed_commits=self._failed,
            rows_committed=self._rows_committed,
            last_commit_seconds=self._last_seconds,
            buffered_rows=self._pending.rows,
            waiting_writes=self._pending.writes,
            snapshots_expired=self._expired,
            expiry_failures=self._expiry_failures,
        )

    def _open(self) -> Table:
        source = self.catalog_source
        catalog = source if isinstance(source, Catalog) else source()
        return ensure_table(
            catalog, self.identifier, self.schema, partition_by=self.partition_by, order_by=self.order_by
        )

    async def started(self) -> None:
        self.table = await anyio.to_thread.run_sync(self._open)
        if self.commit_process:
            factory = cast("Callable[[], Catalog]", self.catalog_source)  # checked in __init__
            self._process = await CommitProcess.start(
                self.identifier, factory, key_fields=self.key_fields, deduplicate=self.deduplicate
            )
        # Safety net: a one-shot tick skipped because the mailbox was full must not leave
        # buffered rows waiting for the next write.
        self.schedule_every(self.max_delay, _Tick(-1))

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Write):
            return await self._write(message)
        if isinstance(message, _Tick):
            if message.generation == self._generation and self._pending.writes:
                await self._commit()
            else:
                await self._commit_if_due()
            return None
        if isinstance(message, Flush):
            try:
                results = await self._commit()
            except Exception as exc:
                if message.promise is not None:
                    message.promise.set_exception(exc)
                raise
            if message.promise is not None:
                message.promise.set_result(results[-1] if results else None)
            return results[-1] if results else None
        if isinstance(message, Merge):
            return await self._merge(message)
        if isinstance(message, Stats):
            statistics = self.statistics()
            await self._commit_if_due()
            return statistics
        raise TypeError(
            f"TableWriter({self.identifier!r}) takes Write, Flush, Merge or Stats messages, "
            f"got {type(message).__name__}"
        )

    async def stopped(self) -> None:
        # Stopping drains: whatever is still buffered is committed (or its writers failed).
        try:
            if self._pending.rows or self._pending.writes:
                await self._commit()
        finally:
            process, self._process = self._process, None
            if process is not None:
                await process.aclose()

    async def _write(self, message: Write) -> None:
        # Each write is checked against the table schema on arrival, so one bad batch fails
        # alone instead of failing the group commit it would have joined.
        try:
            if not isinstance(message.data, (pa.RecordBatch, pa.Table)):
                raise TypeError(
                    f"Write to {self.identifier!r} needs a pyarrow RecordBatch or Table, "
                    f"got {type(message.data).__name__}"
                )
            data = self._conform(message.data)
            if self.deduplicate:
                for key in self.key_fields:
                    nulls = data.column(key).null_count
                    if nulls:
                        raise ValueError(f"table {self.identifier}: key column {key!r} has {nulls} null values")
        except (TypeError, ValueError) as error:
            if message.promise is not None:
                message.promise.set_exception(error)
                return
            await self._commit()  # keep the good writes, then crash on the bad one (dead letter)
            raise
        pending = self._pending
        pending.batches.setdefault(message.branch, []).append(data)
        if message.promise is not None:
            pending.promises.setdefault(message.branch, []).append(message.promise)
        pending.rows += message.data.num_rows
        pending.writes += 1
        if pending.first_at is None:
            pending.first_at = time.monotonic()
            self.schedule_once(self.max_delay, _Tick(self._generation))
        await self._commit_if_due()

    async def _commit_if_due(self) -> None:
        """Commits (or schedules the commit of) what is buffered when a rule calls for it.

        Checked after every message, not only after writes, so neither a timer tick lost to a
        full mailbox nor a stale tick or ``Stats`` handled last leaves writes waiting for
        ``max_delay``.
        """
        pending = self._pending
        if not pending.writes or pending.first_at is None:
            return
        now = time.monotonic()
        if commit_due(pending.rows or pending.writes, pending.first_at, now, max_rows=self.max_rows,
                      max_delay=self.max_delay):
            await self._commit()
        elif self.min_interval is not None and eager_commit_due(
            pending.first_at, now, lambda: self.ref.statistics().mailbox_depth, min_interval=self.min_interval
        ):
            # Commit now, or once min_interval allows, instead of lingering until max_delay.
            wait = self._last_commit_start + self.min_interval - now
            if wait <= 0:
                await self._commit()
            elif self._idle_tick != self._generation:
                self._idle_tick = self._generation
                self.schedule_once(wait, _Tick(self._generation))

    def _conform(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        """Checks one write against the table schema, casting only what does not fit as it is
        (the table's Arrow schema is cached per schema id: building it costs ≈ 0.1 ms a write)."""
        table = self._require_table()
        schema_id = table.metadata.current_schema_id
        if self._target is None or self._target[0] != schema_id:
            self._target = (schema_id, table.schema().as_arrow())
        return conform(data, table, target=self._target[1], exact=False)

    async def _commit(self) -> list[CommitResult]:
        pending, self._pending = self._pending, _Pending()
        self._generation += 1
        if not pending.batches:
            return []
        table = self._require_table()
        began = time.perf_counter()
        self._last_commit_start = time.monotonic()
        try:
            if self._process is not None:
                results = await self._process.commit(pending.batches)
            else:
                results = await anyio.to_thread.run_sync(self.commit_batches, table, pending.batches)
        except BaseException as exc:
            self._failed += 1
            error = exc if isinstance(exc, Exception) else RuntimeError(f"commit to {self.identifier!r} cancelled")
            for promises in pending.promises.values():
                for promise in promises:
                    if not promise.done():
                        promise.set_exception(error)
            raise
        self._last_seconds = time.perf_counter() - began
        self._commits += len(results)
        for branch, result in results.items():
            self._rows_committed += result.rows_written
            for promise in pending.promises.get(branch, ()):
                if not promise.done():
                    promise.set_result(result)
        await self._maintain(table, len(results))
        return list(results.values())

    async def _maintain(self, table: Table, commits: int) -> None:
        """Expire snapshots when the retention calls for it (after the writes are acknowledged).

        A failed pass is logged and counted, never raised: the data is committed, and the next
        pass retries.
        """
        if self._process is not None:  # the process runs the pass after each commit (see _commit_worker)
            self._expired, self._expiry_failures = self._process.expired, self._process.expiry_failures
            return
        self._since_expiry += commits
        try:
            retention = retention_due(table.metadata, self._since_expiry)  # raises on a bad property
            if retention is None:
                return
            self._since_expiry = 0
            self._expired += await anyio.to_thread.run_sync(expire_snapshots, table, retention)
        except Exception as exc:
            self._expiry_failures += 1
            logger.warning("table %s: snapshot expiry failed: %s", self.identifier, exc)

    def commit_batches(self, table: Table, batches: dict[str, list[pa.Table]]) -> dict[str, CommitResult]:
        """Run one group commit (blocking; called in a worker thread), one commit per branch.

        A subclass may override it to act around each commit; raising fails the waiting writes
        and crashes the actor.
        """
        return commit_buffered(table, batches, self.key_fields, deduplicate=self.deduplicate)

    def _require_table(self) -> Table:
        if self.table is None:  # pragma: no cover - started() opens it before any message
            raise RuntimeError(f"TableWriter({self.identifier!r}) has no table: started() did not run")
        return self.table

    async def _merge(self, message: Merge) -> CommitResult:
        try:
            await self._commit()
        except Exception as exc:
            if message.promise is not None:
                message.promise.set_exception(exc)
            raise
        keys = list(message.keys) if message.keys is not None else self.key_fields
        table = self._require_table()
        began = time.perf_counter()
        self._last_commit_start = time.monotonic()
        try:
            if self._process is not None:
                result = await self._process.merge(message.data, keys, message.branch)
            else:
                result = await anyio.to_thread.run_sync(
                    lambda: commit_data(table, message.data, keys, branch=message.branch)
                )
        except Exception as exc:
            self._failed += 1
            if message.promise is not None:
                message.promise.set_exception(exc)
            raise
        self._last_seconds = time.perf_counter() - began
        self._commits += 1
        self._rows_committed += result.rows_written
        if message.promise is not None:
            message.promise.set_result(result)
        await self._maintain(table, 1)
        return result

