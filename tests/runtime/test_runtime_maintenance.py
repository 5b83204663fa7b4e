"""Table maintenance through the runtime: compaction on demand, statistics, metrics."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from prometheus_client import generate_latest

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry

pytestmark = pytest.mark.anyio


class Reading(msgspec.Struct):
    id: Key[str]
    value: float


async def test_runtime_compacts_through_the_writer_and_reports_stats_and_metrics(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Reading]("Readings", {"table": {"deduplicate": True}, "ingest_api": True}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.01, commit_process=False) as rt:
        for i in range(8):
            await rt.ingest("Readings", [{"id": f"r{i % 5}", "value": float(i)}], wait="table")
        before = await rt.table_stats("Readings")
        assert before.data_files >= 5
        result = await rt.compact("Readings")
        assert result.data_files_rewritten == before.data_files
        after = await rt.table_stats("Readings")
        assert (after.data_files, after.delete_files) == (1, 0)
        assert after.last_maintenance_ms is not None
        values = sorted(zip(*rt.table("Readings").select(["id", "value"]).to_pydict().values(), strict=True))
        assert values == [("r0", 5.0), ("r1", 6.0), ("r2", 7.0), ("r3", 3.0), ("r4", 4.0)]
        text = generate_latest(rt.metrics_registry).decode()
        assert 'cascade_table_compactions_total{table="default.Readings"} 1.0' in text
