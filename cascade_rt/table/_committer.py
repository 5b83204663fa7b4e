"""``Committer``: the thread that times and runs one table writer's group commits.

The writer actor checks each write when it arrives and hands it here. The committer gathers the
writes into group commits by the writer's rules (``commit_deadline``), runs each commit (in this
thread, or through the writer's commit process), and completes every write's promise on the
event loop.

Why a thread: a commit timed by the actor waits for an actor timer, and a timer message needs two
turns of the event loop to reach the actor. Under load one turn takes tens of milliseconds, so
commits that ``min_interval`` allowed every 50 ms came every 60-120 ms, and every acknowledgement
waited for them; and while the actor waited for a commit, the writes that arrived queued unread
in its mailbox. Here the deadline is kept to within the GIL's switch interval, the writes reach
the queue as soon as the actor reads them, and the actor goes on reading while a commit runs.
The thread holds the GIL only to gather and hand over: the commit runs in the commit process, or
in pyiceberg here.

Each branch of a group is one commit (main's first when it came first). A commit that fails
because of the rows it holds (``_poison.is_data_error``) is saved, when the writer gave a
``probe``: the rows that make it fail are found by dry runs (``_poison.set_aside``), handed to
``dead_letter`` (which returns once they are delivered), and the other rows committed in one
commit; every write's promise then gets that commit's result, and the stream positions of the
group are committed as if no row had been set aside (in a snapshot that adds no data when none
was left), so a feed does not read the poison records again.

Any other failure (or a data error that no rows can be blamed for) fails the promises of every
write of the group (and of a flush or merge waiting behind it), and the committer stops:
``failure`` holds the exception, the writer's ``on_failure`` gets it on the event loop, and
``leftovers()`` returns the writes that were queued but never tried.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.table.refs import MAIN_BRANCH

from actors import Promise

from .._threads import Notify
from ._poison import Poison, is_data_error, set_aside
from ._sources import Source, SourceGap, admit, source_properties
from ._upsert import CommitResult

JOIN_TIMEOUT = 10.0
"""Seconds ``join`` waits for the thread to end."""
IDLE_TICK = 1.0
"""Seconds of an empty queue after which ``maintain(0)`` runs (an idle tick), and again after each."""


def commit_deadline(first_at: float, last_start: float, *, max_delay: float, min_interval: float | None) -> float:
    """When a group whose first write arrived at ``first_at`` is committed (``time.monotonic()``
    seconds), unless ``max_rows`` rows wait before: ``max_delay`` after its first write or, with
    ``min_interval`` set, once ``min_interval`` has passed since the previous commit began
    (``last_start``), whichever comes first. Writes queued meanwhile join the group."""
    deadline = first_at + max_delay
    if min_interval is not None:
        deadline = min(deadline, max(first_at, last_start + min_interval))
    return deadline


@dataclass(frozen=True, slots=True)
class Entry:
    """One write, checked and conformed by the writer, waiting for its group commit."""

    branch: str
    data: pa.Table
    promise: Promise[CommitResult] | None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Barrier:
    """Commit everything queued before it now; then merge ``merge`` (``(data, keys, branch)``),
    run ``run`` (a maintenance pass: its exception fails ``done`` only, the committer goes on),
    or stop the committer with ``stop``. ``done(value, error)`` runs on the event loop with the
    merge's (or ``run``'s) result, or the last result of the commit just made (None if none was)."""

    done: Callable[[Any, BaseException | None], None]
    merge: tuple[pa.Table, Sequence[str], str] | None = None
    stop: bool = False
    run: Callable[[], Any] | None = None


def _resolve(entries: list[Entry], results: dict[str, CommitResult]) -> None:
    for entry in entries:
        if entry.promise is not None and not entry.promise.done():
            entry.promise.set_result(results[entry.branch])


def _settle_admitted(duplicates: list[Entry], gaps: list[tuple[Entry, SourceGap]]) -> None:
    for entry in duplicates:
        if entry.promise is not None and not entry.promise.done():
            entry.promise.set_result(None)  # type: ignore[arg-type]  # committed before: nothing new
    for entry, gap in gaps:
        if entry.promise is not None and not entry.promise.done():
            entry.promise.set_exception(gap)


def reject(entries: list[Entry], barrier: Barrier | None, error: BaseException) -> None:
    """Fails the promises of ``entries`` (and ``barrier``) with ``error``; on the event loop."""
    for entry in entries:
        if entry.promise is not None and not entry.promise.done():
            entry.promise.set_exception(error)
    if barrier is not None:
        barrier.done(None, error)


class Committer:
    """Gathers and runs the group commits of the table ``name`` in a thread of its own.

    Args:
        name: The table, for the thread's name.
        commit: Runs one group commit (blocking): ``({branch: [tables]}, properties)`` →
            ``{branch: CommitResult}``; ``properties`` go into main's snapshot summary.
        merge: Runs one merge (blocking): ``(data, keys, branch, properties)`` → ``CommitResult``.
        maintain: Runs after each commit or merge has been acknowledged, with the number of
            commits made (the writer's retention pass), and with 0 after each ``IDLE_TICK``
            seconds of an empty queue (its idle maintenance); must not raise.
        notify: Runs a callable on the event loop (``loop_notifier()``).
        on_failure: Called on the event loop with the exception of a failed commit.
        max_rows, max_delay, min_interval: The writer's group-commit rules (``commit_deadline``).
        positions: The stream positions the table has committed (see ``_sources``): writes with
            a ``source`` are admitted against them, and every commit to main records them.
        probe: Dry-runs one group commit (blocking), arguments as ``commit``'s: raises what the
            commit would raise, commits nothing. None: a failed commit is never saved.
        dead_letter: Takes the rows set aside from a failed commit (blocking, until they are
            delivered; raising fails the commit as any other failure).
    """

    def __init__(
        self,
        name: str,
        *,
        commit: Callable[[dict[str, list[pa.Table]], dict[str, str]], dict[str, CommitResult]],
        merge: Callable[[pa.Table, Sequence[str], str, dict[str, str]], CommitResult],
        maintain: Callable[[int], None],
        notify: Notify,
        on_failure: Callable[[BaseException], None],
        max_rows: int,
        max_delay: float,
        min_interval: float | None,
        positions: dict[str, int] | None = None,
        probe: Callable[[dict[str, list[pa.Table]], dict[str, str]], object] | None = None,
        dead_letter: Callable[[list[Poison]], None] | None = None,
    ) -> None:
        self.positions: dict[str, int] = dict(positions or {})
        self._probe = probe
        self._dead_letter = dead_letter
        self._commit = commit
        self._merge = merge
        self._maintain = maintain
        self._notify = notify
        self._on_failure = on_failure
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.min_interval = min_interval
        self._queue: queue.SimpleQueue[Entry | Barrier] = queue.SimpleQueue()
        self.name = name
        self._thread = threading.Thread(target=self._run, name=f"commits of {name}", daemon=True)
        self._last_start = 0.0
        self.failure: BaseException | None = None
        # Each counter is written by one thread only: the event loop's (put) or the committer's.
        self.commits = 0
        self.failed_commits = 0
        self.rows_committed = 0
        self.poison_rows = 0
        self.last_commit_seconds = 0.0
        self._put_rows = self._put_writes = 0
        self._done_rows = self._done_writes = 0

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Entry | Barrier) -> None:
        """Queue a write or a barrier (never blocks; call it on the event loop)."""
        if isinstance(item, Entry):
            self._put_rows += item.data.num_rows
            self._put_writes += 1
        self._queue.put(item)

    @property
    def waiting_rows(self) -> int:
        """Rows put but not yet committed (queued, or in the commit running now)."""
        return self._put_rows - self._done_rows

    @property
    def waiting_writes(self) -> int:
        """Writes put but not yet committed."""
        return self._put_writes - self._done_writes

    def leftovers(self) -> list[Entry]:
        """The writes still queued, never tried (after a failure: the thread no longer takes any)."""
        items: list[Entry] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if isinstance(item, Entry):
                items.append(item)

    def join(self) -> None:
        """Waits (blocking) up to ``JOIN_TIMEOUT`` seconds for the thread to end."""
        self._thread.join(JOIN_TIMEOUT)

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=IDLE_TICK)
            except queue.Empty:
                self._maintain(0)
                continue
            if isinstance(item, Barrier):
                if not self._barrier(item, None):
                    return
                continue
            group, barrier = self._gather(item)
            ok, last = self._commit_group(group, barrier)
            if not ok or (barrier is not None and not self._barrier(barrier, last)):
                return

    def _gather(self, first: Entry) -> tuple[list[Entry], Barrier | None]:
        """The group that starts with ``first``: what arrives until its deadline or ``max_rows``,
        and what is queued then; a barrier ends it early (and is returned)."""
        group = [first]
        rows = first.data.num_rows
        deadline = commit_deadline(time.monotonic(), self._last_start, max_delay=self.max_delay,
                                   min_interval=self.min_interval)
        get = self._queue.get
        while rows < self.max_rows:
            timeout = deadline - time.monotonic()
            try:
                item = get(timeout=timeout) if timeout > 0 else get(block=False)
            except queue.Empty:
                break
            if isinstance(item, Barrier):
                return group, item
            group.append(item)
            rows += item.data.num_rows
        return group, None

    def _commit_group(self, group: list[Entry], barrier: Barrier | None) -> tuple[bool, CommitResult | None]:
        """Commits ``group``: ``(True, its last result)``, or ``(False, None)`` when the commit
        failed (everything waiting on it failed, ``barrier`` too, and the committer stops)."""
        admitted = admit(group, self.positions)
        if admitted.duplicates or admitted.gaps:
            gaps = [(entry, SourceGap(self.name, entry.source, have)) for entry, have in admitted.gaps]
            self._notify(functools.partial(_settle_admitted, admitted.duplicates, gaps))
        kept: list[Entry] = admitted.kept
        branches: dict[str, list[Entry]] = {}
        for entry in kept:
            branches.setdefault(entry.branch, []).append(entry)
        positions = {**self.positions, **admitted.advanced}
        began = time.perf_counter()
        self._last_start = time.monotonic()
        try:
            results = self._commit_branches(branches, source_properties(positions))
        except BaseException as exc:
            self._stop_on(exc, functools.partial(reject, kept, barrier, exc))
            return False, None
        self.positions = positions
        self.last_commit_seconds = time.perf_counter() - began
        self.commits += len(results)
        self.rows_committed += sum(result.rows_written for result in results.values())
        self._done_rows += sum(entry.data.num_rows for entry in group)
        self._done_writes += len(group)
        self._notify(functools.partial(_resolve, kept, results))
        if results:
            self._maintain(len(results))
        return True, (list(results.values())[-1] if results else None)

    def _commit_branches(self, branches: dict[str, list[Entry]], properties: dict[str, str]) -> dict[str, CommitResult]:
        """One commit per branch, in order; a commit that fails because of its rows is saved
        (:meth:`_salvage`). Raises what fails the group."""
        results: dict[str, CommitResult] = {}
        for branch, entries in branches.items():
            try:
                results[branch] = self._commit({branch: [entry.data for entry in entries]}, properties)[branch]
            except Exception as exc:
                if self._probe is None or not is_data_error(exc):
                    raise
                results[branch] = self._salvage(self._probe, branch, entries, properties, exc)
        return results

    def _salvage(self, probe: Callable[[dict[str, list[pa.Table]], dict[str, str]], object], branch: str,
                 entries: list[Entry], properties: dict[str, str], error: BaseException) -> CommitResult:
        """Commits the rows of ``entries`` that do not make the commit fail, once, after handing
        those that do to ``dead_letter``. Raises ``error`` when no rows can be blamed for it."""

        def trial(tables: list[pa.Table]) -> BaseException | None:
            try:
                probe({branch: tables}, properties)
            except Exception as exc:
                if is_data_error(exc):
                    return exc
                raise
            return None

        rest, poison = set_aside([entry.data for entry in entries], trial, error)
        if self._dead_letter is not None:
            self._dead_letter(poison)
        self.poison_rows += sum(len(p.rows) for p in poison)
        left = [table for table in rest if table.num_rows]
        if not left and not (branch == MAIN_BRANCH and any(entry.source is not None for entry in entries)):
            return CommitResult(None, 0, 0, 0)  # nothing to commit, no position to record
        # An empty list commits main's positions alone (see ``_group.commit_buffered``).
        return self._commit({branch: left}, properties)[branch]

    def _barrier(self, barrier: Barrier, last: CommitResult | None) -> bool:
        """Runs a barrier that found nothing left to commit; False when the committer stops."""
        if barrier.run is not None:
            try:
                value = barrier.run()
            except Exception as exc:  # a maintenance pass: the table is as it was, commits go on
                self._notify(functools.partial(barrier.done, None, exc))
            else:
                self._notify(functools.partial(barrier.done, value, None))
            return True
        if barrier.merge is None:
            self._notify(functools.partial(barrier.done, last, None))
            return not barrier.stop
        data, keys, branch = barrier.merge
        began = time.perf_counter()
        self._last_start = time.monotonic()
        try:
            result = self._merge(data, keys, branch, source_properties(self.positions) if branch == "main" else {})
        except BaseException as exc:
            self._stop_on(exc, functools.partial(barrier.done, None, exc))
            return False
        self.last_commit_seconds = time.perf_counter() - began
        self.commits += 1
        self.rows_committed += result.rows_written
        self._notify(functools.partial(barrier.done, result, None))
        self._maintain(1)
        return True

    def _stop_on(self, error: BaseException, reject: Callable[[], None]) -> None:
        self.failed_commits += 1
        self.failure = error
        self._notify(reject)
        self._notify(functools.partial(self._on_failure, error))


def barrier_waiter() -> tuple[Promise[Any], Callable[[CommitResult | None, BaseException | None], None]]:
    """A promise and the ``Barrier.done`` callback that completes it."""
    promise: Promise[Any] = Promise()

    def done(value: CommitResult | None, error: BaseException | None) -> None:
        if promise.done():
            return
        if error is not None:
            promise.set_exception(error)
        else:
            promise.set_result(value)

    return promise, done
