"""RecordSchema: caching, extra="forbid", and the record conversions streams rely on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pandera.pandas as pap
import pydantic
import pytest

from cascade_rt.schema import FieldSpec, Key, RecordSchema, ValidationError


class Event(msgspec.Struct):
    id: Key[str]
    at: dt.datetime
    payload: dict[str, Any]
    score: float = 0.0
    raw: bytes = b""


def test_of_is_cached_per_class_and_options() -> None:
    assert RecordSchema.of(Event) is RecordSchema.of(Event)
    assert RecordSchema.of(Event, extra="forbid") is not RecordSchema.of(Event)
    assert RecordSchema.of(Event, key="id") is RecordSchema.of(Event, key=["id"])


def test_public_attributes() -> None:
    schema = RecordSchema.of(Event)
    assert schema.cls is Event
    assert schema.name == "Event"
    assert schema.kind == "msgspec"
    assert schema.key_fields == ("id",)
    assert isinstance(schema.fields[0], FieldSpec)
    with pytest.raises(AttributeError):
        schema.fields[0].name = "x"  # type: ignore[misc]
    assert schema.fields[3].default == 0.0
    assert "RecordSchema(Event" in repr(schema)


def test_extra_forbid_rejects_unknown_fields() -> None:
    body = b'{"id":"1","at":"2024-01-01T00:00:00Z","payload":{},"surprise":1}'
    assert RecordSchema.of(Event).decode(body, "JSON").num_rows == 1
    with pytest.raises(ValidationError, match="Object contains unknown field `surprise`"):
        RecordSchema.of(Event, extra="forbid").decode(body, "JSON")
    with pytest.raises(ValueError, match="extra must be 'ignore' or 'forbid', got 'allow'"):
        RecordSchema.of(Event, extra="allow")


def test_encode_json_decodes_back_as_ndjson() -> None:
    schema = RecordSchema.of(Event)
    body = (
        b'[{"id":"1","at":"2024-01-01T03:00:00+03:00","payload":{"a":[1,{"b":null}]},"raw":"aGk="},'
        b'{"id":"2","at":"2024-01-01T00:00:00.5Z","payload":{},"score":2.5}]'
    )
    batch = schema.decode(body)
    lines = schema.encode_json(batch)
    assert lines[0] == b'{"id":"1","at":"2024-01-01T00:00:00Z","payload":{"a":[1,{"b":null}]},"score":0.0,"raw":"aGk="}'
    assert schema.decode(b"\n".join(lines), "NDJSON").equals(batch)


def test_to_objects_builds_structs() -> None:
    schema = RecordSchema.of(Event)
    batch = schema.decode(b'{"id":"1","at":"2024-01-01T00:00:00Z","payload":{"k":1}}', "JSON")
    [event] = schema.to_objects(batch)
    assert event == Event(id="1", at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), payload={"k": 1})
    assert schema.decode_records([event]).equals(batch)


def test_decode_records_index_points_at_the_bad_record() -> None:
    good = Event(id="1", at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), payload={})
    with pytest.raises(ValidationError, match="record 1") as info:
        RecordSchema.of(Event).decode_records([good, {"id": "2", "at": "2024-01-01T00:00:00Z", "payload": 3}])
    assert info.value.errors == [{"index": 1, "path": "$.payload", "message": "Expected `object`, got `int`"}]
    assert issubclass(ValidationError, ValueError)


class Looped(msgspec.Struct):
    child: Looped | None = None


def test_recursive_types_are_refused() -> None:
    with pytest.raises(TypeError, match="`Looped` refers to itself"):
        RecordSchema.of(Looped)


class FloatKey(msgspec.Struct):
    id: Key[float]


def test_keys_must_be_exact_types() -> None:
    with pytest.raises(TypeError, match=r"FloatKey\.id cannot be a key"):
        RecordSchema.of(FloatKey)


class IntKeyedModel(pydantic.BaseModel):
    id: Key[int]
    name: str


class IntKeyedFrame(pap.DataFrameModel):
    id: Key[int]
    name: str


@pytest.mark.parametrize("declaration", [IntKeyedModel, IntKeyedFrame])
def test_int_keys_work_in_pydantic_and_pandera(declaration: type) -> None:
    schema = RecordSchema.of(declaration)
    assert schema.key_fields == ("id",)
    assert schema.iceberg_schema().identifier_field_ids == [1]
    assert schema.to_records(schema.decode(b'{"id":7,"name":"x"}', "JSON")) == [{"id": 7, "name": "x"}]
    with pytest.raises(ValidationError, match="Expected `int`, got `str`"):
        schema.decode(b'{"id":"7","name":"x"}', "JSON")
