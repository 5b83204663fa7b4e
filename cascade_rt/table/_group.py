"""What one group commit does with the writes it holds: join them, then append or upsert per branch."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH

from ._metadata import CachedTransaction
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
    dry_run: bool = False,
) -> dict[str, CommitResult]:
    """Commit the buffered data of each branch (one commit per branch); main's commit gets
    ``properties`` in its summary (the stream positions it covers). ``dry_run`` commits nothing
    and raises what the commits would raise (see ``commit_append``). Blocking.

    An empty list of batches for main (and ``properties``) commits a snapshot that adds no data:
    how the stream positions of writes whose every row went to the dead-letter queue are
    committed all the same (see ``_poison``)."""
    chosen = keys if deduplicate else ()
    props = properties or {}
    results: dict[str, CommitResult] = {}
    for branch, batches in pending.items():
        if not batches and branch == MAIN_BRANCH and props:
            if not dry_run:
                results[branch] = commit_positions(table, props)
            continue
        results[branch] = commit_data(table, coalesce(batches), chosen, branch=branch,
                                      properties=props if branch == MAIN_BRANCH else {}, dry_run=dry_run)
    return results


def commit_positions(table: Table, properties: dict[str, str]) -> CommitResult:
    """A snapshot of main that adds no data and carries ``properties`` in its summary. Blocking."""
    with CachedTransaction(table) as tx, tx._append_snapshot_producer(properties, branch=MAIN_BRANCH):
        pass
    ref = table.metadata.refs.get(MAIN_BRANCH)
    return CommitResult(ref.snapshot_id if ref is not None else None, 0, 0, 0)
