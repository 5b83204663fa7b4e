"""Cron schedules: which assets are due at an instant, and a scheduler that runs them.

:func:`due_runs` is the whole decision and is pure: an asset is due when its latest cron tick at
``now`` is later than the tick it last ran for. Several ticks missed while the process was down
therefore give one run (for the latest tick), on the first tick after start. The partition of a
run is the tick's date (UTC).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from croniter import croniter

from ._result import IngestionResult

log = logging.getLogger("cascade_rt.ingestion.schedule")


@dataclass(frozen=True)
class DueRun:
    """A scheduled run to make: ``asset`` for ``partition_date``, for the tick ``scheduled_for``."""

    asset: str
    partition_date: str
    scheduled_for: datetime


@dataclass(frozen=True)
class Tick:
    """Message to the scheduler actor: check schedules at ``now`` (the clock's time when None)."""

    now: datetime | None = None


def latest_tick(cron: str, now: datetime) -> datetime:
    """The latest instant ``<= now`` matching ``cron`` (``now`` itself, to the minute, when it matches)."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if croniter.match(cron, now):
        return now.replace(second=0, microsecond=0)
    tick: datetime = croniter(cron, now).get_prev(datetime)
    return tick


def due_runs(assets: Iterable[Any], last_runs: Mapping[str, datetime], now: datetime) -> list[DueRun]:
    """The runs due at ``now``: one per asset with a cron whose latest tick is after its last run.

    Args:
        assets: :class:`IngestionAsset` objects (those without ``cron`` are ignored).
        last_runs: Per asset name, the tick its last scheduled run was made for (or, for an
            asset never scheduled, the time scheduling began). Assets absent are not due.
        now: The current aware datetime.
    """
    due = []
    for asset in assets:
        if not asset.cron or asset.name not in last_runs:
            continue
        tick = latest_tick(asset.cron, now)
        if tick > last_runs[asset.name]:
            due.append(DueRun(asset.name, tick.astimezone(UTC).date().isoformat(), tick))
    return due


class Scheduler:
    """Runs due assets through an :class:`AssetRunner`, one run at a time per asset.

    The scheduler's memory is the run history: the last tick each asset ran for. An asset with a
    cron and no scheduled run yet starts counting from the scheduler's creation.

    Args:
        runner: The :class:`AssetRunner` (its history, clock and assets are used).
        clock: Returns the current aware datetime (default: the runner's clock).
    """

    def __init__(self, runner: Any, *, clock: Callable[[], datetime] | None = None) -> None:
        self.runner = runner
        self.clock = clock or runner.clock
        self.started_at = self.clock()
        self._last: dict[str, datetime] = dict(runner.history.last_scheduled())
        self._running: set[str] = set()

    def _assets(self) -> list[Any]:
        assets = [a for a in self.runner.assets() if a.cron]
        for asset in assets:
            self._last.setdefault(asset.name, self.started_at)
        return assets

    def due(self, now: datetime | None = None) -> list[DueRun]:
        """What :meth:`tick` would run at ``now`` (assets already running are left out)."""
        now = now or self.clock()
        return [d for d in due_runs(self._assets(), self._last, now) if d.asset not in self._running]

    async def tick(self, now: datetime | None = None) -> list[IngestionResult]:
        """Run every due asset (concurrently across assets) and wait for them.

        Returns:
            The results, in the order of the due list.
        """
        due = self.due(now)
        results: dict[int, IngestionResult] = {}

        async def run(i: int, d: DueRun) -> None:
            self._running.add(d.asset)
            try:
                results[i] = await self.runner.run_asset(
                    d.asset,
                    partition_date=d.partition_date,
                    trigger="schedule",
                    scheduled_for=d.scheduled_for,
                )
                self._last[d.asset] = d.scheduled_for
            finally:
                self._running.discard(d.asset)

        async with anyio.create_task_group() as tg:
            for i, d in enumerate(due):
                tg.start_soon(run, i, d)
        return [results[i] for i in sorted(results)]

    async def run_forever(
        self, interval: float = 30.0, sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    ) -> None:
        """Tick every ``interval`` seconds until cancelled."""
        while True:
            await self.tick()
            await sleep(interval)
