from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

from cascade_rt.table import (
    CommitResult,
    commit_append,
    commit_upsert,
    conform,
    dedupe_last,
    ensure_branch,
    ensure_table,
    read_branch,
)

Rows = Callable[..., pa.Table]

needs_core = pytest.mark.skipif(
    importlib.util.find_spec("pyiceberg_core") is None,
    reason="bucket/time partition transforms need pyiceberg-core (pyiceberg[pyiceberg-core])",
)


def _summary(table: Table) -> dict[str, str]:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert snapshot.summary is not None
    return {**snapshot.summary.additional_properties, "operation": str(snapshot.summary.operation)}


def _sorted(table: pa.Table, *keys: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = table.sort_by([(k, "ascending") for k in keys]).to_pylist()
    return rows


def test_dedupe_last_keeps_last_occurrence_in_order() -> None:
    data = pa.table({"id": [1, 2, 1, 3, 2], "v": ["a", "b", "c", "d", "e"]})
    assert dedupe_last(data, ["id"]).to_pylist() == [
        {"id": 1, "v": "c"},
        {"id": 3, "v": "d"},
        {"id": 2, "v": "e"},
    ]


def test_dedupe_last_on_composite_keys_and_record_batches() -> None:
    batch = pa.record_batch({"a": [1, 1, 1, 2], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]})
    assert dedupe_last(batch, ["a", "b"]).to_pylist() == [
        {"a": 1, "b": "y", "v": 2},
        {"a": 1, "b": "x", "v": 3},
        {"a": 2, "b": "x", "v": 4},
    ]


def test_dedupe_last_without_duplicates_returns_input() -> None:
    data = pa.table({"id": [3, 1, 2]})
    assert dedupe_last(data, ["id"]) is data


def test_dedupe_last_rejects_unknown_key() -> None:
    with pytest.raises(ValueError, match=r"key columns \['nope'\] are not in the data \(columns: \['id'\]\)"):
        dedupe_last(pa.table({"id": [1]}), ["nope"])


def test_upsert_inserts_then_updates_and_counts(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    first = commit_upsert(table, rows([1, 2, 3]), ["id"])
    assert (first.rows_inserted, first.rows_updated, first.rows_written) == (3, 0, 3)
    second = commit_upsert(table, rows([2, 3, 4], tag="new"), ["id"])
    assert (second.rows_inserted, second.rows_updated, second.rows_written) == (1, 2, 3)
    assert second.snapshot_id == table.metadata.current_snapshot_id
    got = _sorted(catalog.load_table("default.t").scan().to_arrow(), "id")
    assert [(r["id"], r["name"]) for r in got] == [(1, "v1"), (2, "new2"), (3, "new3"), (4, "new4")]


def test_resending_same_rows_leaves_each_key_once(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    data = rows(list(range(50)))
    for _ in range(4):
        result = commit_upsert(table, data, ["id"])
    assert result == CommitResult(table.metadata.current_snapshot_id, 0, 50, 50)
    got = table.scan().to_arrow()
    assert got.num_rows == 50
    assert sorted(got.column("id").to_pylist()) == list(range(50))


def test_duplicates_within_one_upsert_last_wins(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    data = pa.table({"id": [1, 1, 2], "name": ["old", "new", "b"], "value": [1.0, 2.0, 3.0]})
    result = commit_upsert(table, data, ["id"])
    assert (result.rows_inserted, result.rows_written) == (2, 2)
    assert _sorted(table.scan().to_arrow(), "id")[0] == {"id": 1, "name": "new", "value": 2.0}


def test_composite_keys_replace_only_exact_matches(catalog: Catalog, composite_schema: Schema) -> None:
    table = ensure_table(catalog, "default.c", composite_schema)
    commit_upsert(table, pa.table({"region": ["eu", "eu", "us"], "id": [1, 2, 1], "v": [1.0, 2.0, 3.0]}), ["region", "id"])
    result = commit_upsert(
        table, pa.table({"region": ["us", "us"], "id": [1, 2], "v": [30.0, 40.0]}), ["region", "id"]
    )
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    got = _sorted(table.scan().to_arrow(), "region", "id")
    assert [(r["region"], r["id"], r["v"]) for r in got] == [
        ("eu", 1, 1.0),
        ("eu", 2, 2.0),
        ("us", 1, 30.0),
        ("us", 2, 40.0),
    ]


def test_upsert_on_a_branch_leaves_main_untouched(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_upsert(table, rows([1, 2]), ["id"])
    main_head = table.metadata.current_snapshot_id
    result = commit_upsert(table, rows([2, 3], tag="dev"), ["id"], branch="dev")
    assert (result.rows_inserted, result.rows_updated) == (1, 1)
    assert table.metadata.current_snapshot_id == main_head
    assert [r["name"] for r in _sorted(table.scan().use_ref("main").to_arrow(), "id")] == ["v1", "v2"]
    assert [r["name"] for r in _sorted(read_branch(table, "dev"), "id")] == ["v1", "dev2", "dev3"]


def test_append_adds_rows_to_the_branch(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    result = commit_append(table, rows([1, 1]))
    assert (result.rows_inserted, result.rows_updated, result.rows_written) == (2, 0, 2)
    ensure_branch(table, "b")
    commit_append(table, rows([5]), branch="b")
    assert table.scan().to_arrow().num_rows == 2
    assert read_branch(table, "b").num_rows == 3


def test_data_is_cast_by_name_and_missing_optional_columns_are_null(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    data = pa.table({"value": pa.array([1.5], pa.float32()), "id": pa.array([7], pa.int32())})
    assert conform(data, table).column_names == ["id", "name", "value"]
    commit_upsert(table, data, ["id"])
    assert table.scan().to_arrow().to_pylist() == [{"id": 7, "name": None, "value": 1.5}]


def test_conform_rejects_unknown_columns(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    with pytest.raises(ValueError, match=r"table default\.t: columns \['extra'\] are not in the table schema"):
        conform(pa.table({"id": [1], "extra": [1]}), table)


def test_conform_rejects_missing_or_null_required_columns(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    with pytest.raises(ValueError, match=r"table default\.t: required column 'id' is missing"):
        conform(pa.table({"name": ["x"]}), table)
    with pytest.raises(ValueError, match=r"table default\.t: required column 'id' has 1 null values"):
        conform(pa.table({"id": pa.array([None, 1], pa.int64())}), table)


def test_empty_upsert_commits_nothing(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    assert commit_upsert(table, rows([]), ["id"]) == CommitResult(None, 0, 0, 0)
    assert table.current_snapshot() is None


def test_copy_on_write_upsert_rewrites_only_files_that_hold_the_keys(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows(list(range(100))))
    commit_append(table, rows(list(range(1000, 1100))))
    commit_upsert(table, rows([5], tag="x"), ["id"], mode="copy-on-write")
    summary = _summary(table)
    assert summary["deleted-data-files"] == "1"
    assert summary["deleted-records"] == "100"
    assert table.scan().to_arrow().num_rows == 200


@pytest.mark.parametrize("transform", ["identity", pytest.param("day", marks=needs_core)])
def test_upsert_into_partitioned_table_rewrites_only_touched_partitions(catalog: Catalog, transform: str) -> None:
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "at", TimestamptzType(), required=False),
        NestedField(3, "v", DoubleType()),
        identifier_field_ids=[1],
    )
    table = ensure_table(catalog, "default.p", schema, partition_by=[("at", transform)])
    day = 86_400_000_000
    at = pa.array([0, day, 2 * day], pa.timestamp("us", tz="UTC"))
    commit_upsert(table, pa.table({"id": [1, 2, 3], "at": at, "v": [1.0, 2.0, 3.0]}), ["id"])
    assert len(list(table.scan().plan_files())) == 3
    result = commit_upsert(
        table, pa.table({"id": [2], "at": pa.array([day], pa.timestamp("us", tz="UTC")), "v": [20.0]}), ["id"]
    )
    assert (result.rows_updated, result.rows_inserted) == (1, 0)
    assert _summary(table)["deleted-data-files"] == "1"
    assert [r["v"] for r in _sorted(table.scan().to_arrow(), "id")] == [1.0, 20.0, 3.0]


def test_upsert_after_schema_evolution_keeps_old_rows_with_nulls(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_upsert(table, rows([1, 2]), ["id"])
    wider = Schema(*schema.fields, NestedField(4, "note", StringType(), required=False), identifier_field_ids=[1])
    table = ensure_table(catalog, "default.t", wider)
    commit_upsert(table, pa.table({"id": [2, 3], "note": ["b", "c"]}), ["id"])
    got = _sorted(table.scan().to_arrow(), "id")
    assert [(r["id"], r["name"], r["note"]) for r in got] == [(1, "v1", None), (2, None, "b"), (3, None, "c")]


@pytest.mark.parametrize("mode", ["merge-on-read", "copy-on-write"])
def test_upsert_replaces_every_duplicate_of_a_key_and_counts_it_once(
    catalog: Catalog, schema: Schema, rows: Rows, mode: str
) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
    result = commit_upsert(table, rows([1, 10], tag="x"), ["id"], mode=mode)
    assert (result.rows_inserted, result.rows_updated, result.rows_written) == (1, 1, 2)
    got = _sorted(table.scan().to_arrow(), "id")
    assert [(r["id"], r["name"]) for r in got if r["id"] in (1, 10)] == [(1, "x1"), (10, "x10")]
    assert len(got) == 10
