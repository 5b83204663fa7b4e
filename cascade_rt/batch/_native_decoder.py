"""The native decoder: JSON bytes to Arrow column buffers in one pass, without Python objects.

``_native.c`` (an optional C extension, built on install where a C compiler exists) walks a body
once and appends every value to its column's buffers, laid out as Arrow lays them out; this
module compiles a schema into the extension's plan and wraps the buffers in arrays without
copying. The extension never names an error: on anything unusual it gives up and
:class:`~cascade_rt.batch.BatchCodec` decodes the body with msgspec, which accepts it or names
each bad record. It takes flat records of ``str``, ``int``, ``float``, ``bool``, ``datetime``,
``date``, free-form JSON and ``list[str]`` fields with their bounds and lengths; a schema with
anything else (nested structs, patterns, allowed values, bytes) decodes with msgspec alone.

Set ``CASCADE_NATIVE=0`` to turn it off.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pyarrow as pa

from ._types import Constraints, FieldNode, TypeNode, arrow_type

try:
    from . import _native  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler
    _native = None

__all__ = ("MODES", "NATIVE", "NativeDecoder")

NATIVE: bool = _native is not None and os.environ.get("CASCADE_NATIVE", "1") != "0"
"""Whether the native decoder is built and on."""

MODES = {"JSON": 0, "JSON_ARRAY": 1, "NDJSON": 2}
"""The extension's parse mode of each body format."""

_KINDS = {"str": 0, "int": 1, "float": 2, "decimal": 2, "bool": 3, "datetime": 4, "date": 5, "json": 6}
_LIST_STR = 7
_DEFAULT_TYPES = {"str": str, "int": int, "float": float, "decimal": float, "bool": bool}
_SCREENED = frozenset({"str", "int", "datetime", "date"})  # kinds whose repeats the extension finds
_NO_CONSTRAINTS = Constraints()


def _int_bounds(c: Constraints) -> tuple[int | None, int | None] | None:
    """Inclusive integer bounds, or None when they cannot be put so."""
    lo = hi = None
    try:
        if c.ge is not None:
            lo = math.ceil(c.ge)
        if c.gt is not None:
            lo = max(lo, math.floor(c.gt) + 1) if lo is not None else math.floor(c.gt) + 1
        if c.le is not None:
            hi = math.floor(c.le)
        if c.lt is not None:
            hi = min(hi, math.ceil(c.lt) - 1) if hi is not None else math.ceil(c.lt) - 1
    except (TypeError, ValueError, OverflowError):
        return None
    if any(b is not None and not -(2**63) <= b < 2**63 for b in (lo, hi)):
        return None
    return lo, hi


def _float_bounds(c: Constraints) -> tuple[Any, int, Any, int] | None:
    """(lo, lo_strict, hi, hi_strict) as floats, or None for two bounds on one side."""
    if (c.ge is not None and c.gt is not None) or (c.le is not None and c.lt is not None):
        return None
    try:
        lo = float(c.gt if c.gt is not None else c.ge) if c.gt is not None or c.ge is not None else None
        hi = float(c.lt if c.lt is not None else c.le) if c.lt is not None or c.le is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
    return lo, int(c.gt is not None), hi, int(c.lt is not None)


def field_spec(field: FieldNode) -> tuple[Any, ...] | None:
    """The extension's description of ``field``, or None if the extension cannot decode it."""
    node = field.type
    c = node.constraints
    if c.pattern is not None or c.choices is not None or not field.name.isascii():
        return None
    kind = node.kind
    if kind == "list":
        item = node.item
        if item is None or item.kind != "str" or item.nullable or item.constraints != _NO_CONSTRAINTS:
            return None
        code = _LIST_STR
    elif kind in _KINDS:
        code = _KINDS[kind]
    else:
        return None
    default: Any = field.default
    if not field.has_default:
        default_kind = 0
    elif field.default is None:
        if not node.nullable:
            return None
        default_kind = 1
    elif type(field.default) is _DEFAULT_TYPES.get(kind):
        default_kind = 2
        if kind == "str":
            default = default.encode()
        if kind == "int" and not -(2**63) <= default < 2**63:
            return None
    else:
        return None
    lo: Any = None
    hi: Any = None
    lo_strict = hi_strict = 0
    if kind == "int":
        bounds = _int_bounds(c)
        if bounds is None:
            return None
        lo, hi = bounds
    elif kind in ("float", "decimal"):
        fbounds = _float_bounds(c)
        if fbounds is None:
            return None
        lo, lo_strict, hi, hi_strict = fbounds
    lengths = kind in ("str", "list")
    min_len = c.min_length if lengths and c.min_length is not None else -1
    max_len = c.max_length if lengths and c.max_length is not None else -1
    return (
        field.name.encode(), code, int(node.nullable), default_kind, default if default_kind == 2 else None, int(c.unique and kind in _SCREENED),
        int(node.json_object), lo, lo_strict, hi, hi_strict, min_len, max_len,
    )


def _array(typ: pa.DataType, rows: int, column: tuple[Any, ...]) -> pa.Array:
    nulls, validity, offsets, data, child_offsets = column
    mask = pa.py_buffer(validity) if nulls else None
    if child_offsets is not None:
        items = pa.Array.from_buffers(
            typ.value_type, len(child_offsets) // 4 - 1, [None, pa.py_buffer(child_offsets), pa.py_buffer(data)]
        )
        return pa.Array.from_buffers(typ, rows, [mask, pa.py_buffer(offsets)], nulls, children=[items])
    if offsets is not None:
        return pa.Array.from_buffers(typ, rows, [mask, pa.py_buffer(offsets), pa.py_buffer(data)], nulls)
    return pa.Array.from_buffers(typ, rows, [mask, pa.py_buffer(data)], nulls)


class NativeDecoder:
    """One flat record schema compiled for the extension.

    Build it with :meth:`for_struct`, which returns None where the extension cannot serve.
    """

    def __init__(self, root: TypeNode, specs: list[tuple[Any, ...]], arrow_schema: pa.Schema) -> None:
        assert _native is not None
        self._plan = _native.Plan(tuple(specs))
        self._schema = arrow_schema
        self._types = [arrow_type(f.type) for f in root.fields]
        self._names = [f.name for f in root.fields]
        # Unique fields the extension cannot screen (floats, lists, JSON) are always suspects.
        self._always = [f.name for f in root.fields if f.type.constraints.unique and f.type.kind not in _SCREENED]

    @classmethod
    def for_struct(cls, root: TypeNode, arrow_schema: pa.Schema, forbid_unknown: bool = False) -> NativeDecoder | None:
        """The decoder of record struct ``root``, or None (no extension, or a field it cannot take).

        With ``forbid_unknown`` there is none either: unknown keys are the precise path's to reject.
        """
        if not NATIVE or forbid_unknown or not root.fields or len(root.fields) > 64:
            return None
        specs = [field_spec(f) for f in root.fields]
        if any(s is None for s in specs):
            return None
        return cls(root, specs, arrow_schema)  # type: ignore[arg-type]

    def decode(self, body: bytes, format: str) -> tuple[pa.RecordBatch, list[str]] | None:
        """(batch, unique fields that may hold repeats), or None to decode the precise way."""
        out = self._plan.decode(body, MODES[format])
        if out is None:
            return None
        rows, columns, repeated = out
        arrays = [_array(t, rows, col) for t, col in zip(self._types, columns, strict=True)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        return batch, [*(self._names[i] for i in repeated), *self._always]
