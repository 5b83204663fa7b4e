from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import ListType, LongType, NestedField, StringType, TimestamptzType

from actors import ActorSystem, Backoff, Mailbox, MailboxFull, Promise
from cascade_rt.table import (
    CommitResult,
    Flush,
    Maintain,
    Merge,
    Stats,
    TableWriter,
    Ttl,
    Write,
    WriterStatistics,
    coalesce,
    commit_upsert,
    ensure_table,
    open_catalog,
    read_branch,
)

Rows = Callable[..., pa.Table]


# -- plain functions -----------------------------------------------------------------------------


def test_coalesce_keeps_order_and_unifies_columns_by_name() -> None:
    a = pa.record_batch({"id": [1, 2], "name": ["a", "b"]})
    b = pa.table({"name": ["c"], "id": [3]})
    c = pa.table({"id": [4]})
    got = coalesce([a, b, c])
    assert got.column("id").to_pylist() == [1, 2, 3, 4]
    assert got.column("name").to_pylist() == ["a", "b", "c", None]


def test_coalesce_of_nothing_is_an_empty_table() -> None:
    assert coalesce([]).num_rows == 0


def test_writer_options_are_checked(schema: Schema, catalog: Catalog) -> None:
    plain = type(schema)(*schema.fields)
    with pytest.raises(ValueError, match=r"TableWriter\('default\.t'\): deduplicate=True needs key fields"):
        TableWriter(catalog=catalog, identifier="default.t", schema=plain, deduplicate=True)
    with pytest.raises(ValueError, match=r"max_rows must be >= 1 and max_delay > 0"):
        TableWriter(catalog=catalog, identifier="default.t", schema=schema, max_delay=0)
    assert TableWriter(catalog=catalog, identifier="default.t", schema=schema).key_fields == ["id"]


# -- the actor -----------------------------------------------------------------------------------



def _opts(home: Path, schema: Schema, **extra: Any) -> dict[str, Any]:
    return {"catalog": lambda: open_catalog(home), "identifier": "default.t", "schema": schema, **extra}


def _table(home: Path) -> Table:
    return open_catalog(home).load_table("default.t")


@pytest.mark.anyio
async def test_group_commit_on_max_rows_resolves_every_promise(home: Path, schema: Schema, rows: Rows) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_rows=10, max_delay=600))
        promises = [Promise[CommitResult]() for _ in range(3)]
        for i, p in enumerate(promises):
            await ref.tell(Write(rows([i * 4 + j for j in range(4)]), p))
        with anyio.fail_after(10):
            results = [await p.wait() for p in promises]
        assert results[0] == results[1] == results[2]
        assert results[0].rows_written == 12
        stats = await ref.ask(Stats())
        assert (stats.commits, stats.rows_committed, stats.buffered_rows) == (1, 12, 0)
    assert _table(home).scan().to_arrow().num_rows == 12


@pytest.mark.anyio
async def test_group_commit_after_max_delay(home: Path, schema: Schema, rows: Rows) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_rows=1_000_000, max_delay=0.05))
        first, second = Promise[CommitResult](), Promise[CommitResult]()
        await ref.tell(Write(rows([1]), first))
        await ref.tell(Write(rows([2]), second))
        with anyio.fail_after(10):
            result = await first.wait()
            assert await second.wait() == result
        assert result.rows_written == 2
        stats: WriterStatistics = await ref.ask(Stats())
        assert stats.commits == 1
        assert stats.last_commit_seconds > 0
    assert sorted(_table(home).scan().to_arrow().column("id").to_pylist()) == [1, 2]


@pytest.mark.anyio
async def test_dedup_across_writes_and_against_the_table(home: Path, schema: Schema, rows: Rows) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    commit_upsert(table, rows([1, 2]), ["id"])
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, deduplicate=True, max_delay=600))
        await ref.tell(Write(rows([2, 3], tag="a")))
        await ref.tell(Write(rows([3, 4], tag="b")))
        done = Promise[CommitResult | None]()
        await ref.tell(Flush(done))
        with anyio.fail_after(10):
            result = await done.wait()
    assert result is not None
    assert (result.rows_updated, result.rows_inserted, result.rows_written) == (1, 2, 3)
    got = _table(home).scan().to_arrow().sort_by("id")
    assert got.column("name").to_pylist() == ["v1", "a2", "b3", "b4"]


@pytest.mark.anyio
async def test_flush_with_nothing_buffered_resolves_none(home: Path, schema: Schema) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema))
        assert await ref.ask(Flush()) is None


@pytest.mark.anyio
async def test_merge_commits_pending_writes_first_then_merges_on_branch(
    home: Path, schema: Schema, rows: Rows
) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_delay=600))
        pending = Promise[CommitResult]()
        await ref.tell(Write(rows([1, 2]), pending))
        merged = Promise[CommitResult]()
        await ref.tell(Merge(rows([2, 3], tag="m"), keys=["id"], branch="run-1", promise=merged))
        with anyio.fail_after(10):
            first = await pending.wait()
            result = await merged.wait()
    assert first.rows_written == 2
    assert (result.rows_updated, result.rows_inserted) == (1, 1)
    table = _table(home)
    assert table.scan().to_arrow().num_rows == 2
    assert read_branch(table, "run-1").sort_by("id").column("name").to_pylist() == ["v1", "m2", "m3"]


@pytest.mark.anyio
async def test_a_write_handled_before_a_stats_request_still_commits_at_once(
    home: Path, schema: Schema, rows: Rows
) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_delay=600, min_interval=0.01))
        written = Promise[CommitResult]()
        await ref.tell(Write(rows([1]), written))  # the mailbox holds the Stats request behind it
        assert (await ref.ask(Stats())).waiting_writes == 1
        with anyio.fail_after(10):  # not max_delay: the writer is idle after the Stats request
            assert (await written.wait()).rows_written == 1


@pytest.mark.anyio
async def test_bad_write_fails_its_promise_only(home: Path, schema: Schema, rows: Rows) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_rows=2, max_delay=600))
        bad, good = Promise[CommitResult](), Promise[CommitResult]()
        await ref.tell(Write(pa.table({"id": [1], "oops": [1]}), bad))
        await ref.tell(Write(rows([1, 2]), good))
        with anyio.fail_after(10):
            with pytest.raises(ValueError, match=r"table default\.t: columns \['oops'\] are not in the table schema"):
                await bad.wait()
            assert (await good.wait()).rows_written == 2
        assert ref.statistics().restarts == 0


class _FailsOnce(TableWriter):
    failures_left = 1

    def commit_batches(self, table: Table, batches: dict[str, list[pa.Table]], *,
                       properties: dict[str, str] | None = None) -> dict[str, CommitResult]:
        if _FailsOnce.failures_left:
            _FailsOnce.failures_left -= 1
            raise OSError("disk full (test)")
        return super().commit_batches(table, batches, properties=properties)


@pytest.mark.anyio
async def test_failed_commit_fails_waiting_writes_and_restarts_without_losing_queued(
    home: Path, schema: Schema, rows: Rows
) -> None:
    _FailsOnce.failures_left = 1
    async with ActorSystem("t", backoff=Backoff(initial=0.01, maximum=0.05)) as system:
        ref = await system.spawn(_FailsOnce, name="w", **_opts(home, schema, max_rows=2, max_delay=600))
        lost, kept = Promise[CommitResult](), Promise[CommitResult]()
        ref.tell_nowait(Write(rows([1, 2]), lost))
        ref.tell_nowait(Write(rows([3, 4]), kept))
        with anyio.fail_after(10):
            with pytest.raises(OSError, match=r"disk full \(test\)"):
                await lost.wait()
            assert (await kept.wait()).rows_written == 2
        assert ref.statistics().restarts == 1
    assert sorted(_table(home).scan().to_arrow().column("id").to_pylist()) == [3, 4]


@pytest.mark.anyio
async def test_stop_commits_what_is_buffered(home: Path, schema: Schema, rows: Rows) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, max_delay=600))
        promise = Promise[CommitResult]()
        await ref.tell(Write(rows([7]), promise))
        with anyio.fail_after(10):
            await ref.stop()
            assert (await promise.wait()).rows_written == 1
    assert _table(home).scan().to_arrow().column("id").to_pylist() == [7]


@pytest.mark.anyio
async def test_write_with_null_key_fails_its_promise_when_deduplicating(home: Path, schema: Schema) -> None:
    plain = type(schema)(*[f if f.name != "id" else type(f)(1, "id", f.field_type, required=False) for f in schema.fields])
    async with ActorSystem("t") as system:
        ref = await system.spawn(
            TableWriter, name="w", **_opts(home, plain, key_fields=["id"], deduplicate=True, max_delay=600)
        )
        bad = Promise[CommitResult]()
        await ref.tell(Write(pa.table({"id": pa.array([None], pa.int64())}), bad))
        with anyio.fail_after(10), pytest.raises(ValueError, match=r"table default\.t: key column 'id' has 1 null values"):
            await bad.wait()


@pytest.mark.anyio
async def test_failed_flush_fails_its_promise(home: Path, schema: Schema, rows: Rows) -> None:
    _FailsOnce.failures_left = 1
    async with ActorSystem("t", backoff=Backoff(initial=0.01, maximum=0.05)) as system:
        ref = await system.spawn(_FailsOnce, name="w", **_opts(home, schema, max_delay=600))
        write, flush = Promise[CommitResult](), Promise[CommitResult | None]()
        await ref.tell(Write(rows([1]), write))
        await ref.tell(Flush(flush))
        with anyio.fail_after(10):
            for promise in (write, flush):
                with pytest.raises(OSError, match=r"disk full \(test\)"):
                    await promise.wait()


async def _eager_writer(system: ActorSystem, home: Path, schema: Schema, min_interval: float,
                        cls: type[TableWriter] = TableWriter) -> Any:
    """A writer that commits only by the ``min_interval`` rule (``max_rows`` and ``max_delay`` far off)."""
    return await system.spawn(
        cls, name="w", **_opts(home, schema, max_rows=1_000_000, max_delay=600, min_interval=min_interval)
    )


@pytest.mark.anyio
async def test_min_interval_commits_an_idle_write_at_once_not_after_max_delay(
    home: Path, schema: Schema, rows: Rows
) -> None:
    async with ActorSystem("t") as system:
        ref = await _eager_writer(system, home, schema, 0.01)
        first, second = Promise[CommitResult](), Promise[CommitResult]()
        await ref.tell(Write(rows([1]), first))
        with anyio.fail_after(10):  # max_delay is 600 s: only the idle rule can commit it
            assert (await first.wait()).rows_written == 1
            await ref.tell(Write(rows([2]), second))  # within min_interval of the first commit, or after
            assert (await second.wait()).rows_written == 1
        assert (await ref.ask(Stats())).commits == 2
    assert sorted(_table(home).scan().to_arrow().column("id").to_pylist()) == [1, 2]


class _SlowCommits(TableWriter):
    """Each commit takes at least ``SECONDS``; ``starts`` and ``ends`` record when each ran."""

    SECONDS = 1.5
    starts: ClassVar[list[float]] = []
    ends: ClassVar[list[float]] = []
    running: ClassVar[threading.Event] = threading.Event()

    def commit_batches(self, table: Table, batches: dict[str, list[pa.Table]], *,
                       properties: dict[str, str] | None = None) -> dict[str, CommitResult]:
        self.starts.append(time.monotonic())
        self.running.set()
        time.sleep(self.SECONDS)
        try:
            return super().commit_batches(table, batches, properties=properties)
        finally:
            self.ends.append(time.monotonic())


@pytest.mark.anyio
async def test_min_interval_counts_from_the_start_of_the_previous_commit(
    home: Path, schema: Schema, rows: Rows
) -> None:
    # A write that arrives during a commit longer than min_interval is committed as soon as that
    # commit ends, not min_interval after it: the rule bounds commits a second, not idle time.
    starts, ends = _SlowCommits.starts, _SlowCommits.ends
    starts.clear()
    ends.clear()
    _SlowCommits.running.clear()
    async with ActorSystem("t") as system:
        ref = await _eager_writer(system, home, schema, 1.0, _SlowCommits)
        first, second = Promise[CommitResult](), Promise[CommitResult]()
        await ref.tell(Write(rows([1]), first))
        assert await anyio.to_thread.run_sync(_SlowCommits.running.wait, 10)  # the first commit runs
        await ref.tell(Write(rows([2]), second))
        with anyio.fail_after(20):
            await first.wait()
            await second.wait()
    assert (len(starts), len(ends)) == (2, 2)
    # Counting min_interval from the end of the first commit would start the second 1 s after it,
    # at the earliest; counted from its start (1.5 s ago), it starts at once. Only the writer's own
    # scheduling lies between the two, however loaded the machine.
    assert starts[1] - ends[0] < 1.0


def test_string_columns_are_appended_without_casting_to_large_types(home: Path, catalog: Catalog) -> None:
    from cascade_rt.table._upsert import commit_append, conform

    string_schema = Schema(
        NestedField(1, "id", StringType(), required=True),
        NestedField(2, "tags", ListType(3, StringType(), element_required=True), required=False),
    )
    table = ensure_table(catalog, "default.s", string_schema)
    data = pa.table(
        {"id": pa.array(["a", "b"], pa.string()), "tags": pa.array([["x"], None], pa.list_(pa.string()))},
        schema=pa.schema([pa.field("id", pa.string(), nullable=False),
                          pa.field("tags", pa.list_(pa.field("element", pa.string(), nullable=False)))]),
    )
    assert conform(data, table, exact=False) is data
    assert conform(data, table).schema.field("id").type == pa.large_string()
    assert commit_append(table, data).rows_written == 2
    assert table.scan().to_arrow().column("tags").to_pylist() == [["x"], None]


class _GatedCommits(TableWriter):
    """Commits wait for ``GATE``."""

    GATE = threading.Event()

    def commit_batches(self, table: Table, batches: dict[str, list[pa.Table]], *,
                       properties: dict[str, str] | None = None) -> dict[str, CommitResult]:
        _GatedCommits.GATE.wait(10)
        return super().commit_batches(table, batches, properties=properties)


@pytest.mark.anyio
async def test_a_backlog_of_two_groups_stops_the_writer_reading_so_its_mailbox_fills(
    home: Path, schema: Schema, rows: Rows
) -> None:
    _GatedCommits.GATE = threading.Event()
    async with ActorSystem("t") as system:
        ref = await system.spawn(_GatedCommits, name="w", mailbox=Mailbox(capacity=2),
                                 **_opts(home, schema, max_rows=2, max_delay=600))
        promises = [Promise[CommitResult]() for _ in range(6)]
        with anyio.fail_after(10):
            for i, promise in enumerate(promises):  # 1 + 2 commit (held), 3 + 4 wait: the writer stops
                await ref.tell(Write(rows([i]), promise))
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(MailboxFull):
                ref.tell_nowait(Write(rows([99])))
            _GatedCommits.GATE.set()
            assert [(await p.wait()).rows_written for p in promises[:4]] == [2, 2, 2, 2]  # two groups of two
            await ref.ask(Flush())
    assert sorted(_table(home).scan().to_arrow().column("id").to_pylist()) == [0, 1, 2, 3, 4, 5]


# -- version and deleted columns, row retention ------------------------------------------------------


_VERSIONED = Schema(
    NestedField(1, "id", StringType(), required=True),
    NestedField(2, "ver", LongType(), required=True),
    NestedField(3, "deleted", LongType(), required=True),
    NestedField(4, "at", TimestamptzType(), required=False),
    identifier_field_ids=[1],
)


def _versioned(*rows: tuple[str, int, int, float]) -> pa.Table:
    """Rows ``(id, ver, deleted, age in days)``."""
    now = dt.datetime.now(dt.UTC)
    return pa.table({
        "id": [r[0] for r in rows], "ver": pa.array([r[1] for r in rows], pa.int64()),
        "deleted": pa.array([r[2] for r in rows], pa.int64()),
        "at": pa.array([now - dt.timedelta(days=r[3]) for r in rows], pa.timestamp("us", tz="UTC")),
    })


def test_version_and_ttl_options_are_checked(catalog: Catalog) -> None:
    base: dict[str, Any] = {"catalog": catalog, "identifier": "default.t", "schema": _VERSIONED}
    with pytest.raises(ValueError, match=r"deleted_field needs a version_field"):
        TableWriter(**base, deduplicate=True, deleted_field="deleted")
    with pytest.raises(ValueError, match=r"version_field needs deduplicate=True"):
        TableWriter(**base, version_field="ver")
    with pytest.raises(ValueError, match=r"version_field 'nope' is not a field of the schema"):
        TableWriter(**base, deduplicate=True, version_field="nope")
    with pytest.raises(ValueError, match=r"ttl 'at \+ 1' is not supported"):
        TableWriter(**base, ttl="at + 1")
    with pytest.raises(ValueError, match=r"ttl 'when' is not a field of the schema"):
        TableWriter(**base, ttl="when + INTERVAL 1 DAY")
    with pytest.raises(ValueError, match=r"column TTL 'nope' is not a field of the schema"):
        TableWriter(**base, column_ttls={"nope": "at + INTERVAL 1 DAY"})
    writer = TableWriter(**base, column_ttls={"deleted": "at + toIntervalHour(2)"})
    assert writer.column_ttls == {"deleted": Ttl("at", 2, "hour")}


@pytest.mark.anyio
async def test_a_versioned_writer_keeps_the_greatest_version_and_drops_deleted_keys(home: Path) -> None:
    opts = _opts(home, _VERSIONED, deduplicate=True, version_field="ver", deleted_field="deleted", max_delay=600)
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **opts)
        await ref.tell(Write(_versioned(("a", 2, 0, 0), ("b", 1, 0, 0), ("c", 1, 0, 0))))
        await ref.ask(Flush())
        # a: older (ignored); b: deleted at a newer version; c: newer, in a second write of the group.
        await ref.tell(Write(_versioned(("a", 1, 0, 0), ("b", 2, 1, 0))))
        await ref.tell(Write(_versioned(("c", 3, 0, 0))))
        bad = Promise[CommitResult]()
        await ref.tell(Write(pa.table({"id": ["z"], "ver": pa.array([None], pa.int64()), "deleted": [0]}), bad))
        with anyio.fail_after(10), pytest.raises(ValueError, match=r"column 'ver' has 1 null values"):
            await bad.wait()
        result: CommitResult = await ref.ask(Flush())
    assert (result.rows_updated, result.rows_deleted, result.rows_written) == (1, 1, 1)
    table = _table(home)
    assert table.metadata.properties["cascade.upsert.version-column"] == "ver"
    got = {r["id"]: r["ver"] for r in read_branch(table, "main").to_pylist()}
    assert got == {"a": 2, "c": 3}


@pytest.mark.anyio
async def test_a_writer_with_a_ttl_deletes_expired_rows_every_interval(home: Path) -> None:
    # The pass interval is a table property (a minute by default).
    ensure_table(open_catalog(home), "default.t", _VERSIONED, properties={"cascade.ttl.interval-ms": "100"})
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_opts(home, _VERSIONED, ttl="at + INTERVAL 7 DAY"))
        await ref.tell(Write(_versioned(("old", 1, 0, 8), ("new", 1, 0, 6))))
        await ref.ask(Flush())
        with anyio.fail_after(20):
            while True:
                stats: WriterStatistics = await ref.ask(Stats())
                if stats.rows_expired:
                    break
                await anyio.sleep(0.05)
        assert stats.ttl_failures == 0
    table = _table(home)
    assert table.metadata.properties["cascade.ttl"] == "at 7 day"
    assert read_branch(table, "main").column("id").to_pylist() == ["new"]


@pytest.mark.anyio
@pytest.mark.parametrize("commit_process", [False, True])
async def test_maintain_expire_rows_runs_a_ttl_pass_now(home: Path, commit_process: bool) -> None:
    opts = _opts(home, _VERSIONED, ttl="at + toIntervalDay(1)", commit_process=commit_process)
    if commit_process:
        opts["catalog"] = functools.partial(open_catalog, home)
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **opts)
        await ref.tell(Write(_versioned(("a", 1, 0, 2), ("b", 1, 0, 0))))
        done = Promise[Any]()
        await ref.tell(Maintain("expire_rows", done))
        with anyio.fail_after(30):
            result = await done.wait()
        assert result.rows_expired == 1
        assert (await ref.ask(Stats())).rows_expired == 1
    assert read_branch(_table(home), "main").column("id").to_pylist() == ["b"]
