"""Rates and trends of monotonic counters, sampled when the console reads them.

The console reads counters (records accepted, delivered, committed, ...) each time a page or a
live update is built; :class:`Rates` keeps a short history of those readings per key and turns
it into a rate per second and a trend (the last readings' rates, or the last values of a
gauge, for a sparkline). Readings closer together than ``min_interval`` seconds are merged, so
several open consoles cost no more than one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ("Rates",)


class Rates:
    """Per-key history of counter and gauge readings.

    Args:
        window: Seconds a rate is averaged over.
        points: Readings kept per key (the length of a trend).
        min_interval: Readings of one key closer than this are merged into the last one.
        clock: Monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, *, window: float = 5.0, points: int = 60, min_interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.points = points
        self.min_interval = min_interval
        self._clock = clock
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._trends: dict[str, deque[float]] = {}

    def _record(self, key: str, value: float) -> tuple[deque[tuple[float, float]], bool]:
        now = self._clock()
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque(maxlen=self.points + 1)
        if samples and now - samples[-1][0] < self.min_interval:
            samples[-1] = (samples[-1][0], value)
            return samples, False
        samples.append((now, value))
        return samples, True

    def rate(self, key: str, value: float) -> float:
        """Records ``value`` (a counter) for ``key``; returns its rate per second over the window."""
        samples, appended = self._record(key, value)
        now, latest = samples[-1]
        first = samples[0]
        for sample in samples:
            if now - sample[0] <= self.window:
                first = sample
                break
        span = now - first[0]
        result = max(0.0, (latest - first[1]) / span) if span > 0 else 0.0
        if len(samples) > 1:  # the first reading has no rate yet
            self._push(key, result, new=appended)
        return result

    def gauge(self, key: str, value: float) -> float:
        """Records ``value`` (a gauge) for ``key`` into its trend; returns it."""
        _, appended = self._record(key, value)
        self._push(key, value, new=appended)
        return value

    def _push(self, key: str, value: float, *, new: bool) -> None:
        trend = self._trends.get(key)
        if trend is None:
            trend = self._trends[key] = deque(maxlen=self.points)
            new = True
        if new or not trend:
            trend.append(value)
        else:
            trend[-1] = value

    def trend(self, key: str) -> list[float]:
        """The key's recent rates (for :meth:`rate`) or values (for :meth:`gauge`), oldest first."""
        return list(self._trends.get(key, ()))
