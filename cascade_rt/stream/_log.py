"""The recent-records log a memory stream keeps for peeking (``Stream.read``)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import pyarrow as pa

__all__ = ("RetentionLog", "newest")


class RetentionLog:
    """Batches appended in publish order, pruned by age and by size as new ones arrive.

    A batch is dropped once it is older than ``retention_period`` seconds (when set) or once the
    log holds more than ``max_records`` records without it (the oldest whole batches go first).
    Pruning happens on ``append`` and ``read``, so an idle log does not shrink until touched.

    Args:
        retention_period: Seconds a batch is kept; ``None`` keeps batches until ``max_records``
            pushes them out.
        max_records: Upper bound on retained records (``0`` keeps nothing).
        clock: Monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        retention_period: float | None = None,
        *,
        max_records: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retention_period is not None and retention_period <= 0:
            raise ValueError(f"retention_period must be > 0 seconds or None, got {retention_period!r}")
        if max_records < 0:
            raise ValueError(f"max_records must be >= 0, got {max_records!r}")
        self.retention_period = retention_period
        self.max_records = max_records
        self._clock = clock
        self._entries: deque[tuple[float, pa.RecordBatch]] = deque()
        self._records = 0
        self.pruned = 0

    def __len__(self) -> int:
        """Number of records retained (after pruning what has expired)."""
        self.prune()
        return self._records

    def append(self, batch: pa.RecordBatch) -> None:
        """Keep ``batch`` (stamped now), then prune."""
        if batch.num_rows and self.max_records:
            self._entries.append((self._clock(), batch))
            self._records += batch.num_rows
        self.prune()

    def prune(self) -> int:
        """Drop expired batches and those past ``max_records``; return the records dropped."""
        dropped = 0
        entries = self._entries
        if self.retention_period is not None:
            horizon = self._clock() - self.retention_period
            while entries and entries[0][0] <= horizon:
                dropped += entries.popleft()[1].num_rows
        while entries and self._records - dropped - entries[0][1].num_rows >= self.max_records:
            dropped += entries.popleft()[1].num_rows
        self._records -= dropped
        self.pruned += dropped
        return dropped

    def read(self, limit: int | None = None) -> list[pa.RecordBatch]:
        """The retained records, oldest first; with ``limit``, only the newest ``limit`` of them."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0 or None, got {limit!r}")
        self.prune()
        batches = [batch for _, batch in self._entries]
        if limit is None or limit >= self._records:
            return batches
        return newest(batches, limit)


def newest(batches: list[pa.RecordBatch], limit: int) -> list[pa.RecordBatch]:
    """The newest ``limit`` records of ``batches`` (oldest first), slicing the oldest batch kept."""
    out: list[pa.RecordBatch] = []
    need = limit
    for batch in reversed(batches):
        if need <= 0:
            break
        if batch.num_rows > need:
            batch = batch.slice(batch.num_rows - need)
        out.append(batch)
        need -= batch.num_rows
    out.reverse()
    return out
