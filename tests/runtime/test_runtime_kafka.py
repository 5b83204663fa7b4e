"""Pipelines with their streams on Kafka (a tansu broker the tests start), through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt.testing import KafkaBroker

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio")])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker() as broker:
        yield broker


class Order(msgspec.Struct):
    id: Key[str]
    amount: int


async def wait_rows(rt: Runtime, table: str, count: int, *, within: float = 45.0) -> None:
    with anyio.fail_after(within):
        while rt.table(table).num_rows < count:  # noqa: ASYNC110 - the table is written by the consumer group
            await anyio.sleep(0.2)


async def test_acknowledged_records_are_in_the_topic_with_their_keys_and_reach_the_table(
    kafka: KafkaBroker, registry: Registry, home: Path
) -> None:
    IngestPipeline[Order]("Orders", {"table": {"deduplicate": True}, "stream": {"parallelism": 3}},
                          registry=registry)
    async with Runtime(home, registry=registry, kafka_bootstrap=kafka.bootstrap, commit_interval=0.1) as rt:
        port = await rt.serve("127.0.0.1", 0)
        records = [{"id": f"o{i}", "amount": i} for i in range(30)]
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http, \
                http.post("/ingest/Orders", data=orjson.dumps(records)) as resp:
            assert resp.status == 200, await resp.text()
        # An independent client reads what other Kafka consumers would see.
        consumer = AIOKafkaConsumer("Orders", bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                                    group_id="independent-reader", enable_auto_commit=False)
        await consumer.start()
        seen: dict[str, Any] = {}
        try:
            with anyio.fail_after(30):
                while len(seen) < 30:
                    batch = await consumer.getmany(timeout_ms=500)
                    for messages in batch.values():
                        for message in messages:
                            seen[message.key.decode()] = orjson.loads(message.value)
            partitions = consumer.partitions_for_topic("Orders")
        finally:
            await consumer.stop()
        assert seen["o7"] == {"id": "o7", "amount": 7}
        assert partitions == {0, 1, 2}
        await wait_rows(rt, "Orders", 30)
        assert sorted(rt.table("Orders")["amount"].to_pylist()) == list(range(30))


async def test_broker_down_gives_503_not_lost_200s_and_ingest_recovers(
    kafka: KafkaBroker, registry: Registry, home: Path
) -> None:
    if kafka.external:
        pytest.skip("needs a broker the test can stop")
    IngestPipeline[Order]("Payments", {"table": {"deduplicate": True}}, registry=registry)
    async with Runtime(home, registry=registry, kafka_bootstrap=kafka.bootstrap, commit_interval=0.1) as rt:
        port = await rt.serve("127.0.0.1", 0)
        acknowledged: set[str] = set()
        statuses: list[int] = []
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async def send(i: int) -> None:
                async with http.post("/ingest/Payments", data=orjson.dumps([{"id": f"p{i}", "amount": i}])) as resp:
                    statuses.append(resp.status)
                    if resp.status == 200:
                        acknowledged.add(f"p{i}")
                    else:
                        assert resp.status == 503, await resp.text()
                        assert "Retry-After" in resp.headers

            for i in range(5):
                await send(i)
            await anyio.to_thread.run_sync(kafka.stop)
            for i in range(5, 8):
                await send(i)
            assert statuses[5:] == [503, 503, 503]
            await anyio.to_thread.run_sync(kafka.start)
            with anyio.fail_after(60):
                i = 8
                while True:
                    await send(i)
                    i += 1
                    if statuses[-1] == 200:
                        break
                    await anyio.sleep(0.5)
        # What was acknowledged after the broker came back reaches the table (the broker lost what
        # it held in memory before; with a persistent broker that is kept too).
        last = max(acknowledged, key=lambda k: int(k[1:]))
        with anyio.fail_after(60):
            while last not in set(rt.table("Payments")["id"].to_pylist()):  # noqa: ASYNC110 - written by the consumer group
                await anyio.sleep(0.3)


class Click(msgspec.Struct):
    page: str
    n: int


async def test_wait_table_on_kafka_answers_once_the_table_has_the_records(
    kafka: KafkaBroker, registry: Registry, home: Path
) -> None:
    IngestPipeline[Order]("Invoices", {"table": {"deduplicate": True}, "stream": {"parallelism": 3}},
                          registry=registry)
    IngestPipeline[Click]("Clicks", {"table": True, "stream": {"parallelism": 2}}, registry=registry)
    async with Runtime(home, registry=registry, kafka_bootstrap=kafka.bootstrap, commit_interval=0.2) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for round_ in range(3):  # the same keyed records again: still once each in the table
                async with http.post("/ingest/Invoices?wait=table",
                                     data=orjson.dumps([{"id": f"i{i}", "amount": i + round_} for i in range(20)])) as resp:
                    assert resp.status == 200, await resp.text()
                # Read straight after the 200: no polling; the consumer may still be catching up otherwise.
                got = rt.table("Invoices").to_pylist()
                assert sorted((r["id"], r["amount"]) for r in got) == sorted((f"i{i}", i + round_) for i in range(20))
            for round_ in range(2):
                async with http.post("/ingest/Clicks?wait=table",
                                     data=orjson.dumps([{"page": "p", "n": round_ * 10 + i} for i in range(10)])) as resp:
                    assert resp.status == 200, await resp.text()
                assert sorted(rt.table("Clicks")["n"].to_pylist()) == list(range((round_ + 1) * 10))
        assert await rt.ingest("Clicks", [{"page": "q", "n": 99}], wait="table") == 1
        assert 99 in rt.table("Clicks")["n"].to_pylist()


async def test_wait_table_on_a_worker_that_only_publishes_reads_the_tables_positions(
    kafka: KafkaBroker, registry: Registry, home: Path
) -> None:
    IngestPipeline[Click]("Views", {"table": True, "stream": {"parallelism": 2}}, registry=registry)
    async with Runtime(home, registry=registry, kafka_bootstrap=kafka.bootstrap, commit_interval=0.2) as main, \
            Runtime(home, registry=registry, kafka_bootstrap=kafka.bootstrap, role="ingest") as worker:
        port = await worker.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for round_ in range(2):
                async with http.post("/ingest/Views?wait=table",
                                     data=orjson.dumps([{"page": "v", "n": round_ * 10 + i} for i in range(10)])) as resp:
                    assert resp.status == 200, await resp.text()
                assert sorted(main.table("Views")["n"].to_pylist()) == list(range((round_ + 1) * 10))
