"""The dead-letter record and its stream codec (Arrow columns, JSON messages)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ("DeadLetterRecord", "DeadLetterSchema", "dead_letters_for")


class DeadLetterRecord(msgspec.Struct, kw_only=True):
    """A record that could not be ingested or processed, with why and where.

    Attributes:
        original_record: The record as JSON-able data (``dict`` for a parsed record), or the raw
            text when it could not be parsed at all.
        error_message: ``str(error)``.
        error_type: The error's class name (``"ValidationError"``, ``"ZeroDivisionError"``).
        source: What failed: a stream (``"orders"``), an ingest API (``"ingest:orders"``) or a
            transform/consumer (``"orders.transform:enrich"``).
        failed_at: When it failed (UTC).
    """

    original_record: Any
    error_message: str
    error_type: str
    source: str
    failed_at: dt.datetime


class _Literal(str):
    """JSON text written as it is by :func:`original_json` (not a string value to quote)."""


def original_json(value: Any) -> str:
    """The JSON text of a dead letter's ``original_record``, however deeply it nests.

    orjson writes at most 255 levels, and a record refused for its nesting (or one in an array
    beside it) can hold more: past that, the text is written without recursion, so the dead
    letter keeps the whole record.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            out.append(item)
        elif isinstance(item, dict):
            parts: list[Any] = [_Literal("{")]
            for i, (key, inner) in enumerate(item.items()):
                parts += [_Literal(("," if i else "") + json.dumps(str(key)) + ":"), inner]
            parts.append(_Literal("}"))
            stack.extend(reversed(parts))
        elif isinstance(item, list | tuple):
            parts = [_Literal("[")]
            for i, inner in enumerate(item):
                parts += ([_Literal(",")] if i else []) + [inner]
            parts.append(_Literal("]"))
            stack.extend(reversed(parts))
        else:
            out.append(json.dumps(item, default=str))
    return "".join(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    try:
        return msgspec.to_builtins(value)
    except TypeError:
        return repr(value)


def dead_letters_for(
    records: Iterable[Any],
    error: BaseException | str,
    source: str,
    *,
    error_type: str | None = None,
    failed_at: dt.datetime | None = None,
) -> list[DeadLetterRecord]:
    """Build one :class:`DeadLetterRecord` per record for ``error`` raised at ``source``.

    ``records`` may hold dicts, schema instances (msgspec/pydantic/dataclass) or raw payloads
    (``bytes``/``str``, kept as text). ``error`` may be the exception or a message; ``error_type``
    overrides the type name (``"Error"`` for a message without one).
    """
    when = failed_at or dt.datetime.now(dt.UTC)
    message = str(error)
    kind = error_type or (type(error).__name__ if isinstance(error, BaseException) else "Error")
    out = []
    for record in records:
        if hasattr(record, "model_dump"):
            data = record.model_dump(mode="json")
        else:
            data = _jsonable(record)
        out.append(
            DeadLetterRecord(
                original_record=data, error_message=message, error_type=kind, source=source, failed_at=when
            )
        )
    return out


_ARROW = pa.schema(
    [
        pa.field("original_record", pa.string(), nullable=True),
        pa.field("error_message", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("failed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeadLetterRecord)
_many = msgspec.json.Decoder(list[DeadLetterRecord])


class DeadLetterSchema:
    """The stream schema of dead-letter records (what a ``RecordSchema`` offers a stream).

    In Arrow, ``original_record`` is its JSON text; on Kafka each message value is the record's JSON
    object. Dead-letter records carry no key.
    """

    key_fields: tuple[str, ...] = ()
    arrow_schema: pa.Schema = _ARROW
    name = "DeadLetterRecord"

    def decode_records(self, records: Iterable[Any]) -> pa.RecordBatch:
        """Arrow batch from :class:`DeadLetterRecord` instances or dicts of their fields."""
        items = [
            r if isinstance(r, DeadLetterRecord) else msgspec.convert(r, DeadLetterRecord) for r in records
        ]
        return pa.RecordBatch.from_arrays(
            [
                pa.array([original_json(r.original_record) for r in items], pa.string()),
                pa.array([r.error_message for r in items], pa.string()),
                pa.array([r.error_type for r in items], pa.string()),
                pa.array([r.source for r in items], pa.string()),
                pc.cast(
                    pa.array([r.failed_at.astimezone(dt.UTC).isoformat() for r in items], pa.string()),
                    pa.timestamp("us", tz="UTC"),
                )
                if items
                else pa.array([], pa.timestamp("us", tz="UTC")),
            ],
            schema=_ARROW,
        )

    def to_objects(self, batch: pa.RecordBatch) -> list[DeadLetterRecord]:
        """The batch's rows as :class:`DeadLetterRecord` instances."""
        return [
            DeadLetterRecord(
                original_record=None
                if row["original_record"] is None
                else orjson.loads(row["original_record"]),
                error_message=row["error_message"],
                error_type=row["error_type"],
                source=row["source"],
                failed_at=row["failed_at"],
            )
            for row in batch.to_pylist()
        ]

    def to_records(self, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        """The batch's rows as JSON-able dicts."""
        return [msgspec.to_builtins(r) for r in self.to_objects(batch)]

    def encode_json(self, batch: pa.RecordBatch) -> list[bytes]:
        """One JSON object per record (the Kafka message values)."""
        return [_encoder.encode(r) for r in self.to_objects(batch)]

    def decode_ndjson(self, body: bytes) -> pa.RecordBatch:
        """Arrow batch from newline-separated JSON objects (Kafka message values joined)."""
        return self.decode_records(_decoder.decode(line) for line in body.split(b"\n") if line.strip())
