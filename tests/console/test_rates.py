"""Rates of counters and trends of gauges, on a fake clock."""

from __future__ import annotations

import pytest

from cascade_rt.console import Rates


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_is_the_counter_change_over_the_window() -> None:
    clock = Clock()
    rates = Rates(window=5.0, clock=clock)
    assert rates.rate("k", 0) == 0.0
    for second in range(1, 11):
        clock.now = float(second)
        rate = rates.rate("k", second * 100.0)
    assert rate == pytest.approx(100.0)
    assert rates.trend("k") == [pytest.approx(100.0)] * 10


def test_readings_closer_than_min_interval_merge() -> None:
    clock = Clock()
    rates = Rates(min_interval=0.5, clock=clock)
    rates.gauge("lag", 3)
    clock.now = 0.1
    rates.gauge("lag", 5)
    clock.now = 1.0
    rates.gauge("lag", 7)
    assert rates.trend("lag") == [5, 7]
