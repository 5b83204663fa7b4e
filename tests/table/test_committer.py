"""The committer thread: its deadline rule, its groups, barriers and failures.

The commits here are plain functions (the writer's real commits are tested in test_writer.py and
test_commit_process.py); the thread, the queue and the hand-over to the event loop are real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
import pyarrow as pa
import pytest

from actors import Promise
from cascade_rt._threads import loop_notifier
from cascade_rt.table import CommitResult
from cascade_rt.table._committer import (
    Barrier,
    Committer,
    Entry,
    barrier_waiter,
    commit_deadline,
)


@pytest.mark.parametrize(
    ("first_at", "last_start", "min_interval", "deadline"),
    [
        (10.0, 0.0, None, 11.0),  # no min_interval: max_delay after the first write
        (10.0, 9.98, 0.05, 10.03),  # min_interval counts from the start of the previous commit
        (10.0, 5.0, 0.05, 10.0),  # long past: at once
        (10.0, 9.9, 2.0, 11.0),  # max_delay comes first
    ],
)
def test_commit_deadline(first_at: float, last_start: float, min_interval: float | None, deadline: float) -> None:
    got = commit_deadline(first_at, last_start, max_delay=1.0, min_interval=min_interval)
    assert got == pytest.approx(deadline)


def _rows(*ids: int) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64())})


class _Table:
    """Fake commits and merges that record what they got; the first commit waits for ``gate``."""

    def __init__(self, *, fail_on: int | None = None, gated: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.merges: list[tuple[list[int], str]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.committing = threading.Event()
        if not gated:
            self.gate.set()
        self.failures: list[BaseException] = []
        self.maintained = 0

    def commit(self, batches: dict[str, list[pa.Table]], properties: dict[str, str]) -> dict[str, CommitResult]:
        self.committing.set()
        self.gate.wait(10)
        ids = [i for tables in batches.values() for t in tables for i in t.column("id").to_pylist()]
        self.groups.append(ids)
        if self.fail_on is not None and self.fail_on in ids:
            raise OSError(f"disk full at id {self.fail_on} (test)")
        return {branch: CommitResult(len(self.groups), sum(t.num_rows for t in tables), 0,
                                     sum(t.num_rows for t in tables)) for branch, tables in batches.items()}

    def merge(self, data: pa.Table, keys: Sequence[str], branch: str, properties: dict[str, str]) -> CommitResult:
        self.merges.append((data.column("id").to_pylist(), branch))
        return CommitResult(100, data.num_rows, 0, data.num_rows)

    def maintain(self, commits: int) -> None:
        self.maintained += commits

    def committer(self, *, max_rows: int = 1000, max_delay: float = 600, min_interval: float | None = 0.0) -> Committer:
        committer = Committer("default.t", commit=self.commit, merge=self.merge, maintain=self.maintain,
                              notify=loop_notifier(), on_failure=self.failures.append, max_rows=max_rows,
                              max_delay=max_delay, min_interval=min_interval)
        committer.start()
        return committer


def _write(committer: Committer, *ids: int) -> Promise[CommitResult]:
    promise: Promise[CommitResult] = Promise()
    committer.put(Entry("main", _rows(*ids), promise))
    return promise


async def _barrier(committer: Committer, **options: Any) -> Any:
    waiter, done = barrier_waiter()
    committer.put(Barrier(done, **options))
    return await waiter.wait()


@pytest.mark.anyio
async def test_writes_queued_during_a_commit_make_up_the_next_group() -> None:
    table = _Table(gated=True)
    committer = table.committer()
    first = _write(committer, 1)
    await anyio.to_thread.run_sync(table.committing.wait, 10)
    later = [_write(committer, i) for i in (2, 3, 4)]
    assert committer.waiting_writes == 4
    table.gate.set()
    with anyio.fail_after(10):
        assert (await first.wait()).snapshot_id == 1
        assert {(await p.wait()).snapshot_id for p in later} == {2}
        assert await _barrier(committer, stop=True) is None
    await anyio.to_thread.run_sync(committer.join)
    assert table.groups == [[1], [2, 3, 4]]
    assert (committer.commits, committer.rows_committed, committer.waiting_writes) == (2, 4, 0)
    assert table.maintained == 2


@pytest.mark.anyio
async def test_min_interval_keeps_commits_apart_and_max_rows_does_not_wait() -> None:
    table = _Table()
    committer = table.committer(min_interval=0.3)
    with anyio.fail_after(10):
        await _write(committer, 1).wait()
        started = time.monotonic()
        await _write(committer, 2).wait()  # within 0.3 s of the first commit: waits for it
        assert time.monotonic() - started >= 0.25
    full = table.committer(max_rows=2, min_interval=None)  # max_delay is 600 s
    with anyio.fail_after(10):
        await _write(full, 1, 2).wait()
    for c in (committer, full):
        await _barrier(c, stop=True)
        await anyio.to_thread.run_sync(c.join)


@pytest.mark.anyio
async def test_a_flush_answers_the_last_commit_and_a_merge_runs_after_the_writes_before_it() -> None:
    table = _Table()
    committer = table.committer(min_interval=None)  # nothing commits by itself before max_delay
    with anyio.fail_after(10):
        assert await _barrier(committer) is None  # nothing was waiting
        write = _write(committer, 1, 2)
        flushed = await _barrier(committer)
        assert flushed == await write.wait()
        _write(committer, 3)
        merged = await _barrier(committer, merge=(_rows(9), ["id"], "side"))
        await _barrier(committer, stop=True)
    await anyio.to_thread.run_sync(committer.join)
    assert table.groups == [[1, 2], [3]]
    assert table.merges == [([9], "side")]
    assert merged.snapshot_id == 100
    assert committer.commits == 3


@pytest.mark.anyio
async def test_a_failed_commit_fails_its_writes_and_the_barrier_behind_it_and_stops() -> None:
    table = _Table(fail_on=2, gated=True)
    committer = table.committer()
    first = _write(committer, 1)
    await anyio.to_thread.run_sync(table.committing.wait, 10)
    failing = _write(committer, 2)
    waiter, done = barrier_waiter()
    committer.put(Barrier(done))
    table.gate.set()
    with anyio.fail_after(10):
        assert (await first.wait()).rows_written == 1
        for promise in (failing, waiter):
            with pytest.raises(OSError, match=r"disk full at id 2 \(test\)"):
                await promise.wait()
        await anyio.to_thread.run_sync(committer.join)
    untried = _write(committer, 3)  # the thread has stopped: it stays queued
    assert [str(e) for e in table.failures] == ["disk full at id 2 (test)"]
    assert committer.failure is table.failures[0]
    assert committer.failed_commits == 1
    assert [entry.data.column("id").to_pylist() for entry in committer.leftovers()] == [[3]]
    assert not untried.done()


class _PoisonedTable(_Table):
    """Commits (and dry runs) that fail with a ValueError on any id in ``poison``."""

    def __init__(self, *poison: int) -> None:
        super().__init__()
        self.poison = set(poison)
        self.events: list[str] = []
        self.properties: list[dict[str, str]] = []

    def _check(self, batches: dict[str, list[pa.Table]]) -> list[int]:
        ids = [i for tables in batches.values() for t in tables for i in t.column("id").to_pylist()]
        bad = sorted(self.poison & set(ids))
        if bad:
            raise ValueError(f"cannot take id {bad[0]} (test)")
        return ids

    def commit(self, batches: dict[str, list[pa.Table]], properties: dict[str, str]) -> dict[str, CommitResult]:
        self._check(batches)
        self.properties.append(properties)
        self.events.append("commit")
        return super().commit(batches, properties)

    def probe(self, batches: dict[str, list[pa.Table]], properties: dict[str, str]) -> None:
        self._check(batches)

    def poisoned_committer(self, dead_letter: Any) -> Committer:
        committer = Committer("default.t", commit=self.commit, merge=self.merge, maintain=self.maintain,
                              notify=loop_notifier(), on_failure=self.failures.append, max_rows=1000,
                              max_delay=600, min_interval=None, probe=self.probe, dead_letter=dead_letter)
        committer.start()
        return committer


@pytest.mark.anyio
async def test_a_commit_failing_on_its_data_sends_those_rows_first_then_commits_the_rest_once() -> None:
    table = _PoisonedTable(4, 7)
    letters: list[list[int]] = []

    def dead_letter(poison: list[Any]) -> None:
        table.events.append("dead letters")
        letters.extend(p.data.column("id").to_pylist() for p in poison)

    committer = table.poisoned_committer(dead_letter)
    promises = [Promise[CommitResult]() for _ in range(3)]
    for n, (ids, promise) in enumerate(zip([(1, 2, 3), (4, 5, 6), (7,)], promises, strict=True)):
        committer.put(Entry("main", _rows(*ids), promise, ("log:s", n * 3, n * 3 + len(ids))))
    with anyio.fail_after(10):
        flushed = await _barrier(committer)
        results = [await p.wait() for p in promises]
        await _barrier(committer, stop=True)
    await anyio.to_thread.run_sync(committer.join)
    assert letters == [[4], [7]]
    assert table.events == ["dead letters", "commit"]  # delivered before the rest was committed
    assert table.groups == [[1, 2, 3, 5, 6]]  # the one commit that held
    assert results == [flushed] * 3
    assert table.properties == [{"cascade.source.log:s": "7"}]  # past the rows set aside
    assert committer.positions == {"log:s": 7}
    assert (committer.commits, committer.poison_rows, committer.failed_commits) == (1, 2, 0)


@pytest.mark.anyio
async def test_a_dead_letter_target_that_fails_fails_the_commit_as_before() -> None:
    table = _PoisonedTable(2)

    def dead_letter(poison: list[Any]) -> None:
        raise OSError("the dead-letter queue is gone (test)")

    committer = table.poisoned_committer(dead_letter)
    first, second = _write(committer, 1), _write(committer, 2)
    waiter, done = barrier_waiter()
    committer.put(Barrier(done))
    with anyio.fail_after(10):
        for promise in (first, second, waiter):
            with pytest.raises(OSError, match=r"the dead-letter queue is gone \(test\)"):
                await promise.wait()
        await anyio.to_thread.run_sync(committer.join)
    assert table.events == []
    assert committer.failed_commits == 1
