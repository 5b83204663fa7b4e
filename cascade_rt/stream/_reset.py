"""Kafka partition logs that start again from offset 0: how they are told apart, and what follows.

A table fed by a Kafka stream keeps, per partition, the offset it has consumed up to
(``cascade.source.kafka:<topic>:<p>``, see ``cascade_rt.table._sources``). When the broker's log
of that partition starts again from offset 0 (a broker that kept its log in memory restarted; a
topic deleted and created again; an unclean leader election that truncated it), that position
names records of a log that is gone: the records the producer got acknowledged at the new
offsets below it would be taken for committed ones and skipped.

A reset is told by any of three signals, each cheap and none needing broker support beyond
ListOffsets and Fetch (tansu has no topic ids, and aiokafka does not expose Kafka's):

* **the table is past the log end** (:func:`past_log_end`): when partitions are assigned, the
  consumer asks the broker for the partition's log end; a committed position beyond it cannot
  be in this log. tansu reports the base offset of its last record batch, plus one, as the log
  end (not the offset after its last record), so a position past the *reported* end is checked
  by fetching from just before it (:func:`needs_end_probe`, ``_kafka.probe_log_end``);
* **an acknowledgement below an earlier one** (:meth:`PartitionLog.acknowledged`): aiokafka sends
  one batch per partition at a time, so this process's acknowledged offsets of a partition only
  grow; a batch acknowledged at a base offset below the end of an earlier one was written to a
  new log. This also catches the race the first signal misses: the new log has grown past the
  table's position before the consumer is back;
* **the topic was created again** by the stream after it had written to it (``Stream.ensure_topic``).

What follows is the same for all three: the table starts a new *epoch* of the partition, a new
source key ``kafka:<topic>:<p>@<epoch>`` (:func:`source_key`), read from the beginning of the new
log (as Kafka Connect and Flink fall back to ``auto.offset.reset=earliest`` for an offset out of
range); the old key keeps its last position, so the table never takes the old log twice. The
epoch this process began is kept in :class:`PartitionLog` until the table has committed some of
it, so a rebalance or a restarted consumer resumes it instead of seeking the old position.
``wait="table"`` callers waiting on offsets of the old log get ``LogReset`` (503) instead of an
answer: what the broker acknowledged there and the table did not take is gone with that log.

Limits: a reset is not seen when another process's producer grew the new log past the table's
position before this process's consumer came back and this process produced nothing to the
partition since (without topic ids nothing tells the two logs apart then); a stream that feeds no
table (transforms, consumers) follows its consumer group's offsets as before. A broker that
acknowledges records it then loses or numbers over (tansu, restarted in memory, takes records for
a topic it no longer knows, then numbers new ones from 0 over them once the topic is created
again) loses them whatever the client does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._errors import LogReset
from ._feeds import Progress

__all__ = (
    "PartitionLog",
    "current_epoch",
    "needs_end_probe",
    "past_log_end",
    "source_key",
)


def source_key(topic: str, partition: int, epoch: int = 0) -> str:
    """The table's source key of ``partition`` of ``topic`` in its ``epoch`` (0: the first log)."""
    key = f"kafka:{topic}:{partition}"
    return key if epoch == 0 else f"{key}@{epoch}"


def current_epoch(positions: Mapping[str, int], topic: str, partition: int) -> tuple[int, int | None]:
    """The latest epoch of ``partition`` a table has taken, and its position (None: never taken)."""
    pattern = re.compile(rf"kafka:{re.escape(topic)}:{partition}(?:@(\d+))?")
    epoch, position = 0, None
    for key, value in positions.items():
        match = pattern.fullmatch(key)
        if match is None:
            continue
        found = int(match.group(1) or 0)
        if position is None or found > epoch:
            epoch, position = found, value
    return epoch, position


def needs_end_probe(position: int | None, reported_end: int) -> bool:
    """Whether the broker's reported log end leaves it open that the log ends before ``position``.

    A position at or below the reported end is in the log (the reported end is never past the
    real one). Past it, the log was reset, or the broker under-reports its end (tansu does).
    """
    return position is not None and position > reported_end


def past_log_end(position: int | None, log_end: int) -> bool:
    """Whether a committed ``position`` lies past the (real) end of the partition's log: a reset."""
    return position is not None and position > log_end


class PartitionLog:
    """What this process knows of one partition's log on the broker.

    ``progress`` is how far the table has committed this log (``wait="table"``); ``acked_end`` the
    offset after the last record the producer got acknowledged here; ``reset_pending`` is set when
    the producer saw the log start again and cleared once the consumer started a new epoch;
    ``epoch`` is the table's epoch of the partition this process reads (kept here, not in the
    consumer, so a restarted consumer resumes it).
    """

    def __init__(self) -> None:
        self.progress = Progress()
        self.acked_end: int | None = None
        self.reset_pending = False
        self.epoch = 0

    def resume(self, table_epoch: int, table_position: int | None) -> tuple[int, int | None]:
        """The epoch to read the partition in, and the offset to seek to (None: no position).

        The table's latest epoch and its position, unless this process began a later epoch the
        table has taken nothing of yet (a rebalance, or a consumer restart, before its first
        commit): then that epoch, and no position (it is read from the beginning of its log).
        """
        if self.epoch > table_epoch:
            return self.epoch, None
        self.epoch = table_epoch
        return table_epoch, table_position

    def start_epoch(self) -> int:
        """Begin the partition's next epoch (read from the beginning of the new log); returns it."""
        self.epoch += 1
        self.reset_pending = False
        return self.epoch

    def acknowledged(self, base: int, count: int) -> bool:
        """Record an acknowledged batch (``count`` records from offset ``base``).

        Returns True when the batch lies below an earlier acknowledgement (a reset): the caller
        then calls :meth:`restart` before waiting on this batch's offsets.
        """
        end = base + count
        reset = self.acked_end is not None and base < self.acked_end
        self.acked_end = end if reset or self.acked_end is None else max(self.acked_end, end)
        return reset

    def restart(self, error: LogReset, *, acked_end: int | None = None) -> Progress:
        """Start on a new log: the old log's waiters fail with ``error``; ``acked_end`` is the end
        of what the producer got acknowledged in the new log (None: nothing yet). Returns the new
        log's progress (not known until the consumer has sought the partition)."""
        old, self.progress = self.progress, Progress()
        self.acked_end = acked_end
        old.fail(error)
        return self.progress
