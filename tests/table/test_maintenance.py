"""Snapshot expiry: the retention rules, expiry on a real table, and the writer's passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from actors import ActorSystem, Promise
from cascade_rt.table import (
    CommitResult,
    Flush,
    Stats,
    TableWriter,
    Write,
    commit_append,
    ensure_branch,
    ensure_table,
)
from cascade_rt.table._maintenance import (
    MAX_SNAPSHOTS_PROPERTY,
    Retention,
    expirable_snapshots,
    expire_snapshots,
)

Rows = Callable[..., pa.Table]


def _table(catalog: Catalog, schema: Schema, rows: Rows, commits: int, **properties: str) -> Table:
    table = ensure_table(catalog, "default.t", schema)
    if properties:
        with table.transaction() as tx:
            tx.set_properties(properties)
    for i in range(commits):
        commit_append(table, rows([i]))
    return table


def _ids_newest_first(table: Table) -> list[int]:
    return [s.snapshot_id for s in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0, reverse=True)]


# -- the rules ---------------------------------------------------------------------------------------


def test_the_count_rule_expires_all_but_the_newest(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _table(catalog, schema, rows, 6)
    newest = _ids_newest_first(table)
    now = table.metadata.last_updated_ms
    got = expirable_snapshots(table.metadata, Retention(max_snapshots=4), now)
    assert got == list(reversed(newest[4:]))  # oldest first


def test_the_age_rule_expires_old_snapshots_but_keeps_the_newest(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _table(catalog, schema, rows, 3)
    newest = _ids_newest_first(table)
    later = max(s.timestamp_ms for s in table.metadata.snapshots) + 10_000
    retention = Retention(max_snapshots=0, max_age_ms=5_000, min_keep=1)
    assert set(expirable_snapshots(table.metadata, retention, later)) == set(newest[1:])
    assert expirable_snapshots(table.metadata, Retention(max_snapshots=0, max_age_ms=5_000, min_keep=3), later) == []
    assert expirable_snapshots(table.metadata, Retention(max_snapshots=0), later) == []  # 5 days


def test_branch_heads_never_expire(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _table(catalog, schema, rows, 2)
    ensure_branch(table, "audit")  # the branch head is main's head at the time: snapshot 2
    commit_append(table, rows([10]))
    commit_append(table, rows([11]))
    head = table.metadata.refs["audit"].snapshot_id
    got = expirable_snapshots(table.metadata, Retention(max_snapshots=1), table.metadata.last_updated_ms)
    assert head not in got
    assert len(got) == 2  # snapshots 1 and 3; 2 is the branch head, 4 the newest


def test_retention_reads_the_table_properties_and_names_a_bad_one(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _table(catalog, schema, rows, 0, **{
        MAX_SNAPSHOTS_PROPERTY: "7", "history.expire.max-snapshot-age-ms": "1000", "history.expire.min-snapshots-to-keep": "2",
    })
    assert Retention.of(table.metadata) == Retention(7, 1000, 2)
    with table.transaction() as tx:
        tx.set_properties({MAX_SNAPSHOTS_PROPERTY: "many"})
    with pytest.raises(ValueError, match=r"table property 'cascade.history.max-snapshots' must be an integer, got 'many'"):
        Retention.of(table.metadata)


@pytest.mark.parametrize(("limit", "snapshots", "due"), [(100, 105, False), (100, 111, True), (10, 15, False), (10, 16, True), (0, 10_000, False)])
def test_a_pass_is_due_a_tenth_over_the_limit(limit: int, snapshots: int, due: bool) -> None:
    assert Retention(max_snapshots=limit).due(snapshots) is due


# -- on a real table ---------------------------------------------------------------------------------


def test_expiry_keeps_the_data_and_deletes_the_expired_manifest_lists(
    catalog: Catalog, home: Path, schema: Schema, rows: Rows
) -> None:
    table = _table(catalog, schema, rows, 8, **{MAX_SNAPSHOTS_PROPERTY: "3"})
    before = {s.snapshot_id: s.manifest_list for s in table.metadata.snapshots}
    kept = _ids_newest_first(table)[:3]
    assert expire_snapshots(table) == len(before) - 3
    assert sorted(s.snapshot_id for s in table.metadata.snapshots) == sorted(kept)
    for snapshot_id, manifest_list in before.items():
        assert Path(manifest_list.removeprefix("file://")).exists() is (snapshot_id in kept)
    other = SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
    reread = other.load_table("default.t")
    assert len(reread.metadata.snapshots) == 3
    assert sorted(reread.scan().to_arrow().column("id").to_pylist()) == list(range(8))
    assert expire_snapshots(table) == 0


# -- the writer --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_writer_keeps_the_snapshot_count_bounded(
    catalog: Catalog, home: Path, schema: Schema, rows: Rows
) -> None:
    _table(catalog, schema, rows, 0, **{MAX_SNAPSHOTS_PROPERTY: "4"})  # a pass once over 4 + 5
    opts: dict[str, Any] = {"catalog": catalog, "identifier": "default.t", "schema": schema, "max_delay": 600}
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **opts)
        counts = []
        for i in range(25):
            promise = Promise[CommitResult]()
            await ref.tell(Write(rows([i]), promise))
            await ref.tell(Flush())
            with anyio.fail_after(10):
                await promise.wait()
            stats = await ref.ask(Stats())
            counts.append(len(catalog.load_table("default.t").metadata.snapshots))
        assert max(counts) <= 4 + 5 + 1
        assert stats.snapshots_expired >= 25 - 10
        assert stats.expiry_failures == 0
    table = catalog.load_table("default.t")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == list(range(25))


@pytest.mark.anyio
async def test_a_bad_retention_property_fails_the_pass_not_the_writes(
    catalog: Catalog, schema: Schema, rows: Rows, caplog: pytest.LogCaptureFixture
) -> None:
    _table(catalog, schema, rows, 0, **{MAX_SNAPSHOTS_PROPERTY: "many"})
    opts: dict[str, Any] = {"catalog": catalog, "identifier": "default.t", "schema": schema, "max_delay": 600}
    async with ActorSystem("t") as system:
        ref = await system.spawn(TableWriter, name="w", **opts)
        for i in range(3):
            promise = Promise[CommitResult]()
            await ref.tell(Write(rows([i]), promise))
            await ref.tell(Flush())
            with anyio.fail_after(10):
                assert (await promise.wait()).rows_written == 1
        stats = await ref.ask(Stats())
        assert (stats.commits, stats.expiry_failures, stats.snapshots_expired) == (3, 3, 0)
        assert ref.statistics().restarts == 0
    assert "cascade.history.max-snapshots' must be an integer, got 'many'" in caplog.text
