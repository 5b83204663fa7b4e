from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from cascade_rt.table import commit_append, commit_upsert, ensure_table, read_branch
from cascade_rt.table._scan import scan_arrow

Rows = Callable[..., pa.Table]

MOR = {"cascade.merge.rewrite-below-bytes": "0"}
"""Merge-on-read with position deletes even for these small files (rewritten by default)."""


def _by_id(table: pa.Table) -> pa.Table:
    return table.sort_by("id")


def test_scan_matches_pyiceberg_with_deletes_and_schema_evolution(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_append(table, rows(list(range(100, 200))))
    commit_upsert(table, rows([3, 150, 999], tag="x"), ["id"])
    wider = Schema(*schema.fields, NestedField(4, "note", StringType(), required=False), identifier_field_ids=[1])
    table = ensure_table(catalog, "default.t", wider, properties=MOR)
    commit_upsert(table, pa.table({"id": [4, 151], "note": ["n4", "n151"]}), ["id"])
    assert sum(1 for t in table.scan().plan_files() if t.delete_files) == 2
    ours, theirs = scan_arrow(table), table.scan().to_arrow()
    assert ours.schema == theirs.schema
    assert _by_id(ours).equals(_by_id(theirs))
    assert ours.num_rows == 201
    got = {r["id"]: (r["name"], r["note"]) for r in ours.to_pylist()}
    assert (got[3], got[4], got[151], got[5]) == (("x3", None), (None, "n4"), (None, "n151"), ("v5", None))


def test_scan_keeps_pyiceberg_row_order(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows([5, 3, 9, 1, 7, 2, 8, 4]))
    commit_append(table, rows([20, 10]))
    commit_upsert(table, rows([9], tag="x"), ["id"])
    assert scan_arrow(table).column("id").to_pylist() == table.scan().to_arrow().column("id").to_pylist()


def test_scan_without_deletes_and_on_branches(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(10))))
    assert scan_arrow(table).equals(table.scan().to_arrow())
    commit_upsert(table, rows([1], tag="dev"), ["id"], branch="dev")
    assert scan_arrow(table).equals(table.scan().to_arrow())
    dev = scan_arrow(table, "dev")
    assert _by_id(dev).equals(_by_id(table.scan().use_ref("dev").to_arrow()))
    assert _by_id(read_branch(table, "dev")).equals(_by_id(dev))
    assert {r["id"]: r["name"] for r in dev.to_pylist()}[1] == "dev1"


def test_scan_of_never_written_main_is_empty_and_unknown_ref_fails(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    assert scan_arrow(table).num_rows == 0
    with pytest.raises(ValueError, match=r"^Cannot scan unknown ref=nope$"):
        scan_arrow(table, "nope")
