"""Pipelines on the durable stream log: lag, size limits, group commits and readers' positions."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest
from prometheus_client import generate_latest

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt._threads import loop_notifier
from cascade_rt.stream import DurableLog

pytestmark = pytest.mark.anyio


class Reading(msgspec.Struct):
    id: Key[str]
    value: float


def rows(n: int, *, start: int = 0) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "value": float(i)} for i in range(start, start + n)]


async def test_health_and_metrics_show_each_tables_lag_behind_its_log(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Lagging", {"table": {"commit_interval": 600.0}}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        await rt.ingest("Lagging", rows(10))
        component = rt.health()["stream:Lagging"]
        assert (component["table"], component["lag_records"], component["status"]) == ("Lagging", 10, "ok")
        assert component["log_bytes"] > 0
        metrics = generate_latest(rt.metrics_registry).decode()
        assert 'cascade_table_lag_records{stream="Lagging",table="Lagging"} 10.0' in metrics
        assert 'cascade_stream_log_end_offset{stream="Lagging"} 10.0' in metrics
        await rt.flush()
        assert rt.health()["stream:Lagging"]["lag_records"] == 0
        assert rt.table("Lagging").num_rows == 10


async def test_a_table_fed_from_its_log_commits_in_large_groups(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Grouped", {"table": {"commit_interval": 0.5}}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        started = anyio.current_time()
        for i in range(150):
            await rt.ingest("Grouped", rows(1, start=i))
            await anyio.sleep(0.01)  # a steady trickle of single records, as a client sends them
        await rt.flush()
        elapsed = anyio.current_time() - started
        table = rt.catalog.load_table("default.Grouped")
        commits = len(table.metadata.snapshots)
        assert rt.table("Grouped").num_rows == 150
        # One commit per commit_interval (and the flush), not one per request.
        assert commits <= elapsed / 0.5 + 3, f"{commits} commits in {elapsed:.2f} s"
        summary = table.current_snapshot().summary
        assert summary["cascade.source.log:Grouped"] == "150"


async def test_consumers_resume_from_their_own_position_and_get_what_was_logged_before_a_crash(
    registry: Registry, home: Path
) -> None:
    seen: list[str] = []
    pipeline = IngestPipeline[Reading]("Watched", {"table": True, "stream": True}, registry=registry)
    assert pipeline.stream is not None
    pipeline.stream.add_consumer(lambda record: seen.append(record.id))
    async with Runtime(home, registry=registry) as rt:
        await rt.ingest("Watched", rows(5))
        await rt.flush()
    assert seen == [f"r{i}" for i in range(5)]
    # Records acknowledged into the log just before a crash, never delivered nor committed.
    log = DurableLog("Watched", home / "streams" / "Watched")
    log.open(loop_notifier())
    from cascade_rt.schema import RecordSchema

    _, synced = log.append(RecordSchema.of(Reading).decode_records(rows(2, start=5)))
    with anyio.fail_after(10):
        await synced.wait()
    log.close()
    async with Runtime(home, registry=registry) as rt:
        await rt.ingest("Watched", rows(1, start=7))
        await rt.flush()
        assert sorted(rt.table("Watched")["id"].to_pylist()) == [f"r{i}" for i in range(8)]
    assert seen == [f"r{i}" for i in range(8)]  # each once: positions survive the restart
