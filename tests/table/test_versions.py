"""Upserts with a version column and a deleted column (ReplacingMergeTree's ``ver`` and ``is_deleted``),
on real Iceberg tables, merge-on-read and copy-on-write."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import BooleanType, LongType, NestedField, StringType, TimestamptzType

from cascade_rt.table import commit_upsert, ensure_table, read_branch
from cascade_rt.table._versions import DELETED_PROPERTY, VERSION_PROPERTY, dedupe_versioned

MODES = ["merge-on-read", "copy-on-write"]

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "ver", LongType(), required=True),
    NestedField(3, "deleted", LongType(), required=True),
    NestedField(4, "name", StringType(), required=False),
    identifier_field_ids=[1],
)


def _rows(*rows: tuple[int, int, int, str]) -> pa.Table:
    ids, vers, dels, names = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table({"id": pa.array(ids, pa.int64()), "ver": pa.array(vers, pa.int64()),
                     "deleted": pa.array(dels, pa.int64()), "name": pa.array(names, pa.string())})


def _state(table: Table) -> dict[int, tuple[int, str]]:
    rows = read_branch(table, "main").to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"a key is held twice: {sorted(ids)}"
    return {r["id"]: (r["ver"], r["name"]) for r in rows}


@pytest.fixture
def table(catalog: Catalog) -> Table:
    return ensure_table(catalog, "default.versioned", SCHEMA)


def _upsert(table: Table, data: pa.Table, mode: str) -> tuple[int, int, int, int]:
    r = commit_upsert(table, data, ["id"], mode=mode, version="ver", deleted="deleted")
    return r.rows_inserted, r.rows_updated, r.rows_written, r.rows_deleted


def test_dedupe_versioned_keeps_the_greatest_version_and_the_last_on_a_tie() -> None:
    data = pa.table({"id": [1, 1, 2, 1, 2, 3], "ver": [5, 3, 1, 5, 1, 0], "n": ["a", "b", "c", "d", "e", "f"]})
    assert dedupe_versioned(data, ["id"], "ver").to_pylist() == [
        {"id": 1, "ver": 5, "n": "d"},
        {"id": 2, "ver": 1, "n": "e"},
        {"id": 3, "ver": 0, "n": "f"},
    ]


@pytest.mark.parametrize("mode", MODES)
def test_a_lower_version_never_replaces_the_stored_row(table: Table, mode: str) -> None:
    assert _upsert(table, _rows((1, 5, 0, "five"), (2, 1, 0, "one")), mode) == (2, 0, 2, 0)
    # 1 arrives older than stored (ignored); 2 newer (replaces it); 3 is new.
    assert _upsert(table, _rows((1, 4, 0, "four"), (2, 2, 0, "two"), (3, 1, 0, "new")), mode) == (1, 1, 2, 0)
    assert _state(table) == {1: (5, "five"), 2: (2, "two"), 3: (1, "new")}
    # Only stale rows: nothing is committed.
    head = table.metadata.current_snapshot_id
    assert _upsert(table, _rows((1, 1, 0, "old"), (2, 1, 1, "old delete")), mode) == (0, 0, 0, 0)
    assert table.metadata.current_snapshot_id == head
    assert _state(table) == {1: (5, "five"), 2: (2, "two"), 3: (1, "new")}


@pytest.mark.parametrize("mode", MODES)
def test_an_equal_version_replaces_the_stored_row(table: Table, mode: str) -> None:
    _upsert(table, _rows((1, 5, 0, "first")), mode)
    assert _upsert(table, _rows((1, 5, 0, "second")), mode) == (0, 1, 1, 0)
    assert _state(table) == {1: (5, "second")}


@pytest.mark.parametrize("mode", MODES)
def test_within_one_batch_the_greatest_version_wins_whatever_its_place(table: Table, mode: str) -> None:
    batch = _rows((1, 3, 0, "c"), (1, 9, 0, "max"), (1, 2, 0, "b"), (2, 1, 0, "x"), (2, 1, 0, "last tie"))
    assert _upsert(table, batch, mode) == (2, 0, 2, 0)
    assert _state(table) == {1: (9, "max"), 2: (1, "last tie")}


@pytest.mark.parametrize("mode", MODES)
def test_a_winning_deleted_row_removes_the_key_and_a_later_row_brings_it_back(table: Table, mode: str) -> None:
    _upsert(table, _rows((1, 1, 0, "a"), (2, 1, 0, "b"), (3, 1, 0, "c")), mode)
    # 1: deleted at a higher version (removed); 2: a delete older than the stored row (ignored);
    # 3: deleted then re-inserted in the same batch (the insert has the higher version);
    # 4: a delete of a key never stored (nothing written).
    batch = _rows((1, 2, 1, "gone"), (2, 0, 1, "stale"), (3, 2, 1, "x"), (3, 3, 0, "back"), (4, 1, 1, "none"))
    assert _upsert(table, batch, mode) == (0, 1, 1, 1)
    assert _state(table) == {2: (1, "b"), 3: (3, "back")}
    # No tombstone: a row of key 1 arrives after its delete, even with a lower version.
    assert _upsert(table, _rows((1, 1, 0, "again")), mode) == (1, 0, 1, 0)
    assert _state(table) == {1: (1, "again"), 2: (1, "b"), 3: (3, "back")}


@pytest.mark.parametrize("mode", MODES)
def test_deleting_every_row_of_a_file_leaves_an_empty_table(table: Table, mode: str) -> None:
    _upsert(table, _rows((1, 1, 0, "a"), (2, 1, 0, "b")), mode)
    assert _upsert(table, _rows((1, 2, 1, ""), (2, 2, 1, "")), mode) == (0, 0, 0, 2)
    assert _state(table) == {}


def test_the_columns_come_from_the_table_properties(catalog: Catalog) -> None:
    table = ensure_table(catalog, "default.props", SCHEMA,
                         properties={VERSION_PROPERTY: "ver", DELETED_PROPERTY: "deleted"})
    assert table.metadata.properties[VERSION_PROPERTY] == "ver"
    commit_upsert(table, _rows((1, 5, 0, "five")), ["id"])
    commit_upsert(table, _rows((1, 4, 0, "four"), (2, 1, 1, "gone")), ["id"])
    assert _state(table) == {1: (5, "five")}
    # Declared away: the properties are removed, and the last write wins again.
    table = ensure_table(catalog, "default.props", SCHEMA, properties={VERSION_PROPERTY: None, DELETED_PROPERTY: None})
    assert VERSION_PROPERTY not in table.metadata.properties
    commit_upsert(table, _rows((1, 4, 0, "four")), ["id"])
    assert _state(table) == {1: (4, "four")}


def test_a_timestamp_version_and_a_boolean_deleted_column(catalog: Catalog) -> None:
    schema = Schema(
        NestedField(1, "id", StringType(), required=True),
        NestedField(2, "updated_at", TimestamptzType(), required=True),
        NestedField(3, "gone", BooleanType(), required=True),
        identifier_field_ids=[1],
    )
    table = ensure_table(catalog, "default.ts", schema)
    ts = pa.timestamp("us", tz="UTC")

    def rows(*items: tuple[str, int, bool]) -> pa.Table:
        return pa.table({"id": [i[0] for i in items], "updated_at": pa.array([i[1] for i in items], ts),
                         "gone": [i[2] for i in items]})

    commit_upsert(table, rows(("a", 10, False), ("b", 10, False)), ["id"], version="updated_at", deleted="gone")
    commit_upsert(table, rows(("a", 5, True), ("b", 20, True)), ["id"], version="updated_at", deleted="gone")
    assert read_branch(table, "main").column("id").to_pylist() == ["a"]


def test_bad_version_settings_fail_naming_the_column(table: Table) -> None:
    with pytest.raises(ValueError, match="deleted column 'deleted' needs a version column"):
        commit_upsert(table, _rows((1, 1, 0, "a")), ["id"], deleted="deleted")
    with pytest.raises(ValueError, match="version column 'nope' is not in the table"):
        commit_upsert(table, _rows((1, 1, 0, "a")), ["id"], version="nope")
    optional = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "ver", LongType(), required=False),
                      identifier_field_ids=[1])
    loose = ensure_table(table.catalog, "default.loose", optional)
    with pytest.raises(ValueError, match="version column 'ver' has 1 null values"):
        commit_upsert(loose, pa.table({"id": [1, 2], "ver": pa.array([1, None], pa.int64())}), ["id"], version="ver")


@pytest.mark.parametrize("mode", MODES)
def test_composite_keys_compare_versions_per_key_tuple(catalog: Catalog, mode: str) -> None:
    schema = Schema(
        NestedField(1, "tenant", StringType(), required=True),
        NestedField(2, "id", LongType(), required=True),
        NestedField(3, "ver", LongType(), required=True),
        identifier_field_ids=[1, 2],
    )
    table = ensure_table(catalog, "default.composite", schema)

    def rows(*items: tuple[str, int, int]) -> pa.Table:
        return pa.table({"tenant": [i[0] for i in items], "id": pa.array([i[1] for i in items], pa.int64()),
                         "ver": pa.array([i[2] for i in items], pa.int64())})

    commit_upsert(table, rows(("a", 1, 5), ("b", 1, 5)), ["tenant", "id"], mode=mode, version="ver")
    result = commit_upsert(table, rows(("a", 1, 4), ("b", 1, 6), ("a", 2, 1), ("a", 2, 3)), ["tenant", "id"],
                           mode=mode, version="ver")
    assert (result.rows_inserted, result.rows_updated, result.rows_written) == (1, 1, 2)
    got = sorted((r["tenant"], r["id"], r["ver"]) for r in read_branch(table, "main").to_pylist())
    assert got == [("a", 1, 5), ("a", 2, 3), ("b", 1, 6)]
