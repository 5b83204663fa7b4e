from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation

from cascade_rt.table import commit_append, commit_upsert, conform, ensure_table
from cascade_rt.table._compact import CompactionSettings, carried_properties, compact, plan_compaction
from cascade_rt.table._stats import table_stats

Rows = Callable[..., pa.Table]


def _read(table: Table, snapshot_id: int | None = None) -> pa.Table:
    return table.scan(snapshot_id=snapshot_id).to_arrow().sort_by("id")


def _appended(
    catalog: Catalog, schema: Schema, rows: Rows, commits: int, width: int = 2, props: dict[str, str] | None = None
) -> Table:
    table = ensure_table(catalog, "default.t", schema)
    if props:
        table.transaction().set_properties(props).commit_transaction()
    for i in range(commits):
        commit_append(table, rows(list(range(width * i, width * (i + 1)))))
    return table


def test_small_appends_compact_into_one_file_in_one_replace_snapshot(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 12)
    before = _read(table)
    plan = plan_compaction(table)
    assert (plan.files, plan.data_files) == (12, 12)
    result = compact(table, plan)
    assert (result.data_files_rewritten, result.data_files_added, result.rows) == (12, 1, 24)
    head = table.current_snapshot()
    assert head is not None
    assert head.summary is not None
    assert head.summary.operation == Operation.REPLACE
    assert head.summary["total-data-files"] == "1"
    assert _read(table).equals(before)
    assert plan_compaction(table).empty  # nothing left to do: the next pass commits nothing
    assert compact(table).snapshot_id is None
    assert len(table.metadata.snapshots) == 13


def test_a_compacted_table_reads_the_same_at_every_snapshot(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 6, 10, props={"cascade.merge.max-deleted-fraction": "1.0"})
    for i in range(6):
        commit_upsert(table, rows([i * 7, 100 + i], tag=f"u{i}"), ["id"])
    snapshots = {s.snapshot_id: _read(table, s.snapshot_id) for s in table.metadata.snapshots}
    assert table_stats(table).delete_files > 0
    compact(table)
    stats = table_stats(table)
    assert (stats.data_files, stats.delete_files) == (1, 0)
    assert stats.last_maintenance_ms is not None
    for snapshot_id, expected in snapshots.items():
        assert _read(table, snapshot_id).equals(expected), snapshot_id
    head = table.current_snapshot()
    assert head is not None
    assert _read(table, head.snapshot_id).equals(snapshots[head.parent_snapshot_id or 0])


def test_compacted_data_files_are_plain_parquet_duckdb_reads_alike(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 8, props={"cascade.merge.max-deleted-fraction": "1.0"})
    commit_upsert(table, rows([3, 5, 100], tag="x"), ["id"])
    compact(table)
    paths = [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]
    relation = duckdb.sql(f"SELECT id, name, value FROM read_parquet({paths!r}) ORDER BY id")
    assert relation is not None
    got = relation.to_arrow_table()
    expected = _read(table)
    assert got.column("id").to_pylist() == expected.column("id").to_pylist() == [*range(16), 100]
    assert got.column("name").to_pylist() == expected.column("name").to_pylist()


def test_delete_files_fold_into_their_data_files(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({"cascade.merge.max-deleted-fraction": "1.0"}).commit_transaction()
    commit_append(table, rows(list(range(1000))))
    for i in range(3):
        commit_upsert(table, rows(list(range(i * 100, i * 100 + 150)), tag=f"u{i}"), ["id"])
    before = _read(table)
    assert table_stats(table).delete_files >= 1
    settings = CompactionSettings(min_input_files=100, delete_fraction=0.1)  # no small-file pass, deletes only
    plan = plan_compaction(table, settings=settings)
    result = compact(table, plan)
    assert result.delete_files_removed >= 1
    assert table_stats(table).delete_files == 0
    assert _read(table).equals(before)


def test_few_small_files_wait_for_min_input_files(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 4)
    assert plan_compaction(table).empty  # default min-input-files is 5
    table.transaction().set_properties({"cascade.compaction.min-input-files": "3"}).commit_transaction()
    assert plan_compaction(table).files == 4


def test_a_pass_takes_at_most_max_files_per_pass(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 9, props={"cascade.compaction.max-files-per-pass": "4"})
    assert plan_compaction(table).files == 4
    compact(table)
    assert table_stats(table).data_files == 6


def test_files_near_the_target_size_are_left_alone(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 6, props={"write.target-file-size-bytes": "100"})
    assert plan_compaction(table).empty


def test_compaction_keeps_the_sort_order(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, order_by=["id"])
    for start in (50, 10, 30, 0, 20):
        commit_append(table, rows(list(range(start + 9, start - 1, -1))))
    compact(table)
    [task] = list(table.scan().plan_files())
    ids = table.scan().to_arrow().column("id").to_pylist()
    assert ids == sorted(ids)
    assert task.file.record_count == 50


def test_many_manifests_are_rewritten(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 8, props={"cascade.compaction.max-manifests": "3",
                                                     "cascade.compaction.min-input-files": "100"})
    plan = plan_compaction(table)
    assert (plan.files, plan.rewrite_manifests, plan.manifests) == (0, True, 8)
    before = _read(table)
    result = compact(table, plan)
    assert (result.manifests_before, result.manifests_after) == (8, 1)
    assert _read(table).equals(before)


def test_a_replace_snapshot_carries_the_cascade_summary_properties_forward(
    catalog: Catalog, schema: Schema, rows: Rows
) -> None:
    table = _appended(catalog, schema, rows, 5)
    props = {"cascade.source.orders.0": "41", "cascade.source.orders.1": "7", "other.key": "x"}
    table.append(conform(rows([99]), table), snapshot_properties=props)
    compact(table)
    head = table.current_snapshot()
    assert head is not None
    assert head.summary is not None
    assert head.summary.operation == Operation.REPLACE
    assert carried_properties(head) == {"cascade.source.orders.0": "41", "cascade.source.orders.1": "7"}
    assert "other.key" not in head.summary.additional_properties


def test_a_stale_plan_is_refused(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 6)
    plan = plan_compaction(table)
    commit_append(table, rows([500]))
    with pytest.raises(ValueError, match=r"branch 'main' moved since the compaction was planned"):
        compact(table, plan)


def test_bad_compaction_properties_are_named(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 1, props={"cascade.compaction.min-input-files": "many"})
    with pytest.raises(ValueError, match=r"'cascade.compaction.min-input-files' must be an integer, got 'many'"):
        plan_compaction(table)
