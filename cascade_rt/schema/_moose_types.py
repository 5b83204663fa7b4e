"""The column annotations Moose users write, as plain ``Annotated`` metadata.

Integer widths (``Int8`` … ``UInt64``) are stored as Iceberg ``long`` and checked against their
range; ``Float32``/``Float64`` as ``double``. ``LowCardinality`` (written
``Annotated[str, "LowCardinality"]``), ``clickhouse_default`` and ``ClickHouseCodec`` are
ClickHouse storage hints with no Iceberg meaning: accepted and ignored (a field's own Python
default still applies). ``ClickHouseTTL`` is a column TTL: an ``OlapTable`` clears the field's
expired values (see ``cascade_rt.table._ttl``).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any

import annotated_types as at

__all__ = (
    "ClickHouseCodec",
    "ClickHouseTTL",
    "ClickhouseDefault",
    "Float32",
    "Float64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "LowCardinality",
    "StringToEnumMixin",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "clickhouse_default",
)

Int8 = Annotated[int, at.Interval(ge=-(2**7), le=2**7 - 1)]
Int16 = Annotated[int, at.Interval(ge=-(2**15), le=2**15 - 1)]
Int32 = Annotated[int, at.Interval(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, at.Interval(ge=-(2**63), le=2**63 - 1)]
UInt8 = Annotated[int, at.Interval(ge=0, le=2**8 - 1)]
UInt16 = Annotated[int, at.Interval(ge=0, le=2**16 - 1)]
UInt32 = Annotated[int, at.Interval(ge=0, le=2**32 - 1)]
UInt64 = Annotated[int, at.Interval(ge=0, le=2**63 - 1)]  # stored as a signed long: capped
Float32 = Annotated[float, "float32"]
Float64 = Annotated[float, "float64"]
LowCardinality = "LowCardinality"
"""Written ``Annotated[str, "LowCardinality"]`` (or with this constant); a storage hint, ignored."""


@dataclasses.dataclass(frozen=True)
class ClickhouseDefault:
    expression: str


def clickhouse_default(expression: str) -> ClickhouseDefault:
    """A ClickHouse column DEFAULT: accepted and ignored (give the field a Python default)."""
    return ClickhouseDefault(expression)


@dataclasses.dataclass(frozen=True)
class ClickHouseTTL:
    """A column TTL, ``Annotated[str, ClickHouseTTL("ts + INTERVAL 30 DAY")]``: once it has passed,
    the table's writer clears the value (to None, or for a required field to ``''``/``0``/``False``)."""

    expression: str


@dataclasses.dataclass(frozen=True)
class ClickHouseCodec:
    expression: str


class StringToEnumMixin:
    """Lets an ``IntEnum`` also accept its members' names in pydantic models, as Moose's does.

    ``class Baz(StringToEnumMixin, IntEnum): QUX = auto()``: ``Foo(baz="QUX")`` and ``Foo(baz=1)``
    both give ``Baz.QUX``. The column stores the int value.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        from pydantic_core import core_schema

        members = list(cls)  # type: ignore[call-overload]

        def validate(value: Any) -> Any:
            if isinstance(value, str) and not isinstance(value, enum.Enum):
                try:
                    return cls[value]  # type: ignore[index]
                except KeyError:
                    names = ", ".join(m.name for m in members)
                    raise ValueError(f"Invalid enum name: {value!r}; names: {names}") from None
            return cls(value)  # type: ignore[call-arg]

        return core_schema.no_info_before_validator_function(validate, core_schema.enum_schema(cls, members))
