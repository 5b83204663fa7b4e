from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema

from cascade_rt.table import commit_append, commit_upsert, ensure_table, query
from cascade_rt.table._query import referenced_tables

Rows = Callable[..., pa.Table]


def test_query_sees_current_rows_by_bare_name(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.orders", schema)
    commit_append(table, rows([1, 2, 3]))
    commit_upsert(table, rows([3], tag="x"), ["id"])
    got = query(catalog, "SELECT id, name FROM orders ORDER BY id")
    assert got.to_pylist() == [{"id": 1, "name": "v1"}, {"id": 2, "name": "v2"}, {"id": 3, "name": "x3"}]


def test_query_joins_tables_across_namespaces(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    commit_append(ensure_table(catalog, "default.a", schema), rows([1, 2]))
    commit_append(ensure_table(catalog, "sales.b", schema), rows([2, 3], tag="b"))
    got = query(catalog, 'SELECT a.id, b.name FROM "default".a AS a JOIN sales.b AS b USING (id)')
    assert got.to_pylist() == [{"id": 2, "name": "b2"}]
    assert query(catalog, "SELECT count(*) AS n FROM b", namespace="sales").to_pylist() == [{"n": 2}]


def test_query_loads_only_referenced_tables(catalog: Catalog, schema: Schema) -> None:
    ensure_table(catalog, "default.orders", schema)
    ensure_table(catalog, "default.customers", schema)
    assert referenced_tables(catalog, "select * from ORDERS") == [("default", "orders")]


def test_query_on_unknown_table_is_a_duckdb_error(catalog: Catalog) -> None:
    with pytest.raises(duckdb.CatalogException, match=r"Table with name nothing does not exist"):
        query(catalog, "SELECT * FROM nothing")


def test_query_on_never_written_table_is_empty(catalog: Catalog, schema: Schema) -> None:
    ensure_table(catalog, "default.empty", schema)
    assert query(catalog, "SELECT count(*) AS n FROM empty").to_pylist() == [{"n": 0}]
