from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from cascade_rt.table import (
    commit_append,
    commit_upsert,
    compact_deletes,
    ensure_table,
    publish_branch,
    query,
    read_branch,
)
from cascade_rt.table._merge import (
    COPY_ON_WRITE,
    MERGE_ON_READ,
    max_deleted_fraction,
    rewrite_below_bytes,
    rewrite_wanted,
    upsert_mode,
)

Rows = Callable[..., pa.Table]

MOR = {"cascade.merge.rewrite-below-bytes": "0"}
"""Merge-on-read with position deletes even for these small files (rewritten by default)."""


def _set(table: Table, props: dict[str, str]) -> None:
    with table.transaction() as tx:
        tx.set_properties(props)


def _live_files(table: Table, branch: str = "main") -> tuple[set[str], set[str]]:
    """(data files, delete files) live on ``branch``."""
    data: set[str] = set()
    deletes: set[str] = set()
    for task in table.scan().use_ref(branch).plan_files():
        data.add(task.file.file_path)
        deletes.update(d.file_path for d in task.delete_files)
    return data, deletes


def _summary(table: Table) -> dict[str, str]:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert snapshot.summary is not None
    return dict(snapshot.summary.additional_properties)


def test_mode_defaults_to_merge_on_read_on_v2() -> None:
    assert upsert_mode({}, 2) == MERGE_ON_READ


def test_mode_parameter_beats_table_properties() -> None:
    props = {"write.merge.mode": MERGE_ON_READ}
    assert upsert_mode(props, 2, COPY_ON_WRITE) == COPY_ON_WRITE


def test_mode_from_merge_then_update_property() -> None:
    assert upsert_mode({"write.merge.mode": COPY_ON_WRITE, "write.update.mode": MERGE_ON_READ}, 2) == COPY_ON_WRITE
    assert upsert_mode({"write.update.mode": COPY_ON_WRITE}, 2) == COPY_ON_WRITE


@pytest.mark.parametrize("version", [1, 3])
def test_tables_other_than_v2_fall_back_to_copy_on_write(version: int) -> None:
    assert upsert_mode({}, version) == COPY_ON_WRITE
    with pytest.raises(ValueError, match=rf"merge-on-read needs an Iceberg v2 table \(position delete files\), this one is v{version}"):
        upsert_mode({}, version, MERGE_ON_READ)


def test_unknown_mode_is_rejected_naming_its_source() -> None:
    with pytest.raises(ValueError, match=r"^mode must be 'merge-on-read' or 'copy-on-write', got 'fast'$"):
        upsert_mode({}, 2, "fast")
    with pytest.raises(ValueError, match=r"^table property write\.merge\.mode must be .*, got 'mor'$"):
        upsert_mode({"write.merge.mode": "mor"}, 2)


def test_max_deleted_fraction_default_and_validation() -> None:
    assert max_deleted_fraction({}) == 0.25
    assert max_deleted_fraction({"cascade.merge.max-deleted-fraction": "0.5"}) == 0.5
    for bad in ("x", "1.5", "-0.1"):
        with pytest.raises(ValueError, match=r"cascade\.merge\.max-deleted-fraction must be a number in \[0, 1\]"):
            max_deleted_fraction({"cascade.merge.max-deleted-fraction": bad})


def test_rewrite_wanted_by_mode_and_deleted_fraction() -> None:
    assert rewrite_wanted(COPY_ON_WRITE, 100, 0, 1, 0.25)
    assert not rewrite_wanted(MERGE_ON_READ, 100, 10, 14, 0.25)
    assert rewrite_wanted(MERGE_ON_READ, 100, 10, 15, 0.25)


def test_merge_on_read_rewrites_a_file_below_the_rewrite_size() -> None:
    assert rewrite_wanted(MERGE_ON_READ, 100, 0, 1, 0.25, file_size=999, rewrite_below=1000)
    assert not rewrite_wanted(MERGE_ON_READ, 100, 0, 1, 0.25, file_size=1000, rewrite_below=1000)
    assert rewrite_below_bytes({}) == 4 * 1024 * 1024
    assert rewrite_below_bytes({"cascade.merge.rewrite-below-bytes": "0"}) == 0
    for bad in ("x", "-1"):
        with pytest.raises(ValueError, match=r"'cascade\.merge\.rewrite-below-bytes' must (be an integer|not be negative)"):
            rewrite_below_bytes({"cascade.merge.rewrite-below-bytes": bad})


def test_small_touched_files_are_rewritten_and_large_ones_get_position_deletes(
        catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows(list(range(10))))  # a small file
    commit_append(table, rows(list(range(100, 20_100))))  # a larger one
    sizes = sorted(t.file.file_size_in_bytes for t in table.scan().plan_files())
    _set(table, {"cascade.merge.rewrite-below-bytes": str(sizes[0] + 1)})
    commit_upsert(table, rows([3, 150], tag="x"), ["id"])
    data, deletes = _live_files(table)
    assert (len(data), len(deletes)) == (2, 1)  # the small file rewritten with the new rows; deletes for the larger
    [with_deletes] = [t for t in table.scan().plan_files() if t.delete_files]
    assert with_deletes.file.file_size_in_bytes == sizes[1]
    got = table.scan().to_arrow().sort_by("id")
    assert got.num_rows == 20_010
    assert got.filter(pa.compute.equal(got.column("name"), "x3")).num_rows == 1
    assert got.filter(pa.compute.equal(got.column("name"), "x150")).num_rows == 1
    assert got.filter(pa.compute.equal(got.column("name"), "v3")).num_rows == 0


def test_created_tables_are_format_v2(catalog: Catalog, schema: Schema) -> None:
    assert ensure_table(catalog, "default.t", schema, properties=MOR).format_version == 2


def test_merge_on_read_writes_deletes_and_new_rows_in_one_snapshot(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_append(table, rows(list(range(1000, 1100))))
    before = len(table.snapshots())
    result = commit_upsert(table, rows([5, 1001, 7777], tag="x"), ["id"])
    assert (result.rows_inserted, result.rows_updated, result.rows_written) == (1, 2, 3)
    assert len(table.snapshots()) == before + 1
    summary = _summary(table)
    assert "deleted-data-files" not in summary
    assert (summary["added-position-delete-files"], summary["added-position-deletes"]) == ("2", "2")
    assert (summary["total-delete-files"], summary["total-records"]) == ("2", "203")
    got = table.scan().to_arrow()
    assert got.num_rows == 201
    assert sorted(r["name"] for r in got.to_pylist() if r["id"] in (5, 1001, 7777)) == ["x1001", "x5", "x7777"]


def test_a_data_file_keeps_one_delete_file_holding_all_its_deletes(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    for i in range(5):
        commit_upsert(table, rows([i], tag="x"), ["id"])
    _, deletes = _live_files(table)
    assert len(deletes) == 1
    summary = _summary(table)
    assert (summary["removed-position-delete-files"], summary["added-position-deletes"]) == ("1", "5")
    assert summary["total-position-deletes"] == "5"
    assert table.scan().to_arrow().num_rows == 100


def test_reinserted_key_is_found_only_in_its_newer_file(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([5], tag="a"), ["id"])
    result = commit_upsert(table, rows([5], tag="b"), ["id"])
    assert (result.rows_inserted, result.rows_updated) == (0, 1)
    # The live key 5 was found in the one-row file of the first upsert (rewritten away, wholly
    # deleted), not again at its deleted position in the old file.
    summary = _summary(table)
    assert (summary["deleted-data-files"], summary["total-position-deletes"]) == ("1", "1")
    names = [r["name"] for r in table.scan().to_arrow().to_pylist() if r["id"] == 5]
    assert names == ["b5"]


def test_crossing_the_deleted_fraction_rewrites_the_file_and_drops_its_deletes(
    catalog: Catalog, schema: Schema, rows: Rows
) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    _set(table, {"cascade.merge.max-deleted-fraction": "0.5"})
    table = catalog.load_table("default.t")
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows(list(range(30)), tag="a"), ["id"])
    assert _summary(table)["total-delete-files"] == "1"
    result = commit_upsert(table, rows(list(range(30, 60)), tag="b"), ["id"])
    assert (result.rows_inserted, result.rows_updated) == (0, 30)
    summary = _summary(table)
    assert (summary["deleted-data-files"], summary["removed-position-delete-files"]) == ("1", "1")
    assert (summary["total-delete-files"], summary["total-records"]) == ("0", "100")
    got = {r["id"]: r["name"] for r in table.scan().to_arrow().to_pylist()}
    assert got == {i: ("a" if i < 30 else "b" if i < 60 else "v") + str(i) for i in range(100)}


def test_copy_on_write_after_merge_on_read_drops_the_delete_files(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([1, 2], tag="a"), ["id"])
    result = commit_upsert(table, rows([2, 3], tag="b"), ["id"], mode="copy-on-write")
    assert (result.rows_inserted, result.rows_updated) == (0, 2)
    assert _summary(table)["total-delete-files"] == "0"
    got = {r["id"]: r["name"] for r in table.scan().to_arrow().to_pylist()}
    assert (len(got), got[1], got[2], got[3], got[4]) == (100, "a1", "b2", "b3", "v4")


def test_copy_on_write_table_property_writes_no_delete_files(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    _set(table, {"write.merge.mode": "copy-on-write"})
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([5], tag="x"), ["id"])
    summary = _summary(table)
    assert (summary["deleted-data-files"], summary["total-delete-files"]) == ("1", "0")


def test_v1_table_upserts_copy_on_write(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    catalog.create_namespace("default")
    table = catalog.create_table("default.v1", schema, properties={"format-version": "1"})
    commit_append(table, rows(list(range(10))))
    result = commit_upsert(table, rows([3, 11], tag="x"), ["id"])
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert _summary(table)["total-delete-files"] == "0"
    with pytest.raises(ValueError, match=r"merge-on-read needs an Iceberg v2 table"):
        commit_upsert(table, rows([3]), ["id"], mode="merge-on-read")
    assert table.scan().to_arrow().num_rows == 11


def test_merge_on_read_composite_keys(catalog: Catalog, composite_schema: Schema) -> None:
    table = ensure_table(catalog, "default.c", composite_schema, properties=MOR)
    regions = ["eu", "us"] * 20
    commit_append(table, pa.table({"region": regions, "id": list(range(40)), "v": [0.0] * 40}))
    result = commit_upsert(
        table, pa.table({"region": ["eu", "us", "us"], "id": [0, 0, 1], "v": [1.0, 2.0, 3.0]}), ["region", "id"]
    )
    assert (result.rows_inserted, result.rows_updated) == (1, 2)
    assert _summary(table)["added-position-deletes"] == "2"
    got = {(r["region"], r["id"]): r["v"] for r in table.scan().to_arrow().to_pylist()}
    assert (len(got), got[("eu", 0)], got[("us", 0)], got[("us", 1)]) == (41, 1.0, 2.0, 3.0)


def test_merge_on_read_in_a_partitioned_table(catalog: Catalog) -> None:
    from pyiceberg.types import DoubleType, LongType, NestedField, StringType

    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "region", StringType(), required=False),
        NestedField(3, "v", DoubleType()),
        identifier_field_ids=[1],
    )
    table = ensure_table(catalog, "default.p", schema, partition_by=[("region", "identity")], properties=MOR)
    commit_append(table, pa.table({"id": list(range(40)), "region": ["eu", "us"] * 20, "v": [0.0] * 40}))
    result = commit_upsert(table, pa.table({"id": [0, 1], "region": ["eu", "us"], "v": [1.0, 2.0]}), ["id"])
    assert (result.rows_inserted, result.rows_updated) == (0, 2)
    tasks = [t for t in table.scan().plan_files() if t.delete_files]
    assert len(tasks) == 2
    for task in tasks:
        assert {d.partition for d in task.delete_files} == {task.file.partition}
    eu = table.scan(row_filter="region = 'eu'").to_arrow()
    assert (eu.num_rows, sorted(eu.column("v").to_pylist())[-1]) == (20, 1.0)
    assert sorted(r["v"] for r in table.scan().to_arrow().to_pylist())[-2:] == [1.0, 2.0]


def test_merge_on_read_on_a_branch_leaves_main_untouched(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([1], tag="m"), ["id"])
    result = commit_upsert(table, rows([1, 2, 500], tag="dev"), ["id"], branch="dev")
    assert (result.rows_inserted, result.rows_updated) == (1, 2)
    assert _live_files(table, "main")[1] != _live_files(table, "dev")[1]
    main = {r["id"]: r["name"] for r in read_branch(table).to_pylist()}
    dev = {r["id"]: r["name"] for r in read_branch(table, "dev").to_pylist()}
    assert (len(main), main[1], main[2]) == (100, "m1", "v2")
    assert (len(dev), dev[1], dev[2], dev[500]) == (101, "dev1", "dev2", "dev500")


def test_published_merge_on_read_branch_reads_the_same_on_main(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([1, 2, 500], tag="dev"), ["id"], branch="dev")
    publish_branch(table, "dev")
    fresh = catalog.load_table("default.t")
    assert fresh.scan().to_arrow().sort_by("id").equals(read_branch(fresh, "dev").sort_by("id"))
    assert {r["id"]: r["name"] for r in read_branch(fresh).to_pylist()}[2] == "dev2"


def test_stale_writer_fails_instead_of_deleting_stale_positions(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    from pyiceberg.exceptions import ValidationException

    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    stale = catalog.load_table("default.t")
    commit_upsert(table, rows([1], tag="a"), ["id"])
    with pytest.raises(ValidationException, match=r"branch 'main' moved during the upsert .* run the upsert again"):
        commit_upsert(stale, rows([2], tag="b"), ["id"])
    stale.refresh()
    commit_upsert(stale, rows([2], tag="b"), ["id"])
    got = {r["id"]: r["name"] for r in table.refresh().scan().to_arrow().to_pylist()}
    assert (len(got), got[1], got[2]) == (100, "a1", "b2")


@pytest.mark.parametrize("mode", ["merge-on-read", "copy-on-write"])
def test_many_random_upserts_match_a_model_and_bound_delete_files(
    catalog: Catalog, schema: Schema, rows: Rows, mode: str
) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    rng = np.random.default_rng(7)
    model: dict[int, str] = {}
    for n in range(25):
        ids = rng.integers(0, 400, size=int(rng.integers(1, 60))).tolist()
        tag = f"r{n}-"
        commit_upsert(table, rows(ids, tag=tag), ["id"], mode=mode)
        model.update({i: f"{tag}{i}" for i in ids})
        data, deletes = _live_files(table)
        assert len(deletes) <= len(data)
        if mode == "copy-on-write":
            assert not deletes
    for task in table.scan().plan_files():  # no file is left more than a quarter deleted
        deleted = sum(d.record_count for d in task.delete_files)
        assert deleted < 0.25 * task.file.record_count
    got = table.scan().to_arrow()
    assert got.num_rows == len(model)
    assert {r["id"]: r["name"] for r in got.to_pylist()} == model
    if mode == "merge-on-read":
        assert int(_summary(table)["total-delete-files"]) > 0  # the test did exercise delete files


def test_plain_pyiceberg_and_duckdb_read_merge_on_read_tables(home, schema: Schema, rows: Rows) -> None:  # type: ignore[no-untyped-def]
    from pyiceberg.catalog.sql import SqlCatalog

    from cascade_rt.table import open_catalog

    catalog = open_catalog(home)
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([3, 4, 200], tag="x"), ["id"])
    commit_upsert(table, rows([4, 5], tag="y"), ["id"])
    plain = SqlCatalog("cascade", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri())
    got = {r["id"]: r["name"] for r in plain.load_table("default.t").scan().to_arrow().to_pylist()}
    assert (len(got), got[3], got[4], got[5], got[200]) == (101, "x3", "y4", "y5", "x200")
    counted = query(catalog, "SELECT count(*) AS n, count(DISTINCT id) AS k, max(name) FILTER (WHERE id = 4) AS four FROM t")
    assert counted.to_pylist() == [{"n": 101, "k": 101, "four": "y4"}]


def test_compact_deletes_rewrites_files_with_deletes_in_one_commit(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_append(table, rows(list(range(100, 200))))
    commit_upsert(table, rows([1, 2, 150], tag="x"), ["id"])
    before = {r["id"]: r["name"] for r in table.scan().to_arrow().to_pylist()}
    snapshots = len(table.snapshots())
    assert compact_deletes(table, min_deleted_fraction=0.015) == 1  # 2 % of the first file, 1 % of the second
    assert len(table.snapshots()) == snapshots + 1
    assert _summary(table)["total-delete-files"] == "1"
    assert compact_deletes(table) == 1
    summary = _summary(table)
    assert (summary["total-delete-files"], summary["total-records"]) == ("0", "200")
    assert {r["id"]: r["name"] for r in table.scan().to_arrow().to_pylist()} == before
    assert compact_deletes(table) == 0
    assert len(table.snapshots()) == snapshots + 2


def test_compact_deletes_on_a_branch_and_its_misuse(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    assert compact_deletes(table) == 0
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([1], tag="dev"), ["id"], branch="dev")
    commit_upsert(table, rows([2], tag="main"), ["id"])
    assert compact_deletes(table, branch="dev") == 1
    assert _live_files(table, "dev")[1] == set()
    assert len(_live_files(table, "main")[1]) == 1
    assert {r["id"]: r["name"] for r in read_branch(table, "dev").to_pylist()}[1] == "dev1"
    with pytest.raises(ValueError, match=r"^table default\.t has no branch 'nope'$"):
        compact_deletes(table, branch="nope")
    with pytest.raises(ValueError, match=r"^min_deleted_fraction must be in \[0, 1\], got 2$"):
        compact_deletes(table, min_deleted_fraction=2)


def test_bad_mode_fails_before_anything_is_written(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    with pytest.raises(ValueError, match=r"^mode must be 'merge-on-read' or 'copy-on-write', got 'upsert'$"):
        commit_upsert(table, rows([1]), ["id"], mode="upsert")
    assert table.current_snapshot() is None
