"""How an upsert removes the old rows: the mode decision and the key lookup.

Two ways, as Iceberg's ``write.merge.mode``:

* ``merge-on-read`` (the default on v2 tables): the positions of replaced rows are written as
  a position delete file next to the data file; readers skip them. Cost ∝ rows upserted.
* ``copy-on-write``: every data file holding a replaced row is rewritten without it. Cost ∝
  size of the touched files (with random keys, the whole table).

Merge-on-read compacts as it goes: a data file whose deleted fraction reaches
``cascade.merge.max-deleted-fraction`` (default 0.25) is rewritten copy-on-write by the upsert
that crosses it, and its delete file dropped in the same commit. So is a touched data file
smaller than ``cascade.merge.rewrite-below-bytes`` (default 4 MiB; 0 turns it off): rewriting a
small file costs about what writing its delete file does, and readers then pay nothing for it
(a scan of a file with position deletes reads and applies them, several times the cost of the
file alone here). Together with compaction's tier floor (the same 4 MiB), the small files of a
table upserted every second stay few and free of deletes; position deletes stay for large files,
whose rewrite would cost far more than their delete file. With one delete file per data
file (see ``_deletes``), a table never holds more delete files than data files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask
from pyiceberg.table.metadata import TableMetadata

from ._deletes import read_deleted_positions, referenced_data_file
from ._properties import number_property

MERGE_ON_READ = "merge-on-read"
COPY_ON_WRITE = "copy-on-write"
MODE_PROPERTY = "write.merge.mode"
"""Table property choosing the upsert mode (Iceberg's own name); ``write.update.mode`` is the fallback."""
MAX_DELETED_FRACTION_PROPERTY = "cascade.merge.max-deleted-fraction"
"""Table property: a data file whose deleted fraction reaches it is rewritten (default 0.25)."""
DEFAULT_MAX_DELETED_FRACTION = 0.25
REWRITE_BELOW_PROPERTY = "cascade.merge.rewrite-below-bytes"
"""Table property: merge-on-read rewrites a touched data file smaller than this (default 4 MiB)."""
DEFAULT_REWRITE_BELOW = 4 * 1024 * 1024
_MODES = (MERGE_ON_READ, COPY_ON_WRITE)


def upsert_mode(properties: Mapping[str, str], format_version: int, mode: str | None = None) -> str:
    """Choose how an upsert removes replaced rows.

    Order: ``mode`` when given, else the table property ``write.merge.mode``, else
    ``write.update.mode``, else merge-on-read. A v1 table cannot hold delete files, so it falls
    back to copy-on-write unless merge-on-read was asked for explicitly; so does a v3 table, whose
    deletion vectors pyiceberg 0.12 cannot write.

    Raises:
        ValueError: an unknown mode, or ``mode="merge-on-read"`` on a v1 table.
    """
    chosen = mode or properties.get(MODE_PROPERTY) or properties.get("write.update.mode") or MERGE_ON_READ
    if chosen not in _MODES:
        source = "mode" if mode else f"table property {MODE_PROPERTY}"
        raise ValueError(f"{source} must be 'merge-on-read' or 'copy-on-write', got {chosen!r}")
    if chosen == MERGE_ON_READ and format_version != 2:
        if mode:
            raise ValueError(
                f"merge-on-read needs an Iceberg v2 table (position delete files), this one is v{format_version}; "
                "use mode='copy-on-write' or upgrade the table"
            )
        return COPY_ON_WRITE
    return chosen


def max_deleted_fraction(properties: Mapping[str, str]) -> float:
    """The compaction threshold from the table properties.

    Raises:
        ValueError: a value that is not a number in [0, 1].
    """
    try:
        value = number_property(properties, MAX_DELETED_FRACTION_PROPERTY, DEFAULT_MAX_DELETED_FRACTION, float)
    except ValueError:
        value = -1.0
    if value > 1.0 or value < 0.0:
        raw = properties.get(MAX_DELETED_FRACTION_PROPERTY)
        raise ValueError(f"table property {MAX_DELETED_FRACTION_PROPERTY} must be a number in [0, 1], got {raw!r}")
    return value


def rewrite_below_bytes(properties: Mapping[str, str]) -> int:
    """The size below which merge-on-read rewrites a touched data file (see the module docstring).

    Raises:
        ValueError: a value that is not a non-negative integer.
    """
    return int(number_property(properties, REWRITE_BELOW_PROPERTY, DEFAULT_REWRITE_BELOW))


def rewrite_wanted(mode: str, record_count: int, already_deleted: int, newly_deleted: int, max_fraction: float,
                   *, file_size: int = 0, rewrite_below: int = 0) -> bool:
    """Whether a touched data file is rewritten (True) or gets position deletes (False).

    Copy-on-write always rewrites. Merge-on-read rewrites once the file's deleted rows (before
    plus now) reach ``max_fraction`` of its rows, or when the file (``file_size`` bytes) is
    smaller than ``rewrite_below``.
    """
    if mode == COPY_ON_WRITE or file_size < rewrite_below:
        return True
    return already_deleted + newly_deleted >= max_fraction * max(record_count, 1)


@dataclass(slots=True)
class Touched:
    """A data file holding rows the upsert replaces.

    Attributes:
        task: The scan task (the data file and the delete files that apply to it).
        deleted: Positions already deleted, sorted.
        hits: Positions of live rows whose key is upserted, sorted.
        own_deletes: Delete files that name only this data file (replaced or dropped with it).
    """

    task: FileScanTask
    deleted: np.ndarray
    hits: np.ndarray
    own_deletes: list[DataFile]

    @property
    def file(self) -> DataFile:
        return self.task.file

    def live_mask(self) -> np.ndarray:
        """True for the rows kept when the file is rewritten."""
        keep = np.ones(self.task.file.record_count, dtype=bool)
        keep[self.deleted] = False
        keep[self.hits] = False
        return keep

    def all_deleted(self) -> np.ndarray:
        """The file's deleted positions after this upsert, sorted."""
        return np.union1d(self.deleted, self.hits) if self.deleted.size else self.hits


def read_file(metadata: TableMetadata, io: FileIO, data_file: DataFile, columns: Sequence[str] | None = None) -> pa.Table:
    """All rows of ``data_file`` in file order (row i is position i), deletes not applied."""
    schema = metadata.schema()
    projected = schema.select(*columns) if columns is not None else schema
    row_filter: BooleanExpression = AlwaysTrue()
    return ArrowScan(metadata, io, projected, row_filter).to_table(tasks=[FileScanTask(data_file)])


def find_touched(
    metadata: TableMetadata,
    io: FileIO,
    tasks: Sequence[FileScanTask],
    incoming: pa.Table,
    keys: Sequence[str],
    is_in: Callable[[pa.Table, pa.Table, Sequence[str]], Any],
    also: Sequence[str] = (),
) -> tuple[list[Touched], list[pa.Table]]:
    """Find the live rows of ``tasks`` whose key is in ``incoming``.

    Rows already deleted by the task's delete files are not live: a key deleted and
    re-inserted lives on in a newer data file only.

    Returns:
        The touched files, and for each the key columns (and the columns ``also`` names) of its
        matched rows.
    """
    columns = [*keys, *(c for c in also if c not in keys)]

    def probe(task: FileScanTask) -> tuple[Touched, pa.Table] | None:
        existing = read_file(metadata, io, task.file, columns)
        mask = np.array(is_in(existing, incoming, keys), dtype=np.bool_)
        path = task.file.file_path
        deleted = read_deleted_positions(io, task.delete_files, path) if task.delete_files else np.empty(0, np.int64)
        if deleted.size:
            mask[deleted[deleted < mask.size]] = False
        hits = np.flatnonzero(mask)
        if not hits.size:
            return None
        own = [d for d in task.delete_files if referenced_data_file(d) == path]
        return Touched(task, deleted, hits, own), existing.take(pa.array(hits))

    found = [probe(task) for task in tasks]
    hits_only = [f for f in found if f is not None]
    return [t for t, _ in hits_only], [m for _, m in hits_only]
