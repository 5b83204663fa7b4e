"""Test utilities shipped with cascade-rt: a throw-away Kafka-protocol broker, commit processes."""

from ._broker import BOOTSTRAP_ENV as BOOTSTRAP_ENV
from ._broker import KafkaBroker as KafkaBroker
from ._broker import kafka_broker as kafka_broker
from ._processes import commit_processes as commit_processes

__all__ = ("BOOTSTRAP_ENV", "KafkaBroker", "commit_processes", "kafka_broker")
