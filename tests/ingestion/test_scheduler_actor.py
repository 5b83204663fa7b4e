"""The scheduler actor: a shell over Scheduler, answering Tick and 'due'."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_schedule import _hourly_asset

from actors import ActorSystem
from cascade_rt.ingestion import AssetRunner, AssetScheduler, Tick

pytestmark = pytest.mark.anyio


async def test_scheduler_actor_runs_due_assets_on_tick(tmp_path: Path) -> None:
    now = [datetime(2024, 3, 1, 9, 59, tzinfo=UTC)]
    runner = AssetRunner(home=tmp_path, clock=lambda: now[0], assets={"hourly_rows": _hourly_asset()})
    async with ActorSystem("test") as system:
        ref = await system.spawn(AssetScheduler, name="scheduler", runner=runner, interval=None)
        assert await ref.ask(Tick(), timeout=30) == []
        now[0] = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
        assert [d.partition_date for d in await ref.ask("due")] == ["2024-03-01"]
        [result] = await ref.ask(Tick(), timeout=30)
        assert (result.asset, result.status) == ("hourly_rows", "success")
        with pytest.raises(TypeError, match="AssetScheduler takes Tick\\(\\) or 'due', got 'later'"):
            await ref.ask("later")
