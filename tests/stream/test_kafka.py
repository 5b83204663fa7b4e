"""The plain aiokafka functions against the session's tansu broker (asyncio only)."""

from __future__ import annotations

import uuid

import anyio
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cascade_rt.stream import create_producer, ensure_topic, send_records, topic_partition_count
from cascade_rt.testing import KafkaBroker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(asyncio_backend: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    """aiokafka is asyncio-only."""
    return asyncio_backend


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def test_ensure_topic_creates_once_with_partitions(kafka: KafkaBroker) -> None:
    topic = _topic()
    assert await ensure_topic(kafka.bootstrap, topic, partitions=3, retention_period=60) is True
    assert await ensure_topic(kafka.bootstrap, topic, partitions=3) is False
    assert await topic_partition_count(kafka.bootstrap, topic) == 3
    assert await topic_partition_count(kafka.bootstrap, _topic()) == 0


async def test_send_records_lands_keys_values_and_partitions(kafka: KafkaBroker) -> None:
    topic = _topic()
    await ensure_topic(kafka.bootstrap, topic, partitions=2)
    producer = create_producer(kafka.bootstrap)
    await producer.start()
    try:
        values = [b'{"id":"a","n":%d}' % i for i in range(5)]
        sent = await send_records(producer, topic, values, ["a", "b", "a", None, "b"], [0, 1, 0, 1, 1])
    finally:
        await producer.stop()
    assert sent == {0: 2, 1: 3}  # the offset after each partition's last message (a new topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    got: list[tuple[int, bytes | None, bytes]] = []
    try:
        with anyio.fail_after(15):
            while len(got) < 5:
                for tp, messages in (await consumer.getmany(timeout_ms=200)).items():
                    got.extend((tp.partition, m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    assert [(p, k, v) for p, k, v in got if p == 0] == [(0, b"a", values[0]), (0, b"a", values[2])]
    assert [(p, k, v) for p, k, v in got if p == 1] == [
        (1, b"b", values[1]),
        (1, None, values[3]),
        (1, b"b", values[4]),
    ]
