"""The stream: partitioned delivery of Arrow batches to a sink, transforms and consumers.

A :class:`Stream` is spawned into an actor system as a small supervision tree::

    <name>            Supervisor (ONE_FOR_ONE)
    ├── owner         closes the Kafka producer when the stream stops (stops last)
    ├── log           with a durable log: opens, prunes and closes it (see ``_feeds``)
    ├── partition-0   one worker per partition: delivers batches of its partition in order
    ├── ...
    ├── consumer      Kafka only: the consumer-group loop (``_consumer.py``)
    ├── table-feed    with a durable log and a table: the log → the table, exactly once
    └── delivery      with a durable log: the log → transforms and consumers, at least once

With a durable log (``log_dir``, the runtime's default for streams not on Kafka), ``publish``
appends the batch to the log and returns once it is synced; the feeds read the log from their
own positions. In memory without a log, ``publish`` splits a batch by key (``partition_batch``),
hands each part to its partition's worker and returns once every part went through the sink, the
transforms and the consumers (a stream with neither transforms nor consumers whose sink is a
table writer's queue hands each batch whole to that queue itself: the writer is one committer
anyway). On Kafka, ``publish`` returns once the broker acknowledged every record; the consumer
actor then reads them back and delivers them, writing a table with the offsets it covers and
committing the group's offsets after the table did.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import pyarrow as pa

import actors

from ._durable import DEFAULT_MAX_BYTES, DurableLog
from ._errors import LogReset, StreamUnavailable
from ._feeds import DeliveryFeed, LogOwner, Progress, TableFeed
from ._kafka import KafkaBackend, create_producer, ensure_topic, send_records, start_client
from ._log import RetentionLog
from ._partition import partition_batch, partition_indices
from ._reset import PartitionLog, current_epoch
from ._types import Sink, StreamStatistics, Waiter, rejected_indices, resolve_schema, wait_all
from ._workers import Deliver, Owner, PartitionWorker, fail_dropped

_logger = logging.getLogger("cascade_rt.stream")

COMMITTED_POLL = 0.2
"""Seconds between reads of the table's committed positions by a worker that only publishes to
Kafka, while a ``wait="table"`` publish waits for them."""


if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from ._dlq import DeadLetterQueue

__all__ = ("Stream", "spawn_stream")


def _name_of(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class Stream:
    """A named, partitioned stream of records of one schema.

    Build it with :func:`spawn_stream`. Records travel as Arrow batches; transforms and consumers see
    one record at a time as an instance of the schema's class, as in Moose.

    Args:
        name: Stream name; also the Kafka topic and consumer group suffix (``cascade.<name>``).
        schema: A ``RecordSchema`` (or a schema class, compiled with ``RecordSchema.of``).
        parallelism: Number of partitions (and of partition workers).
        retention_period: Seconds the in-process log keeps records for ``read`` (on Kafka also
            the topic's ``retention.ms`` when the stream creates it). ``None``: the log keeps the
            newest ``max_log_records`` records and the topic takes the broker's default.
        sink: ``async def sink(batch) -> None`` that returns once the batch is durable (the table writer).
        dlq: Where failing records go (a :class:`~cascade_rt.stream.DeadLetterQueue`).
        backend: ``None`` for memory (or Kafka when ``CASCADE_KAFKA_BOOTSTRAP`` is set), or a
            :class:`KafkaBackend`.
        consume: Kafka only: run the consumer-group loop (False for publish-only processes).
        max_log_records: Bound of the in-process log.
        clock: Monotonic clock of the log (tests pass a fake one).
        log_dir: Memory streams only: keep the stream in a durable log in this directory
            (``DurableLog``; the runtime's default, under ``<home>/streams/<name>``). ``publish``
            then returns once the records are synced to disk; a sink with ``positions`` and
            ``write`` (a table) is fed from the log exactly once, transforms, consumers and any
            other sink at least once, each from its own position.
        log_max_bytes: Bytes the durable log may hold before ``publish`` raises ``LogFull``.
        feed_window: Records the table feed sends ahead of the table's commits.
    """

    def __init__(
        self,
        name: str,
        schema: Any,
        *,
        parallelism: int = 1,
        retention_period: float | None = None,
        sink: Sink | None = None,
        dlq: DeadLetterQueue | None = None,
        backend: KafkaBackend | None = None,
        consume: bool = True,
        max_log_records: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        log_dir: str | os.PathLike[str] | None = None,
        log_max_bytes: int = DEFAULT_MAX_BYTES,
        feed_window: int = 200_000,
        committed: Callable[[], Awaitable[dict[str, int]]] | None = None,
        hold_delivery: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a stream needs a non-empty name, got {name!r}")
        if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
            raise ValueError(f"stream {name!r}: parallelism must be an int >= 1, got {parallelism!r}")
        if backend is None and os.environ.get("CASCADE_KAFKA_BOOTSTRAP"):
            backend = KafkaBackend(os.environ["CASCADE_KAFKA_BOOTSTRAP"])
        if backend is not None and not isinstance(backend, KafkaBackend):
            raise TypeError(
                f"stream {name!r}: backend must be None (memory) or a KafkaBackend, got {backend!r}"
            )
        self.name = name
        self.schema = resolve_schema(schema)
        self.parallelism = parallelism
        self.retention_period = retention_period
        self.sink = sink
        self.dlq = dlq
        self.backend = backend
        self.consume = consume
        self.transforms: list[tuple[Stream, Callable[[Any], Any]]] = []
        self.consumers: list[Callable[[Any], Any]] = []
        self.log = RetentionLog(retention_period, max_records=max_log_records, clock=clock)
        self._key_fields = tuple(self.schema.key_fields)
        self._supervisor: actors.ActorRef | None = None
        self._workers: list[actors.ActorRef] = []
        self._spread = 0
        self._published = self._delivered = self._failures = self._dead_lettered = 0
        self._producer: AIOKafkaProducer | None = None
        self._topic_partitions = 0
        self._kafka_lock: anyio.Lock | None = None
        self._topic_lock = anyio.Lock()
        self.log_resets = 0  # times this process saw a partition's log start again
        self._subscription: actors.Subscription | None = None
        self.durable: DurableLog | None = None
        self.table_progress: Progress | None = None
        self.delivery_progress: Progress | None = None
        self.feed_window = feed_window
        self._feeds_sink = False
        feeds = sink is not None and callable(getattr(sink, "positions", None)) and callable(getattr(sink, "write", None))
        if log_dir is not None and backend is None:
            self.durable = DurableLog(name, log_dir, retention_period=retention_period, max_bytes=log_max_bytes)
            self.delivery_progress = Progress()
            if feeds:
                self.table_progress = Progress()
                self._feeds_sink = True
        elif backend is not None and feeds:
            self._feeds_sink = True  # the consumer writes the table itself, with Kafka offsets
        # On Kafka, what this process knows of each partition's log: how far the table has
        # committed it (advanced by this process's consumer as its writes commit, or, on a worker
        # that only publishes, read with ``committed``) and whether it started again (``_reset``).
        self.partition_logs: dict[int, PartitionLog] = {}
        # Delivery to transforms and consumers waits for ``release_delivery`` when held (the
        # runtime wires them after the streams start: records delivered before would skip them).
        self.delivery_held = hold_delivery
        self._on_release: list[Callable[[], object]] = []
        self._committed = committed if backend is not None and not self._feeds_sink else None

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} {self.backend_name} partitions={self.parallelism}>"

    @property
    def backend_name(self) -> str:
        """``"log"`` (a durable log on local disk), ``"memory"`` or ``"kafka"``."""
        if self.backend is not None:
            return "kafka"
        return "log" if self.durable is not None else "memory"

    @property
    def topic(self) -> str:
        """The Kafka topic (the stream's name)."""
        return self.name

    @property
    def group_id(self) -> str:
        """The Kafka consumer group of this stream."""
        prefix = self.backend.group_prefix if self.backend is not None else "cascade."
        return f"{prefix}{self.name}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._supervisor is not None

    # -- wiring -----------------------------------------------------------------------------

    def add_transform(self, destination: Stream, transformation: Callable[[Any], Any]) -> None:
        """Run ``transformation`` on every record and publish what it returns to ``destination``.

        The function gets one record (an instance of this stream's schema class) and returns a
        record, a list of records or None (sync or async). Returned records are decoded with the
        destination's schema. A record the function raises on (or whose output the destination's
        schema rejects) goes to this stream's dead-letter queue with the error; the others flow on.
        """
        if not isinstance(destination, Stream):
            raise TypeError(f"add_transform() needs a destination Stream, got {destination!r}")
        if not callable(transformation):
            raise TypeError(f"add_transform() needs a callable transformation, got {transformation!r}")
        self.transforms.append((destination, transformation))

    def add_consumer(self, consumer: Callable[[Any], Any]) -> None:
        """Call ``consumer`` (sync or async) with every record; failures go to the dead-letter queue."""
        if not callable(consumer):
            raise TypeError(f"add_consumer() needs a callable, got {consumer!r}")
        self.consumers.append(consumer)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, system: actors.ActorSystem, *, parent: actors.ActorRef | None = None) -> Stream:
        """Spawn the stream's actors under ``parent`` (the system's root when None); return self."""
        if self._supervisor is not None:
            raise RuntimeError(f"stream {self.name!r} is already running")
        self._kafka_lock = anyio.Lock()
        self._topic_lock = anyio.Lock()
        # A broker outage crashes the consumer over and over: restart it with a backoff of up to
        # 5 s instead of giving the stream up after a few quick restarts.
        sup = await system.spawn(
            actors.Supervisor,
            name=self.name,
            parent=parent,
            max_restarts=1000,
            within=60.0,
            backoff=actors.Backoff(initial=0.05, maximum=5.0),
        )
        self._supervisor = sup
        self._subscription = system.dead_letters.subscribe(fail_dropped)
        try:
            await system.spawn(Owner, name="owner", parent=sup, stream=self)
            if self.durable is not None:
                await system.spawn(LogOwner, name="log", parent=sup, stream=self)
            self._workers = [
                await system.spawn(PartitionWorker, name=f"partition-{i}", parent=sup, stream=self)
                for i in range(self.parallelism)
            ]
            if self.backend is not None and self.consume:
                from ._consumer import KafkaConsumerActor

                await system.spawn(KafkaConsumerActor, name="consumer", parent=sup, stream=self)
            if self.durable is not None:
                if self.table_progress is not None:
                    await system.spawn(TableFeed, name="table-feed", parent=sup, stream=self, sink=self.sink,
                                       progress=self.table_progress, window=self.feed_window)
                await system.spawn(DeliveryFeed, name="delivery", parent=sup, stream=self,
                                   progress=self.delivery_progress,
                                   path=self.durable.directory / "delivery.position")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Drain what the workers hold, stop the consumer and close the producer."""
        sup, self._supervisor = self._supervisor, None
        if sup is not None:
            await sup.stop()
        self._workers = []
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.unsubscribe()
        await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with anyio.CancelScope(shield=True):
                await producer.stop()

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, batch: pa.RecordBatch, *, wait: str = "log") -> None:
        """Publish a batch of this stream's schema.

        Durable log (the runtime's default): returns once the records are synced to the log;
        with ``wait="table"``, once the destination table has committed them. Memory without a
        log: returns once every record went through the sink (durable), the transforms and the
        consumers (per-key order holds: one key always lands in the same partition worker). Kafka:
        returns once the broker acknowledged every record (``acks="all"``); with
        ``wait="table"``, once the table has committed every partition past the offsets the
        broker gave them (in the table's snapshot: ``cascade.source.kafka:<topic>:<p>``).

        Raises:
            RuntimeError: the stream is not running.
            TypeError: ``batch`` is not a ``pyarrow.RecordBatch``.
            StreamUnavailable: Kafka did not acknowledge in ``backend.publish_timeout`` seconds.
            Exception: memory only: what the sink (or a destination stream) raised.
            LogFull: the durable log is full (disk, or its size limit); nothing was written.
            ValueError: ``wait="table"`` on a stream that feeds no table.
        """
        if wait == "log":
            await wait_all(await self.submit(batch))
            return
        self.check_wait(wait)
        if self.backend is not None:
            await self._await_partitions(await self._publish_kafka(batch))
            return
        assert self.table_progress is not None  # checked above
        waiters = await self.submit(batch)
        for waiter in waiters:
            end = await waiter.wait()
            await self.table_progress.wait_for(end).wait()

    async def submit(self, batch: pa.RecordBatch) -> list[Waiter]:
        """The first half of :meth:`publish`: returns once ``batch`` is admitted, with its waiters.

        Memory: every partition worker has handed its part to the sink (in order) and run the
        transforms and consumers; awaiting the returned waiters (``wait_all``) waits for the sink's
        durability. Kafka: the broker has acknowledged; nothing is left to wait for.
        """
        if not isinstance(batch, pa.RecordBatch):
            raise TypeError(
                f"stream {self.name!r}: publish() needs a pyarrow.RecordBatch, got {type(batch).__name__}"
            )
        if self._supervisor is None:
            raise RuntimeError(
                f"stream {self.name!r} is not running; start it with spawn_stream(system, ...)"
            )
        if batch.num_rows == 0:
            return []
        if self.durable is not None:
            _, synced = self.durable.append(batch)
            self._published += batch.num_rows
            return [synced]
        if self.backend is not None:
            await self._publish_kafka(batch)
            return []
        self.log.append(batch)
        self._published += batch.num_rows
        if self._whole_batches():
            # Only a queueing sink (one table writer) and nothing per record: splitting by key
            # would only cut the batch into smaller writes to the same single committer, and a
            # partition worker would only add a hop (a turn of the event loop, long under load)
            # before the writer's queue. The publisher queues it whole itself (per-key order
            # holds: publish returns once it is queued, and the writer commits in queue order).
            return await self.deliver(batch)
        self._spread += 1
        parts = partition_batch(batch, self._key_fields, self.parallelism, spread=self._spread)
        return await self.dispatch(parts)

    def check_wait(self, wait: str) -> None:
        """Raise ``ValueError`` (saying why) unless :meth:`publish` can take ``wait``."""
        if wait not in ("log", "table"):
            raise ValueError(f"stream {self.name!r}: wait must be 'log' or 'table', got {wait!r}")
        if wait == "table" and self.table_progress is None and not (self._feeds_sink or self._committed):
            raise ValueError(f"stream {self.name!r} feeds no table: wait='table' is not available; "
                             "the default (wait='log') answers once the records are durable in the stream")

    def when_released(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once delivery may run: now, or at :meth:`release_delivery`."""
        if self.delivery_held:
            self._on_release.append(callback)
        else:
            callback()

    def release_delivery(self) -> None:
        """Let the delivery feed and the Kafka consumer run (their transforms and consumers are wired)."""
        self.delivery_held = False
        callbacks, self._on_release = self._on_release, []
        for callback in callbacks:
            try:
                callback()
            except (actors.MailboxFull, actors.ActorStopped):
                pass  # a feed that is stopping (or already woken) needs no wake

    def kafka_log(self, partition: int) -> PartitionLog:
        """What this process knows of ``partition``'s log on the broker (see ``_reset``)."""
        log = self.partition_logs.get(partition)
        if log is None:
            log = self.partition_logs[partition] = PartitionLog()
        return log

    def kafka_progress(self, partition: int) -> Progress:
        """How far the table has committed the current log of ``partition`` of the stream's topic."""
        return self.kafka_log(partition).progress

    def log_reset(self, partition: int, why: str, *, acked_end: int | None = None) -> Progress:
        """Start on a new log of ``partition``: ``wait="table"`` callers waiting on the old one get
        ``LogReset``; returns the new log's progress."""
        backend = self.kafka_backend()
        error = LogReset(self.name, bootstrap=backend.bootstrap, topic=self.topic, partition=partition, why=why)
        _logger.warning("%s", error)
        return self.kafka_log(partition).restart(error, acked_end=acked_end)

    def _acked(self, partition: int, base: int, count: int) -> None:
        """A batch was acknowledged (``send_records``): one below an earlier one is a new log."""
        partition_log = self.kafka_log(partition)
        previous = partition_log.acked_end
        if partition_log.acknowledged(base, count):
            self.log_reset(partition, f"offset {base} acknowledged after offset {previous}", acked_end=base + count)
            partition_log.reset_pending = True  # the consumer starts a new epoch of the partition
            self.log_resets += 1

    async def _await_partitions(self, ends: dict[int, int]) -> None:
        """Wait until the table has committed every partition up to its offset in ``ends``.

        Raises:
            LogReset: the log of a partition started again before the table took the records.
        """
        waits = [(self.kafka_progress(p), end) for p, end in ends.items()]
        if self._committed is None:  # this process's consumer advances them as its writes commit
            for progress, end in waits:
                await progress.wait_for(end).wait()
            return
        while True:  # a worker that only publishes: read the table's positions until they are there
            committed = await self._committed()
            for partition, partition_log in self.partition_logs.items():
                progress = partition_log.progress
                position = current_epoch(committed, self.topic, partition)[1]
                if position is not None and position > progress.position:
                    progress.advance(position)
            if all(progress.position >= end for progress, end in waits):
                return
            await anyio.sleep(COMMITTED_POLL)

    def _whole_batches(self) -> bool:
        """Whether a memory stream hands batches on unsplit: no transforms and no consumers, and
        a sink that queues (has ``enqueue``, returning a waiter) rather than writing in the call."""
        if self.transforms or self.consumers or self.sink is None:
            return False
        return getattr(self.sink, "enqueue", None) is not None

    async def publish_records(self, records: Iterable[Any]) -> None:
        """Decode ``records`` (dicts or schema instances) with the schema and :meth:`publish` them."""
        await self.publish(self.schema.decode_records(records))

    async def dispatch(self, parts: Sequence[tuple[int, pa.RecordBatch]]) -> list[Waiter]:
        """Hand each ``(partition, batch)`` to its worker; return once all were handed to the sink.

        Returns the sink's waiters (see ``Sink``): the caller awaits durability with ``wait_all``.
        """
        promises: list[actors.Promise[list[Waiter]]] = []
        for partition, part in parts:
            done: actors.Promise[list[Waiter]] = actors.Promise()
            await self._workers[partition % len(self._workers)].tell(Deliver(self.name, part, done))
            promises.append(done)
        waiters: list[Waiter] = []
        errors = []
        for done in promises:
            try:
                waiters.extend(await done.wait())
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return waiters

    def kafka_backend(self) -> KafkaBackend:
        """The stream's Kafka backend (raises ``RuntimeError`` for a memory stream)."""
        if self.backend is None:
            raise RuntimeError(f"stream {self.name!r} is a memory stream; it has no Kafka backend")
        return self.backend

    async def ensure_topic(self) -> None:
        """Create the stream's topic (``parallelism`` partitions, its retention) unless it exists.

        The producer and the consumer of one stream both call this after a broker restart; one
        call at a time, so the second finds the topic the first created. A topic created here
        after this process wrote to it was lost by the broker: its partitions start new logs.
        """
        backend = self.kafka_backend()
        async with self._topic_lock:
            created = await ensure_topic(
                backend.bootstrap,
                self.topic,
                partitions=self.parallelism,
                retention_period=self.retention_period,
                replication_factor=backend.replication_factor,
                request_timeout=backend.publish_timeout,
            )
            written = [p for p, partition_log in self.partition_logs.items() if partition_log.acked_end is not None]
            if created and written:
                # This process wrote to the topic before, so the broker lost it with its logs:
                # each partition this process wrote to starts a new epoch in the table.
                for partition in written:
                    partition_log = self.kafka_log(partition)
                    if not partition_log.reset_pending:
                        self.log_reset(partition, "the topic was created again")
                    partition_log.acked_end = None
                    partition_log.reset_pending = True

    async def _producer_ready(self) -> AIOKafkaProducer:
        backend = self.kafka_backend()
        if self._kafka_lock is None:
            raise RuntimeError(
                f"stream {self.name!r} is not running; start it with spawn_stream(system, ...)"
            )
        async with self._kafka_lock:
            if self._producer is None:
                # Batches expire a little before publish gives up, so a failed publish leaves no
                # batch behind to be sent later (test_publish_fails_clearly_while_the_broker_is_down...).
                producer = create_producer(
                    backend.bootstrap, request_timeout_ms=max(500, int(backend.publish_timeout * 800))
                )
                await start_client(producer)
                self._producer = producer
            if not self._topic_partitions:
                await self.ensure_topic()
                await self._producer.client.force_metadata_update()
                partitions = await self._producer.partitions_for(self.topic)
                self._topic_partitions = len(partitions or ()) or self.parallelism
            return self._producer

    async def _publish_kafka(self, batch: pa.RecordBatch) -> dict[int, int]:
        backend = self.kafka_backend()
        values = self.schema.encode_json(batch)
        try:
            with anyio.fail_after(backend.publish_timeout):
                producer = await self._producer_ready()
                self._spread += 1
                parts, keys = partition_indices(
                    batch, self._key_fields, self._topic_partitions, spread=self._spread
                )
                ends = await send_records(producer, self.topic, values, keys, parts, acked=self._acked)
        except Exception as exc:
            # ValueError/TypeError from our own code are bugs or misuse; let them through.
            if isinstance(exc, ValueError | TypeError) and not isinstance(exc, TimeoutError):
                raise
            self._failures += batch.num_rows
            self._topic_partitions = 0  # re-check the topic next time (a restarted broker may have lost it)
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {type(exc).__name__}: {exc}"
            raise StreamUnavailable(
                f"stream {self.name!r}: publishing {batch.num_rows} records to Kafka at {backend.bootstrap} "
                f"{reason} (waited up to {backend.publish_timeout} s); nothing was acknowledged",
                stream=self.name,
                bootstrap=backend.bootstrap,
                records=batch.num_rows,
                timeout=backend.publish_timeout,
            ) from exc
        self._published += batch.num_rows
        self.log.append(batch)
        return ends

    # -- delivery ---------------------------------------------------------------------------

    async def deliver(self, batch: pa.RecordBatch) -> list[Waiter]:
        """Run one batch through the sink, then every transform and consumer, record by record.

        Returns the waiters of what is still becoming durable (the sink's, and the destination
        streams' of the transforms). Raises what the sink or a destination stream raises; failures
        of the functions themselves go to the dead-letter queue instead.
        """
        waiters: list[Waiter] = []
        if self.sink is not None and not self._feeds_sink:
            enqueue = getattr(self.sink, "enqueue", None)
            if enqueue is not None:
                waiters.append(await enqueue(batch))
            else:
                await self.sink(batch)
        if self.transforms or self.consumers:
            objects = self.schema.to_objects(batch)
            for destination, fn in self.transforms:
                waiters.extend(await self._run_transform(destination, fn, objects))
            for fn in self.consumers:
                await self._run_consumer(fn, objects)
        self._delivered += batch.num_rows
        return waiters

    async def _call(self, fn: Callable[[Any], Any], record: Any) -> Any:
        result = fn(record)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _run_transform(
        self, destination: Stream, fn: Callable[[Any], Any], objects: list[Any]
    ) -> list[Waiter]:
        source = f"{self.name}.transform:{_name_of(fn)}"
        outputs: list[Any] = []
        for record in objects:
            try:
                result = await self._call(fn, record)
            except Exception as exc:
                await self.dead_letter([record], exc, source)
                continue
            if result is None:
                continue
            if isinstance(result, list | tuple):
                outputs.extend(item for item in result if item is not None)
            else:
                outputs.append(result)
        if not outputs:
            return []
        # The destination's schema may reject some outputs: those go to the dead-letter queue with
        # their own error entry, the rest flow (each round removes at least one bad record).
        while True:
            try:
                out = destination.schema.decode_records(outputs)
                break
            except Exception as exc:
                rejected = rejected_indices(exc, len(outputs))
                if rejected is None:
                    await self.dead_letter(outputs, exc, source)
                    return []
                for index, message in rejected.items():
                    await self.dead_letter([outputs[index]], message, source, error_type=type(exc).__name__)
                outputs = [item for i, item in enumerate(outputs) if i not in rejected]
                if not outputs:
                    return []
        return await destination.submit(out)

    async def _run_consumer(self, fn: Callable[[Any], Any], objects: list[Any]) -> None:
        source = f"{self.name}.consumer:{_name_of(fn)}"
        for record in objects:
            try:
                await self._call(fn, record)
            except Exception as exc:
                await self.dead_letter([record], exc, source)

    async def dead_letter(
        self,
        records: Sequence[Any],
        error: BaseException | str,
        source: str,
        *,
        error_type: str | None = None,
    ) -> None:
        """Send ``records`` that failed in ``source`` to the dead-letter queue with their error."""
        self._failures += len(records)
        if self.dlq is not None:
            await self.dlq.send(records, error, source, error_type=error_type)
            self._dead_lettered += len(records)

    # -- the durable log's feeds ------------------------------------------------------------

    @property
    def feeds_table(self) -> bool:
        """Whether the sink is a table fed exactly once (from the log, or from Kafka with offsets)."""
        return self._feeds_sink

    def durable_listen(self, name: str, callback: Callable[[], object]) -> None:
        """Call ``callback()`` on the event loop whenever the log has synced more records."""
        if self.durable is not None:
            self.durable.listen(name, callback)

    def readers(self) -> list[Progress]:
        """The progress of every reader of the durable log (retention keeps what they need)."""
        return [p for p in (self.table_progress, self.delivery_progress) if p is not None]

    def has_functions(self) -> bool:
        """Whether the delivery feed has work: transforms, consumers, or a sink it calls."""
        return bool(self.transforms or self.consumers or (self.sink is not None and not self._feeds_sink))

    async def dispatch_functions(self, entries: Sequence[tuple[int, pa.RecordBatch]]) -> list[Waiter]:
        """Deliver log entries to the transforms and consumers through the partition workers."""
        waiters: list[Waiter] = []
        for _, batch in entries:
            self._spread += 1
            waiters.extend(await self.dispatch(
                partition_batch(batch, self._key_fields, self.parallelism, spread=self._spread)))
        return waiters

    def count_delivered(self, records: int) -> None:
        """Count records the delivery feed passed on with nothing to run (``statistics().delivered``)."""
        self._delivered += records

    async def settle(self) -> bool:
        """Wait until every reader of the durable log has finished what it holds now (the table
        committed it, the transforms and consumers ran); True if there was anything to wait for."""
        if self.durable is None:
            return False
        end = self.durable.end
        pending = [p for p in self.readers() if p.position < end]
        flush = getattr(self.sink, "flush", None)
        for progress in pending:
            while progress.position < end:
                if progress is self.table_progress and flush is not None:
                    await flush()  # commit what the feed has queued, without waiting for the interval
                with anyio.move_on_after(0.05):
                    await progress.wait_for(end).wait()
        return bool(pending)

    def lag(self) -> dict[str, float | int] | None:
        """How far the table is behind the log: records, and seconds since the oldest record it
        has not committed was appended (None without a durable log feeding a table)."""
        if self.durable is None or self.table_progress is None:
            return None
        position = self.table_progress.position
        records = max(0, self.durable.synced - position)
        when = self.durable.timestamp_at(position) if records else None
        return {"records": records, "seconds": max(0.0, time.time() - when) if when is not None else 0.0}

    # -- peeking and statistics -------------------------------------------------------------

    def read(self, limit: int | None = None) -> pa.Table:
        """The records this process published and still retains, oldest first (newest ``limit``)."""
        batches = self.durable.tail(limit) if self.durable is not None else self.log.read(limit)
        return pa.Table.from_batches(
            batches, schema=batches[0].schema if batches else self.schema.arrow_schema
        )

    def statistics(self) -> StreamStatistics:
        """A snapshot of the stream's counters."""
        return StreamStatistics(
            name=self.name,
            backend=self.backend_name,
            partitions=self.parallelism,
            published=self._published,
            delivered=self._delivered,
            failures=self._failures,
            dead_lettered=self._dead_lettered,
            retained=len(self.log) if self.durable is None else self.durable.synced - self.durable.start,
        )


async def spawn_stream(
    system: actors.ActorSystem,
    *,
    name: str,
    schema: Any,
    parent: actors.ActorRef | None = None,
    **options: Any,
) -> Stream:
    """Create a :class:`Stream` and spawn its actors under ``parent`` (the root when None).

    The stream stops with its supervisor (leaving the ``ActorSystem`` block drains it), or with
    ``await stream.stop()``. ``options`` are the keyword arguments of :class:`Stream`
    (``parallelism``, ``retention_period``, ``sink``, ``dlq``, ``backend``, ``consume``, ...).
    """
    return await Stream(name, schema, **options).start(system, parent=parent)
