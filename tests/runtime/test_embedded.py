"""The embedded runtime: ingest is durable, dedup holds, bad records reach the DLQ, crashes restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

import actors
from cascade_rt import IngestPipeline, Key, Runtime, Stream, ValidationError
from cascade_rt._registry import Registry
from cascade_rt.observe import walk_tree
from cascade_rt.runtime import UnknownDefinition
from cascade_rt.table._writer import Write

pytestmark = pytest.mark.anyio


class Reading(msgspec.Struct):
    id: Key[str]
    value: float
    at: datetime | None = None


def rows(n: int, *, start: int = 0, value: float = 1.0) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "value": value + i} for i in range(start, start + n)]


def find(tree: dict[str, Any], path_suffix: str) -> dict[str, Any]:
    return next(node for node in walk_tree(tree) if node["path"].endswith(path_suffix))


async def test_ingest_waiting_for_the_table_lets_an_independent_reader_see_the_rows(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Reading]("Readings", {"table": True, "stream": {"parallelism": 2}, "ingest_api": True},
                            registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        assert await rt.ingest("Readings", rows(50), wait="table") == 50
        # Committed on return: another catalog client sees the rows before the runtime stops.
        catalog = SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
        table = catalog.load_table(("default", "Readings"))
        data = table.scan().to_arrow()
        assert sorted(data["id"].to_pylist()) == sorted(f"r{i}" for i in range(50))
        assert rt.query("SELECT count(*) AS n FROM Readings")["n"].to_pylist() == [50]


async def test_dedup_table_keeps_each_key_once_across_resends(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Dedup", {"table": {"deduplicate": True}, "stream": True, "ingest_api": True},
                            registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        for attempt in range(3):
            await rt.ingest("Dedup", rows(20, value=100.0 * attempt))
        await rt.ingest("Dedup", [{"id": "r0", "value": -1.0}, {"id": "r0", "value": -2.0}], wait="table")
        data = rt.table("Dedup")
        ids = data["id"].to_pylist()
        assert len(ids) == 20
        assert len(set(ids)) == 20
        values = dict(zip(ids, data["value"].to_pylist(), strict=True))
        assert values["r0"] == -2.0  # last write wins, within a batch and against the table
        assert values["r5"] == 205.0


async def test_invalid_records_are_rejected_whole_and_only_they_reach_the_dlq(
    registry: Registry, home: Path
) -> None:
    pipeline = IngestPipeline[Reading]("Strict", {}, registry=registry)
    assert pipeline.dead_letter_queue is not None
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        bad = [{"id": "a", "value": 1.0}, {"id": "b", "value": "high"}, {"id": "c", "value": 3.0}]
        with pytest.raises(ValidationError, match=r"\$.value") as info:
            await rt.ingest("Strict", bad)
        assert [(e["index"], e["path"]) for e in info.value.errors] == [(1, "$.value")]
        letters = rt.dead_letter_queues[pipeline.dead_letter_queue.queue_name].read()
        assert [letter.original_record for letter in letters] == [{"id": "b", "value": "high"}]
        assert "Expected `float`, got `str`" in letters[0].error_message
        assert rt.table("Strict").num_rows == 0


async def test_unknown_name_lists_the_known_ones(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Known", {}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        with pytest.raises(UnknownDefinition, match="no pipeline, ingest API, stream or table named 'Nope'; known: Known"):
            await rt.ingest("Nope", rows(1))


async def test_transform_failures_send_exactly_those_records_to_the_dlq(registry: Registry, home: Path) -> None:
    source = IngestPipeline[Reading]("Raw", {"table": False, "stream": True, "ingest_api": True}, registry=registry)
    clean = IngestPipeline[Reading]("Clean", {"table": True, "stream": True, "ingest_api": False}, registry=registry)
    assert source.stream is not None
    assert clean.stream is not None

    def scale(record: Reading) -> Reading:
        if record.value < 0:
            raise ValueError(f"negative reading {record.id}")
        return msgspec.structs.replace(record, value=record.value * 10)

    source.stream.add_transform(clean.stream, scale)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("Raw", [{"id": "a", "value": 1.0}, {"id": "b", "value": -1.0}, {"id": "c", "value": 2.0}])
        await rt.flush()
        out = rt.table("Clean")
        assert sorted(zip(out["id"].to_pylist(), out["value"].to_pylist(), strict=True)) == [("a", 10.0), ("c", 20.0)]
        assert source.dead_letter_queue is not None
        letters = rt.dead_letter_queues[source.dead_letter_queue.queue_name].read()
        assert [letter.original_record["id"] for letter in letters] == ["b"]
        assert "negative reading b" in letters[0].error_message


async def test_a_crashed_table_writer_restarts_and_keeps_every_acknowledged_row(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Reading]("Crashy", {"table": True, "stream": False, "ingest_api": True}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        acknowledged: list[str] = []
        failed: list[BaseException] = []

        async def client(k: int) -> None:
            for j in range(5):
                batch: list[dict[str, Any]] = [{"id": f"c{k}-{j}", "value": float(j)}]
                try:
                    await rt.ingest("Crashy", batch)
                except Exception as exc:
                    failed.append(exc)
                else:
                    acknowledged.append(batch[0]["id"])

        writer = rt.tables["Crashy"].writer
        crashed = anyio.Event()
        letters: list[actors.DeadLetter] = []

        def on_dead_letter(letter: actors.DeadLetter) -> None:
            if letter.reason == "crashed" and letter.path.endswith("Crashy/table"):
                letters.append(letter)
                crashed.set()

        assert rt.system is not None
        rt.system.dead_letters.subscribe(on_dead_letter)
        async with anyio.create_task_group() as tg:
            for k in range(4):
                tg.start_soon(client, k)
            # A batch the table cannot take (a string where the table has a double), sent with no
            # one waiting on it: the writer commits the good writes, then crashes on it.
            await writer.tell(Write(pa.record_batch({"id": ["x"], "value": ["not a number"]})))
            with anyio.fail_after(10):
                await crashed.wait()
        assert isinstance(letters[0].message, Write)
        assert letters[0].exception is not None
        stats = find(rt.tree(), "Crashy/table")
        assert stats["restarts"] >= 1
        assert stats["state"] == "running"
        await rt.flush()
        stored = set(rt.table("Crashy")["id"].to_pylist())
        assert set(acknowledged) <= stored
        assert len(acknowledged) + len(failed) == 20


async def test_versioned_pipeline_gets_versioned_names(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Orders", {"version": "1.1"}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("Orders", rows(3), wait="table")
        assert rt.table("Orders_1_1").num_rows == 3
        assert rt.endpoint("Orders").api.path == "/ingest/Orders/1.1"


class ReadingV2(msgspec.Struct):
    id: Key[str]
    value: float
    at: datetime | None = None
    unit: str | None = None


class ReadingBroken(msgspec.Struct):
    id: Key[str]
    value: str


async def test_schema_evolution_adds_optional_fields_and_refuses_incompatible_changes(home: Path) -> None:
    first = Registry()
    IngestPipeline[Reading]("Evolving", {}, registry=first)
    async with Runtime(home, registry=first, commit_interval=0.05) as rt:
        await rt.ingest("Evolving", [{"id": "a", "value": 1.0, "at": datetime(2026, 1, 1, tzinfo=UTC)}])
    second = Registry()
    IngestPipeline[ReadingV2]("Evolving", {}, registry=second)
    async with Runtime(home, registry=second, commit_interval=0.05) as rt:
        await rt.ingest("Evolving", [{"id": "b", "value": 2.0, "unit": "kg"}], wait="table")
        data = rt.table("Evolving").sort_by("id")
        assert data["unit"].to_pylist() == [None, "kg"]
    third = Registry()
    IngestPipeline[ReadingBroken]("Evolving", {}, registry=third)
    with pytest.raises(Exception, match="value"):
        async with Runtime(home, registry=third):
            pass


async def test_supervision_tree_shows_pipelines_with_their_parts(registry: Registry, home: Path) -> None:
    IngestPipeline[Reading]("Tree", {"stream": {"parallelism": 3}}, registry=registry)
    standalone = Stream[Reading]("loose", registry=registry)
    assert standalone.name == "loose"
    async with Runtime(home, registry=registry) as rt:
        tree = rt.tree()
        pipeline = find(tree, "pipelines/Tree")
        names = [c["name"] for c in pipeline["children"]]
        assert names == ["TreeDeadLetterQueue", "table", "Tree"]
        stream = find(tree, "pipelines/Tree/Tree")
        assert sum(1 for c in stream["children"] if c["name"].startswith("partition-")) == 3
        find(tree, "streams/loose")


async def test_olap_table_to_arrow_reads_through_the_runtime_and_from_a_home(registry: Registry, home: Path) -> None:
    pipeline = IngestPipeline[Reading]("Readable", {"stream": False}, registry=registry)
    assert pipeline.table is not None
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("Readable", rows(4))
        assert pipeline.table.to_arrow().num_rows == 4
    assert sorted(pipeline.table.to_arrow(home=home)["id"].to_pylist()) == ["r0", "r1", "r2", "r3"]


async def test_standalone_parts_are_wired_by_their_destinations(registry: Registry, home: Path) -> None:
    from cascade_rt import IngestApi, OlapTable

    table = OlapTable[Reading]("solo", {"deduplicate": True}, registry=registry)
    stream = Stream[Reading]("solo", {"destination": table, "parallelism": 2}, registry=registry)
    IngestApi[Reading]("solo", {"destination": stream}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("solo", rows(6))
        await rt.ingest("solo", rows(6))
        await rt.flush()
        assert rt.table("solo").num_rows == 6
        assert find(rt.tree(), "tables/solo")["restarts"] == 0
        stats = rt.streams["solo"].statistics()
        assert (stats.partitions, stats.published, stats.delivered) == (2, 12, 12)


async def test_an_idle_writer_commits_without_waiting_for_the_commit_interval(registry: Registry, home: Path) -> None:
    from cascade_rt import OlapTable

    OlapTable[Reading]("Prompt", {"commit_interval": 600.0}, registry=registry)  # written directly
    async with Runtime(home, registry=registry) as rt:
        with anyio.fail_after(20):  # far below the 600 s interval: the idle writer commits at once
            await rt.ingest("Prompt", rows(3))
        assert rt.table("Prompt").num_rows == 3


async def test_without_idle_commits_a_write_waits_for_the_interval(registry: Registry, home: Path) -> None:
    from cascade_rt import OlapTable

    OlapTable[Reading]("Patient", {"commit_interval": 0.5, "min_commit_interval": None}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        started = anyio.current_time()
        await rt.ingest("Patient", rows(3))
        assert anyio.current_time() - started >= 0.45
