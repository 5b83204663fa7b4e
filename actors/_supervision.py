"""Supervision policy as plain data and sync functions (no event loop needed).

``Strategy``, ``Restart`` and ``Backoff`` are the settings; ``RestartIntensity`` counts restarts
in a sliding window; ``plan_restart`` picks which children a failure restarts. The cell runtime
(``_cell.py``) carries the plans out.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ("Backoff", "Restart", "RestartIntensity", "Strategy", "SupervisionSpec", "plan_restart")

C = TypeVar("C")


class Strategy(enum.Enum):
    """Which children a crash restarts (Erlang/OTP).

    * ``ONE_FOR_ONE`` -- only the crashed child.
    * ``ONE_FOR_ALL`` -- every child (stopped in reverse start order, started in order).
    * ``REST_FOR_ONE`` -- the crashed child and those started after it.
    """

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.Enum):
    """When a child is restarted.

    * ``PERMANENT`` -- after a crash and after a normal exit (``self.stop()`` inside the actor).
    * ``TRANSIENT`` -- after a crash only.
    * ``TEMPORARY`` -- never; a crash leaves it ``failed``.

    An explicit ``ref.stop()`` is never restarted, whatever the type.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter between restarts (from Akka).

    The n-th consecutive restart (n = 0, 1, ...) waits
    ``min(maximum, initial * multiplier**n) * uniform(1 - jitter, 1 + jitter)`` seconds.
    ``seed`` fixes the jitter for reproducible runs (it shows in the repr).

    Raises:
        ValueError: negative delays, ``multiplier < 1`` or ``jitter`` outside [0, 1].
    """

    initial: float = 0.01
    maximum: float = 1.0
    multiplier: float = 2.0
    jitter: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ValueError(f"Backoff delays must be >= 0, got initial={self.initial} maximum={self.maximum}")
        if self.multiplier < 1:
            raise ValueError(f"Backoff multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before restart number ``attempt`` (0-based), drawing jitter from ``rng``."""
        base = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        if self.jitter and base:
            base *= rng.uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.0, base)

    def rng(self) -> random.Random:
        """A random source for the jitter, seeded with ``seed``."""
        return random.Random(self.seed)


@dataclass(frozen=True, slots=True)
class SupervisionSpec:
    """How an actor supervises its children (``Supervisor`` options; defaults for any actor)."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 10
    within: float = 60.0
    backoff: Backoff = Backoff()

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, Strategy):
            raise TypeError(f"strategy must be a Strategy (e.g. Strategy.ONE_FOR_ONE), got {self.strategy!r}")
        if isinstance(self.max_restarts, bool) or not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {self.max_restarts!r}")
        if not self.within > 0:
            raise ValueError(f"within must be > 0 seconds, got {self.within!r}")
        if not isinstance(self.backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff, got {self.backoff!r}")


class RestartIntensity:
    """Sliding-window restart counter: at most ``max_restarts`` within ``within`` seconds."""

    __slots__ = ("_times", "max_restarts", "within")

    def __init__(self, max_restarts: int, within: float) -> None:
        self.max_restarts = max_restarts
        self.within = within
        self._times: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Record a restart at ``now``; return False when it exceeds the intensity."""
        times = self._times
        times.append(now)
        while times and times[0] <= now - self.within:
            times.popleft()
        return len(times) <= self.max_restarts

    @property
    def recent(self) -> int:
        """Restarts recorded inside the current window (the backoff attempt number + 1)."""
        return len(self._times)


def plan_restart(strategy: Strategy, children: Sequence[C], failed: C) -> list[C]:
    """Return the children to restart after ``failed`` crashed, in start order.

    Raises:
        ValueError: ``failed`` is not among ``children``.
    """
    if failed not in children:
        raise ValueError(f"{failed!r} is not a child of this supervisor")
    if strategy is Strategy.ONE_FOR_ONE:
        return [failed]
    if strategy is Strategy.ONE_FOR_ALL:
        return list(children)
    return list(children[children.index(failed):])
