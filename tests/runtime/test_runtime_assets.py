"""Batch assets inside the runtime: runs merge through the table's writer actor; health shows freshness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pandera.pandas as pa
import pytest
from pandera.pandas import Field

from cascade_rt import Runtime
from cascade_rt._registry import Registry, default_registry
from cascade_rt.ingestion import cascade_ingestion
from cascade_rt.observe import walk_tree

pytestmark = pytest.mark.anyio


class RawItem(pa.DataFrameModel):
    id: str = Field(nullable=False, unique=True, description="Item id")
    value: int = Field(ge=0, le=100)


def find(tree: dict[str, Any], path_suffix: str) -> dict[str, Any]:
    return next(node for node in walk_tree(tree) if node["path"].endswith(path_suffix))


@pytest.fixture
def asset_registry(registry: Registry) -> Registry:
    @cascade_ingestion(table_name="rt_items", unique_key="id", validation_schema=RawItem, group="g",
                       freshness_hours=(1, 24), max_retries=0)
    def rt_items(partition_date: str) -> list[dict[str, Any]]:
        day = int(partition_date[-2:])
        return [{"id": f"i{k}", "value": day + k} for k in range(5)]

    default_registry().unregister("asset", rt_items.name)
    registry.register("asset", rt_items.name, rt_items)
    return registry


async def test_asset_runs_merge_through_the_writer_actor(asset_registry: Registry, home: Path) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    async with Runtime(home, registry=asset_registry, clock=lambda: now) as rt:
        assert rt.health()["asset:rt_items"]["status"] == "fail"  # never ran, has thresholds
        first = await rt.run_asset("rt_items", partition_date="2026-11-01")
        assert (first.status, first.rows_inserted, first.rows_updated) == ("success", 5, 0)
        again = await rt.run_asset("rt_items", partition_date="2026-11-02")
        assert (again.rows_inserted, again.rows_updated) == (0, 5)
        data = rt.table("raw.rt_items").sort_by("id")
        assert data["value"].to_pylist() == [2, 3, 4, 5, 6]
        assert data["_dlt_load_id"].null_count == 0
        writer = find(rt.tree(), "assets/table:raw.rt_items")
        assert writer["processed"] >= 2
        assert rt.health()["asset:rt_items"]["status"] == "ok"


async def test_the_scheduler_runs_an_asset_when_its_cron_ticks(home: Path, registry: Registry) -> None:
    @cascade_ingestion(table_name="rt_hourly", unique_key="id", validation_schema=RawItem, group="g",
                       cron="0 * * * *", max_retries=0)
    def rt_hourly(partition_date: str) -> list[dict[str, Any]]:
        return [{"id": partition_date, "value": 1}]

    default_registry().unregister("asset", rt_hourly.name)
    registry.register("asset", rt_hourly.name, rt_hourly)
    clock = {"now": datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)}
    async with Runtime(home, registry=registry, schedule=True, schedule_interval=0.02,
                       clock=lambda: clock["now"]) as rt:
        await anyio.sleep(0.1)  # several ticks at 12:00:30: nothing is due yet
        assert rt.assets.history.runs("rt_hourly") == []
        clock["now"] = datetime(2026, 11, 23, 13, 0, 5, tzinfo=UTC)
        with anyio.fail_after(30):
            while not rt.assets.history.runs("rt_hourly"):  # noqa: ASYNC110 - the scheduler actor owns the run
                await anyio.sleep(0.05)
        (run,) = rt.assets.history.runs("rt_hourly")
        assert run.status == "success"
        assert rt.table("raw.rt_hourly")["id"].to_pylist() == ["2026-11-23"]


async def test_metrics_report_current_freshness_on_each_scrape(asset_registry: Registry, home: Path) -> None:
    from prometheus_client import generate_latest

    clock = {"now": datetime(2026, 11, 23, 12, 0, tzinfo=UTC)}
    async with Runtime(home, registry=asset_registry, clock=lambda: clock["now"]) as rt:
        await rt.run_asset("rt_items", partition_date="2026-11-01")
        text = generate_latest(rt.metrics_registry).decode()
        assert 'cascade_asset_freshness{asset="rt_items"} 0.0' in text
        clock["now"] = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # past the 1 h warning
        text = generate_latest(rt.metrics_registry).decode()
        assert 'cascade_asset_freshness{asset="rt_items"} 1.0' in text
