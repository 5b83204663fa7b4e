from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Operation

from actors import ActorSystem, Promise
from cascade_rt.table import CommitResult, Flush, Stats, TableWriter, Write, ensure_table, open_catalog
from cascade_rt.table._compact import CompactionResult
from cascade_rt.table._schedule import compaction_due, idle_compaction_due
from cascade_rt.table._stats import table_stats
from cascade_rt.table._writer import Maintain

Rows = Callable[..., pa.Table]

EAGER = {
    "cascade.compaction.trigger.commits": "3",
    "cascade.compaction.min-interval-ms": "0",
    "cascade.compaction.min-input-files": "2",
    "cascade.merge.max-deleted-fraction": "1.0",  # keep delete files for the compaction to fold
    "cascade.merge.rewrite-below-bytes": "0",  # even of these small files
}


def test_compaction_is_due_on_the_first_trigger_and_rate_limited() -> None:
    props: dict[str, str] = {}
    assert not compaction_due(props, commits=3, data_files=5, since_ms=60_000)
    assert compaction_due(props, commits=4, data_files=5, since_ms=60_000)
    assert compaction_due(props, commits=1, data_files=100, since_ms=60_000)
    assert compaction_due(props, commits=1, data_files=5, since_ms=600_000)
    assert not compaction_due(props, commits=50, data_files=500, since_ms=1_000)  # min-interval 2 s
    assert compaction_due(props, commits=1, data_files=5, since_ms=60_000, delete_files=10)
    assert not compaction_due(props, commits=1, data_files=5, since_ms=60_000, delete_files=9)
    assert not compaction_due(props, commits=0, data_files=500, since_ms=900_000)  # nothing new
    assert not compaction_due({"cascade.compaction.enabled": "false"}, commits=50, data_files=500, since_ms=900_000)
    with pytest.raises(ValueError, match=r"'cascade.compaction.trigger.commits' must be an integer, got 'x'"):
        compaction_due({"cascade.compaction.trigger.commits": "x"}, commits=1, data_files=1, since_ms=9e9)


def test_the_idle_pass_is_due_after_the_idle_time_unless_switched_off() -> None:
    assert not idle_compaction_due({}, idle_ms=14_999)
    assert idle_compaction_due({}, idle_ms=15_000)  # default 15 s
    assert idle_compaction_due({"cascade.compaction.trigger.idle-ms": "200"}, idle_ms=200)
    assert not idle_compaction_due({"cascade.compaction.trigger.idle-ms": "0"}, idle_ms=9e9)
    assert not idle_compaction_due({"cascade.compaction.enabled": "false"}, idle_ms=9e9)
    with pytest.raises(ValueError, match=r"'cascade.compaction.trigger.idle-ms' must be an integer, got 'soon'"):
        idle_compaction_due({"cascade.compaction.trigger.idle-ms": "soon"}, idle_ms=1)


def _writer_options(home: Path, schema: Schema, **extra: Any) -> dict[str, Any]:
    import functools

    return {"catalog": functools.partial(open_catalog, home), "identifier": "default.t", "schema": schema, **extra}


@pytest.mark.anyio
@pytest.mark.parametrize("commit_process", [False, True])
async def test_the_writer_compacts_by_its_triggers_between_commits(
    home: Path, schema: Schema, rows: Rows, commit_process: bool
) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    table.transaction().set_properties(EAGER).commit_transaction()
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_writer_options(
            home, schema, deduplicate=True, max_delay=0.01, commit_process=commit_process))
        for i in range(12):
            with anyio.fail_after(20):
                promise = Promise[CommitResult]()
                await ref.tell(Write(rows([i, i % 3], tag=f"w{i}"), promise))
                await promise.wait()
        stats = await ref.ask(Stats())
    assert stats.maintenance.compactions >= 2
    assert stats.maintenance.data_files_compacted >= 4
    table = open_catalog(home).load_table("default.t")
    assert any(s.summary is not None and s.summary.operation == Operation.REPLACE for s in table.metadata.snapshots)
    data = table.scan().to_arrow().sort_by("id")
    assert data.column("id").to_pylist() == list(range(12))
    assert data.column("name").to_pylist()[:3] == ["w90", "w101", "w112"]  # the last write of each key won


async def _until_compactions(ref: Any, wanted: int) -> None:
    for _ in range(300):
        if (await ref.ask(Stats())).maintenance.compactions >= wanted:
            return
        await anyio.sleep(0.1)
    pytest.fail(f"the writer did not reach {wanted} compactions in 30 s")


@pytest.mark.anyio
@pytest.mark.parametrize("commit_process", [False, True])
async def test_a_table_at_rest_is_compacted_fully_once_by_its_writer(
    home: Path, schema: Schema, rows: Rows, commit_process: bool
) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    # Three commits trigger nothing (a pass is due after 4 commits or at 100 files); at rest they merge.
    table.transaction().set_properties({"cascade.compaction.trigger.idle-ms": "300"}).commit_transaction()
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_writer_options(
            home, schema, max_delay=0.01, commit_process=commit_process))
        for i in range(3):
            promise = Promise[CommitResult]()
            await ref.tell(Write(rows([i]), promise))
            with anyio.fail_after(20):
                await promise.wait()
        assert table_stats(open_catalog(home).load_table("default.t")).data_files == 3
        await _until_compactions(ref, 1)
        await anyio.sleep(2.5)  # more idle ticks: the pass ran once for this quiet spell
        stats = await ref.ask(Stats())
        assert (stats.maintenance.compactions, stats.maintenance.data_files_compacted) == (1, 3)
        promise = Promise[CommitResult]()
        await ref.tell(Write(rows([3, 4]), promise))  # a commit starts a new spell
        with anyio.fail_after(20):
            await promise.wait()
        await _until_compactions(ref, 2)
    after = table_stats(open_catalog(home).load_table("default.t"))
    assert (after.data_files, after.manifests) == (1, 1)
    data = open_catalog(home).load_table("default.t").scan().to_arrow()
    assert sorted(data.column("id").to_pylist()) == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_a_maintain_message_compacts_now_and_a_bad_action_fails_at_once(
    home: Path, schema: Schema, rows: Rows
) -> None:
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **_writer_options(home, schema, max_delay=0.01))
        for i in range(6):
            promise = Promise[CommitResult]()
            await ref.tell(Write(rows([i]), promise))
            with anyio.fail_after(20):
                await promise.wait()
        done = Promise[Any]()
        await ref.tell(Maintain("compact", done))
        with anyio.fail_after(20):
            result = await done.wait()
        assert isinstance(result, CompactionResult)
        assert (result.data_files_rewritten, result.data_files_added) == (6, 1)
        with pytest.raises(ValueError, match=r"Maintain\(action=...\) must be 'compact' or 'remove_orphans'"):
            Maintain("vacuum")
        orphans = Promise[Any]()
        await ref.tell(Maintain("remove_orphans", orphans))
        with anyio.fail_after(20):
            assert (await orphans.wait()).failures == 0
        stats = await ref.ask(Stats())
        assert stats.maintenance.compactions == 1
        assert stats.maintenance.last_maintenance_ms > 0
    assert table_stats(open_catalog(home).load_table("default.t")).data_files == 1


_examples = itertools.count()


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.lists(st.integers(0, 30), min_size=1, max_size=6)),
        st.tuples(st.just("compact"), st.just([])),
        st.tuples(st.just("flush"), st.just([])),
    ),
    min_size=4, max_size=18,
))
@pytest.mark.anyio
async def test_compaction_racing_upserts_loses_and_resurrects_nothing(
    schema: Schema, rows: Rows, steps: list[tuple[str, list[int]]]
) -> None:
    oracle: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        table = ensure_table(open_catalog(home), "default.t", schema)
        table.transaction().set_properties(EAGER).commit_transaction()
        waiting: list[Promise[Any]] = []
        async with ActorSystem("t") as system:
            ref = await system.spawn(TableWriter, name="w", **_writer_options(
                home, schema, deduplicate=True, max_delay=0.005))
            for n, (op, keys) in enumerate(steps):
                promise = Promise[Any]()
                if op == "write":
                    await ref.tell(Write(rows(keys, tag=f"s{n}-"), promise))
                    oracle.update({k: f"s{n}-{k}" for k in keys})
                elif op == "compact":
                    await ref.tell(Maintain("compact", promise))
                else:
                    await ref.tell(Flush(promise))
                waiting.append(promise)
            with anyio.fail_after(60):
                for promise in waiting:
                    await promise.wait()
        table = open_catalog(home).load_table("default.t")
        data = table.scan().to_arrow().sort_by("id")
        assert data.column("id").to_pylist() == sorted(oracle)
        assert dict(zip(data.column("id").to_pylist(), data.column("name").to_pylist(), strict=True)) == oracle
