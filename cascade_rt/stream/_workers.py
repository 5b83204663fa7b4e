"""The actor shells of a stream: partition workers and the owner that closes the producer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

import actors

from ._errors import StreamError

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ("Deliver", "Owner", "PartitionWorker", "fail_dropped")


class Deliver:
    __slots__ = ("batch", "done", "stream")

    def __init__(self, stream: str, batch: pa.RecordBatch, done: actors.Promise[Any]) -> None:
        self.stream = stream
        self.batch = batch
        self.done = done


def fail_dropped(letter: actors.DeadLetter) -> None:
    """Dead-letter subscriber: a batch a worker will never deliver fails its publisher at once."""
    message = letter.message
    if isinstance(message, Deliver) and not message.done.done():
        message.done.set_exception(
            StreamError(
                f"stream {message.stream!r}: {message.batch.num_rows} records were not delivered: "
                f"the partition worker {letter.path} is {letter.reason}",
                stream=message.stream,
            )
        )


class PartitionWorker(actors.Actor):
    """Delivers the batches of one partition, one at a time, in arrival order."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def receive(self, message: Any) -> None:
        # The outcome goes to the publisher through the promise; a failing sink does not crash
        # the worker (a restart would change nothing), the publisher gets the error instead.
        # The worker does not wait for durability: it hands the sink's waiters to the publisher
        # and goes on with the next batch, so the table's group commit sees many batches at once.
        try:
            waiters = await self.stream.deliver(message.batch)
        except Exception as exc:
            message.done.set_exception(exc)
        else:
            message.done.set_result(waiters)


class Owner(actors.Actor):
    """First child of a stream, so it stops last: closes the producer, marks the stream stopped."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    async def stopped(self) -> None:
        await self.stream._close_producer()
