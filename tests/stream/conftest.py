"""Fixtures of the stream tests: one Kafka-protocol broker for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cascade_rt.testing import KafkaBroker


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaBroker]:
    """A tansu broker on a free port (or the one named by ``CASCADE_KAFKA_BOOTSTRAP``)."""
    with KafkaBroker() as broker:
        yield broker
