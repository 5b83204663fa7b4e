"""Pandera ``DataFrameModel`` (pandas or polars) compiled to a record node plus batch checks.

Built-in checks the decoder can enforce become constraints (``ge``/``le``/``gt``/``lt``,
``in_range``, ``isin``, ``str_matches``, ``str_length``, ``unique``, ``nullable``); every other
check, including custom ``@check`` and ``@dataframe_check`` methods, runs through Pandera itself
on the decoded batch, so nothing declared is dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import pyarrow as pa

from ..batch import NO_DEFAULT, Constraints, FieldNode, TypeNode
from ._annotations import resolve
from ._declarations import _doc, _Nested

__all__ = ("pandera_node",)

_TYPE_NAMES = {
    "str": str, "String": str, "Utf8": str, "StringDtype": str, "object": str,
    "int": int, "Int64": int, "Int32": int, "Int16": int, "Int8": int, "int64": int, "Int": int,
    "float": float, "Float64": float, "Float32": float, "float64": float, "Float": float,
    "bool": bool, "Boolean": bool, "Bool": bool,
    "Timestamp": dt.datetime, "Datetime": dt.datetime, "DateTime": dt.datetime, "datetime64": dt.datetime,
    "Date": dt.date, "Decimal": decimal.Decimal, "Binary": bytes,
}


def _normalize(tp: Any) -> Any:
    """Map Pandera, pandas and polars dtype annotations onto the Python types of the mapping."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return Annotated[(_normalize(typing.get_args(tp)[0]), *tp.__metadata__)]
    if origin is not None and getattr(origin, "__name__", "") == "Series":
        return _normalize(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = tuple(_normalize(a) for a in typing.get_args(tp))
        return typing.Union[args]  # noqa: UP007
    if isinstance(tp, type) and tp.__module__.split(".")[0] in ("pandas", "polars", "pandera", "numpy"):
        return _TYPE_NAMES.get(tp.__name__, tp)
    if not isinstance(tp, type) and type(tp).__module__.split(".")[0] in ("polars", "pandas"):
        return _TYPE_NAMES.get(type(tp).__name__, tp)
    return tp


def _compiled_constraints(check: Any, kind: str) -> Constraints | None:
    """The constraint a built-in check amounts to, or None when it must run through Pandera."""
    name, stats = check.name, dict(check.statistics or {})
    if getattr(check, "ignore_na", True) is False:
        return None
    if name == "greater_than_or_equal_to":
        return Constraints(ge=stats["min_value"])
    if name == "less_than_or_equal_to":
        return Constraints(le=stats["max_value"])
    if name == "greater_than":
        return Constraints(gt=stats["min_value"])
    if name == "less_than":
        return Constraints(lt=stats["max_value"])
    if name == "in_range":
        lo = {"ge" if stats.get("include_min", True) else "gt": stats["min_value"]}
        hi = {"le" if stats.get("include_max", True) else "lt": stats["max_value"]}
        return Constraints(**lo, **hi)
    if name == "isin":
        return Constraints(choices=tuple(stats["allowed_values"]))
    if name == "str_matches" and kind == "str":
        return Constraints(pattern=f"^(?:{stats['pattern']})")
    if name == "str_length" and kind == "str":
        return Constraints(min_length=stats.get("min_value"), max_length=stats.get("max_value"))
    return None


def pandera_node(cls: type, key: tuple[str, ...]) -> tuple[TypeNode, list[Callable[..., Any]]]:
    """The record node of a Pandera model and the batch checks for its remaining checks.

    Args:
        key: field names given as the key (``unique_key``), or empty.
    """
    schema = cls.to_schema()  # type: ignore[attr-defined]
    hints = typing.get_type_hints(cls, include_extras=True)
    polars = any(c.__module__.startswith("pandera") and "polars" in c.__module__ for c in cls.__mro__)
    nested = _Nested()
    fields: list[FieldNode] = []
    remaining: list[tuple[str | None, Any]] = []
    for attr, (_info, finfo) in cls.__fields__.items():  # type: ignore[attr-defined]
        name = finfo.name or attr
        column = schema.columns[name]
        r = resolve(_normalize(hints[attr]), cls.__name__, attr, nested)
        node = r.node
        constraints = node.constraints
        if column.unique:
            constraints = dataclasses.replace(constraints, unique=True)
        for check in column.checks:
            c = _compiled_constraints(check, node.kind)
            if c is None:
                remaining.append((name, check))
            else:
                constraints = constraints.merge(c)
        nullable = bool(column.nullable) or node.nullable
        node = dataclasses.replace(node, nullable=nullable, constraints=constraints)
        default = column.default if getattr(column, "default", None) is not None else (None if nullable else NO_DEFAULT)
        fields.append(
            FieldNode(name, node, default, column.description or r.doc, r.examples, r.is_key or name in key, hints[attr])
        )
    remaining.extend((None, check) for check in schema.checks)
    root = TypeNode("struct", name=cls.__name__, fields=tuple(fields), py=cls, doc=_doc(cls))
    checks = [_pandera_check(remaining, polars)] if remaining else []
    return root, checks


def _pandera_check(checks: list[tuple[str | None, Any]], polars: bool) -> Callable[..., Any]:
    """One batch check running Pandera's own check objects on a frame of the batch."""

    def run(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]:
        if polars:
            import polars as pl

            frame: Any = pl.from_arrow(batch).lazy()  # type: ignore[union-attr]
        else:
            frame = batch.to_pandas()
        errors: list[tuple[int | None, str, str]] = []
        for column, check in checks:
            result = check(frame, column) if column is not None else check(frame)
            bad = _failed_rows(result.check_output, polars)
            label = f"`{check.name}`" if check.error in (None, check.name) else f"`{check.error}`"
            path = f"$.{column}" if column else "$"
            if bad is None:
                if not result.check_passed:
                    errors.append((None, "$", f"Failed check {label}"))
                continue
            values = batch.column(column).take(pa.array(bad, type=pa.int64())).to_pylist() if column else None
            for n, i in enumerate(bad):
                shown = f"Value {values[n]!r} failed check {label}" if values is not None else f"Failed check {label}"
                errors.append((i, path, shown))
        return batch, errors

    return run


def _failed_rows(output: Any, polars: bool) -> list[int] | None:
    """Indices where a check output is False, or None if the output is not per row."""
    if polars:
        frame = output.collect() if hasattr(output, "collect") else output
        if not hasattr(frame, "columns"):
            return None
        flags = frame.get_column(frame.columns[0]).to_list()
    else:
        if hasattr(output, "all") and getattr(output, "ndim", 1) == 2:
            output = output.all(axis=1)
        if not hasattr(output, "tolist"):
            return None
        flags = output.tolist()
    return [i for i, ok in enumerate(flags) if ok is False]
