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
    table = _appended(catalog, schema, rows, 6, 10, props={"cascade.merge.max-deleted-fraction": "1.0",
                                                               "cascade.merge.rewrite-below-bytes": "0"})
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
    table = _appended(catalog, schema, rows, 8, props={"cascade.merge.max-deleted-fraction": "1.0",
                                                               "cascade.merge.rewrite-below-bytes": "0"})
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
    table.transaction().set_properties({"cascade.merge.max-deleted-fraction": "1.0",
                                        "cascade.merge.rewrite-below-bytes": "0"}).commit_transaction()
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


def test_few_small_files_wait_for_min_input_files_in_a_tiered_pass(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 4)
    assert plan_compaction(table, full=False).empty  # default min-input-files is 5
    assert plan_compaction(table).files == 4  # a full pass merges them all
    table.transaction().set_properties({"cascade.compaction.min-input-files": "3"}).commit_transaction()
    assert plan_compaction(table, full=False).files == 4


def test_a_tiered_pass_leaves_a_compacted_file_alone_and_merges_files_of_its_size(
    catalog: Catalog, schema: Schema, rows: Rows
) -> None:
    table = _appended(catalog, schema, rows, 12, width=400, props={"cascade.compaction.tier-floor-bytes": "0"})
    first = compact(table, plan_compaction(table, full=False))
    assert (first.data_files_rewritten, first.data_files_added) == (12, 1)
    [big] = [t.file.file_path for t in table.scan().plan_files()]
    for i in range(6):
        commit_append(table, rows([100_000 + i]))
    before = _read(table)
    plan = plan_compaction(table, full=False)
    assert plan.files == 6
    assert big not in {t.file.file_path for g in plan.groups for t in g}
    compact(table, plan)
    assert big in {t.file.file_path for t in table.scan().plan_files()}
    assert table_stats(table).data_files == 2
    assert _read(table).equals(before)
    for i in range(3):
        commit_append(table, rows([200_000 + i]))
    assert plan_compaction(table, full=False).empty  # 3 tiny files and 2 larger ones: nothing is due
    result = compact(table)  # a full pass: everything small into one file, one manifest
    assert (result.data_files_rewritten, result.data_files_added, result.manifests_after) == (5, 1, 1)
    assert (table_stats(table).data_files, table_stats(table).manifests) == (1, 1)
    assert plan_compaction(table).empty  # and then nothing is left to do
    assert _read(table).column("id").to_pylist() == [
        *range(12 * 400), *range(100_000, 100_006), *range(200_000, 200_003)]


def test_files_below_the_tier_floor_are_merged_together_as_they_come(
    catalog: Catalog, schema: Schema, rows: Rows
) -> None:
    table = _appended(catalog, schema, rows, 12, width=400)
    compact(table, plan_compaction(table, full=False))
    [merged] = [t.file for t in table.scan().plan_files()]
    assert merged.file_size_in_bytes < CompactionSettings().tier_floor
    for i in range(3):
        commit_append(table, rows([100_000 + i]))
    assert plan_compaction(table, full=False).empty  # 4 files below the floor: fewer than min-input-files
    commit_append(table, rows([100_003]))
    before = _read(table)
    plan = plan_compaction(table, full=False)
    assert plan.files == 5  # the merged file is in the floor's tier with the new ones
    compact(table, plan)
    assert table_stats(table).data_files == 1
    assert _read(table).equals(before)


def test_the_tier_floor_property_is_read() -> None:
    assert CompactionSettings.of({"cascade.compaction.tier-floor-bytes": "1024"}).tier_floor == 1024
    with pytest.raises(ValueError, match="tier-floor-bytes"):
        CompactionSettings.of({"cascade.compaction.tier-floor-bytes": "-1"})


@pytest.mark.parametrize("full", [True, False])
def test_a_pass_with_several_groups_writes_each_to_its_own_file(
    catalog: Catalog, schema: Schema, rows: Rows, full: bool
) -> None:
    # Two partitions ("a…" and "b…" names; a full pass: one group each), or two size tiers (a tiered pass).
    table = ensure_table(catalog, "default.t", schema, partition_by=[("name", "truncate[1]")] if full else None)
    table.transaction().set_properties({"cascade.compaction.tier-floor-bytes": "0"}).commit_transaction()
    for i in range(5):
        commit_append(table, rows([i], tag="a") if full else rows(list(range(i * 2000, i * 2000 + 2000))))
        commit_append(table, rows([100_000 + i], tag="b"))
    before = _read(table)
    plan = plan_compaction(table, full=full)
    assert (len(plan.groups), plan.files) == (2, 10)
    result = compact(table, plan)
    files = [t.file.file_path for t in table.scan().plan_files()]
    assert len(files) == len(set(files)) == result.data_files_added == 2
    assert _read(table).equals(before)


def test_a_full_pass_folds_every_delete_file(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 1, width=1000, props={"cascade.merge.max-deleted-fraction": "1.0",
                                                               "cascade.merge.rewrite-below-bytes": "0"})
    commit_upsert(table, rows([7], tag="x"), ["id"])  # 0.1 % deleted: below the delete fraction
    before = _read(table)
    assert plan_compaction(table, full=False).empty
    result = compact(table)
    assert result.delete_files_removed == 1
    assert (table_stats(table).data_files, table_stats(table).delete_files) == (1, 0)
    assert _read(table).equals(before)


def test_a_pass_takes_at_most_max_files_per_pass(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 9, props={"cascade.compaction.max-files-per-pass": "4"})
    assert plan_compaction(table).files == 4
    compact(table)
    assert table_stats(table).data_files == 6
    assert plan_compaction(table, full=False).files == 4


def test_files_near_the_target_size_are_left_alone(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _appended(catalog, schema, rows, 6, props={"write.target-file-size-bytes": "100",
                                                     "commit.manifest-merge.enabled": "false"})
    assert plan_compaction(table, full=False).empty
    full = plan_compaction(table)
    assert (full.files, full.rewrite_manifests) == (0, True)  # a full pass still merges the manifests


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
                                                     "cascade.compaction.min-input-files": "100",
                                                     "commit.manifest-merge.enabled": "false"})
    plan = plan_compaction(table, full=False)
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
