"""The type mapping of DESIGN §3 and compile errors naming class, field and type."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Annotated, Any, Literal, Optional

import msgspec
import pyarrow as pa
import pytest
from pyiceberg import types as it

from cascade_rt.schema import Key, RecordSchema, SchemaTypeError


class Inner(msgspec.Struct):
    a: int
    when: dt.datetime


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class AllTypes(msgspec.Struct):
    s: str
    i: int
    f: float
    b: bool
    ts: dt.datetime
    d: dt.date
    raw: bytes
    dec: decimal.Decimal
    items: list[int]
    inner: Inner
    meta: dict[str, Any]
    anything: Any
    maybe: Optional[str] = None  # noqa: UP045
    color: Color = Color.RED
    level: Literal["low", "high"] = "low"


EXPECTED = {
    "s": (pa.string(), it.StringType()),
    "i": (pa.int64(), it.LongType()),
    "f": (pa.float64(), it.DoubleType()),
    "b": (pa.bool_(), it.BooleanType()),
    "ts": (pa.timestamp("us", tz="UTC"), it.TimestamptzType()),
    "d": (pa.date32(), it.DateType()),
    "raw": (pa.binary(), it.BinaryType()),
    "dec": (pa.float64(), it.DoubleType()),
    "meta": (pa.string(), it.StringType()),
    "anything": (pa.string(), it.StringType()),
    "maybe": (pa.string(), it.StringType()),
    "color": (pa.string(), it.StringType()),
    "level": (pa.string(), it.StringType()),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_primitive_types_map_to_arrow_and_iceberg(name: str) -> None:
    schema = RecordSchema.of(AllTypes)
    arrow, iceberg = EXPECTED[name]
    assert schema.arrow_schema.field(name).type == arrow
    assert schema.iceberg_schema().find_field(name).field_type == iceberg


def test_list_and_struct_map_to_nested_types() -> None:
    schema = RecordSchema.of(AllTypes)
    items = schema.arrow_schema.field("items")
    assert items.type == pa.list_(pa.field("element", pa.int64(), nullable=False))
    inner = schema.arrow_schema.field("inner").type
    assert inner == pa.struct(
        [pa.field("a", pa.int64(), nullable=False), pa.field("when", pa.timestamp("us", tz="UTC"), nullable=False)]
    )
    iceberg = schema.iceberg_schema()
    assert isinstance(iceberg.find_field("items").field_type, it.ListType)
    assert isinstance(iceberg.find_field("inner").field_type, it.StructType)


def test_every_type_round_trips_through_decode() -> None:
    schema = RecordSchema.of(AllTypes)
    body = (
        b'{"s":"x","i":1,"f":1.5,"b":true,"ts":"2024-05-01T10:00:00+02:00","d":"2024-05-01",'
        b'"raw":"aGk=","dec":2.25,"items":[1,2],"inner":{"a":3,"when":"2024-05-01T00:00:00-01:00"},'
        b'"meta":{"k":{"n":[1,null]}},"anything":[1,"two"],"maybe":null,"color":"blue","level":"high"}'
    )
    record = schema.to_records(schema.decode(body, "JSON"))[0]
    assert record == {
        "s": "x", "i": 1, "f": 1.5, "b": True,
        "ts": dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC),
        "d": dt.date(2024, 5, 1), "raw": b"hi", "dec": 2.25, "items": [1, 2],
        "inner": {"a": 3, "when": dt.datetime(2024, 5, 1, 1, tzinfo=dt.UTC)},
        "meta": {"k": {"n": [1, None]}}, "anything": [1, "two"], "maybe": None,
        "color": "blue", "level": "high",
    }


def test_enum_and_literal_reject_other_values() -> None:
    schema = RecordSchema.of(AllTypes)
    base = (
        b'{"s":"x","i":1,"f":1.5,"b":true,"ts":"2024-05-01T10:00:00Z","d":"2024-05-01","raw":"",'
        b'"dec":1,"items":[],"inner":{"a":3,"when":"2024-05-01T00:00:00Z"},"meta":{},"anything":1,'
    )
    with pytest.raises(ValueError, match="Invalid enum value 'green'"):
        schema.decode(base + b'"color":"green"}', "JSON")
    with pytest.raises(ValueError, match="Invalid enum value 'mid'"):
        schema.decode(base + b'"level":"mid"}', "JSON")


class Order(msgspec.Struct):
    id: str
    tags: set[int]


class Mixed(msgspec.Struct):
    v: int | str


class IntKeys(msgspec.Struct):
    m: dict[int, str]


def test_unmappable_type_fails_at_compile_naming_class_field_and_type() -> None:
    with pytest.raises(SchemaTypeError, match=r"cannot compile `Order\.tags: set\[int\]`") as info:
        RecordSchema.of(Order)
    assert (info.value.owner, info.value.field) == ("Order", "tags")
    assert isinstance(info.value, TypeError)


def test_unions_other_than_optional_are_refused() -> None:
    with pytest.raises(TypeError, match=r"`Mixed\.v: int \| str`: unions other than `T \| None`"):
        RecordSchema.of(Mixed)


def test_dicts_need_string_keys() -> None:
    with pytest.raises(TypeError, match=r"only dict\[str, Any\]"):
        RecordSchema.of(IntKeys)


def test_key_is_annotated_metadata() -> None:
    # At run time Key is a class whose subscription builds the Annotated type (checkers see an alias).
    runtime_key: Any = Key
    assert runtime_key[str] == Annotated[str, runtime_key[int].__metadata__[0]]
    with pytest.raises(TypeError, match="Key is used as an annotation"):
        runtime_key()
