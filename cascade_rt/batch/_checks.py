"""Batch checks as Arrow compute kernels: what msgspec cannot check while decoding.

Uniqueness within the batch, bounds on timestamps and dates, and allowed values of other than
``str``/``int`` fields (those are ``Literal`` types on the fast path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from ._structs import literal_choices
from ._types import TypeNode

__all__ = ("BatchCheck", "constraint_checks", "unique_check")

# A batch check returns the (possibly rewritten) batch and its errors as (index, path, message).
BatchCheck = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]]

_OPS = {"ge": (pc.greater_equal, ">="), "le": (pc.less_equal, "<="), "gt": (pc.greater, ">"), "lt": (pc.less, "<")}


def _scalar(value: Any, typ: pa.DataType) -> pa.Scalar:
    if isinstance(value, dt.datetime):
        # pandera sets PYARROW_IGNORE_TIMEZONE, which makes pa.scalar drop offsets: convert to
        # naive UTC ourselves (tests/batch/test_checks.py pins this with a +02:00 bound).
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return pa.scalar(value, type=pa.timestamp("us")).cast(typ)
    return pa.scalar(value, type=typ)


def _failures(ok: pa.Array) -> list[int]:
    bad = pc.invert(pc.fill_null(ok, True))
    return cast("list[int]", pc.indices_nonzero(bad).to_pylist())


def _bounds_check(name: str, kind: str, bounds: dict[str, Any]) -> BatchCheck:
    def check(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]:
        col = batch.column(name)
        errors: dict[int, tuple[int | None, str, str]] = {}
        for op, bound in bounds.items():
            fn, sym = _OPS[op]
            for i in _failures(fn(col, _scalar(bound, col.type))):
                shown = bound.isoformat() if hasattr(bound, "isoformat") else bound
                errors.setdefault(i, (i, f"$.{name}", f"Expected `{kind}` {sym} {shown}"))
        return batch, [errors[i] for i in sorted(errors)]

    return check


def _choices_check(name: str, choices: tuple[Any, ...]) -> BatchCheck:
    def check(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]:
        col = batch.column(name)
        bad = _failures(pc.or_kleene(pc.is_in(col, value_set=pa.array(list(choices), type=col.type)), pc.is_null(col)))
        values = col.take(pa.array(bad, type=pa.int64())).to_pylist() if bad else []
        return batch, [
            (i, f"$.{name}", f"Expected one of {list(choices)!r}, got {v!r}") for i, v in zip(bad, values, strict=True)
        ]

    return check


def unique_check(name: str) -> BatchCheck:
    """Each repeat of an earlier value in column ``name`` (nulls excepted) is an error."""

    def check(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]:
        col = batch.column(name)
        if len(col) < 2 or pc.count_distinct(col, mode="all").as_py() == len(col):
            return batch, []
        seen: dict[Any, int] = {}
        errors: list[tuple[int | None, str, str]] = []
        for i, v in enumerate(col.to_pylist()):
            if v is None:
                continue
            first = seen.setdefault(v, i)
            if first != i:
                errors.append((i, f"$.{name}", f"Duplicate value {v!r} (first at record {first})"))
        return batch, errors

    return check


def _needs_arrow(node: TypeNode) -> bool:
    c = node.constraints
    return c.unique or (node.kind in ("datetime", "date") and bool(c.bounds)) or (
        c.choices is not None and not literal_choices(node)
    )


def constraint_checks(root: TypeNode) -> list[BatchCheck]:
    """The Arrow checks the top-level fields of ``root`` need beyond the fast decoder's.

    Uniqueness is not among them: the codec screens for duplicates while extracting columns and
    runs :func:`unique_check` only on a column where the screen found some.
    """
    checks: list[BatchCheck] = []
    for field in root.fields:
        nested = [n for n in field.type.walk() if n is not field.type and _needs_arrow(n)]
        if nested:
            raise TypeError(
                f"{root.name}.{field.name}: uniqueness, timestamp/date bounds and allowed values of "
                "other than str/int are checked on top-level fields only; move the constraint to a "
                "top-level field or check it in a validator"
            )
        node, c = field.type, field.type.constraints
        if node.kind in ("datetime", "date") and c.bounds:
            checks.append(_bounds_check(field.name, node.kind, c.bounds))
        if c.choices is not None and not literal_choices(node):
            checks.append(_choices_check(field.name, c.choices))
    return checks
