from __future__ import annotations

import pyarrow as pa
import pytest

from cascade_rt.stream import RetentionLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _batch(start: int, n: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"seq": list(range(start, start + n))})


def _seqs(batches: list[pa.RecordBatch]) -> list[int]:
    return [v for b in batches for v in b.column("seq").to_pylist()]


def test_records_older_than_retention_are_pruned() -> None:
    clock = FakeClock()
    log = RetentionLog(10, clock=clock)
    log.append(_batch(0, 3))
    clock.now += 6
    log.append(_batch(3, 2))
    assert _seqs(log.read()) == [0, 1, 2, 3, 4]
    clock.now += 5
    assert _seqs(log.read()) == [3, 4]
    assert log.pruned == 3
    clock.now += 5
    assert len(log) == 0


def test_read_limit_returns_newest_records_in_order() -> None:
    log = RetentionLog()
    log.append(_batch(0, 4))
    log.append(_batch(4, 3))
    assert _seqs(log.read(5)) == [2, 3, 4, 5, 6]
    assert _seqs(log.read(0)) == []


def test_max_records_drops_oldest_whole_batches() -> None:
    log = RetentionLog(max_records=5)
    for i in range(4):
        log.append(_batch(i * 3, 3))
    assert _seqs(log.read()) == [6, 7, 8, 9, 10, 11]


def test_bad_retention_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"retention_period must be > 0 seconds or None, got -1"):
        RetentionLog(-1)
