"""Request bodies: content negotiation, bounded gzip, and picking out invalid records.

Plain synchronous functions; the handler maps their exceptions to HTTP statuses.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any

import msgspec

JSON_TYPES = frozenset({"application/json", "text/json", "application/octet-stream", ""})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines"})
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
_GZIP_MAGIC = b"\x1f\x8b"
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


class BodyError(Exception):
    """A request body the ingest API refuses before decoding.

    Attributes:
        status: the HTTP status (400, 413 or 415).
        message: the reason, shown to the client.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def choose_format(content_type: str, endpoint_format: str | None) -> str:
    """The decode format for a request: ``JSON``, ``JSON_ARRAY``, ``AUTO`` or ``NDJSON``.

    Args:
        content_type: the media type without parameters, lower case (``""`` when absent).
        endpoint_format: the endpoint's declared format; ``None`` accepts an object or an array.

    Raises:
        BodyError: 415 for a media type that is neither JSON nor NDJSON.
    """
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        return endpoint_format or "AUTO"
    if content_type in NDJSON_TYPES:
        return "NDJSON"
    raise BodyError(
        415,
        f"unsupported Content-Type {content_type!r}; send application/json "
        "(or application/x-ndjson, one record per line)",
    )


@functools.lru_cache(maxsize=256)
def format_for(content_type: str, endpoint_format: str | None) -> str:
    """``choose_format`` for a ``Content-Type`` header as sent (parameters, any case); cached,
    as clients send the same few values (parsing costs a few µs of a small request)."""
    return choose_format(content_type.partition(";")[0].strip().lower(), endpoint_format)


def check_encoding(encoding: str) -> bool:
    """Whether the body needs gunzipping; raises ``BodyError`` 415 for other encodings."""
    if not encoding or encoding == "identity":
        return False
    if encoding in GZIP_ENCODINGS:
        return True
    raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; send gzip or identity")


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompresses a gzip body, refusing to produce more than ``limit`` bytes.

    Memory stays bounded by ``limit`` whatever the compression ratio (a gzip bomb costs at
    most ``limit + 1`` bytes before it is refused). Concatenated gzip members are accepted.

    Raises:
        BodyError: 413 past ``limit``; 400 for data that is not valid gzip.
    """
    if not body.startswith(_GZIP_MAGIC):
        raise BodyError(400, "Content-Encoding is gzip but the body is not gzip data")
    out = bytearray()
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            out += inflater.decompress(data, limit - len(out) + 1)
            if len(out) > limit:
                raise BodyError(413, f"decompressed body exceeds the limit of {limit} bytes")
            if inflater.unconsumed_tail:
                # max_length stopped it with input left: the output is already past the limit.
                raise BodyError(413, f"decompressed body exceeds the limit of {limit} bytes")
            if not inflater.eof:
                raise BodyError(400, "truncated gzip body")
            data = inflater.unused_data
    except zlib.error as exc:
        raise BodyError(400, f"invalid gzip body: {exc}") from None
    return bytes(out)


def detect_format(body: bytes, fmt: str) -> str:
    """Resolves ``AUTO`` to ``JSON`` or ``JSON_ARRAY`` from the first non-blank byte."""
    if fmt != "AUTO":
        return fmt
    return "JSON_ARRAY" if body.lstrip()[:1] == b"[" else "JSON"


def invalid_records(body: bytes, fmt: str, errors: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The invalid records of a body, in the body's framing, ordered as ``errors``.

    Returns ``(records, fmt)`` where ``fmt`` is the resolved format: ``JSON_ARRAY`` gives a JSON
    array of the records' original text, ``NDJSON`` one original line per record; ``JSON``, or
    any body-level error (``index`` ``None``), gives the whole body. Errors whose index is out of
    range fall back to the whole body too (better too much in the DLQ than nothing).
    """
    fmt = detect_format(body, fmt)
    raw_indexes = [e.get("index") for e in errors]
    if fmt == "JSON" or not raw_indexes or any(not isinstance(i, int) for i in raw_indexes):
        return body, fmt
    indexes: list[int] = raw_indexes  # type: ignore[assignment]  # all ints, checked above
    if fmt == "NDJSON":
        lines = [line for line in body.splitlines() if line.strip()]
        if any(i >= len(lines) for i in indexes):
            return body, fmt
        return b"\n".join(lines[i] for i in indexes) + b"\n", fmt
    try:
        raw = _RAW_LIST.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return body, fmt
    if any(i >= len(raw) for i in indexes):
        return body, fmt
    return b"[" + b",".join(bytes(raw[i]) for i in indexes) + b"]", fmt
