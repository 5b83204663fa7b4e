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

A table with a TTL (``ttl=``, the table property ``cascade.ttl``; see ``_ttl``) also has its
expired rows deleted every ``cascade.ttl.interval-ms`` (default a minute), by a pass queued in the
commit queue like the others: readers stop seeing a row at the first pass after it expired.

A commit that fails because of a value it carries (a poison record: see ``_poison``) does not
fail its group: the writer finds the offending rows with dry runs, sends exactly those to its
``dead_letter`` target (a dead-letter queue, with the error, naming the table and the column when
known; logged and counted in ``poison_rows`` when there is none), commits the other rows once
and answers every write of the group as committed. A write fed from a stream's log has its
position committed all the same, so the feed does not read the poison records again.

Any other failed commit (the disk, the catalog) fails every write it held and then crashes the
actor, so its supervisor sees the failure and restarts it. The writes queued behind the failed
commit go back to the head of the mailbox, and the messages still there survive the restart and go into the next commit.
Nothing whose promise succeeded is lost; a ``Write`` without promise that was in a failed commit
is lost with it (the failure is counted and reported by the crash).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import msgspec
import orjson
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
from ._poison import Poison
from ._schedule import Maintainer, MaintenanceCounters
from ._sources import Source, committed_positions
from ._ttl import (
    COLUMN_TTL_PROPERTY,
    TTL_PROPERTY,
    Ttl,
    TtlResult,
    column_ttl_property,
    column_ttls,
    expire_rows,
    parse_ttl,
    table_ttl,
    ttl_interval,
)
from ._upsert import CommitResult, commit_data, conform
from ._versions import DELETED_PROPERTY, VERSION_PROPERTY

if TYPE_CHECKING:
    from actors import Promise

logger = logging.getLogger("cascade_rt.table")


LOGGED_RECORDS = 10
"""Poison records a writer without dead-letter queue logs of each set (as JSON), before it drops them."""

BACKLOG_GROUPS = 2
"""Groups of ``max_rows`` rows a writer lets wait for commits (one committing, one gathering)
before it stops reading its mailbox until they are committed."""


class DeadLetterTarget(Protocol):
    """Where a writer sends poison records: a ``DeadLetterQueue`` is one."""

    async def send(self, records: Any, error: BaseException | str, source: str, *,
                   error_type: str | None = None) -> Any: ...


DeadLetter = DeadLetterTarget | Callable[..., Any]
"""A :class:`DeadLetterTarget`, or a callable taking the same arguments as its ``send`` (plain or async)."""


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

    ``action`` is ``"compact"`` (``promise`` gets a ``CompactionResult``), ``"remove_orphans"``
    (an ``OrphanResult``) or ``"expire_rows"`` (a TTL pass: a ``TtlResult``). A failed pass fails
    the promise only; the writer goes on.
    """

    action: str = "compact"
    promise: Promise[Any] | None = None

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(
                f"Maintain(action=...) must be 'compact' or 'remove_orphans' (or 'expire_rows', a TTL pass), "
                f"got {self.action!r}"
            )


_ACTIONS = ("compact", "remove_orphans", "expire_rows")


@dataclass(frozen=True, slots=True)
class _ExpireTick:
    """The writer's own timer: queue a TTL pass."""


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
        poison_rows: Rows left out of commits that failed because of them (sent to the
            dead-letter target, or logged when there is none).
        rows_expired: Rows deleted by TTL passes.
        ttl_failures: TTL passes that raised (logged; the next pass retries).
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
    poison_rows: int = 0
    rows_expired: int = 0
    ttl_failures: int = 0


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
        version_field: With ``deduplicate``, the row with the greatest value of this column wins
            instead of the last one, against the stored rows too (see ``_versions``).
        deleted_field: With ``version_field``, a winning row whose value here is non-zero (or
            true) deletes its key.
        ttl: Row retention: a ``Ttl`` or a ClickHouse TTL expression (``"ts + INTERVAL 90 DAY"``,
            see ``parse_ttl``); expired rows are deleted every ``cascade.ttl.interval-ms``.
        column_ttls: Column TTLs, ``{column: Ttl or expression}``: the values of ``column``
            expired by its TTL are cleared (null, or the type's zero) at the same passes.
            These four are kept as table properties (``cascade.upsert.version-column``,
            ``cascade.upsert.deleted-column``, ``cascade.ttl``, ``cascade.ttl.columns``), set or
            removed at each start.
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
        dead_letter: Where the rows that make a commit fail go (see the module docstring): a
            ``DeadLetterQueue`` (anything with its async ``send``), or a callable taking the same
            arguments, plain or async; each record with ``source`` ``"<identifier>.commit"``, the
            error's message and type. The commit of the other rows waits until they are sent.
            None: they are logged (logger ``cascade_rt.table``, the first ``LOGGED_RECORDS`` of each
            set as JSON) and counted, and dropped.

    Raises:
        ValueError: ``deduplicate=True`` without key fields, non-positive limits, a deleted
            field without a version field, a version field without ``deduplicate``, a TTL
            expression ``parse_ttl`` refuses, or a field the schema lacks.
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
        dead_letter: DeadLetter | None = None,
        version_field: str | None = None,
        deleted_field: str | None = None,
        ttl: Ttl | str | None = None,
        column_ttls: Mapping[str, Ttl | str] | None = None,
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
        if deleted_field is not None and version_field is None:
            raise ValueError(f"TableWriter({identifier!r}): deleted_field needs a version_field (as is_deleted needs ver)")
        if version_field is not None and not deduplicate:
            raise ValueError(f"TableWriter({identifier!r}): version_field needs deduplicate=True (an upsert on the key)")
        if isinstance(ttl, str):
            ttl = parse_ttl(ttl)
        columns = {c: parse_ttl(t) if isinstance(t, str) else t for c, t in (column_ttls or {}).items()}
        for role, name in (("version_field", version_field), ("deleted_field", deleted_field),
                           ("ttl", ttl.column if ttl is not None else None),
                           *(("column TTL", c) for c in columns), *(("column TTL", t.column) for t in columns.values())):
            if name is not None and name not in schema.column_names:
                raise ValueError(f"TableWriter({identifier!r}): {role} {name!r} is not a field of the schema")
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
        self.dead_letter = dead_letter
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self.version_field = version_field
        self.deleted_field = deleted_field
        self.ttl = ttl
        self.column_ttls = columns
        self._rows_expired = 0
        self._ttl_failures = 0
        self._ttl_pending = False

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
            poison_rows=c.poison_rows if c else 0,
            rows_expired=self._rows_expired,
            ttl_failures=self._ttl_failures,
        )

    def positions(self) -> dict[str, int]:
        """The stream positions committed so far (also the reply to ``ask(Positions())``)."""
        return dict(self._require_committer().positions)

    def _open(self) -> Table:
        source = self.catalog_source
        catalog = source if isinstance(source, Catalog) else source()
        owned = {
            VERSION_PROPERTY: self.version_field,
            DELETED_PROPERTY: self.deleted_field,
            TTL_PROPERTY: self.ttl.property if self.ttl is not None else None,
            COLUMN_TTL_PROPERTY: column_ttl_property(self.column_ttls),
        }
        return ensure_table(
            catalog, self.identifier, self.schema, partition_by=self.partition_by, order_by=self.order_by,
            properties=owned,
        )

    async def started(self) -> None:
        self.table = await anyio.to_thread.run_sync(self._open)
        if self.commit_process:
            factory = cast("Callable[[], Catalog]", self.catalog_source)  # checked in __init__
            self._process = await CommitProcess.start(
                self.identifier, factory, key_fields=self.key_fields, deduplicate=self.deduplicate
            )
        self._token = anyio.lowlevel.current_token()
        self._committer = Committer(
            self.identifier, commit=self._commit_group, merge=self._merge_data, maintain=self._maintain,
            notify=loop_notifier(), on_failure=self._on_failure, max_rows=self.max_rows, max_delay=self.max_delay,
            min_interval=self.min_interval,
            positions=committed_positions(self.table),
            probe=self._probe_group, dead_letter=self._set_aside,
        )
        self._committer.start()
        properties = self.table.metadata.properties
        self._ttl_pending = False
        if table_ttl(properties) is not None or column_ttls(properties):
            self.schedule_every(ttl_interval(properties), _ExpireTick())

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
        if isinstance(message, _ExpireTick):
            # Queued, not awaited: the writer goes on reading writes while the pass waits its turn;
            # a tick while a timed pass still waits or runs adds none (passes never pile up).
            if not self._ttl_pending:
                self._ttl_pending = True
                self._require_committer().put(Barrier(self._timed_pass_done, run=self._expire_rows))
            return None
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
                for role, name in (("version", self.version_field), ("deleted", self.deleted_field)):
                    nulls = data.column(name).null_count if name is not None else 0
                    if nulls:
                        raise ValueError(f"table {self.identifier}: {role} column {name!r} has {nulls} null values")
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

    def _probe_group(self, batches: dict[str, list[pa.Table]], properties: dict[str, str]) -> None:
        """A dry run of :meth:`_commit_group`: raises what it would raise, commits nothing."""
        if self._process is not None:
            self._process.probe(batches, properties)
            return
        commit_buffered(self._require_table(), batches, self.key_fields, deduplicate=self.deduplicate,
                        properties=properties, dry_run=True)

    def _set_aside(self, poison: list[Poison]) -> None:
        """Sends the rows set aside from a commit to the dead-letter target and waits until it
        took them (the commit of the others follows); logs them when there is no target."""
        source = f"{self.identifier}.commit"
        for item in poison:
            if self.dead_letter is not None:
                logger.warning("%d record(s) sent to the dead-letter queue: %s", len(item.rows),
                               item.message(self.identifier))
            else:  # the log is all that is left of them
                records = orjson.dumps([msgspec.to_builtins(row) for row in item.data.slice(0, LOGGED_RECORDS).to_pylist()])
                logger.error("%d record(s) dropped (no dead-letter queue): %s; records: %s%s", len(item.rows),
                             item.message(self.identifier), records.decode(),
                             f" (the first {LOGGED_RECORDS})" if len(item.rows) > LOGGED_RECORDS else "")
        if self.dead_letter is None or not poison:
            return
        if self._token is None:  # pragma: no cover - started() sets it before any commit
            raise RuntimeError(f"TableWriter({self.identifier!r}) has no event loop: started() did not run")
        anyio.from_thread.run(self._send_dead_letters, poison, source, token=self._token)

    async def _send_dead_letters(self, poison: list[Poison], source: str) -> None:
        target: Any = self.dead_letter
        send = target.send if hasattr(target, "send") else target
        for item in poison:
            records = [msgspec.to_builtins(row) for row in item.data.to_pylist()]
            result = send(records, item.message(self.identifier), source, error_type=type(item.error).__name__)
            if inspect.isawaitable(result):
                await result

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

        if action == "expire_rows":
            return self._expire_rows

        def run() -> Any:
            try:
                if self._process is not None:
                    return getattr(self._process, action)()
                return getattr(self._maintainer, action)(self._require_table())
            finally:
                self._publish()

        return run

    def _timed_pass_done(self, _value: Any, _error: BaseException | None) -> None:
        """A timed TTL pass ended (on the event loop; counted and logged by the pass itself)."""
        self._ttl_pending = False

    def _expire_rows(self) -> TtlResult:
        """A TTL pass (in the committer thread or the commit process), counted; a failure is
        logged and counted, then raised to whoever asked for the pass."""
        try:
            if self._process is not None:
                result = self._process.expire_rows()
            else:
                result = expire_rows(self._require_table())
        except Exception as exc:
            self._ttl_failures += 1
            logger.warning("table %s: TTL pass failed: %s", self.identifier, exc)
            raise
        self._rows_expired += result.rows_expired
        return result

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

