"""Pandera validation of a run's whole batch, lazily (every failure case collected)."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from ._errors import AssetValidationError


def validate_batch(name: str, model: Any, data: pa.Table) -> None:
    """Validate ``data`` against the Pandera ``model``; raise with every failure case.

    Timestamps are kept as UTC instants: a tz-aware column is handed to Pandera as naive UTC when
    the model declares a naive ``datetime`` (Pandera's ``datetime`` means ``datetime64[ns]``).

    Raises:
        AssetValidationError: ``.failures`` lists ``column``, ``check``, ``value``, ``row``.
    """
    import pandera.errors as pe

    schema = model.to_schema()
    arrays, names = [], []
    for column in data.column_names:
        if column not in schema.columns:
            continue
        arr = data.column(column)
        if pa.types.is_timestamp(arr.type) and arr.type.tz is not None and not _aware(schema.columns[column]):
            arr = arr.cast(pa.timestamp("ns"))
        arrays.append(arr)
        names.append(column)
    frame = pa.Table.from_arrays(arrays, names=names).to_pandas()
    try:
        schema.validate(frame, lazy=True)
    except pe.SchemaErrors as exc:
        raise AssetValidationError(name, failure_cases(exc)) from None
    except pe.SchemaError as exc:
        raise AssetValidationError(
            name,
            [
                {
                    "column": getattr(exc, "column_name", None),
                    "check": str(exc.check),
                    "value": None,
                    "row": None,
                }
            ],
        ) from None


def _aware(column: Any) -> bool:
    return getattr(column.dtype, "tz", None) is not None


def failure_cases(exc: Any) -> list[dict[str, Any]]:
    """Pandera's ``SchemaErrors.failure_cases`` as plain dicts (``column, check, value, row``)."""
    out = []
    for case in exc.failure_cases.to_dict("records"):
        row = case.get("index")
        value = case.get("failure_case")
        out.append(
            {
                "column": case.get("column"),
                "check": str(case.get("check")),
                "value": _plain(value),
                "row": None if _missing(row) else int(row),
            }
        )
    out.sort(key=lambda f: (f["row"] is None, f["row"] or 0, str(f["column"])))
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    if _missing(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return v
