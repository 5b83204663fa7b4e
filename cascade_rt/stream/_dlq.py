"""Dead-letter queues: streams of :class:`DeadLetterRecord`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import actors

from ._dead_letter import DeadLetterRecord, DeadLetterSchema, dead_letters_for
from ._durable import DEFAULT_MAX_BYTES
from ._kafka import KafkaBackend
from ._stream import Stream
from ._types import Sink

__all__ = ("DeadLetterQueue", "spawn_dead_letter_queue")


class DeadLetterQueue(Stream):
    """A stream of :class:`DeadLetterRecord`: on a durable log under ``log_dir`` (the runtime's
    default: dead letters survive a restart), in memory, or the Kafka topic ``<name>`` with JSON values.

    Failing records are sent with :meth:`send`; consumers added with ``add_consumer`` receive each
    :class:`DeadLetterRecord`; :meth:`read` peeks at the retained ones. It has one partition and no
    key. Its own failures (a consumer raising) are counted in ``statistics().failures`` and never
    sent anywhere, so a broken dead-letter consumer cannot loop.
    """

    def __init__(
        self,
        name: str,
        *,
        retention_period: float | None = None,
        sink: Sink | None = None,
        backend: KafkaBackend | None = None,
        consume: bool = True,
        max_log_records: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        log_dir: str | os.PathLike[str] | None = None,
        log_max_bytes: int = DEFAULT_MAX_BYTES,
        hold_delivery: bool = False,
    ) -> None:
        super().__init__(
            name,
            DeadLetterSchema(),
            parallelism=1,
            retention_period=retention_period,
            sink=sink,
            backend=backend,
            consume=consume,
            max_log_records=max_log_records,
            clock=clock,
            log_dir=log_dir,
            log_max_bytes=log_max_bytes,
            hold_delivery=hold_delivery,
        )

    async def send(
        self,
        records: Iterable[Any],
        error: BaseException | str,
        source: str,
        *,
        error_type: str | None = None,
    ) -> list[DeadLetterRecord]:
        """Record that ``records`` failed with ``error`` at ``source``; return the dead letters sent.

        ``records`` may hold dicts, schema instances or raw payloads (``bytes``/``str``);
        ``error_type`` overrides the error's type name (useful with a message string). Returns
        once the dead letters are published (memory: delivered to consumers; Kafka: acknowledged).
        """
        letters = dead_letters_for(records, error, source, error_type=error_type)
        await self.send_letters(letters)
        return letters

    async def send_letters(self, letters: Sequence[DeadLetterRecord]) -> None:
        """Publish ready-made dead letters together (one log entry: one sync for them all)."""
        if letters:
            await self.publish(self.schema.decode_records(letters))

    def read(self, limit: int | None = None) -> list[DeadLetterRecord]:
        """The retained dead letters, oldest first (the newest ``limit`` of them)."""
        table = super().read(limit)
        return [letter for batch in table.to_batches() for letter in self.schema.to_objects(batch)]


async def spawn_dead_letter_queue(
    system: actors.ActorSystem,
    *,
    name: str,
    parent: actors.ActorRef | None = None,
    **options: Any,
) -> DeadLetterQueue:
    """Create a :class:`DeadLetterQueue` and spawn its actors under ``parent`` (the root when None).

    ``options`` are the keyword arguments of :class:`DeadLetterQueue` (``retention_period``,
    ``sink``, ``backend``, ``consume``, ...).
    """
    dlq = DeadLetterQueue(name, **options)
    await dlq.start(system, parent=parent)
    return dlq
