"""Errors raised by streams."""

from __future__ import annotations

__all__ = ("StreamError", "StreamUnavailable")


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
