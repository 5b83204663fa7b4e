"""Plain supervision policy: restart plans, intensity window, backoff (no event loop)."""

from __future__ import annotations

import random

import pytest

from actors import Backoff, Strategy
from actors._supervision import RestartIntensity, plan_restart


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [(Strategy.ONE_FOR_ONE, ["b"]), (Strategy.ONE_FOR_ALL, ["a", "b", "c"]), (Strategy.REST_FOR_ONE, ["b", "c"])],
)
def test_plan_restart(strategy: Strategy, expected: list[str]) -> None:
    assert plan_restart(strategy, ["a", "b", "c"], "b") == expected


def test_plan_restart_rejects_strangers() -> None:
    with pytest.raises(ValueError, match="'z' is not a child of this supervisor"):
        plan_restart(Strategy.ONE_FOR_ONE, ["a"], "z")


def test_intensity_allows_max_restarts_within_window() -> None:
    window = RestartIntensity(max_restarts=2, within=10.0)
    assert window.record(0.0)
    assert window.record(1.0)
    assert not window.record(2.0)
    fresh = RestartIntensity(max_restarts=2, within=10.0)
    assert fresh.record(0.0)
    assert fresh.record(1.0)
    assert fresh.record(10.5)  # the first one left the window
    assert fresh.recent == 2


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    plain = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(1)
    assert [plain.delay(n, rng) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    jittery = Backoff(initial=0.1, maximum=1.0, jitter=0.5, seed=7)
    delays = [jittery.delay(0, jittery.rng()) for _ in range(3)]
    assert len(set(delays)) == 1  # the seed makes it reproducible
    assert 0.05 <= delays[0] <= 0.15
    assert "seed=7" in repr(jittery)


def test_backoff_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="Backoff delays must be >= 0"):
        Backoff(initial=-1)
    with pytest.raises(ValueError, match=r"multiplier must be >= 1, got 0\.5"):
        Backoff(multiplier=0.5)
    with pytest.raises(ValueError, match=r"jitter must be within \[0, 1\], got 2"):
        Backoff(jitter=2)
