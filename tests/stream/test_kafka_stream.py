"""Kafka streams against a real Kafka-protocol broker (tansu), asyncio only.

tansu rebalances in about 5 s, so the consumer-group tests budget 30 s against hangs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import msgspec
import orjson
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

import actors
from cascade_rt.schema import Key, RecordSchema
from cascade_rt.stream import (
    KafkaBackend,
    Sink,
    Stream,
    StreamUnavailable,
    partition_for_key,
    spawn_dead_letter_queue,
    spawn_stream,
    topic_partition_count,
)
from cascade_rt.testing import KafkaBroker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(asyncio_backend: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    """aiokafka is asyncio-only."""
    return asyncio_backend


class Reading(msgspec.Struct):
    sensor: Key[str]
    seq: int
    celsius: float


READINGS = RecordSchema.of(Reading)


def readings(n: int, start: int = 0) -> pa.RecordBatch:
    return READINGS.decode_records(
        [{"sensor": f"s{i % 7}", "seq": i, "celsius": i / 10} for i in range(start, start + n)]
    )


def _name() -> str:
    return f"readings_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def system() -> AsyncIterator[actors.ActorSystem]:
    async with actors.ActorSystem("test") as system:
        yield system


async def read_topic(
    bootstrap: str, topic: str, partitions: int, count: int, until: set[int] | None = None
) -> list[tuple[int, bytes, bytes]]:
    """Read ``count`` messages (or until seqs ``until`` were seen) with a plain consumer (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[tuple[int, bytes, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        with anyio.fail_after(15):
            while (
                (len(got) < count)
                if until is None
                else not until <= {orjson.loads(v)["seq"] for *_, v in got}
            ):
                for tp, messages in (await consumer.getmany(timeout_ms=100)).items():
                    got.extend((tp.partition, m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    return got


async def test_publish_lands_keyed_json_records_in_a_topic_per_stream(
    system: actors.ActorSystem, kafka: KafkaBroker
) -> None:
    name = _name()
    stream = await spawn_stream(
        system,
        name=name,
        schema=READINGS,
        parallelism=3,
        retention_period=3600,
        backend=KafkaBackend(kafka.bootstrap),
        consume=False,
    )
    with anyio.fail_after(15):
        await stream.publish(readings(50))
        assert await topic_partition_count(kafka.bootstrap, name) == 3
        got = await read_topic(kafka.bootstrap, name, 3, 50)
    assert len(got) == 50
    for partition, key, value in got:
        record = orjson.loads(value)
        assert key == record["sensor"].encode()
        assert partition == partition_for_key(record["sensor"], 3)
    assert sorted(orjson.loads(v)["seq"] for _, _, v in got) == list(range(50))
    for sensor in {orjson.loads(v)["sensor"] for _, _, v in got}:
        seqs = [orjson.loads(v)["seq"] for _, _, v in got if orjson.loads(v)["sensor"] == sensor]
        assert seqs == sorted(seqs)
    assert orjson.loads(got[0][2]).keys() == {"sensor", "seq", "celsius"}
    assert stream.statistics().published == 50


@pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {}), id="asyncio")])
async def test_group_commits_after_the_sink_and_resumes_after_restart(
    system: actors.ActorSystem, kafka: KafkaBroker
) -> None:
    name = _name()
    # Short group timeouts: tansu makes a new member wait about one rebalance timeout.
    backend = KafkaBackend(
        kafka.bootstrap, poll_timeout=0.05, session_timeout=1.5, heartbeat_interval=0.2, rebalance_timeout=0.5
    )
    seen: list[int] = []
    enough = anyio.Event()
    failed_once: list[bool] = []

    async def start_consumer(sink: Sink, supervisor: str) -> Stream:
        """A consuming member of the group, under its own supervisor."""
        return await spawn_stream(
            system,
            name=name,
            schema=READINGS,
            parallelism=2,
            backend=backend,
            sink=sink,
            parent=await system.spawn(actors.Supervisor, name=supervisor),
        )

    async def flaky_sink(batch: pa.RecordBatch) -> None:
        # The first delivery fails: nothing may be committed, so the records come back.
        if not failed_once:
            failed_once.append(True)
            raise OSError("table unavailable")
        seen.extend(batch.column("seq").to_pylist())
        if set(range(40)) <= set(seen):
            enough.set()

    publisher = await spawn_stream(
        system, name=name, schema=READINGS, parallelism=2, backend=backend, consume=False
    )
    with anyio.fail_after(30):
        await publisher.publish(readings(40))
        consumer1 = await start_consumer(flaky_sink, "first")
        await enough.wait()
        await consumer1.stop()

    assert failed_once == [True]
    assert set(seen) == set(range(40))
    before_restart = len(seen)

    # Published while no consumer runs; the restarted group resumes from its committed offsets.
    done = anyio.Event()

    async def sink2(batch: pa.RecordBatch) -> None:
        seen.extend(batch.column("seq").to_pylist())
        if set(range(40, 70)) <= set(seen[before_restart:]):
            done.set()

    with anyio.fail_after(30):
        await publisher.publish(readings(30, start=40))
        await start_consumer(sink2, "second")
        await done.wait()
    again = seen[before_restart:]
    assert sorted(set(again)) == list(range(40, 70))  # nothing committed came back


async def test_publish_fails_clearly_while_the_broker_is_down_and_recovers(
    system: actors.ActorSystem,
) -> None:
    broker = KafkaBroker()
    if broker.external:
        pytest.skip("needs a broker this test can stop (CASCADE_KAFKA_BOOTSTRAP is set)")
    async with broker:
        name = _name()
        await spawn_dead_letter_queue(system, name=f"{name}_dlq")  # a neighbour that must keep working
        backend = KafkaBackend(broker.bootstrap, publish_timeout=2.0)
        stream = await spawn_stream(
            system, name=name, schema=READINGS, parallelism=2, backend=backend, consume=False
        )
        with anyio.fail_after(15):
            await stream.publish(readings(10))
        broker.stop()
        with anyio.fail_after(15):
            with pytest.raises(
                StreamUnavailable,
                match=rf"stream '{name}': publishing 10 records to Kafka at "
                rf"{broker.bootstrap} .*nothing was acknowledged",
            ) as caught:
                await stream.publish(readings(10, start=10))
        assert (caught.value.stream, caught.value.records, caught.value.timeout) == (name, 10, 2.0)
        broker.start()  # a fresh in-memory broker on the same port: the topic is re-created
        with anyio.fail_after(15):
            await stream.publish(readings(5, start=20))
            got = await read_topic(broker.bootstrap, name, 2, 5, until={20, 21, 22, 23, 24})
        # Records of the failed publish were never acknowledged; they may or may not have landed.
        assert {orjson.loads(v)["seq"] for _, _, v in got} - set(range(10, 20)) == {20, 21, 22, 23, 24}
        assert stream.statistics().failures == 10
        await stream.stop()


async def test_dead_letter_queue_on_kafka_writes_json_dead_letters(
    system: actors.ActorSystem, kafka: KafkaBroker
) -> None:
    name = f"dlq_{uuid.uuid4().hex[:8]}"
    dlq = await spawn_dead_letter_queue(
        system, name=name, backend=KafkaBackend(kafka.bootstrap), consume=False
    )
    with anyio.fail_after(15):
        await dlq.send(
            [{"sensor": "s1", "seq": "x"}, b"{oops"], ValueError("Expected `int`, got `str`"), "ingest:r"
        )
        got = await read_topic(kafka.bootstrap, name, 1, 2)
    letters = [orjson.loads(v) for _, _, v in got]
    assert [d["original_record"] for d in letters] == [{"sensor": "s1", "seq": "x"}, "{oops"]
    assert {(d["error_type"], d["error_message"], d["source"]) for d in letters} == {
        ("ValueError", "Expected `int`, got `str`", "ingest:r")
    }
    assert all(d["failed_at"].endswith("Z") for d in letters)
    assert [k for _, k, _ in got] == [None, None]
