"""The Kafka consumer-group loop of a stream, as an actor that polls itself.

Each ``"poll"`` message runs one round: fetch up to ``max_poll_records`` messages, decode each
partition's values into a batch (values joined with ``b"\\n"`` and decoded as NDJSON), hand the
batches to the stream's partition workers, and tell itself the next ``"poll"``. Rounds are
pipelined: a round's offsets wait, in order, until what its batches wrote is durable (the sink's
waiters: the table's group commit), and are committed then, while later rounds are already being
fetched; at most ``MAX_ROUNDS_IN_FLIGHT`` rounds wait at once. Offsets are committed only after
the sink (and transforms, consumers) made the records durable, so delivery is at-least-once: if
delivery fails, the actor crashes, its supervisor restarts it, and the new consumer resumes from
the last committed offsets (the batches are delivered again).
Between rounds the actor is idle, so a stop request is served within one round. The first round
connects (creates the topic if missing, joins the group); if the broker is down it crashes and is
retried with the supervisor's backoff.

A stream whose destination is a table feeds it exactly once: when partitions are assigned, each
is sought to the offset the table has committed for it (``cascade.source.kafka:<topic>:<p>`` in
its snapshot, see ``cascade_rt.table._sources``), and each round's records of a partition go to
the table as one write whose source runs from where the previous write of that partition ended
to the offset after its last message. The group's committed offsets still follow (for lag tools),
but the table is the source of truth: a write the table refuses (a gap left by a failed one)
crashes the actor, and its successor seeks to the table's positions again. A partition whose log
started again from offset 0 since the table took it (``_reset``: the table's position is past the
log end, or the stream's producer saw it) is read from the new log's beginning instead, as the
table's next epoch of it (``cascade.source.kafka:<topic>:<p>@<epoch>``).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import pyarrow as pa
from aiokafka import ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata, TopicPartition

import actors

from ._feeds import Progress
from ._kafka import create_consumer, probe_log_end, start_client
from ._reset import current_epoch, needs_end_probe, past_log_end, source_key
from ._types import FeedSink, Waiter, rejected_indices, wait_all

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

    from ._stream import Stream

__all__ = ("KafkaConsumerActor", "decode_values")

_POLL = "poll"

MAX_ROUNDS_IN_FLIGHT = 16
"""Rounds whose records are delivered but not yet durable; past this the consumer waits."""


def _decode_body(schema: Any, body: bytes) -> pa.RecordBatch:
    if hasattr(schema, "decode_ndjson"):
        return schema.decode_ndjson(body)
    return schema.decode(body, "NDJSON")


def decode_values(
    schema: Any, values: Sequence[bytes]
) -> tuple[pa.RecordBatch | None, list[tuple[bytes, Exception | str, str]]]:
    """Decode Kafka message values (one JSON record each) into one batch.

    Returns ``(batch or None, rejected)``: values the schema rejects are left out of the batch and
    listed as ``(raw value, error or its message, error type name)`` for the dead-letter queue.
    """
    rejected: list[tuple[bytes, Exception | str, str]] = []
    good = list(values)
    while good:
        try:
            return _decode_body(schema, b"\n".join(good)), rejected
        except Exception as exc:
            bad = rejected_indices(exc, len(good))
            if bad is None:
                # The body as a whole failed: find the bad values one by one.
                kept: list[bytes] = []
                for value in good:
                    try:
                        _decode_body(schema, value)
                    except Exception as one:
                        rejected.append((value, one, type(one).__name__))
                    else:
                        kept.append(value)
                if len(kept) == len(good):
                    raise
                good = kept
                continue
            rejected.extend((good[i], message, type(exc).__name__) for i, message in bad.items())
            good = [v for i, v in enumerate(good) if i not in bad]
    return None, rejected


class KafkaConsumerActor(actors.Actor):
    """Reads a stream's topic in its consumer group and delivers through the partition workers."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.consumer: AIOKafkaConsumer | None = None
        self._in_flight: deque[tuple[dict[TopicPartition, OffsetAndMetadata], list[Waiter]]] = deque()
        self._sent: dict[TopicPartition, int] = {}
        self._epoch: dict[TopicPartition, int] = {}  # the table's source epoch of each partition
        # Partitions the assignment listener has sought, each with its own count: records of a
        # partition fetched before its listener finished (it asks the table, maybe the broker)
        # come from wherever the consumer started, not from the table's position.
        self._ready: dict[TopicPartition, int] = {}
        self._sought: dict[TopicPartition, int | None] = {}  # where the listener sought (None: the beginning)
        self._assignments = 0
        self.table = cast("FeedSink", stream.sink) if stream.feeds_table else None

    async def started(self) -> None:
        # Connecting happens in the first round, not here: a broker that is down when the stream
        # starts must not stop the runtime from starting; the round crashes and is retried
        # with the supervisor's backoff instead. The first round waits until the stream's
        # transforms and consumers are wired (``Stream.when_released``), so none misses a record.
        self.stream.when_released(functools.partial(self.ref.tell_nowait, _POLL))

    async def connect(self) -> AIOKafkaConsumer:
        """Create the topic if missing and join the stream's consumer group."""
        stream = self.stream
        backend = stream.kafka_backend()
        await stream.ensure_topic()
        consumer = create_consumer(
            backend.bootstrap,
            None if self.table is not None else stream.topic,
            stream.group_id,
            request_timeout_ms=backend.request_timeout_ms,
            **backend.consumer_options(),
        )
        if self.table is not None:  # seek to the table's positions on each assignment
            consumer.subscribe([stream.topic], listener=_Seek(self, consumer))
        await start_client(consumer)
        self.consumer = consumer
        return consumer

    def source_key(self, tp: TopicPartition) -> str:
        """The table's source key of ``tp`` in the epoch this consumer reads it in."""
        return source_key(tp.topic, tp.partition, self._epoch.get(tp, 0))

    async def assigned(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Seek newly assigned partitions to the offsets the table has committed for them.

        A partition whose log started again since (see ``_reset``) is read from the beginning of
        its new log instead, as the table's next epoch of it.
        """
        if self.table is None:
            return
        positions = await self.table.positions()
        for tp in partitions:
            partition_log = self.stream.kafka_log(tp.partition)
            table_epoch, table_position = current_epoch(positions, tp.topic, tp.partition)
            epoch, position = partition_log.resume(table_epoch, table_position)
            self._epoch[tp] = epoch
            why = None if partition_log.reset_pending else await self.past_log_end(consumer, tp, position)
            if partition_log.reset_pending or why is not None:
                await self.start_epoch(consumer, tp, why)
            elif position is not None:
                consumer.seek(tp, position)
                self._sent[tp] = position
                self._advance(tp.partition, position)
            else:  # the table has taken nothing of this log (of this epoch, one begun here) yet
                self._sent.pop(tp, None)
                await consumer.seek_to_beginning(tp)
            self._assignments += 1
            self._ready[tp] = self._assignments
            self._sought[tp] = self._sent.get(tp)

    async def past_log_end(self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int | None) -> str | None:
        """Why the log of ``tp`` cannot hold ``position`` the table took it up to (None: it can)."""
        if position is None:
            return None
        reported = (await consumer.end_offsets([tp]))[tp]
        if not needs_end_probe(position, reported):
            return None
        end = await probe_log_end(self.stream.kafka_backend().bootstrap, tp.topic, tp.partition, reported,
                                  reach=position)
        if past_log_end(position, end):
            return f"the table took it up to offset {position}, the log ends at offset {end}"
        return None

    async def start_epoch(self, consumer: AIOKafkaConsumer, tp: TopicPartition, why: str | None) -> None:
        """Read ``tp`` from the beginning of its new log, as the table's next epoch of the partition.

        ``why`` None: the producer saw the log start again (``reset_pending``); nothing is done
        when another call (the assignment listener, or a round) has begun the epoch already.
        """
        partition_log = self.stream.kafka_log(tp.partition)
        if not partition_log.reset_pending:
            if why is None:
                return
            self.stream.log_reset(tp.partition, why)
        # Synchronously, so the listener and a round never both begin an epoch for one reset.
        self._epoch[tp] = partition_log.start_epoch()
        self._sent.pop(tp, None)  # the epoch's first write starts at the first record read
        await consumer.seek_to_beginning(tp)

    def _advance(self, partition: int, position: int) -> None:
        progress = self.stream.kafka_progress(partition)
        if position > progress.position or not progress.known:
            progress.advance(max(position, progress.position))

    def _committed(self, progress: Progress, end: int) -> Callable[[actors.Promise[Any]], None]:
        """The callback that moves the partition's table progress (``wait="table"``) to ``end``
        once the write's commit succeeded (or found it committed before). ``progress`` is the
        one of the log the write came from: a log that started again since has a new one."""

        def done(promise: actors.Promise[Any]) -> None:
            if promise.exception() is None and end > progress.position:
                progress.advance(end)

        return done

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._sent.pop(tp, None)
            self._ready.pop(tp, None)
            self._sought.pop(tp, None)

    async def stopped(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with anyio.CancelScope(shield=True):
                try:
                    # Stopping (not crashing): commit what became durable, in order.
                    await self.commit_durable(consumer, block=True, until_empty=True)
                except Exception:  # uncommitted rounds are re-read by the next consumer
                    pass
                finally:
                    self._in_flight.clear()
                    await consumer.stop()

    async def receive(self, message: Any) -> None:
        if message != _POLL:
            raise TypeError(f"the consumer of stream {self.stream.name!r} takes no messages, got {message!r}")
        await self.poll_once()
        self.ref.tell_nowait(_POLL)

    async def poll_once(self) -> int:
        """One round: fetch and deliver; commit the offsets of earlier rounds that became durable.

        Returns the number of messages fetched.
        """
        consumer = self.consumer or await self.connect()
        stream = self.stream
        backend = stream.kafka_backend()
        await self.commit_durable(consumer, block=len(self._in_flight) >= MAX_ROUNDS_IN_FLIGHT)
        resets = stream.log_resets
        ready = dict(self._ready)
        if self.table is not None:
            for tp in consumer.assignment():
                # The producer saw the log start again while the partition stayed assigned.
                if stream.kafka_log(tp.partition).reset_pending:
                    await self.start_epoch(consumer, tp, None)
        fetched = await consumer.getmany(
            timeout_ms=int(backend.poll_timeout * 1000), max_records=backend.max_poll_records
        )
        if self.table is not None and stream.log_resets != resets:
            # The producer saw a log start again during this fetch: what was read may be of the
            # new log at the old epoch's offsets; the next round's new epoch reads it from its start.
            return 0
        parts: list[tuple[int, pa.RecordBatch]] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        table_writes: list[Waiter] = []
        count = 0
        for tp, messages in fetched.items():
            if not messages:
                continue
            if self.table is not None and (tp not in ready or self._ready.get(tp) != ready[tp]):
                # Fetched while the listener was seeking it: maybe from before its seek. Seek
                # again (the same place) and read them from there in the next round.
                if tp in self._ready:
                    sought = self._sought.get(tp)
                    if sought is None:
                        await consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, sought)
                continue
            count += len(messages)
            offsets[tp] = OffsetAndMetadata(messages[-1].offset + 1, "")
            committed = self._sent.get(tp) if self.table is not None else None
            if committed is not None and messages[0].offset < committed:
                # Already in the table (read again from an older group offset): never twice.
                messages = [m for m in messages if m.offset >= committed]
                if not messages:
                    continue
            batch, rejected = decode_values(stream.schema, [m.value or b"" for m in messages])
            for raw, error, error_type in rejected:
                await stream.dead_letter([raw], error, f"{stream.name}.kafka", error_type=error_type)
            if batch is not None and batch.num_rows:
                parts.append((tp.partition, batch))
                if self.table is not None:
                    # From where this partition's previous write ended: a write lost in between
                    # leaves a gap the table refuses (a partition whose records were all rejected
                    # sends nothing, and its next write covers them too).
                    start = self._sent.get(tp, messages[0].offset)
                    end = messages[-1].offset + 1
                    promise: actors.Promise[Any] = actors.Promise()
                    await self.table.write(batch, promise, (self.source_key(tp), start, end))
                    promise.add_done_callback(self._committed(stream.kafka_progress(tp.partition), end))
                    self._sent[tp] = end
                    table_writes.append(promise)
        if offsets:
            waiters = await stream.dispatch(parts) if parts and stream.has_functions() else []
            self._in_flight.append((offsets, table_writes + waiters))
        await self.commit_durable(consumer, block=False)
        return count

    async def commit_durable(self, consumer: AIOKafkaConsumer, *, block: bool, until_empty: bool = False) -> None:
        """Commit, oldest first, the offsets of rounds whose records are durable.

        ``block`` waits for the oldest round (``until_empty``: for every round). A round whose
        delivery failed raises here: the actor crashes and its successor re-reads from the last
        committed offsets.
        """
        while self._in_flight:
            offsets, waiters = self._in_flight[0]
            if not (block or until_empty) and not all(w.done() for w in waiters):
                return
            await wait_all(waiters)
            self._in_flight.popleft()
            await consumer.commit(offsets)
            block = False


class _Seek(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
    """aiokafka rebalance listener: hands assignments to the actor (see ``KafkaConsumerActor.assigned``)."""

    def __init__(self, actor: KafkaConsumerActor, consumer: AIOKafkaConsumer) -> None:
        self.actor = actor
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.actor.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self.actor.assigned(self.consumer, assigned)
