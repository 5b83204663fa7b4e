"""JSON bytes or Python records in, validated Arrow record batches out.

Three paths, each tried when the one before gives up. The native decoder (a C extension, for flat
records) writes the Arrow buffers straight from the JSON bytes. The fast path decodes a whole body
with msgspec into generated ``Struct(gc=False)`` types and builds the columns with one generated
extraction function. Only when that fails does the slow path run: it re-decodes record by record
with precise types to name each bad record's first problem (index, JSON path, message).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import pyarrow as pa

from ._checks import BatchCheck, constraint_checks, unique_check
from ._columns import InvalidColumn, build_extractor
from ._errors import MAX_ERRORS, ValidationError
from ._native_decoder import MODES, NativeDecoder
from ._nesting import TOO_DEEP, too_deep
from ._records import RecordConverter
from ._structs import build_types, enc_hook
from ._types import TypeNode, arrow_field

__all__ = ("FORMATS", "BatchCheck", "BatchCodec")

FORMATS = ("JSON", "JSON_ARRAY", "NDJSON", "AUTO")

ErrorEntry = dict[str, Any]

_FAST_ERRORS = (
    msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, InvalidColumn, pa.ArrowInvalid,
    pa.ArrowTypeError, OverflowError,
)
# What msgspec raises for a bad record: its own errors, and UnicodeDecodeError for invalid UTF-8.
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)


# Messages of our own for the malformed bodies users meet most, so they stay the same whatever
# msgspec's release words them as (0.22 and 0.23 differ for invalid UTF-8).
INVALID_UTF8 = "JSON is malformed: invalid UTF-8"
TRUNCATED = "JSON is malformed: the body ends inside a value"


def _split_message(exc: Exception) -> tuple[str, str]:
    """(path, message) of a msgspec error: "Expected `int`, got `str` - at `$.a`"."""
    text = str(exc)
    if type(exc) is UnicodeDecodeError:
        return "$", INVALID_UTF8
    if type(exc) is msgspec.DecodeError:
        lowered = text.lower()
        if "utf-8" in lowered:
            return "$", INVALID_UTF8
        if "truncated" in lowered:
            return "$", TRUNCATED
        if not text.startswith("JSON is malformed"):
            text = f"JSON is malformed: {text}"
    message, sep, path = text.rpartition(" - at `")
    if not sep:
        return "$", text
    return path.rstrip("`"), message


class _TooDeep(Exception):
    """An NDJSON line msgspec could not decode for its nesting (its message is ours)."""


def _body_error(message: str) -> list[ErrorEntry]:
    return [{"index": None, "path": "$", "message": message}]


class BatchCodec:
    """Decoder and encoder for one record type.

    Args:
        root: the record's struct node.
        forbid_unknown: reject unknown keys (else ignore them).
        checks: batch checks run after a successful fast decode, after the constraint checks
            (uniqueness, timestamp bounds, allowed values) that ``root`` itself asks for.
        native: use the native decoder where it is built and can take ``root``.
    """

    def __init__(
        self,
        root: TypeNode,
        *,
        forbid_unknown: bool = False,
        checks: Iterable[BatchCheck] = (),
        native: bool = True,
    ) -> None:
        if root.kind != "struct":
            raise TypeError(f"a record type must be a struct, got {root.kind}")
        self.root = root
        self.name = root.name
        self.checks = (*constraint_checks(root), *checks)
        self._unique = {f.name: unique_check(f.name) for f in root.fields if f.type.constraints.unique}
        self.arrow_schema = pa.schema([arrow_field(f) for f in root.fields])
        self._fast, self._precise = build_types(root, forbid_unknown)
        self._fast_one = msgspec.json.Decoder(self._fast.type)
        self._fast_many = msgspec.json.Decoder(list[self._fast.type])  # type: ignore[name-defined]
        self._precise_one = msgspec.json.Decoder(self._precise.type)
        self._raw_many = msgspec.json.Decoder(list[msgspec.Raw])
        self._raw_one = msgspec.json.Decoder(msgspec.Raw)
        self._extract = build_extractor(self._fast)
        self._encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
        self.records = RecordConverter(root, self.arrow_schema)
        self.native = NativeDecoder.for_struct(root, self.arrow_schema, forbid_unknown) if native else None

    # -- decoding -----------------------------------------------------------------------------

    def decode(self, body: bytes, format: str = "JSON_ARRAY") -> pa.RecordBatch:
        """Decode and validate a body: ``JSON`` (one object), ``JSON_ARRAY``, ``NDJSON`` or ``AUTO``.

        Raises:
            ValidationError: listing each bad record's first problem.
            ValueError: for an unknown format.
        """
        if format == "AUTO":
            format = self._sniff(body)
        if self.native is not None and format in MODES and type(body) is bytes:
            done = self.native.decode(body, format)
            if done is not None:
                return self.check(*done)
        try:
            if format == "JSON_ARRAY":
                rows = self._fast_many.decode(body)
            elif format == "JSON":
                rows = [self._fast_one.decode(body)]
            elif format == "NDJSON":
                lines = [line for line in body.split(b"\n") if line.strip()]
                rows = self._fast_many.decode(b"[" + b",".join(lines) + b"]")
                if len(rows) != len(lines):
                    raise InvalidColumn("a line holds other than one JSON value")
            else:
                raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
            arrays, suspects = self._extract(rows)
            batch = pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)
        except (*_FAST_ERRORS, RecursionError) as exc:
            # RecursionError: msgspec on a body nesting too deep (see _nesting); _locate names it.
            raise ValidationError(self._locate(body, format, exc), self.name) from None
        return self.check(batch, suspects)

    def decode_records(self, records: Iterable[Any]) -> pa.RecordBatch:
        """Decode Python records (dicts, Structs, pydantic models, dataclasses) like a JSON array.

        Values go through JSON once, so the same rules apply as for HTTP bodies (strict types,
        timezone-aware datetimes); the error index is the record's position.
        """
        try:
            body = self._encoder.encode(records if isinstance(records, list) else list(records))
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError(_body_error(f"cannot encode records as JSON: {exc}"), self.name) from None
        except RecursionError:
            raise ValidationError(_body_error(f"cannot encode records as JSON: {TOO_DEEP}"), self.name) from None
        return self.decode(body, "JSON_ARRAY")

    def rebuild(self, records: list[Any]) -> pa.RecordBatch:
        """Build a batch from trusted Python records without running the batch checks."""
        return self.build(self._fast_many.decode(self._encoder.encode(records)))

    def build(self, rows: list[Any]) -> pa.RecordBatch:
        """Build the record batch of decoded fast rows (no batch checks)."""
        return pa.RecordBatch.from_arrays(self._extract(rows)[0], schema=self.arrow_schema)

    def check(self, batch: pa.RecordBatch, suspects: Iterable[str] | None = None) -> pa.RecordBatch:
        """Run the batch checks; raise one ValidationError with each bad record's first problem.

        Args:
            suspects: the unique fields that may hold duplicates (default: all unique fields).
        """
        unique = self._unique if suspects is None else [self._unique[name] for name in suspects]
        if not self.checks and not unique:
            return batch
        found: dict[int | None, ErrorEntry] = {}
        for check in (*(unique.values() if isinstance(unique, dict) else unique), *self.checks):
            batch, errors = check(batch)
            for index, path, message in errors:
                found.setdefault(index, {"index": index, "path": path, "message": message})
        if found:
            order = sorted(found, key=lambda i: -1 if i is None else i)
            raise ValidationError([found[i] for i in order][:MAX_ERRORS], self.name)
        return batch

    def _sniff(self, body: bytes) -> str:
        head = body.lstrip()[:1]
        if head == b"{":
            return "JSON"
        if head == b"[":
            return "JSON_ARRAY"
        raise ValidationError(_body_error("Expected a JSON object or array"), self.name)

    # -- slow path: name each bad record -------------------------------------------------------

    def _split(self, body: bytes, format: str) -> list[Any]:
        """The records of ``body`` as raw JSON (or an exception for a malformed NDJSON line)."""
        if format == "JSON":
            return [body]
        if format == "NDJSON":
            out: list[Any] = []
            for line in body.split(b"\n"):
                if line.strip():
                    try:
                        out.append(self._raw_one.decode(line))
                    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                        out.append(exc)
                    except RecursionError:
                        out.append(_TooDeep(too_deep(line)))
            return out
        return self._raw_many.decode(body)

    def _locate(self, body: bytes, format: str, cause: Exception) -> list[ErrorEntry]:
        try:
            records = self._split(body, format)
        except _DECODE_ERRORS as exc:
            return _body_error(_split_message(exc)[1])
        except RecursionError:
            return _body_error(too_deep(body))
        errors: list[ErrorEntry] = []
        for index, raw in enumerate(records):
            problem = self._problem(raw)
            if problem is not None:
                if format == "JSON" and problem[0] == "$" and not problem[1].startswith("Object"):
                    return _body_error(problem[1])
                errors.append({"index": index, "path": problem[0], "message": problem[1]})
                if len(errors) >= MAX_ERRORS:
                    break
        return errors or _body_error(str(cause))

    def _problem(self, raw: Any) -> tuple[str, str] | None:
        if isinstance(raw, _TooDeep):
            return "$", str(raw)
        if isinstance(raw, Exception):
            return _split_message(raw)
        try:
            self._precise_one.decode(raw)
            self.build([self._fast_one.decode(raw)])
        except _DECODE_ERRORS as exc:
            return _split_message(exc)
        except RecursionError:
            return "$", too_deep(bytes(raw))
        except InvalidColumn as exc:
            return "$", str(exc)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            return "$", str(exc).split("\n")[0]
        except OverflowError:
            return "$", "Integer out of range for int64"
        return None

    # -- encoding -------------------------------------------------------------------------------

    def to_records(self, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        """The batch's records as dicts (datetimes aware in UTC, JSON fields parsed)."""
        return self.records.to_records(batch)

    def encode_json(self, batch: pa.RecordBatch) -> list[bytes]:
        """One JSON object per record, as other clients would read it (datetimes RFC 3339)."""
        encode = self._encoder.encode
        return [encode(r) for r in self.records.to_records(batch, raw_json=True)]
