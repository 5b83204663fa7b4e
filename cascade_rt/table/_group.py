"""What one group commit does with the writes it holds: join them, then append or upsert per branch."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH

from ._upsert import CommitResult, commit_data


def coalesce(batches: Sequence[pa.RecordBatch | pa.Table]) -> pa.Table:
    """Concatenate batches and tables into one table, in order, unifying columns by name.

    Columns missing from some inputs are null there; types are promoted where Arrow can.
    """
    tables = [pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema
    if all(t.schema.equals(first) for t in tables[1:]):
        return pa.concat_tables(tables)
    return pa.concat_tables(tables, promote_options="permissive")


def commit_buffered(
    table: Table,
    pending: dict[str, list[pa.RecordBatch | pa.Table]],
    keys: Sequence[str],
    *,
    deduplicate: bool,
    properties: dict[str, str] | None = None,
) -> dict[str, CommitResult]:
    """Commit the buffered data of each branch (one commit per branch); main's commit gets
    ``properties`` in its summary (the stream positions it covers). Blocking."""
    chosen = keys if deduplicate else ()
    props = properties or {}
    return {
        branch: commit_data(table, coalesce(batches), chosen, branch=branch,
                            properties=props if branch == MAIN_BRANCH else {})
        for branch, batches in pending.items()
    }
