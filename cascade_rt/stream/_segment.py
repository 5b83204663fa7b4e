"""The on-disk framing of a stream log: entries in segment files, each checked by a checksum.

A segment is a file named after the offset of its first record (``00000000000000000042.log``)
holding entries back to back. An entry is one published batch::

    magic "CRL1" | payload length u32 | crc32 u32 | first offset i64 | records u32 | time f64 | payload

all little-endian, a 32-byte header, then the payload: ``schema length u32 | schema | batch``, the
Arrow IPC schema message (only in the first entry of a segment and wherever the schema changes;
length 0 elsewhere) and the batch's IPC record-batch message, read with the latest schema before
it. A segment therefore reads back on its own, and an entry costs a few microseconds to frame.
The checksum covers everything after itself: the rest of the header and the payload. Offsets count
records: an entry holds records ``offset`` to ``offset + records - 1`` and the next entry starts
at ``offset + records``.

A crash can leave the last entry of the newest segment half written (a *torn tail*): too short,
a bad magic, a length past the end of the file, a checksum that does not match, or an offset out
of sequence. :func:`scan` stops at the first such entry and reports where the good entries end,
so the log cuts the rest off instead of reading it as data.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

__all__ = (
    "HEADER",
    "MAGIC",
    "EntryInfo",
    "Scan",
    "decode_payload",
    "encode_entry",
    "read_entries",
    "scan",
    "schema_bytes",
    "segment_base",
    "segment_name",
)

MAGIC = b"CRL1"
HEADER = struct.Struct("<4sIIqId")
"""magic, payload length, crc32 of the rest, first offset, records, time (seconds since the epoch)."""
SUFFIX = ".log"


def segment_name(base: int) -> str:
    """The file name of the segment whose first record has offset ``base``."""
    return f"{base:020d}{SUFFIX}"


def segment_base(path: Path) -> int | None:
    """The first offset of a segment file, or None if ``path`` is not named like one."""
    if path.suffix != SUFFIX or not path.stem.isdigit():
        return None
    return int(path.stem)


_SCHEMA_LEN = struct.Struct("<I")


def encode_entry(offset: int, batch: pa.RecordBatch, timestamp: float, schema: bytes = b"") -> bytes:
    """One entry's bytes: header, then ``schema`` (the serialized Arrow schema, or empty to use
    the one before it in the segment) and the batch's IPC message."""
    payload = b"".join((_SCHEMA_LEN.pack(len(schema)), schema, batch.serialize().to_pybytes()))
    rest = struct.pack("<qId", offset, batch.num_rows, timestamp)
    crc = zlib.crc32(payload, zlib.crc32(rest))
    return struct.pack("<4sII", MAGIC, len(payload), crc) + rest + payload


def schema_bytes(schema: pa.Schema) -> bytes:
    """The serialized form of ``schema`` that :func:`encode_entry` takes."""
    data: bytes = schema.serialize().to_pybytes()
    return data


def decode_payload(payload: bytes | memoryview, schema: pa.Schema | None) -> tuple[pa.RecordBatch, pa.Schema]:
    """The batch an entry's payload holds and the schema in force after it.

    Raises:
        ValueError: the entry has no schema and none came before it in the segment.
    """
    view = memoryview(payload)
    (length,) = _SCHEMA_LEN.unpack_from(view, 0)
    body = view[_SCHEMA_LEN.size + length:]
    if length:
        schema = pa.ipc.read_schema(pa.py_buffer(view[_SCHEMA_LEN.size:_SCHEMA_LEN.size + length]))
    if schema is None:
        raise ValueError("a log entry without a schema, and none before it in its segment")
    return pa.ipc.read_record_batch(pa.py_buffer(body), schema), schema


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """Where one entry lies in its segment, and what it holds."""

    offset: int
    records: int
    timestamp: float
    position: int
    size: int

    @property
    def end(self) -> int:
        """The offset after the entry's last record."""
        return self.offset + self.records


@dataclass(frozen=True, slots=True)
class Scan:
    """The good entries of a segment, where they end, and why the scan stopped early (if it did)."""

    entries: list[EntryInfo]
    valid_bytes: int
    problem: str | None


def scan(data: bytes | memoryview, base: int) -> Scan:
    """Check every entry of a segment's bytes, which should start at offset ``base``."""
    view = memoryview(data)
    entries: list[EntryInfo] = []
    position, expected, size = 0, base, len(view)
    problem = None
    while position < size:
        if size - position < HEADER.size:
            problem = f"{size - position} bytes of a header at byte {position}"
            break
        magic, length, crc, offset, records, timestamp = HEADER.unpack_from(view, position)
        if magic != MAGIC:
            problem = f"no entry header at byte {position}"
            break
        end = position + HEADER.size + length
        if end > size:
            problem = f"an entry at byte {position} needs {end - size} bytes more than the file holds"
            break
        if zlib.crc32(view[position + HEADER.size:end], zlib.crc32(view[position + 12:position + HEADER.size])) != crc:
            problem = f"the entry at byte {position} fails its checksum"
            break
        if offset != expected:
            problem = f"the entry at byte {position} starts at offset {offset}, expected {expected}"
            break
        entries.append(EntryInfo(offset, records, timestamp, position, end - position))
        position, expected = end, offset + records
    return Scan(entries, position, problem)


def read_entries(path: Path, base: int, start: int) -> Iterator[tuple[EntryInfo, pa.RecordBatch]]:
    """The good entries of the segment at ``path`` that hold records at or after ``start``."""
    data = path.read_bytes()
    found = scan(data, base)
    view = memoryview(data)
    schema: pa.Schema | None = None
    for info in found.entries:
        payload = view[info.position + HEADER.size:info.position + info.size]
        if info.end <= start:
            if _SCHEMA_LEN.unpack_from(payload, 0)[0]:  # keep the schema in force
                schema = decode_payload(payload, schema)[1]
            continue
        batch, schema = decode_payload(payload, schema)
        yield info, batch
