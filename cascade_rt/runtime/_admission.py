"""Admission into one ingest endpoint: a bounded number in flight, a bounded line waiting, shed the rest.

A batch in flight holds a slot from admission until it is durable. When every slot is taken, a
caller with a budget (the HTTP layer) waits in line for at most that budget; the line itself is
bounded, and a caller that finds it full is refused at once, as Envoy's pending-request limit and
Kafka's quotas do: under overload a waiting request only holds its connection and body, and the
one behind it waits longer. ``refusal()`` answers the same question without queueing, so the HTTP
layer can refuse before it reads and decodes a body.

``Retry-After`` comes from the backlog: the batches in flight and in line divided by the rate
at which batches completed lately, between ``MIN_RETRY_AFTER`` and ``MAX_RETRY_AFTER`` seconds.
Callers without a budget (``Runtime.ingest``) wait as long as it takes and never count against
the line: for them waiting is the backpressure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio

from ..ingest import Backpressure

MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 30.0
RATE_WINDOW = 1.0
"""Seconds over which the completion rate is measured."""


class Admission:
    """At most ``capacity`` batches in flight for endpoint ``name``, at most ``max_waiting``
    callers with a budget waiting for a slot (see the module docstring).

    ``enter(token, budget)`` takes a slot for ``token`` (one per submit); ``leave(token)`` gives it
    back once the batch is durable or failed.
    """

    def __init__(self, name: str, capacity: int, max_waiting: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"ingest API {name!r}: max_inflight must be at least 1, got {capacity!r}")
        if max_waiting < 0:
            raise ValueError(f"ingest API {name!r}: max_waiting must be 0 or more, got {max_waiting!r}")
        self.name = name
        self.max_waiting = max_waiting
        self.waiting = 0
        self.completed = 0
        self._limiter = anyio.CapacityLimiter(capacity)
        self._clock = clock
        self._mark = (clock(), 0)  # (when, completed then): the start of the current rate window
        self._rate = 0.0  # batches completed per second over the last full window

    @property
    def in_flight(self) -> int:
        return int(self._limiter.borrowed_tokens)

    def full(self) -> bool:
        """Whether a new batch with a budget would be refused at once (no slot, the line full)."""
        return self._limiter.available_tokens < 1 and self.waiting >= self.max_waiting

    def refusal(self) -> Backpressure | None:
        """The ``Backpressure`` a new batch with a budget gets now without waiting, or None."""
        return self._refused() if self.full() else None

    async def enter(self, token: object, budget: float | None) -> None:
        """Takes a slot for ``token``: at once when one is free; else waits in line at most
        ``budget`` seconds (``None``: as long as it takes, outside the line's bound).

        Raises:
            Backpressure: the line was full, or no slot came free within ``budget``; no slot is held.
        """
        try:
            # Without a checkpoint when there is room: a yield here would queue the batch behind
            # every other ready task, which under load is a whole turn of the event loop.
            self._limiter.acquire_on_behalf_of_nowait(token)
            return
        except anyio.WouldBlock:
            pass
        if budget is None:
            await self._limiter.acquire_on_behalf_of(token)
            return
        if budget <= 0 or self.waiting >= self.max_waiting:
            raise self._refused()
        self.waiting += 1
        try:
            with anyio.move_on_after(budget) as scope:
                await self._limiter.acquire_on_behalf_of(token)
        finally:
            self.waiting -= 1
        if scope.cancelled_caught:
            raise self._refused()

    def leave(self, token: object) -> None:
        """Gives ``token``'s slot back and counts a completed batch."""
        self._limiter.release_on_behalf_of(token)
        self.completed += 1
        now = self._clock()
        since, done = self._mark
        elapsed = now - since
        if elapsed >= 2 * RATE_WINDOW:
            self._mark = (now, self.completed)  # after a quiet spell: a fresh window, the last rate kept
        elif elapsed >= RATE_WINDOW:
            self._rate = (self.completed - done) / elapsed
            self._mark = (now, self.completed)

    def rate(self) -> float:
        """Batches completed per second over the last window; 0.0 before the first one ended, or
        when none completed for two windows while batches were in flight (the sink stalls)."""
        since, done = self._mark
        if self.in_flight and self._clock() - since >= 2 * RATE_WINDOW and self.completed == done:
            return 0.0
        return self._rate

    def retry_after(self) -> float:
        """Seconds until the backlog (in flight and in line) drains at the recent rate; the most
        when the sink stalls, the least before any rate is known."""
        rate = self.rate()
        if rate <= 0.0:
            since, _ = self._mark
            stalled = self.in_flight and self._clock() - since >= 2 * RATE_WINDOW
            return MAX_RETRY_AFTER if stalled else MIN_RETRY_AFTER
        backlog = self.in_flight + self.waiting
        return float(min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, math.ceil(backlog / rate))))

    def _refused(self) -> Backpressure:
        return Backpressure(self.name, retry_after=self.retry_after())
