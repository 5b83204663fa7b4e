from __future__ import annotations

import os
import time
from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from cascade_rt.table import commit_append, commit_upsert, ensure_branch, ensure_table, read_branch
from cascade_rt.table._compact import compact
from cascade_rt.table._maintenance import Retention, expire_snapshots
from cascade_rt.table._orphans import list_table_files, referenced_files, remove_orphans

Rows = Callable[..., pa.Table]


def _ids(table: Table, snapshot_id: int | None = None) -> list[int]:
    return sorted(table.scan(snapshot_id=snapshot_id).to_arrow().column("id").to_pylist())


def _compacted(catalog: Catalog, schema: Schema, rows: Rows) -> Table:
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({"cascade.merge.max-deleted-fraction": "1.0"}).commit_transaction()
    for i in range(6):
        commit_append(table, rows(list(range(10 * i, 10 * i + 10))))
    commit_upsert(table, rows([3, 14, 200], tag="x"), ["id"])
    return table


def test_files_of_expired_snapshots_go_and_every_retained_snapshot_still_reads(
    catalog: Catalog, schema: Schema, rows: Rows
) -> None:
    table = _compacted(catalog, schema, rows)
    ensure_branch(table, "audit")  # a branch on the pre-compaction head
    branch_ids = sorted(read_branch(table, "audit").column("id").to_pylist())
    for i in range(5):  # files only snapshots after the branch use, compacted away below
        commit_append(table, rows([300 + i]))
    compact(table)
    expire_snapshots(table, Retention(max_snapshots=1))
    kept = {s.snapshot_id: _ids(table, s.snapshot_id) for s in table.metadata.snapshots}
    result = remove_orphans(table, grace_ms=0)
    assert result.files_deleted > 0
    assert result.failures == 0
    on_disk = {path for path, _, _ in list_table_files(table)}
    assert referenced_files(table) <= on_disk  # nothing a retained snapshot references is gone
    for snapshot_id, ids in kept.items():
        assert _ids(table, snapshot_id) == ids
    assert sorted(read_branch(table, "audit").column("id").to_pylist()) == branch_ids
    assert _ids(table) == sorted({*range(60), 200, *range(300, 305)})


def test_nothing_referenced_is_an_orphan(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _compacted(catalog, schema, rows)
    compact(table)
    assert remove_orphans(table, grace_ms=0).files_deleted == 0  # no snapshot expired: all referenced


def test_young_orphans_wait_for_the_grace_period(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _compacted(catalog, schema, rows)
    stray = table.location().removeprefix("file://") + "/data/stray.parquet"
    with open(stray, "wb") as out:
        out.write(b"not referenced")
    assert remove_orphans(table).files_too_young == 1  # default grace: one hour
    assert os.path.exists(stray)
    old = time.time() - 7200
    os.utime(stray, (old, old))
    result = remove_orphans(table)
    assert (result.files_deleted, result.bytes_deleted) == (1, len(b"not referenced"))
    assert not os.path.exists(stray)


def test_a_bad_grace_period_is_named(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = _compacted(catalog, schema, rows)
    table.transaction().set_properties({"cascade.orphans.grace-period-ms": "soon"}).commit_transaction()
    with pytest.raises(ValueError, match=r"'cascade.orphans.grace-period-ms' must be an integer, got 'soon'"):
        remove_orphans(table)
