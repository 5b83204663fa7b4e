"""``TableWriter``: the one actor that commits to an Iceberg table, with group commit.

The actor checks each write against the table schema when it arrives (a bad write fails alone)
and hands it to its committer, a thread that gathers writes into group commits and runs them (see
``_committer``): a group is committed once ``max_rows`` rows wait, or ``max_delay`` seconds after
its first write, or, with ``min_interval`` set (the runtime's default), as soon as
``min_interval`` seconds have passed since the previous commit began. A durable acknowledgement
then costs about one commit, not ``max_delay``, while commits stay at most ``1 / min_interval``
per second. The writes that arrive while a commit runs make up the next one: the busier the
table, the bigger each commit. The commits run in the committer thread, or in a process of their
own with ``commit_process=True`` (see ``_commit_worker``). Every ``Write`` carrying a promise is
completed at the commit that made it durable, with that commit's :class:`CommitResult`, or with
its exception.

After its commits the writer maintains its table (see ``_schedule``): it expires old snapshots
by the table's retention (``_maintenance``), so that a table committed to several times a second
keeps a bounded history and a commit's cost does not grow with every commit before it; it
compacts small data files and folds delete files into them when the table's triggers call for it
(``_compact``); and it deletes orphan files now and then (``_orphans``). All of it runs in the
commit queue, between commits, so it never conflicts with them; a ``Maintain`` message asks for a
pass now.

A failed commit fails every write it held and then crashes the actor, so its supervisor sees
the failure and restarts it. The writes queued behind the failed commit go back to the head of
the mailbox, and the messages still there survive the restart and go into the next commit.
Nothing whose promise succeeded is lost; a ``Write`` without promise that was in a failed commit
is lost with it (the failure is counted and reported by the crash).
"""

from __future__ import annotations

import functools
import logging
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

from .._threads import loop_notifier
from ._commit_process import CommitProcess, check_catalog_source
from ._committer import Barrier, Committer, Entry, barrier_waiter, reject
from ._create import PartitionBy, ensure_table
from ._group import commit_buffered
from ._schedule import Maintainer, MaintenanceCounters
from ._sources import Source, positions_in
from ._upsert import CommitResult, commit_data, conform

if TYPE_CHECKING:
    from actors import Promise

logger = logging.getLogger("cascade_rt.table")


BACKLOG_GROUPS = 2
"""Groups of ``max_rows`` rows a writer lets wait for commits (one committing, one gathering)
before it stops reading its mailbox until they are committed."""


@dataclass(frozen=True, slots=True)
class Write:
    """Buffer ``data`` for the next group commit on ``branch``; ``promise`` gets its CommitResult.

    ``source`` (``(key, start, end)``, see ``_sources``) marks a write fed from a stream: it is
    committed exactly once, with its position, or its promise gets None (committed before) or
    :class:`SourceGap` (records before it are missing: the feed rewinds).
    """

    data: pa.RecordBatch | pa.Table
    promise: Promise[CommitResult] | None = None
    branch: str = MAIN_BRANCH
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Positions:
    """Ask for the stream positions the table has committed: ``{key: end offset}``."""


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
class Maintain:
    """Run a maintenance pass now, after pending writes, in the commit queue.

    ``action`` is ``"compact"`` (``promise`` gets a ``CompactionResult``) or ``"remove_orphans"``
    (an ``OrphanResult``). A failed pass fails the promise only; the writer goes on.
    """

    action: str = "compact"
    promise: Promise[Any] | None = None

    def __post_init__(self) -> None:
        if self.action not in ("compact", "remove_orphans"):
            raise ValueError(f"Maintain(action=...) must be 'compact' or 'remove_orphans', got {self.action!r}")


@dataclass(frozen=True, slots=True)
class Stats:
    """Ask message: the writer replies with its :class:`WriterStatistics`."""


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """A snapshot of a writer's counters (for metrics).

    Attributes:
        table: The table identifier.
        commits: Successful commits.
        failed_commits: Commits that raised.
        rows_committed: Rows written by successful commits (after deduplication).
        last_commit_seconds: Wall time of the last commit, in seconds (0.0 before any).
        buffered_rows: Rows waiting for their commit (queued, or in the commit running now).
        waiting_writes: Writes waiting for their commit.
        snapshots_expired: Snapshots expired by the writer's retention passes.
        expiry_failures: Retention passes that raised (logged; the data is unaffected).
        maintenance: Every maintenance counter (compaction, orphan cleanup, expiry).
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
    maintenance: MaintenanceCounters = field(default_factory=MaintenanceCounters)


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
        min_interval: When set, commit as soon as this many seconds have passed since the
            previous commit began (None: wait for ``max_rows`` or ``max_delay``).
        commit_process: Run the commits (and the retention passes) in a process of its own,
            started with each incarnation, instead of in the committer thread: their CPU then
            leaves the event loop alone. ``catalog`` must be a picklable factory, and :meth:`commit_batches`
            is not called.
        maintenance_counters: A dict the writer keeps its :class:`MaintenanceCounters` in, under
            ``identifier``, after each maintenance pass (read by metrics from any thread).

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
        maintenance_counters: dict[str, MaintenanceCounters] | None = None,
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
        self._committer: Committer | None = None
        self._barrier_done: Callable[[CommitResult | None, BaseException | None], None] | None = None
        self.table: Table | None = None
        self._target: tuple[int, pa.Schema] | None = None
        self._maintainer = Maintainer(identifier)
        self._maintenance = MaintenanceCounters()
        self._published = maintenance_counters

    def statistics(self) -> WriterStatistics:
        """A snapshot of the counters of this incarnation (also the reply to ``ask(Stats())``)."""
        c = self._committer
        return WriterStatistics(
            table=self.identifier,
            commits=c.commits if c else 0,
            failed_commits=c.failed_commits if c else 0,
            rows_committed=c.rows_committed if c else 0,
            last_commit_seconds=c.last_commit_seconds if c else 0.0,
            buffered_rows=c.waiting_rows if c else 0,
            waiting_writes=c.waiting_writes if c else 0,
            snapshots_expired=self._maintenance.snapshots_expired,
            expiry_failures=self._maintenance.expiry_failures,
            maintenance=self._maintenance,
        )

    def positions(self) -> dict[str, int]:
        """The stream positions committed so far (also the reply to ``ask(Positions())``)."""
        return dict(self._require_committer().positions)

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
        snapshot = self.table.current_snapshot()
        self._committer = Committer(
            self.identifier, commit=self._commit_group, merge=self._merge_data, maintain=self._maintain,
            notify=loop_notifier(), on_failure=self._on_failure, max_rows=self.max_rows, max_delay=self.max_delay,
            min_interval=self.min_interval,
            positions=positions_in(snapshot.summary.additional_properties if snapshot and snapshot.summary else None),
        )
        self._committer.start()

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Write):
            return await self._write(message)
        if isinstance(message, Flush):
            return await self._settle(message.promise, Barrier)
        if isinstance(message, Merge):
            keys = list(message.keys) if message.keys is not None else self.key_fields
            merge = (message.data, keys, message.branch)
            return await self._settle(message.promise, functools.partial(Barrier, merge=merge))
        if isinstance(message, Maintain):
            run = self._maintenance_pass(message.action)
            return await self._settle(message.promise, functools.partial(Barrier, run=run))
        if isinstance(message, Stats):
            return self.statistics()
        if isinstance(message, Positions):
            return self.positions()
        raise TypeError(
            f"TableWriter({self.identifier!r}) takes Write, Flush, Merge, Maintain, Stats or Positions messages, "
            f"got {type(message).__name__}"
        )

    async def stopped(self) -> None:
        # Stopping drains: whatever is still queued is committed (or its writers failed). After a
        # failed commit the committer has stopped: what it never tried goes back to the mailbox.
        committer = self._committer
        try:
            if committer is not None:
                failed_before = committer.failure is not None
                if not failed_before:
                    try:
                        await self._settle(None, functools.partial(Barrier, stop=True))
                    except Exception as exc:  # its writes failed with it
                        logger.warning("table %s: the last commit failed: %s", self.identifier, exc)
                if committer.failure is not None:
                    leftovers = committer.leftovers()
                    if failed_before:  # a crash: the next incarnation commits them
                        self.requeue(Write(entry.data, entry.promise, entry.branch, entry.source)
                                     for entry in leftovers)
                    else:  # stopping: nobody will
                        reject(leftovers, None, committer.failure)
                await anyio.to_thread.run_sync(committer.join)
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
            await self._settle(None, Barrier)  # keep the good writes, then crash on the bad one (dead letter)
            raise
        committer = self._require_committer()
        committer.put(Entry(message.branch, data, message.promise, message.source))
        if committer.waiting_rows >= BACKLOG_GROUPS * self.max_rows:
            # Backpressure: stop reading until what waits is committed, so that the mailbox fills
            # and its senders wait, instead of the committer's queue growing without bound.
            try:
                await self._settle(None, Barrier)
            except Exception:  # a commit failed: the crash follows, and this write is requeued
                return

    async def _settle(self, promise: Promise[Any] | None, barrier: Callable[..., Barrier]) -> Any:
        """Queues a barrier (``Barrier(done)`` with its other arguments bound) and waits until
        everything before it is committed (and its merge made); completes ``promise`` with the
        outcome as well, and returns it."""
        committer = self._require_committer()
        if committer.failure is not None:
            raise committer.failure
        waiter, done = barrier_waiter()
        self._barrier_done = done
        committer.put(barrier(done))
        try:
            result = await waiter.wait()
        except Exception as exc:
            if promise is not None and not promise.done():
                promise.set_exception(exc)
            raise
        if promise is not None and not promise.done():
            promise.set_result(result)
        return result

    def _on_failure(self, error: BaseException) -> None:
        """A commit failed (on the event loop): a barrier still queued will not be reached, so its
        waiter fails now; then the actor crashes."""
        done, self._barrier_done = self._barrier_done, None
        if done is not None:
            done(None, error)
        self.crash(error)

    def _conform(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        """Checks one write against the table schema, casting only what does not fit as it is
        (the table's Arrow schema is cached per schema id: building it costs ≈ 0.1 ms a write)."""
        table = self._require_table()
        schema_id = table.metadata.current_schema_id
        if self._target is None or self._target[0] != schema_id:
            self._target = (schema_id, table.schema().as_arrow())
        return conform(data, table, target=self._target[1], exact=False)

    # -- in the committer thread -----------------------------------------------------------------

    def _commit_group(self, batches: dict[str, list[pa.Table]], properties: dict[str, str]) -> dict[str, CommitResult]:
        if self._process is not None:
            return self._process.commit(batches, properties)
        return self.commit_batches(self._require_table(), batches, properties=properties)

    def _merge_data(self, data: pa.Table, keys: Sequence[str], branch: str, properties: dict[str, str]) -> CommitResult:
        if self._process is not None:
            return self._process.merge(data, keys, branch, properties)
        return commit_data(self._require_table(), data, keys, branch=branch, properties=properties)

    def _maintain(self, commits: int) -> None:
        """The maintenance due after ``commits`` commits (after the writes are acknowledged; 0:
        an idle tick; see ``_schedule``). A failed pass is logged and counted, never raised."""
        if self._process is None:  # else the process runs it after each commit (see _commit_worker)
            self._maintainer.after_commits(self._require_table(), commits)
        elif commits == 0:  # an idle tick: the process runs the idle maintenance
            try:
                self._process.idle()
            except Exception as exc:  # a dead process fails the next commit, which restarts it
                logger.warning("table %s: idle maintenance failed: %s", self.identifier, exc)
        self._publish()

    def _publish(self) -> None:
        self._maintenance = self._process.maintenance if self._process is not None else self._maintainer.counters
        if self._published is not None:
            self._published[self.identifier] = self._maintenance

    def _maintenance_pass(self, action: str) -> Callable[[], Any]:
        """The pass a ``Maintain`` message asks for (checked when it was made), to run in the committer thread."""

        def run() -> Any:
            try:
                if self._process is not None:
                    return getattr(self._process, action)()
                return getattr(self._maintainer, action)(self._require_table())
            finally:
                self._publish()

        return run

    def commit_batches(self, table: Table, batches: dict[str, list[pa.Table]], *,
                       properties: dict[str, str] | None = None) -> dict[str, CommitResult]:
        """Run one group commit (blocking; called in the committer thread), one commit per branch;
        main's snapshot summary gets ``properties`` (the stream positions, when the table has any).

        A subclass may override it to act around each commit; raising fails the waiting writes
        and crashes the actor.
        """
        return commit_buffered(table, batches, self.key_fields, deduplicate=self.deduplicate,
                               properties=properties)

    def _require_table(self) -> Table:
        if self.table is None:  # pragma: no cover - started() opens it before any message
            raise RuntimeError(f"TableWriter({self.identifier!r}) has no table: started() did not run")
        return self.table

    def _require_committer(self) -> Committer:
        if self._committer is None:  # pragma: no cover - started() starts it before any message
            raise RuntimeError(f"TableWriter({self.identifier!r}) has no committer: started() did not run")
        return self._committer
