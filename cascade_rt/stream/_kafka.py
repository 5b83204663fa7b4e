"""Plain aiokafka functions the Kafka stream backend is built from (asyncio only).

Settings follow what a Kafka-protocol broker without idempotence (tansu) supports: producers use
``acks="all"`` with idempotence off, consumers commit by hand and start new groups at the earliest
offset (tansu reports wrong end offsets, so only committed offsets are trusted). tansu's end
offset of a partition is the base offset of its last record batch plus one; :func:`probe_log_end`
reads the real one from the records.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, OffsetOutOfRangeError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import TopicPartition

__all__ = (
    "Acked",
    "KafkaBackend",
    "create_consumer",
    "create_producer",
    "ensure_topic",
    "probe_log_end",
    "send_records",
    "start_client",
    "topic_partition_count",
)


@dataclass(frozen=True)
class KafkaBackend:
    """Where and how a stream lives on Kafka.

    Attributes:
        bootstrap: ``host:port[,host:port]`` of the brokers.
        publish_timeout: Seconds ``publish`` waits for the broker's acks before raising
            ``StreamUnavailable``; also the request timeout of every client.
        poll_timeout: Seconds one consumer poll waits for messages.
        max_poll_records: Messages delivered per consumer poll at most.
        replication_factor: Replication factor of topics created by the stream.
        group_prefix: Consumer groups are named ``<group_prefix><stream>``.
        session_timeout: Seconds without heartbeat before the group drops a consumer.
        heartbeat_interval: Seconds between consumer heartbeats (well below ``session_timeout``).
        rebalance_timeout: Seconds the group waits for members to rejoin in a rebalance (a
            new member waits about this long before its first records); None: aiokafka's default.
    """

    bootstrap: str
    publish_timeout: float = 10.0
    poll_timeout: float = 0.2
    max_poll_records: int = 5000
    replication_factor: int = 1
    group_prefix: str = "cascade."
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    rebalance_timeout: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bootstrap, str) or not self.bootstrap:
            raise ValueError(f"KafkaBackend needs a bootstrap string 'host:port', got {self.bootstrap!r}")
        if self.publish_timeout <= 0:
            raise ValueError(f"publish_timeout must be > 0 seconds, got {self.publish_timeout!r}")

    @property
    def request_timeout_ms(self) -> int:
        return max(1000, int(self.publish_timeout * 1000))

    def consumer_options(self) -> dict[str, object]:
        """Group settings for :func:`create_consumer`."""
        options: dict[str, object] = {
            "session_timeout_ms": int(self.session_timeout * 1000),
            "heartbeat_interval_ms": int(self.heartbeat_interval * 1000),
        }
        if self.rebalance_timeout is not None:
            options["rebalance_timeout_ms"] = int(self.rebalance_timeout * 1000)
        return options


@contextlib.asynccontextmanager
async def _admin(bootstrap: str, request_timeout: float) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit; starting it and the block share ``request_timeout``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=max(1000, int(request_timeout * 1000))
    )
    try:
        async with asyncio.timeout(request_timeout):
            await admin.start()
            yield admin
    finally:
        await admin.close()


async def ensure_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int,
    retention_period: float | None = None,
    replication_factor: int = 1,
    request_timeout: float = 10.0,
) -> bool:
    """Create topic ``name`` unless it exists; return True when this call created it.

    The topic gets ``partitions`` partitions and, when ``retention_period`` (seconds) is given,
    ``retention.ms``. An existing topic is left as it is.

    Raises:
        aiokafka.errors.KafkaError: the broker refused the topic or could not be reached.
        TimeoutError: the broker did not answer within ``request_timeout`` seconds.
    """
    configs = {} if retention_period is None else {"retention.ms": str(int(retention_period * 1000))}
    async with _admin(bootstrap, request_timeout) as admin:
        if await _topic_exists(admin, name):
            return False
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor, topic_configs=configs)]
        )
    for topic, code, *rest in response.topic_errors:
        # 36 = TOPIC_ALREADY_EXISTS: another process created it first.
        if topic == name and code not in (0, 36):
            message = rest[0] if rest else ""
            raise KafkaError(f"creating topic {name!r} failed with error code {code}: {message}")
    return cast("bool", code != 36)


async def _topic_exists(admin: AIOKafkaAdminClient, name: str) -> bool:
    """Whether the broker has topic ``name``, asked without letting the question create it.

    A plain metadata request (what ``list_topics`` and ``describe_topics`` send) lets the broker
    create a topic it lacks (Kafka's ``auto.create.topics.enable``, tansu always); so do our
    producers' and consumers' own metadata requests, and a topic created again while they write
    to it may start its log again (seen with tansu after a restart).
    """
    request = MetadataRequest([name], allow_auto_topic_creation=False)
    response = await admin._send_request(request)  # no public call takes the flag
    return any(t["topic"] == name and t["error_code"] == 0 for t in response.to_object()["topics"])


async def topic_partition_count(bootstrap: str, name: str, *, request_timeout: float = 10.0) -> int:
    """Number of partitions of topic ``name`` (0 when it does not exist)."""
    async with _admin(bootstrap, request_timeout) as admin:
        # Describing an unknown topic may auto-create it (tansu does): list first.
        if name not in await admin.list_topics():
            return 0
        topics = await admin.describe_topics([name])
    for topic in topics:
        if topic["topic"] == name and topic["error_code"] == 0:
            return len(topic["partitions"])
    return 0


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Start a producer or consumer; if that fails or is cancelled, stop it and re-raise.

    The stop is shielded, so a half-started client never leaks its connections and tasks.
    """
    try:
        await client.start()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await client.stop()
        raise


def create_producer(
    bootstrap: str, *, request_timeout_ms: int = 10_000, **overrides: object
) -> AIOKafkaProducer:
    """An (unstarted) producer with ``acks="all"`` and idempotence off, tuned for batches.

    ``overrides`` are passed to ``AIOKafkaProducer`` last.
    """
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "request_timeout_ms": request_timeout_ms,
        "linger_ms": 0,
        "max_batch_size": 1 << 20,
        "max_request_size": 8 << 20,
        "retry_backoff_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def create_consumer(
    bootstrap: str, topic: str | None, group_id: str | None, *, request_timeout_ms: int = 10_000, **overrides: object
) -> AIOKafkaConsumer:
    """An (unstarted) group consumer of ``topic`` (None: subscribe later, with a listener):
    manual commits, new groups start at the earliest offset."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": max(request_timeout_ms, 10_000),
        "max_partition_fetch_bytes": 8 << 20,
        "fetch_max_bytes": 32 << 20,
    }
    options.update(overrides)
    if topic is None:
        return AIOKafkaConsumer(**options)
    return AIOKafkaConsumer(topic, **options)


Acked = Callable[[int, int, int], object]
"""Called with ``(partition, base offset, record count)`` as each batch is acknowledged."""


async def send_records(
    producer: AIOKafkaProducer,
    topic: str,
    values: Sequence[bytes],
    keys: Sequence[str | None],
    partitions: Sequence[int] | np.ndarray,
    *,
    acked: Acked | None = None,
) -> dict[int, int]:
    """Send one message per record and wait until the broker has acknowledged every one.

    Messages are grouped per partition into producer batches (record order is kept within a
    partition). Returns, per partition written, the offset after its last message (where a
    reader has read all of them: what ``wait="table"`` waits for the table to have committed).
    ``acked`` is called for each batch as the broker acknowledges it, before this returns, in
    the order of acknowledgement (aiokafka has one batch per partition in flight at a time, so
    a partition's batches are acknowledged in offset order).

    Raises:
        aiokafka.errors.KafkaError: a batch failed (for example it expired before the broker answered).
    """
    parts = np.asarray(partitions, dtype=np.int64)
    sent: list[tuple[int, Any]] = []  # (messages, future of the batch's RecordMetadata)

    async def send(builder: Any, partition: int) -> None:
        count = builder.record_count()
        future = await producer.send_batch(builder, topic, partition=partition)
        if acked is not None:
            future.add_done_callback(functools.partial(_report, acked, count))
        sent.append((count, future))

    for partition in np.unique(parts).tolist():
        builder = producer.create_batch()
        append = builder.append
        for index in np.flatnonzero(parts == partition).tolist():
            key = keys[index]
            key_bytes = None if key is None else key.encode()
            if append(key=key_bytes, value=values[index], timestamp=None) is None:
                await send(builder, partition)
                builder = producer.create_batch()
                append = builder.append
                if append(key=key_bytes, value=values[index], timestamp=None) is None:
                    raise ValueError(
                        f"record {index} for topic {topic!r} is larger than the producer's max_batch_size"
                    )
        if builder.record_count():
            await send(builder, partition)
    ends: dict[int, int] = {}
    if sent:
        metadata = await asyncio.gather(*(future for _, future in sent))
        for (count, _), meta in zip(sent, metadata, strict=True):
            ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + count)
    return ends


def _report(acked: Acked, count: int, future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        meta = future.result()
        acked(meta.partition, meta.offset, count)


async def probe_log_end(
    bootstrap: str, topic: str, partition: int, reported_end: int, *, reach: int, wait: float = 1.0
) -> int:
    """The offset after the last record of a partition's log, read from its records, up to ``reach``.

    ``reported_end`` is the broker's answer to ListOffsets (latest). Kafka's is exact; tansu
    answers the base offset of the log's last record batch plus one, short of the real end by
    the rest of that batch. This reads from the offset before ``reported_end`` (a groupless
    consumer) until it has seen offset ``reach - 1`` or a fetch waits ``wait`` seconds for nothing
    more, and returns the offset after the last record seen (at least ``reported_end``). A fetch
    out of range (the log ends before ``reported_end - 1`` by now) returns ``reported_end``.
    """
    start = max(reported_end - 1, 0)
    if reach <= start:
        return reported_end
    consumer = create_consumer(bootstrap, None, None, auto_offset_reset="none",
                               fetch_max_wait_ms=max(10, int(wait * 1000)))
    await start_client(consumer)
    end = reported_end
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        while end < reach:
            try:
                fetched = await consumer.getmany(tp, timeout_ms=int(wait * 1000))
            except OffsetOutOfRangeError:
                break
            messages = fetched.get(tp, [])
            if not messages:
                break
            end = max(end, messages[-1].offset + 1)
    finally:
        await consumer.stop()
    return end
