from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema

from cascade_rt.table import (
    commit_append,
    commit_upsert,
    drop_branch,
    ensure_branch,
    ensure_table,
    list_branches,
    publish_branch,
    read_branch,
)

Rows = Callable[..., pa.Table]


def test_branch_starts_at_main_head(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1]))
    head = ensure_branch(table, "run-1")
    assert head == table.metadata.current_snapshot_id
    assert ensure_branch(table, "run-1") == head
    assert list_branches(table) == ["main", "run-1"]


def test_branch_of_a_never_written_table_starts_empty(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    assert ensure_branch(table, "run-1") == table.metadata.current_snapshot_id
    assert list_branches(table) == ["main", "run-1"]
    assert read_branch(table, "run-1").num_rows == 0
    commit_upsert(table, rows([1, 2]), ["id"], branch="run-1")
    assert read_branch(table, "main").num_rows == 0
    publish_branch(table, "run-1")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2]


def test_publish_fast_forwards_main(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1]))
    ensure_branch(table, "run")
    result = commit_upsert(table, rows([1, 2], tag="run"), ["id"], branch="run")
    assert table.scan().use_ref("main").to_arrow().num_rows == 1
    assert publish_branch(table, "run") == result.snapshot_id
    fresh = catalog.load_table("default.t")
    assert fresh.metadata.current_snapshot_id == result.snapshot_id
    assert sorted(fresh.scan().to_arrow().column("name").to_pylist()) == ["run1", "run2"]


def test_publish_refuses_when_main_moved(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1]))
    ensure_branch(table, "run")
    commit_append(table, rows([2]), branch="run")
    commit_append(table, rows([3]))
    with pytest.raises(ValueError, match=r"cannot publish branch 'run' of table default\.t: main moved to snapshot \d+"):
        publish_branch(table, "run")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 3]


def test_publish_unknown_branch_fails(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    with pytest.raises(ValueError, match=r"table default\.t has no branch 'ghost' to publish"):
        publish_branch(table, "ghost")


def test_drop_branch(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1]))
    ensure_branch(table, "tmp")
    assert drop_branch(table, "tmp") is True
    assert drop_branch(table, "tmp") is False
    assert list_branches(catalog.load_table("default.t")) == ["main"]
    with pytest.raises(ValueError, match=r"the main branch cannot be dropped"):
        drop_branch(table, "main")
