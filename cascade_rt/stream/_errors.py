"""Errors raised by streams."""

from __future__ import annotations

__all__ = ("LogReset", "StreamError", "StreamUnavailable")


class StreamError(Exception):
    """Base class of stream errors; ``stream`` names the stream."""

    def __init__(self, message: str, *, stream: str) -> None:
        super().__init__(message)
        self.stream = stream


class StreamUnavailable(StreamError):
    """A stream's broker did not take the records (down, unreachable or too slow).

    Nothing was acknowledged: some of the records may have reached the broker, none is promised.
    The ingest API answers 503 to this. ``bootstrap`` names the broker, ``records`` the number of
    records in the failed publish and ``timeout`` the seconds waited.
    """

    def __init__(self, message: str, *, stream: str, bootstrap: str, records: int, timeout: float) -> None:
        super().__init__(message, stream=stream)
        self.bootstrap = bootstrap
        self.records = records
        self.timeout = timeout


class LogReset(StreamUnavailable):
    """A partition's log on the broker started again from offset 0 before the table took the records.

    Raised to ``wait="table"`` callers waiting on offsets of the old log: records acknowledged
    there and not yet in the table are gone with it, so nothing is promised (the ingest API
    answers 503; a retry lands them in the new log). ``topic`` and ``partition`` name the log.
    """

    def __init__(self, stream: str, *, bootstrap: str, topic: str, partition: int, why: str) -> None:
        super().__init__(
            f"stream {stream!r}: the log of partition {partition} of topic {topic!r} at {bootstrap} "
            f"started again from its beginning ({why}); records acknowledged before that and not yet "
            "in the table are lost with the old log",
            stream=stream, bootstrap=bootstrap, records=0, timeout=0.0,
        )
        self.topic = topic
        self.partition = partition
