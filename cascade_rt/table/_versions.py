"""The version and deleted columns of a keyed upsert (ClickHouse ReplacingMergeTree's ``ver`` and
``is_deleted``), in Arrow.

Without a version column an upsert keeps the last row of each key. With one, it keeps the row
with the greatest version, the last of them on a tie, both among the incoming rows and against the
live rows of the table: an incoming row whose version is lower than the stored row's is dropped,
and the stored row stays. With a deleted column as well, a winning row whose deleted value is
non-zero (or true) removes its key: the stored row is deleted and nothing is written. No tombstone
is kept, so a later row of that key, whatever its version, inserts it again (ClickHouse behaves the
same once a cleanup merge has dropped the deleted rows).

The columns are given to ``commit_upsert`` or, for every writer of a table, set as the table
properties ``cascade.upsert.version-column`` and ``cascade.upsert.deleted-column``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = (
    "DELETED_PROPERTY",
    "VERSION_PROPERTY",
    "check_columns",
    "dedupe_versioned",
    "deleted_mask",
    "stale_mask",
    "version_columns",
)

VERSION_PROPERTY = "cascade.upsert.version-column"
"""Table property: the column whose greatest value wins among rows of one key."""
DELETED_PROPERTY = "cascade.upsert.deleted-column"
"""Table property: the column that marks a winning row as a delete of its key (needs a version column)."""

_ORDER = "__cascade_order"
_VERSION = "__cascade_version"
_STORED = "__cascade_stored"
_RANK = "__cascade_rank"


def version_columns(
    properties: Mapping[str, str], version: str | None = None, deleted: str | None = None, *, table: str = "table"
) -> tuple[str | None, str | None]:
    """The ``(version, deleted)`` columns of an upsert: those given, else the table's properties.

    Raises:
        ValueError: a deleted column without a version column.
    """
    version = version or properties.get(VERSION_PROPERTY) or None
    deleted = deleted or properties.get(DELETED_PROPERTY) or None
    if deleted is not None and version is None:
        raise ValueError(
            f"{table}: the deleted column {deleted!r} needs a version column (as ReplacingMergeTree's "
            "is_deleted needs ver); set both"
        )
    return version, deleted


def check_columns(data: pa.Table, version: str | None, deleted: str | None, *, table: str) -> None:
    """Raises ValueError unless the version and deleted columns are in ``data`` without nulls
    (a null cannot be ordered, nor read as deleted or not)."""
    for role, name in (("version", version), ("deleted", deleted)):
        if name is None:
            continue
        if name not in data.column_names:
            raise ValueError(f"{table}: {role} column {name!r} is not in the table (columns: {data.column_names})")
        nulls = data.column(name).null_count
        if nulls:
            raise ValueError(f"{table}: {role} column {name!r} has {nulls} null values")


def dedupe_versioned(data: pa.Table, keys: Sequence[str], version: str) -> pa.Table:
    """Keep, per key, the row with the greatest ``version``, the last of them on a tie.

    The surviving rows keep their relative order. Only the key and version columns are sorted
    and grouped; the rows are taken once.
    """
    if data.num_rows < 2 or _distinct_int_keys(data, keys):
        return data
    slim = pa.table([*(data.column(k) for k in keys), data.column(version),
                     pa.array(np.arange(data.num_rows, dtype=np.int64))], names=[*keys, _VERSION, _ORDER])
    ranked = slim.take(pc.sort_indices(slim, sort_keys=[(_VERSION, "ascending"), (_ORDER, "ascending")]))
    # The last row of each key in (version, position) order: a hash group-by over the ranks.
    ranks = pa.table([*(ranked.column(k) for k in keys), pa.array(np.arange(ranked.num_rows, dtype=np.int64))],
                     names=[*keys, _RANK])
    best = ranks.group_by(list(keys), use_threads=False).aggregate([(_RANK, "max")])
    if best.num_rows == data.num_rows:
        return data
    rows = np.sort(ranked.column(_ORDER).take(best.column(f"{_RANK}_max")).to_numpy())
    return data.take(pa.array(rows))


def _distinct_int_keys(data: pa.Table, keys: Sequence[str]) -> bool:
    """One integer key column without nulls and no repeated value (checked by a numpy sort)."""
    if len(keys) != 1:
        return False
    column = data.column(keys[0])
    if not pa.types.is_integer(column.type) or column.null_count:
        return False
    ordered = np.sort(column.to_numpy())
    return not bool(np.any(ordered[1:] == ordered[:-1]))


def stale_mask(incoming: pa.Table, stored: pa.Table, keys: Sequence[str], version: str) -> np.ndarray:
    """True for the rows of ``incoming`` (distinct keys) whose version is lower than that of a live
    stored row of the same key (``stored``: the key and version columns of those rows)."""
    mask = np.zeros(incoming.num_rows, dtype=bool)
    if not stored.num_rows or not incoming.num_rows:
        return mask
    best = stored.group_by(list(keys), use_threads=False).aggregate([(version, "max")])
    left = pa.table(
        [*(incoming.column(k) for k in keys), incoming.column(version), pa.array(np.arange(incoming.num_rows))],
        names=[*keys, _VERSION, _ORDER],
    )
    right = pa.table([*(best.column(k) for k in keys), best.column(f"{version}_max")], names=[*keys, _STORED])
    joined = left.join(right, keys=list(keys), join_type="inner", use_threads=False)
    lower = pc.fill_null(pc.less(joined.column(_VERSION), joined.column(_STORED)), False)
    mask[joined.column(_ORDER).filter(lower).to_numpy()] = True
    return mask


def deleted_mask(data: pa.Table, deleted: str) -> np.ndarray:
    """True for the rows whose deleted column is non-zero (or true)."""
    column: Any = data.column(deleted)
    if pa.types.is_boolean(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(pc.not_equal(column, pa.scalar(0, column.type)).to_numpy(zero_copy_only=False), dtype=bool)
