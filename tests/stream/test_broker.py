from __future__ import annotations

import socket

import anyio
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cascade_rt.testing import KafkaBroker, kafka_broker


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Brokers started here, whatever ``CASCADE_KAFKA_BOOTSTRAP`` the machine has."""
    monkeypatch.delenv("CASCADE_KAFKA_BOOTSTRAP", raising=False)


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.usefixtures("local")
def test_broker_listens_restarts_on_same_port_and_dies_on_exit() -> None:
    with kafka_broker() as broker:
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"
        assert _connects(broker.port)
        broker.stop()
        assert not broker.running
        assert not _connects(broker.port)
        broker.start()
        assert _connects(broker.port)
    assert not broker.running
    assert not _connects(broker.port)


def test_external_broker_from_env_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASCADE_KAFKA_BOOTSTRAP", "kafka.example:9092")
    with kafka_broker() as broker:
        assert broker.bootstrap == "kafka.example:9092"
        assert broker.external
        with pytest.raises(RuntimeError, match=r"external \(CASCADE_KAFKA_BOOTSTRAP\); it cannot be stopped"):
            broker.stop()


@pytest.mark.anyio
@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_broker_works_as_async_context_manager(anyio_backend: str) -> None:
    async with KafkaBroker() as broker:
        assert _connects(broker.port)
    assert not broker.running


@pytest.mark.anyio
@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_durable_broker_keeps_acknowledged_records_across_stop_and_start(anyio_backend: str) -> None:
    async with KafkaBroker(storage="s3") as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            sent = await producer.send_and_wait("kept", b"before the restart", partition=0)
        finally:
            await producer.stop()
        broker.stop()
        assert not _connects(broker.port)
        broker.start()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition("kept", 0)])
            with anyio.fail_after(30):
                record = await consumer.getone()
        finally:
            await consumer.stop()
        assert (record.offset, record.value) == (sent.offset, b"before the restart")
    assert not broker.running
    assert not _connects(broker.port)


def test_unknown_storage_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"KafkaBroker storage is 'memory' or 's3', got 'disk'"):
        KafkaBroker(storage="disk")  # type: ignore[arg-type]
