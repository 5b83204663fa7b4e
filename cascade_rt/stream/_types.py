"""What a stream needs of its schema, its statistics record, and validation-error helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

__all__ = ("FeedSink", "Sink", "StreamSchema", "StreamStatistics", "Waiter", "rejected_indices", "resolve_schema", "wait_all")

Sink = Callable[[pa.RecordBatch], Awaitable[None]]
"""``await sink(batch)`` returns once ``batch`` is durable.

A sink may also offer ``await sink.enqueue(batch) -> Waiter``: it returns as soon as the batch is
admitted (in order) and hands back something to ``await waiter.wait()`` for durability. Streams
use it so a partition worker goes on with the next batch while the table's group commit makes
the previous ones durable; without it a worker would wait one commit per batch.
"""


class Waiter(Protocol):
    """Durability of an admitted batch: ``await wait()`` returns once it is durable, or raises."""

    def done(self) -> bool: ...
    async def wait(self, timeout: float | None = None) -> Any: ...  # noqa: ASYNC109 - as actors.Promise


async def wait_all(waiters: Sequence[Waiter]) -> None:
    """Awaits every waiter; raises the first failure after all have finished."""
    first: BaseException | None = None
    for waiter in waiters:
        try:
            await waiter.wait()
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first


class FeedSink(Protocol):
    """A table a stream's log feeds, exactly once (the runtime's ``TableSink``)."""

    async def positions(self) -> dict[str, int]:
        """The stream positions the table has committed (``{source key: end offset}``)."""
        ...

    async def write(self, batch: pa.RecordBatch, promise: Any, source: tuple[str, int, int]) -> None:
        """Queue ``batch`` from ``source`` for the table's next commit; ``promise`` gets the outcome."""
        ...


class StreamSchema(Protocol):
    """What a stream needs of its schema (``cascade_rt.schema.RecordSchema`` provides it)."""

    @property
    def key_fields(self) -> Sequence[str]: ...
    @property
    def arrow_schema(self) -> pa.Schema: ...
    def decode_records(self, records: Iterable[Any]) -> pa.RecordBatch: ...
    def to_objects(self, batch: pa.RecordBatch) -> list[Any]: ...
    def encode_json(self, batch: pa.RecordBatch) -> list[bytes]: ...


@dataclass(frozen=True)
class StreamStatistics:
    """A snapshot of a stream's counters (records, not batches).

    Attributes:
        name: The stream's name.
        backend: ``"log"``, ``"memory"`` or ``"kafka"``.
        partitions: Number of partitions.
        published: Records accepted by ``publish`` (on Kafka: acknowledged by the broker).
        delivered: Records that went through the sink, transforms and consumers.
        failures: Records a transform or consumer failed on, plus records of failed publishes
            and deliveries.
        dead_lettered: Records this stream sent to its dead-letter queue.
        retained: Records in the in-process log (``read``).
    """

    name: str
    backend: str
    partitions: int
    published: int
    delivered: int
    failures: int
    dead_lettered: int
    retained: int


def resolve_schema(schema: Any) -> StreamSchema:
    """Return ``schema`` when it is already a stream schema, else ``RecordSchema.of(schema)``."""
    if hasattr(schema, "decode_records") and hasattr(schema, "encode_json"):
        return schema  # type: ignore[no-any-return]
    if isinstance(schema, type):
        from cascade_rt.schema import RecordSchema

        return RecordSchema.of(schema)
    raise TypeError(
        f"a stream needs a RecordSchema or a schema class (msgspec Struct, pydantic model), got {schema!r}"
    )


def rejected_indices(error: BaseException, count: int) -> dict[int, str] | None:
    """Map record index -> problem from a ``ValidationError``'s ``.errors``.

    Returns None when the error is not about individual records (no ``.errors``, or an entry
    with ``"index": None`` for the body as a whole).
    """
    errors = getattr(error, "errors", None)
    if not isinstance(errors, list) or not errors:
        return None
    out: dict[int, str] = {}
    for entry in errors:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < count:
            return None
        out.setdefault(index, f"{entry.get('message', error)} - at `{entry.get('path', '$')}`")
    return out
