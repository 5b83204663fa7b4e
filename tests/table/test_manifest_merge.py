"""Manifest merging at commit: appends, upserts and compaction keep a few manifests, every
snapshot reads the same rows as without merging, and merged-away manifests leave no files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyiceberg.catalog import Catalog
from pyiceberg.manifest import ManifestContent
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from cascade_rt.table import commit_append, commit_upsert, ensure_table, open_catalog
from cascade_rt.table._compact import compact, plan_compaction
from cascade_rt.table._manifest_merge import (
    TIER_FLOOR,
    ManifestMergeSettings,
    plan_manifest_merge,
)
from cascade_rt.table._stats import table_stats

Rows = Callable[..., pa.Table]


def _read(table: Table, snapshot_id: int | None = None) -> pa.Table:
    return table.scan(snapshot_id=snapshot_id).to_arrow().sort_by("id")


def _manifests(table: Table, snapshot_id: int | None = None) -> list[ManifestContent]:
    snapshot = table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
    assert snapshot is not None
    return sorted(m.content for m in snapshot.manifests(table.io))


def _files_on_disk(table: Table) -> set[str]:
    root = table.location().removeprefix("file://") + "/metadata"
    return {os.path.join(root, f) for f in os.listdir(root) if f.endswith(".avro") and not f.startswith("snap-")}


def _referenced_manifests(table: Table) -> set[str]:
    return {m.manifest_path.removeprefix("file://") for s in table.metadata.snapshots for m in s.manifests(table.io)}


@dataclass
class FakeManifest:
    """The three fields the plan reads, so the plan is tested without files."""

    manifest_path: str
    manifest_length: int
    content: ManifestContent = ManifestContent.DATA
    partition_spec_id: int = 0


def test_small_manifests_of_one_tier_are_merged_from_the_minimum_count() -> None:
    a, b, c = (FakeManifest(p, 5_000) for p in "abc")
    settings = ManifestMergeSettings(min_count=3)
    assert plan_manifest_merge([a, b], settings) == []  # type: ignore[list-item]
    assert plan_manifest_merge([a, b, c], settings) == [[a, b, c]]  # type: ignore[list-item]


def test_manifests_merge_only_with_their_size_tier_content_and_spec() -> None:
    small = [FakeManifest(f"s{i}", 1_000) for i in range(2)]
    big = FakeManifest("big", TIER_FLOOR * 10)
    deletes = FakeManifest("d", 1_000, ManifestContent.DELETES)
    other_spec = FakeManifest("o", 1_000, partition_spec_id=1)
    plan = plan_manifest_merge([*small, big, deletes, other_spec], ManifestMergeSettings())  # type: ignore[list-item]
    assert plan == [small]


def test_manifests_at_the_target_size_are_never_merged_and_bins_stay_below_it() -> None:
    settings = ManifestMergeSettings(target_size=10_000)
    full = [FakeManifest(f"f{i}", 10_000) for i in range(3)]
    assert plan_manifest_merge(full, settings) == []  # type: ignore[arg-type]
    parts = [FakeManifest(f"p{i}", 4_000) for i in range(5)]
    assert plan_manifest_merge(parts, settings) == [parts[0:2], parts[2:4]]  # type: ignore[arg-type]


def test_merging_switched_off_by_the_iceberg_property() -> None:
    settings = ManifestMergeSettings.of({"commit.manifest-merge.enabled": "false"})
    assert plan_manifest_merge([FakeManifest("a", 1), FakeManifest("b", 1)], settings) == []  # type: ignore[list-item]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("commit.manifest-merge.enabled", "yes", "must be true or false"),
    ("commit.manifest.min-count-to-merge", "two", "must be an integer"),
])
def test_a_bad_merge_property_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        ManifestMergeSettings.of({name: value})


def test_many_appends_keep_a_few_manifests_and_every_snapshot_reads_the_same(
        catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    expected: dict[int, pa.Table] = {}
    for i in range(30):
        commit_append(table, rows(list(range(3 * i, 3 * i + 3))))
        snapshot = table.current_snapshot()
        assert snapshot is not None
        expected[snapshot.snapshot_id] = _read(table)
        assert len(_manifests(table)) <= 2
    for snapshot_id, rows_then in expected.items():
        assert _read(table, snapshot_id).equals(rows_then)
    assert table_stats(table).data_files == 30


def test_without_merging_each_append_adds_a_manifest(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({"commit.manifest-merge.enabled": "false"}).commit_transaction()
    for i in range(6):
        commit_append(table, rows([i]))
    assert len(_manifests(table)) == 6


def test_merged_away_manifests_of_the_commit_leave_no_file(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    for i in range(8):
        commit_append(table, rows([i]))
    commit_upsert(table, rows([1, 5], tag="x"), ["id"])
    assert _files_on_disk(table) == _referenced_manifests(table)


def test_upserts_merge_data_and_delete_manifests(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({"cascade.merge.max-deleted-fraction": "1.0",
                                        "cascade.merge.rewrite-below-bytes": "0"}).commit_transaction()
    for i in range(6):
        commit_append(table, rows(list(range(10 * i, 10 * i + 10))))
    for i in range(6):  # one row of each data file: a delete file each
        commit_upsert(table, rows([10 * i], tag=f"u{i}"), ["id"])
    assert table_stats(table).delete_files == 6
    contents = _manifests(table)
    assert contents.count(ManifestContent.DATA) <= 2
    assert contents.count(ManifestContent.DELETES) <= 2
    read = _read(table)
    assert read.num_rows == 60
    assert read.filter(pa.compute.starts_with(read.column("name"), "u")).column("id").to_pylist() == [0, 10, 20, 30, 40, 50]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["append", "upsert", "compact"]), min_size=1, max_size=12))
def test_merging_never_changes_what_a_snapshot_reads(tmp_path_factory: pytest.TempPathFactory, schema: Schema,
                                                     rows: Rows, ops: list[str]) -> None:
    tables = []
    for merged in (True, False):
        table = ensure_table(open_catalog(tmp_path_factory.mktemp("home")), "default.t", schema)
        table.transaction().set_properties({
            "cascade.merge.max-deleted-fraction": "1.0", "cascade.merge.rewrite-below-bytes": "0",
            "commit.manifest-merge.enabled": str(merged).lower(),
        }).commit_transaction()
        tables.append(table)
    for step, op in enumerate(ops):
        for table in tables:
            if op == "append":
                commit_append(table, rows([100 + step * 2, 101 + step * 2]))
            elif op == "upsert":
                commit_upsert(table, rows([100 + step, step], tag=f"s{step}"), ["id"])
            elif not (plan := plan_compaction(table, full=False)).empty:
                compact(table, plan)
        with_merging, without = (_read(t) for t in tables)
        assert with_merging.equals(without), (step, op)
