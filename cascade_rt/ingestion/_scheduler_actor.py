"""The scheduler as an actor (under the runtime's ``assets`` supervisor): a shell over :class:`Scheduler`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors import Actor

from ._schedule import Scheduler, Tick


class AssetScheduler(Actor):
    """Checks the cron schedules on every :class:`Tick` and runs what is due.

    ``system.spawn(AssetScheduler, name="scheduler", parent=assets, runner=runner, interval=30.0)``
    ticks itself every ``interval`` seconds (a timer; ``interval=None`` leaves ticking to whoever
    sends ``Tick`` messages, as tests do). ``ask(Tick(now))`` replies with the runs' results;
    ``ask("due")`` with the runs due now. One tick is handled at a time, so an asset never runs
    twice at once.

    Args:
        runner: The :class:`AssetRunner`.
        interval: Seconds between self-sent ticks, or None.
        clock: The clock (default: the runner's).
    """

    def __init__(
        self, runner: Any, interval: float | None = 30.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._runner = runner
        self._interval = interval
        self._clock = clock
        self.scheduler: Scheduler | None = None

    async def started(self) -> None:
        self.scheduler = Scheduler(self._runner, clock=self._clock)
        if self._interval:
            self.schedule_every(self._interval, Tick())

    async def receive(self, message: Any) -> Any:
        if self.scheduler is None:  # set in started(), before any message
            raise RuntimeError("AssetScheduler received a message before started()")
        if isinstance(message, Tick):
            return await self.scheduler.tick(message.now)
        if message == "due":
            return self.scheduler.due()
        raise TypeError(f"AssetScheduler takes Tick() or 'due', got {message!r}")
