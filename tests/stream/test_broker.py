from __future__ import annotations

import socket

import pytest

from cascade_rt.testing import KafkaBroker, kafka_broker


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_broker_listens_restarts_on_same_port_and_dies_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASCADE_KAFKA_BOOTSTRAP", raising=False)
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
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_broker_works_as_async_context_manager(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    monkeypatch.delenv("CASCADE_KAFKA_BOOTSTRAP", raising=False)
    async with KafkaBroker() as broker:
        assert _connects(broker.port)
    assert not broker.running
