"""Cron schedules driven by an injected clock: due runs, missed ticks, one run at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from cascade_rt.ingestion import AssetRunner, DueRun, Scheduler, due_runs
from cascade_rt.ingestion._schedule import latest_tick

if TYPE_CHECKING:
    from cascade_rt.ingestion._decorator import IngestionAsset

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 3, 1, 10, 15, tzinfo=UTC)


def asset(name: str, cron: str | None) -> SimpleNamespace:
    return SimpleNamespace(name=name, cron=cron)


def test_latest_tick_is_now_when_now_matches() -> None:
    assert latest_tick("0 * * * *", T0) == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert latest_tick("0 * * * *", T0.replace(minute=0)) == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        latest_tick("0 * * * *", datetime(2024, 3, 1))


def test_due_runs_lists_assets_whose_tick_passed_their_last_run() -> None:
    assets = [asset("hourly", "0 * * * *"), asset("daily", "30 2 * * *"), asset("manual", None)]
    last = {
        "hourly": T0 - timedelta(hours=1),
        "daily": T0 - timedelta(hours=1),
        "manual": T0 - timedelta(days=9),
    }
    assert due_runs(assets, last, T0) == [
        DueRun("hourly", "2024-03-01", datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    ]
    assert due_runs(assets, {"hourly": datetime(2024, 3, 1, 10, 0, tzinfo=UTC)}, T0) == []
    assert due_runs(assets, {}, T0) == []  # never scheduled: counting starts now


def test_several_missed_ticks_give_one_run_for_the_latest() -> None:
    last = {"hourly": T0 - timedelta(hours=7)}
    assert due_runs([asset("hourly", "0 * * * *")], last, T0) == [
        DueRun("hourly", "2024-03-01", datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    ]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("asyncio", {})


async def test_scheduler_runs_each_due_asset_once_per_tick(tmp_path: Path) -> None:
    now = [datetime(2024, 3, 1, 9, 59, tzinfo=UTC)]
    runner = AssetRunner(home=tmp_path, clock=lambda: now[0], assets={"hourly_rows": _hourly_asset()})
    scheduler = Scheduler(runner)
    assert await scheduler.tick() == []
    now[0] = datetime(2024, 3, 1, 10, 0, 30, tzinfo=UTC)
    [result] = await scheduler.tick()
    assert (result.asset, result.partition_date, result.status) == ("hourly_rows", "2024-03-01", "success")
    assert await scheduler.tick() == []  # same tick: nothing new
    [record] = runner.history.runs("hourly_rows")
    assert (record.trigger, record.scheduled_for) == ("schedule", datetime(2024, 3, 1, 10, 0, tzinfo=UTC))

    # down for three hours: one catch-up run on start, for the latest tick
    now[0] = datetime(2024, 3, 1, 13, 20, tzinfo=UTC)
    restarted = Scheduler(runner)
    assert [d.scheduled_for.hour for d in restarted.due()] == [13]
    assert len(await restarted.tick()) == 1
    assert restarted.due() == []


async def test_scheduler_skips_an_asset_that_is_still_running(tmp_path: Path) -> None:
    now = [datetime(2024, 3, 1, 9, 59, tzinfo=UTC)]
    runner = AssetRunner(home=tmp_path, clock=lambda: now[0], assets={"hourly_rows": _hourly_asset()})
    scheduler = Scheduler(runner)
    now[0] = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    scheduler._running.add("hourly_rows")
    assert scheduler.due() == []


def _hourly_asset() -> IngestionAsset:
    import ingestion_shop_app as shop

    from cascade_rt.ingestion._decorator import IngestionAsset

    base = shop.plain_rows
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__}
    return IngestionAsset(**{**fields, "name": "hourly_rows", "table_name": "hourly", "cron": "0 * * * *"})
