"""Test utilities shipped with cascade-rt: a throw-away Kafka-protocol broker."""

from ._broker import BOOTSTRAP_ENV as BOOTSTRAP_ENV
from ._broker import KafkaBroker as KafkaBroker
from ._broker import kafka_broker as kafka_broker

__all__ = ("BOOTSTRAP_ENV", "KafkaBroker", "kafka_broker")
