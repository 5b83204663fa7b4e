"""Key text and stable key partitioning of Arrow record batches.

A record's *key text* is its key as UTF-8 text, and it is both the Kafka message key and what the
partition is derived from:

* one key field: the value as text (``"customer-42"``, ``"42"`` for the int 42; other types use
  Arrow's cast to string, timestamps as ISO 8601);
* several key fields: the JSON array of the values in key-field order (``["eu",42]``), which is
  unambiguous whatever characters the values contain;
* no key fields, or a null key: no key text (``None``).

The partition of a key is ``crc32(key_text.encode()) % n``. CRC-32 is stable across processes,
platforms and Python versions (unlike the salted built-in ``hash``), so every process sharing a
topic routes a key to the same partition. Records without a key all go to one partition per call
(``spread`` picks it), so the batch's order is kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ("key_texts", "partition_batch", "partition_for_key", "partition_indices")


def _check(batch: pa.RecordBatch, key_fields: Sequence[str], n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the number of partitions must be an int >= 1, got {n!r}")
    missing = [name for name in key_fields if name not in batch.schema.names]
    if missing:
        raise ValueError(
            f"key field(s) {missing} are not columns of the batch (columns: {batch.schema.names})"
        )


def _column_texts(column: pa.Array) -> list[str | None]:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.to_pylist()  # type: ignore[no-any-return]
    try:
        return pc.cast(column, pa.string()).to_pylist()  # type: ignore[no-any-return]
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [None if value is None else str(value) for value in column.to_pylist()]


def key_texts(batch: pa.RecordBatch, key_fields: Sequence[str]) -> list[str | None]:
    """Return each record's key text (see the module docstring), one entry per row.

    Raises:
        ValueError: a key field is not a column of the batch.
    """
    _check(batch, key_fields, 1)
    if not key_fields:
        return [None] * batch.num_rows
    if len(key_fields) == 1:
        return _column_texts(batch.column(key_fields[0]))
    columns = [batch.column(name).to_pylist() for name in key_fields]
    return [
        None if any(value is None for value in row) else orjson.dumps(list(row)).decode()
        for row in zip(*columns, strict=True)
    ]


def partition_for_key(key_text: str, n: int) -> int:
    """The partition (``0 <= p < n``) of one key text: ``crc32(utf-8 bytes) % n``."""
    return zlib.crc32(key_text.encode()) % n


def partition_indices(
    batch: pa.RecordBatch, key_fields: Sequence[str], n: int, *, spread: int = 0
) -> tuple[np.ndarray, list[str | None]]:
    """Return ``(partition of each row, key text of each row)``.

    Rows without a key text go to partition ``spread % n``.

    Raises:
        ValueError: ``n`` is not a positive int, or a key field is not a column.
    """
    _check(batch, key_fields, n)
    keys = key_texts(batch, key_fields)
    if n == 1:
        return np.zeros(len(keys), dtype=np.int64), keys
    default = spread % n
    crc = zlib.crc32
    hashes = np.fromiter(
        (default if key is None else crc(key.encode()) % n for key in keys), dtype=np.int64, count=len(keys)
    )
    return hashes, keys


def partition_batch(
    batch: pa.RecordBatch, key_fields: Sequence[str], n: int, *, spread: int = 0
) -> list[tuple[int, pa.RecordBatch]]:
    """Split a batch into ``n`` key partitions.

    Returns ``(partition, sub-batch)`` pairs in ascending partition order, only for partitions that
    received rows. Every record with the same key text lands in the same partition (in every process),
    and records keep their relative order inside each sub-batch. Records with no key (no key fields,
    or a null key) all go to partition ``spread % n``.

    Raises:
        ValueError: ``n`` is not a positive int, or a key field is not a column of the batch.
    """
    parts, _ = partition_indices(batch, key_fields, n, spread=spread)
    if batch.num_rows == 0:
        return []
    first = int(parts[0])
    if n == 1 or bool((parts == first).all()):
        return [(first, batch)]
    out: list[tuple[int, pa.RecordBatch]] = []
    for partition in np.unique(parts).tolist():
        indices = np.flatnonzero(parts == partition)
        out.append((int(partition), batch.take(pa.array(indices))))
    return out
