"""Memory streams: partitioned delivery, sinks, transforms, consumers, dead letters, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pyarrow as pa
import pytest

import actors
from cascade_rt.schema import Key, RecordSchema
from cascade_rt.stream import (
    DeadLetterQueue,
    KafkaBackend,
    Stream,
    StreamError,
    partition_for_key,
    spawn_dead_letter_queue,
    spawn_stream,
)
from cascade_rt.stream._types import wait_all

pytestmark = pytest.mark.anyio


class Event(msgspec.Struct):
    id: Key[str]
    seq: int
    value: float = 0.0


class Enriched(msgspec.Struct):
    id: Key[str]
    seq: int
    doubled: float


EVENTS = RecordSchema.of(Event)
ENRICHED = RecordSchema.of(Enriched)


def events(n: int, keys: int = 5, start: int = 0) -> pa.RecordBatch:
    return EVENTS.decode_records(
        [{"id": f"k{i % keys}", "seq": i, "value": float(i)} for i in range(start, start + n)]
    )


class Collector:
    """A sink that keeps every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    async def __call__(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for b in self.batches for row in b.to_pylist()]


@pytest.fixture
async def system(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[actors.ActorSystem]:
    monkeypatch.delenv("CASCADE_KAFKA_BOOTSTRAP", raising=False)  # these are memory streams
    async with actors.ActorSystem("test") as system:
        yield system


async def test_parallel_stream_keeps_per_key_order(system: actors.ActorSystem) -> None:
    sink = Collector()
    seen: list[tuple[str, int]] = []
    stream = await spawn_stream(system, name="orders", schema=EVENTS, parallelism=4, sink=sink)
    stream.add_consumer(lambda e: seen.append((e.id, e.seq)))
    with anyio.fail_after(10):
        for start in range(0, 400, 100):
            await stream.publish(events(100, keys=10, start=start))
    rows = sink.rows
    assert sorted(r["seq"] for r in rows) == list(range(400))
    for key in {r["id"] for r in rows}:
        seqs = [r["seq"] for r in rows if r["id"] == key]
        assert seqs == sorted(seqs)
        assert [s for k, s in seen if k == key] == seqs
    # Each sink call holds the records of one partition only: a key never spans partitions.
    for batch in sink.batches:
        assert len({partition_for_key(key, 4) for key in batch.column("id").to_pylist()}) == 1
    assert len(sink.batches) > 4
    stats = stream.statistics()
    assert (stats.published, stats.delivered, stats.failures, stats.partitions) == (400, 400, 0, 4)


async def test_publish_returns_only_after_the_sink_returned(system: actors.ActorSystem) -> None:
    entered, release = anyio.Event(), anyio.Event()
    done: list[bool] = []

    async def slow_sink(batch: pa.RecordBatch) -> None:
        entered.set()
        await release.wait()

    stream = await spawn_stream(system, name="slow", schema=EVENTS, sink=slow_sink)

    async def publish() -> None:
        await stream.publish(events(3))
        done.append(True)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publish)
            await entered.wait()
            await anyio.wait_all_tasks_blocked()
            assert done == []
            release.set()
    assert done == [True]


async def test_sink_error_reaches_the_publisher(system: actors.ActorSystem) -> None:
    async def broken_sink(batch: pa.RecordBatch) -> None:
        raise OSError("disk full")

    stream = await spawn_stream(system, name="broken", schema=EVENTS, sink=broken_sink)
    with anyio.fail_after(10), pytest.raises(OSError, match="disk full"):
        await stream.publish(events(2))
    with anyio.fail_after(10), pytest.raises(OSError, match="disk full"):
        await stream.publish(events(2))  # the worker survived and still serves the partition


async def test_transform_chains_into_second_stream(system: actors.ActorSystem) -> None:
    sink = Collector()
    source = await spawn_stream(system, name="raw", schema=EVENTS, parallelism=2)
    target = await spawn_stream(system, name="enriched", schema=ENRICHED, sink=sink)

    async def enrich(event: Event) -> list[Enriched] | None:
        assert isinstance(event, Event)
        if event.seq % 2:
            return None
        return [Enriched(event.id, event.seq, event.value * 2), Enriched(event.id, event.seq + 1000, 0.0)]

    source.add_transform(target, enrich)
    with anyio.fail_after(10):
        await source.publish(events(6))
    assert sorted((r["seq"], r["doubled"]) for r in sink.rows) == [
        (0, 0.0),
        (2, 4.0),
        (4, 8.0),
        (1000, 0.0),
        (1002, 0.0),
        (1004, 0.0),
    ]


async def test_failing_transform_sends_exactly_those_records_to_the_dlq(system: actors.ActorSystem) -> None:
    sink = Collector()
    dlq = await spawn_dead_letter_queue(system, name="raw_dlq")
    source = await spawn_stream(system, name="raw", schema=EVENTS, parallelism=3, dlq=dlq)
    target = await spawn_stream(system, name="enriched", schema=ENRICHED, sink=sink)

    def enrich(event: Event) -> dict[str, object]:
        if event.seq % 4 == 0:
            raise ValueError(f"cannot enrich {event.seq}")
        return {"id": event.id, "seq": event.seq, "doubled": event.value * 2}

    source.add_transform(target, enrich)
    with anyio.fail_after(10):
        await source.publish(events(12))
    assert sorted(r["seq"] for r in sink.rows) == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    letters = dlq.read()
    assert sorted(d.original_record["seq"] for d in letters) == [0, 4, 8]
    letter = next(d for d in letters if d.original_record["seq"] == 4)
    assert letter.error_type == "ValueError"
    assert letter.error_message == "cannot enrich 4"
    assert letter.source == "raw.transform:enrich"
    assert source.statistics().failures == 3
    assert source.statistics().dead_lettered == 3


async def test_transform_output_rejected_by_destination_schema_goes_to_dlq(
    system: actors.ActorSystem,
) -> None:
    sink = Collector()
    dlq = await spawn_dead_letter_queue(system, name="dlq")
    source = await spawn_stream(system, name="raw", schema=EVENTS, dlq=dlq)
    target = await spawn_stream(system, name="enriched", schema=ENRICHED, sink=sink)
    source.add_transform(
        target, lambda e: {"id": e.id, "seq": e.seq, "doubled": "oops" if e.seq == 1 else 1.0}
    )
    with anyio.fail_after(10):
        await source.publish(events(3))
    assert sorted(r["seq"] for r in sink.rows) == [0, 2]
    (letter,) = dlq.read()
    assert letter.original_record == {"id": "k1", "seq": 1, "doubled": "oops"}
    assert letter.error_type == "ValidationError"
    assert letter.error_message == "Expected `float`, got `str` - at `$.doubled`"
    assert letter.source == "raw.transform:<lambda>"


async def test_consumer_failure_goes_to_dlq_with_the_error(system: actors.ActorSystem) -> None:
    got: list[int] = []
    dead: list[object] = []
    dlq = await spawn_dead_letter_queue(system, name="orders_dlq")
    dlq.add_consumer(dead.append)
    stream = await spawn_stream(system, name="orders", schema=EVENTS, parallelism=2, dlq=dlq)

    async def consume(event: Event) -> None:
        if event.seq == 3:
            raise KeyError("no such customer")
        got.append(event.seq)

    stream.add_consumer(consume)
    with anyio.fail_after(10):
        await stream.publish(events(5))
    assert sorted(got) == [0, 1, 2, 4]
    (letter,) = dlq.read()
    assert letter.original_record == {"id": "k3", "seq": 3, "value": 3.0}
    assert (letter.error_type, letter.error_message) == ("KeyError", "'no such customer'")
    assert letter.source == "orders.consumer:consume"
    assert dead == [letter]


async def test_retention_prunes_the_log(system: actors.ActorSystem) -> None:
    now = [0.0]
    stream = Stream("recent", EVENTS, retention_period=60, clock=lambda: now[0])
    await stream.start(system)
    with anyio.fail_after(10):
        await stream.publish(events(3))
        now[0] = 45.0
        await stream.publish(events(2, start=3))
    assert stream.read().column("seq").to_pylist() == [0, 1, 2, 3, 4]
    assert stream.read(limit=3).column("seq").to_pylist() == [2, 3, 4]
    now[0] = 61.0
    assert stream.read().column("seq").to_pylist() == [3, 4]
    assert stream.statistics().retained == 2
    now[0] = 106.0
    assert stream.read().num_rows == 0


async def test_streams_appear_in_the_supervision_tree(system: actors.ActorSystem) -> None:
    await spawn_stream(system, name="treed", schema=EVENTS, parallelism=2)
    (node,) = [n for n in system.tree()["children"] if n["name"] == "treed"]
    assert sorted(c["name"] for c in node["children"]) == ["owner", "partition-0", "partition-1"]


async def test_publish_on_a_stopped_stream_is_refused(system: actors.ActorSystem) -> None:
    stream = await spawn_stream(system, name="gone", schema=EVENTS)
    await stream.stop()
    with pytest.raises(RuntimeError, match=r"stream 'gone' is not running; start it with spawn_stream"):
        await stream.publish(events(1))


async def test_publish_to_workers_stopped_under_it_fails_instead_of_hanging(
    system: actors.ActorSystem,
) -> None:
    parent = await system.spawn(actors.Supervisor, name="pipelines")
    stream = await spawn_stream(system, name="orphan", schema=EVENTS, parent=parent)
    await parent.stop()
    with (
        anyio.fail_after(5),
        pytest.raises(
            StreamError,
            match=r"stream 'orphan': 1 records were not delivered: the partition worker .*orphan/partition-0 is",
        ),
    ):
        await stream.publish(events(1))


async def test_misuse_is_reported_with_the_fix(system: actors.ActorSystem) -> None:
    with pytest.raises(ValueError, match=r"stream 's': parallelism must be an int >= 1, got 0"):
        Stream("s", EVENTS, parallelism=0)
    stream = await spawn_stream(system, name="s", schema=EVENTS)
    with pytest.raises(TypeError, match=r"publish\(\) needs a pyarrow.RecordBatch, got list"):
        await stream.publish([{"id": "a", "seq": 1}])
    with pytest.raises(TypeError, match=r"add_transform\(\) needs a destination Stream"):
        stream.add_transform("elsewhere", lambda e: e)  # type: ignore[arg-type]


async def test_dead_letter_queue_is_a_stream_of_dead_letters(system: actors.ActorSystem) -> None:
    dlq = DeadLetterQueue("ingest_dlq")
    await dlq.start(system)
    with anyio.fail_after(10):
        sent = await dlq.send(
            [b"{broken", {"id": 1}], ValueError("Expected `str`, got `int`"), "ingest:orders"
        )
    assert [d.original_record for d in dlq.read()] == ["{broken", {"id": 1}]
    assert dlq.read() == sent
    assert dlq.statistics().published == 2


def test_kafka_bootstrap_env_puts_streams_on_kafka(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASCADE_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    stream = Stream("orders", EVENTS, parallelism=3)
    assert stream.backend_name == "kafka"
    assert stream.backend is not None
    assert stream.backend.bootstrap == "127.0.0.1:9"
    assert (stream.topic, stream.group_id) == ("orders", "cascade.orders")
    monkeypatch.delenv("CASCADE_KAFKA_BOOTSTRAP")
    assert Stream("orders", EVENTS).backend_name == "memory"
    assert Stream("orders", EVENTS, log_dir=tmp_path / "log").backend_name == "log"


def test_kafka_backend_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"KafkaBackend needs a bootstrap string 'host:port', got ''"):
        KafkaBackend("")
    with pytest.raises(ValueError, match=r"publish_timeout must be > 0 seconds, got 0"):
        KafkaBackend("127.0.0.1:9", publish_timeout=0)


class QueueingSink:
    """A sink that queues (like a table writer): ``enqueue`` returns a promise completed later."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self.promises: list[actors.Promise[None]] = []
        self.entered = anyio.Event()

    async def __call__(self, batch: pa.RecordBatch) -> None:
        await (await self.enqueue(batch)).wait()

    async def enqueue(self, batch: pa.RecordBatch) -> actors.Promise[None]:
        self.batches.append(batch)
        self.promises.append(actors.Promise())
        self.entered.set()
        return self.promises[-1]


async def test_queueing_sink_without_transforms_gets_each_batch_whole_and_publish_waits_for_it(
    system: actors.ActorSystem,
) -> None:
    sink = QueueingSink()
    stream = await spawn_stream(system, name="direct", schema=EVENTS, parallelism=4, sink=sink)
    done: list[bool] = []

    async def publish() -> None:
        await stream.publish(events(100, keys=10))
        done.append(True)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publish)
            await sink.entered.wait()
            await anyio.wait_all_tasks_blocked()
            assert done == []
            sink.promises[0].set_result(None)
    assert done == [True]
    assert [b.num_rows for b in sink.batches] == [100]
    stats = stream.statistics()
    assert (stats.published, stats.delivered, stats.failures) == (100, 100, 0)


async def test_queueing_sink_with_a_consumer_still_gets_one_partition_per_batch(system: actors.ActorSystem) -> None:
    sink = QueueingSink()
    seen: list[str] = []
    stream = await spawn_stream(system, name="split", schema=EVENTS, parallelism=4, sink=sink)
    stream.add_consumer(lambda e: seen.append(e.id))
    with anyio.fail_after(10):
        publishing = stream.submit(events(100, keys=10))
        waiters = await publishing
        for promise in sink.promises:
            promise.set_result(None)
        await wait_all(waiters)
    assert len(sink.batches) > 1
    for batch in sink.batches:
        assert len({partition_for_key(key, 4) for key in batch.column("id").to_pylist()}) == 1
    assert len(seen) == 100
