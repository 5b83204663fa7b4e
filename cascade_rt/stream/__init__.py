"""Streams: partitioned record delivery in memory or on Kafka, transforms, consumers, dead letters.

Usage::

    async with actors.ActorSystem("app") as system:
        dlq = await spawn_dead_letter_queue(system, name="orders_dlq")
        orders = await spawn_stream(system, name="orders", schema=RecordSchema.of(Order),
                                    parallelism=4, retention_period=3600, sink=table_writer, dlq=dlq)
        enriched = await spawn_stream(system, name="enriched", schema=RecordSchema.of(Enriched))
        orders.add_transform(enriched, lambda order: Enriched(...))   # one record in; record, list or None out
        orders.add_consumer(print)
        await orders.publish(batch)      # memory: returns once sink, transforms and consumers ran

With ``backend=KafkaBackend("host:9092")`` (or ``CASCADE_KAFKA_BOOTSTRAP`` set) the stream is the
topic ``orders`` (partitions = parallelism), ``publish`` returns once the broker acknowledged every
record, and the consumer group ``cascade.orders`` delivers them, committing after the sink returned.
Message keys are the records' key text (see :func:`key_texts`), values their JSON.
"""

from ._dead_letter import DeadLetterRecord as DeadLetterRecord
from ._dead_letter import DeadLetterSchema as DeadLetterSchema
from ._dead_letter import dead_letters_for as dead_letters_for
from ._dlq import DeadLetterQueue as DeadLetterQueue
from ._dlq import spawn_dead_letter_queue as spawn_dead_letter_queue
from ._durable import DEFAULT_MAX_BYTES as DEFAULT_LOG_MAX_BYTES
from ._durable import DurableLog as DurableLog
from ._durable import LogFull as LogFull
from ._durable import LogStatistics as LogStatistics
from ._errors import LogReset as LogReset
from ._errors import StreamError as StreamError
from ._errors import StreamUnavailable as StreamUnavailable
from ._kafka import KafkaBackend as KafkaBackend
from ._kafka import create_consumer as create_consumer
from ._kafka import create_producer as create_producer
from ._kafka import ensure_topic as ensure_topic
from ._kafka import send_records as send_records
from ._kafka import topic_partition_count as topic_partition_count
from ._log import RetentionLog as RetentionLog
from ._partition import key_texts as key_texts
from ._partition import partition_batch as partition_batch
from ._partition import partition_for_key as partition_for_key
from ._partition import partition_indices as partition_indices
from ._stream import Stream as Stream
from ._stream import spawn_stream as spawn_stream
from ._types import Sink as Sink
from ._types import StreamSchema as StreamSchema
from ._types import StreamStatistics as StreamStatistics

__all__ = (
    "DEFAULT_LOG_MAX_BYTES",
    "DeadLetterQueue",
    "DeadLetterRecord",
    "DeadLetterSchema",
    "DurableLog",
    "KafkaBackend",
    "LogFull",
    "LogReset",
    "LogStatistics",
    "RetentionLog",
    "Sink",
    "Stream",
    "StreamError",
    "StreamSchema",
    "StreamStatistics",
    "StreamUnavailable",
    "create_consumer",
    "create_producer",
    "dead_letters_for",
    "ensure_topic",
    "key_texts",
    "partition_batch",
    "partition_for_key",
    "partition_indices",
    "send_records",
    "spawn_dead_letter_queue",
    "spawn_stream",
    "topic_partition_count",
)
