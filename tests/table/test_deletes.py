from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat, ManifestContent
from pyiceberg.schema import Schema
from pyiceberg.typedef import Record

from cascade_rt.table import commit_append, commit_upsert, ensure_table
from cascade_rt.table._deletes import (
    PATH_FIELD_ID,
    POS_FIELD_ID,
    read_deleted_positions,
    referenced_data_file,
    write_position_deletes,
)

Rows = Callable[..., pa.Table]

MOR = {"cascade.merge.rewrite-below-bytes": "0"}
"""Merge-on-read with position deletes even for these small files (rewritten by default)."""


def test_upsert_writes_a_spec_conformant_position_delete_file(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(100))))
    commit_upsert(table, rows([40, 7, 93], tag="x"), ["id"])
    [task] = [t for t in table.scan().plan_files() if t.delete_files]
    [delete_file] = task.delete_files
    assert delete_file.content == DataFileContent.POSITION_DELETES
    assert (delete_file.record_count, delete_file.spec_id) == (3, task.file.spec_id)
    assert referenced_data_file(delete_file) == task.file.file_path
    with table.io.new_input(delete_file.file_path).open() as stream:
        written = pq.read_table(stream)
    assert written.column_names == ["file_path", "pos"]
    assert [f.metadata[b"PARQUET:field_id"] for f in written.schema] == [str(PATH_FIELD_ID).encode(), str(POS_FIELD_ID).encode()]
    assert written.column("pos").to_pylist() == [7, 40, 93]  # sorted by (file_path, pos)
    assert set(written.column("file_path").to_pylist()) == {task.file.file_path}
    snapshot = table.current_snapshot()
    assert snapshot is not None
    contents = sorted(m.content for m in snapshot.manifests(table.io))
    assert contents == [ManifestContent.DATA, ManifestContent.DELETES]  # the two data manifests merged


def test_read_deleted_positions_unions_files_and_filters_other_paths(catalog: Catalog, schema: Schema, rows: Rows) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    commit_append(table, rows(list(range(10))))
    [task] = list(table.scan().plan_files())
    base = table.location()
    first = write_position_deletes(table.io, f"{base}/data/d1.parquet", task.file, np.array([1, 4]))
    second = write_position_deletes(table.io, f"{base}/data/d2.parquet", task.file, np.array([4, 8]))
    got = read_deleted_positions(table.io, [first, second], task.file.file_path)
    assert got.tolist() == [1, 4, 8]
    assert read_deleted_positions(table.io, [first], "file:///elsewhere.parquet").tolist() == []


def test_read_deleted_positions_rejects_equality_deletes(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema, properties=MOR)
    equality = DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path="file:///wh/eq.parquet",
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=1,
        file_size_in_bytes=1,
    )
    with pytest.raises(ValueError, match=r"^equality delete file file:///wh/eq\.parquet is not supported; rewrite the table$"):
        read_deleted_positions(table.io, [equality], "file:///wh/data.parquet")
