"""A compacted table, read by other engines exactly as pyiceberg reads it.

DuckDB reads its data files (a compaction folds every delete file, so the Parquet files alone are
the table); ClickHouse (chdb's ``icebergLocal``) reads the Iceberg metadata itself: manifests,
position deletes and time travel, at every retained snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from cascade_rt.table import commit_append, commit_upsert, ensure_table
from cascade_rt.table._compact import compact
from cascade_rt.table._stats import table_stats

chdb: Any
try:
    import chdb
except ImportError:  # pragma: no cover - a dev install has it
    chdb = None

needs_chdb = pytest.mark.skipif(
    chdb is None, reason="chdb (ClickHouse in process) does not import: pip install -c constraints.txt -e '.[dev]'"
)

Rows = Callable[..., pa.Table]

MOR = {"cascade.merge.rewrite-below-bytes": "0"}
"""Merge-on-read with position deletes even for these small files (rewritten by default)."""


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(zip(*(table.column(n).to_pylist() for n in ("id", "name", "value")), strict=True))


def _compacted_with_history(catalog: Catalog, schema: Schema, rows: Rows) -> Table:
    """Appends, upserts (position deletes), a compaction, more upserts, and a second compaction."""
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    table.transaction().set_properties({"cascade.merge.max-deleted-fraction": "1.0"}).commit_transaction()
    for i in range(6):
        commit_append(table, rows(list(range(i * 50, i * 50 + 50))))
    commit_upsert(table, rows([3, 60, 299, 1000], tag="u1-"), ["id"])
    assert table_stats(table).delete_files > 0
    compact(table)
    commit_upsert(table, rows([4, 60, 1001], tag="u2-"), ["id"])
    commit_upsert(table, rows([5, 1000], tag="u3-"), ["id"])
    assert table_stats(table).delete_files > 0
    compact(table)
    stats = table_stats(table)
    assert (stats.data_files, stats.delete_files) == (1, 0)
    return table


def test_duckdb_reads_a_compacted_table_from_its_data_files_alone(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _compacted_with_history(catalog, schema, rows)
    paths = [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]
    relation = duckdb.sql(f"SELECT id, name, value FROM read_parquet({paths!r})")
    assert relation is not None
    got = _rows(relation.to_arrow_table())
    expected = _rows(table.scan().to_arrow())
    assert got == expected
    assert len(got) == 302
    assert {(3, "u1-3", 3.0), (60, "u2-60", 60.0), (1000, "u3-1000", 1000.0)} <= set(got)


@needs_chdb
def test_clickhouse_reads_a_compacted_table_alike_at_every_snapshot(
    catalog: Catalog, schema: Schema, rows: Rows, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _compacted_with_history(catalog, schema, rows)
    # chdb reads local files below its working directory only.
    location = Path(table.location().removeprefix("file://"))
    monkeypatch.chdir(home)
    relative = location.relative_to(home)

    def clickhouse(snapshot_id: int | None = None) -> list[tuple[Any, ...]]:
        settings = f" SETTINGS iceberg_snapshot_id = {snapshot_id}" if snapshot_id is not None else ""
        result = chdb.query(f"SELECT id, name, value FROM icebergLocal('{relative}'){settings}", "ArrowTable")
        return _rows(result)

    assert clickhouse() == _rows(table.scan().to_arrow())
    retained = table.metadata.snapshots
    assert len(retained) >= 10
    for snapshot in retained:  # before, between and after the compactions, deletes and all
        assert clickhouse(snapshot.snapshot_id) == _rows(table.scan(snapshot_id=snapshot.snapshot_id).to_arrow())
