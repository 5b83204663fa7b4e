"""Kafka partition logs that start again from offset 0: the decisions (no event loop), then
against a real tansu broker the tests restart (asyncio only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt.stream import LogReset, ensure_topic, send_records
from cascade_rt.stream._kafka import create_producer, probe_log_end, start_client
from cascade_rt.stream._reset import PartitionLog, current_epoch, needs_end_probe, past_log_end, source_key
from cascade_rt.table import open_catalog
from cascade_rt.table._sources import committed_positions
from cascade_rt.testing import KafkaBroker

# -- the decisions ------------------------------------------------------------------------------


def test_source_key_names_the_first_epoch_as_before_and_later_ones_with_their_number() -> None:
    assert source_key("Orders", 2) == "kafka:Orders:2"
    assert source_key("Orders", 2, 3) == "kafka:Orders:2@3"


def test_current_epoch_is_the_latest_epoch_of_that_partition_only() -> None:
    positions = {"kafka:Orders:0": 5000, "kafka:Orders:0@1": 40, "kafka:Orders:0@2": 7,
                 "kafka:Orders:1": 9, "kafka:Orders:10@4": 1, "kafka:Other:0@9": 3, "log:Orders": 11}
    assert current_epoch(positions, "Orders", 0) == (2, 7)
    assert current_epoch(positions, "Orders", 1) == (0, 9)
    assert current_epoch(positions, "Orders", 3) == (0, None)


def test_a_position_past_the_reported_end_needs_a_probe_one_within_it_does_not() -> None:
    assert needs_end_probe(5000, 21)
    assert not needs_end_probe(21, 21)
    assert not needs_end_probe(None, 0)


def test_a_position_past_the_real_log_end_is_a_reset() -> None:
    assert past_log_end(5000, 21)
    assert not past_log_end(21, 21)
    assert not past_log_end(None, 0)


def test_an_acknowledgement_below_an_earlier_one_is_a_reset() -> None:
    log = PartitionLog()
    assert not log.acknowledged(0, 10)
    assert not log.acknowledged(10, 5)
    assert not log.acknowledged(40, 5)  # another producer wrote in between
    assert log.acked_end == 45
    assert log.acknowledged(0, 3)  # offsets this log had handed out already
    assert log.acked_end == 3


def test_restart_fails_the_old_logs_waiters_and_keeps_a_fresh_progress() -> None:
    log = PartitionLog()
    old = log.progress
    old.advance(5000)
    waiting = old.wait_for(6000)
    error = LogReset("Orders", bootstrap="b:1", topic="Orders", partition=0, why="a test")
    new = log.restart(error, acked_end=3)
    assert waiting.done()
    assert waiting.exception() is error
    assert str(error).startswith("stream 'Orders': the log of partition 0 of topic 'Orders' at b:1 started "
                                 "again from its beginning (a test)")
    assert new is log.progress
    assert not new.known
    assert log.acked_end == 3
    assert not new.wait_for(3).done()  # not answered from the old log's position


def test_an_epoch_begun_here_outlives_a_rebalance_until_the_table_has_it() -> None:
    log = PartitionLog()
    assert log.resume(0, 5000) == (0, 5000)
    log.reset_pending = True
    assert log.start_epoch() == 1
    assert not log.reset_pending
    assert log.resume(0, 5000) == (1, None)  # read from the new log's beginning again
    assert log.resume(1, 12) == (1, 12)  # the table took some of it


# -- against tansu --------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend(asyncio_backend: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    """aiokafka is asyncio-only."""
    return asyncio_backend


@pytest.fixture
def broker() -> Iterator[KafkaBroker]:
    """A broker of this test alone: the tests restart it."""
    broker = KafkaBroker()
    if broker.external:
        pytest.skip("needs a broker the test can restart (CASCADE_KAFKA_BOOTSTRAP is set)")
    with broker:
        yield broker


class Order(msgspec.Struct):
    id: Key[str]
    amount: int


async def ingest(rt: Runtime, records: list[dict[str, object]], *, wait: str = "log") -> None:
    """Ingest, sending again while the restarted broker refuses (503: nothing was acknowledged)."""
    with anyio.fail_after(60):
        while True:
            try:
                await rt.ingest("Orders", records, wait=wait)
                return
            except Exception as exc:  # the ingest API's Unavailable, as a client sees a 503
                if "unavailable" not in str(exc):
                    raise
                await anyio.sleep(0.3)


@pytest.mark.anyio
async def test_probe_finds_the_log_end_tansu_reports_short(broker: KafkaBroker) -> None:
    await ensure_topic(broker.bootstrap, "probed", partitions=1)
    producer = create_producer(broker.bootstrap)
    await start_client(producer)
    try:
        for n in (3, 3, 5, 10):
            await send_records(producer, "probed", [b"{}"] * n, [None] * n, [0] * n)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await start_client(consumer)
    try:
        tp = TopicPartition("probed", 0)
        reported = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    assert reported <= 21  # tansu: the base offset of the last batch, plus one
    with anyio.fail_after(15):
        assert await probe_log_end(broker.bootstrap, "probed", 0, reported, reach=21) == 21
        assert await probe_log_end(broker.bootstrap, "probed", 0, reported, reach=5000) == 21


@pytest.mark.anyio
@pytest.mark.parametrize("after", [10, 80], ids=["shorter", "longer"])
async def test_records_after_a_broker_restart_reach_the_table_and_wait_table_answers(
    broker: KafkaBroker, tmp_path: Path, after: int
) -> None:
    """The new log shorter than the table's position (the consumer sees it is past the end) or
    already longer (only the producer's acknowledgements tell): nothing is skipped."""
    registry = Registry()
    IngestPipeline[Order]("Orders", {"table": True}, registry=registry)
    async with Runtime(tmp_path / "home", registry=registry, kafka_bootstrap=broker.bootstrap,
                       commit_interval=0.1) as rt:
        await ingest(rt, [{"id": f"a{i}", "amount": i} for i in range(40)], wait="table")
        assert rt.table("Orders").num_rows == 40
        await anyio.to_thread.run_sync(broker.stop)
        await anyio.to_thread.run_sync(broker.start)
        # The topic is back before anything is produced (tansu takes records for a topic it lost
        # before it is created again, then numbers the new ones from 0 over them: see README).
        await ensure_topic(broker.bootstrap, "Orders", partitions=1)
        await ingest(rt, [{"id": f"b{i}", "amount": i} for i in range(after)])
        await ingest(rt, [{"id": "last", "amount": 0}], wait="table")
        ids = rt.table("Orders")["id"].to_pylist()
        assert "last" in ids  # wait="table" answered once the table had it, not from the old log
        with anyio.fail_after(30):
            while not {f"b{i}" for i in range(after)} <= set(rt.table("Orders")["id"].to_pylist()):  # noqa: ASYNC110 - written by the consumer
                await anyio.sleep(0.2)
        ids = rt.table("Orders")["id"].to_pylist()
        assert len(ids) == len(set(ids))  # nothing twice
    positions = committed_positions(open_catalog(tmp_path / "home").load_table(("default", "Orders")))
    assert any(key.startswith("kafka:Orders:0@") for key in positions)  # a new epoch of the partition


@pytest.mark.anyio
async def test_a_new_process_sees_the_table_past_the_end_of_the_restarted_log(
    broker: KafkaBroker, tmp_path: Path
) -> None:
    """No acknowledgement tells this process the log started again: the log end does."""
    registry = Registry()
    IngestPipeline[Order]("Orders", {"table": True}, registry=registry)
    home = tmp_path / "home"
    async with Runtime(home, registry=registry, kafka_bootstrap=broker.bootstrap, commit_interval=0.1) as rt:
        await ingest(rt, [{"id": f"a{i}", "amount": i} for i in range(40)], wait="table")
    await anyio.to_thread.run_sync(broker.stop)
    await anyio.to_thread.run_sync(broker.start)
    async with Runtime(home, registry=registry, kafka_bootstrap=broker.bootstrap, commit_interval=0.1) as rt:
        await ingest(rt, [{"id": f"b{i}", "amount": i} for i in range(5)])
        expected = sorted([f"a{i}" for i in range(40)] + [f"b{i}" for i in range(5)])
        with anyio.fail_after(45):
            while sorted(rt.table("Orders")["id"].to_pylist()) != expected:  # noqa: ASYNC110 - written by the consumer
                await anyio.sleep(0.2)
        await ingest(rt, [{"id": "last", "amount": 0}], wait="table")
        assert sorted(rt.table("Orders")["id"].to_pylist()) == sorted([*expected, "last"])
