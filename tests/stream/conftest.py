"""Fixtures of the stream tests: one Kafka-protocol broker for the session, asyncio-only backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cascade_rt.testing import KafkaBroker


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaBroker]:
    """A tansu broker on a free port (or the one named by ``CASCADE_KAFKA_BOOTSTRAP``)."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def asyncio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """asyncio and asyncio + uvloop: modules on aiokafka return it from their ``anyio_backend``."""
    return request.param  # type: ignore[no-any-return]
