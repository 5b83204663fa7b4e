"""msgspec and pydantic declarations: seed 1 unchanged, constraints enforced, validators kept."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Dict, List, Optional  # noqa: UP035 - seed 1 spells them this way

import msgspec
import pydantic
import pytest
from pydantic import BaseModel, Field, field_validator, model_validator

from cascade_rt.schema import Key, RecordSchema, ValidationError


# Seed 1, unchanged except for imports (the seed uses Field without importing it).
class ExampleSchema(BaseModel):
    id: Key[str]          # Key must specify string as underlying type
    name: str
    value: float


class ComprehensiveSchema(BaseModel):
    id: Key[str]          # Required Key field with string type
    timestamp: datetime   # Timestamp for time-series data
    value: float
    tags: Optional[List[str]] = None  # Optional array of tags  # noqa: UP006, UP045
    metadata: Dict[str, Any] = Field(  # type: ignore[call-overload]  # noqa: UP006 - the seed's `example=`
        ...,
        description="Metadata about the record",
        example={
            "source": "api",
            "priority": 1
        }
    )


BODY = (
    b'[{"id":"r1","timestamp":"2024-03-01T12:00:00+01:00","value":2.5,"tags":["a"],'
    b'"metadata":{"source":"api","priority":1}},'
    b'{"id":"r2","timestamp":"2024-03-01T12:00:00Z","value":3,"metadata":{}}]'
)


def test_seed_example_schema_compiles_with_its_key() -> None:
    schema = RecordSchema.of(ExampleSchema)
    assert schema.kind == "pydantic"
    assert schema.key_fields == ("id",)
    assert [f.name for f in schema.fields] == ["id", "name", "value"]


def test_seed_comprehensive_schema_decodes_and_round_trips() -> None:
    schema = RecordSchema.of(ComprehensiveSchema)
    batch = schema.decode(BODY)
    objects = schema.to_objects(batch)
    assert objects[0] == ComprehensiveSchema(
        id="r1",
        timestamp=dt.datetime(2024, 3, 1, 11, tzinfo=dt.UTC),
        value=2.5,
        tags=["a"],
        metadata={"source": "api", "priority": 1},
    )
    assert objects[1].tags is None
    assert schema.decode_records(objects).equals(batch)


def test_seed_comprehensive_fields_describe_themselves() -> None:
    fields = {f.name: f for f in RecordSchema.of(ComprehensiveSchema).fields}
    assert fields["id"].is_key
    assert fields["id"].required
    assert not fields["tags"].required
    assert fields["tags"].default is None
    assert fields["metadata"].doc == "Metadata about the record"
    props = RecordSchema.of(ComprehensiveSchema).json_schema()["properties"]
    assert props["metadata"]["examples"] == [{"source": "api", "priority": 1}]
    assert props["metadata"]["description"] == "Metadata about the record"


class Limits(BaseModel):
    n: int = Field(ge=0, le=10)
    x: float = Field(gt=0, lt=1)
    code: str = Field(min_length=2, max_length=3, pattern="^[A-Z]+$")
    items: list[int] = Field(default_factory=list, max_length=2)


@pytest.mark.parametrize(
    ("record", "path", "message"),
    [
        ({"n": -1}, "$.n", "Expected `int` >= 0"),
        ({"n": 11}, "$.n", "Expected `int` <= 10"),
        ({"x": 0}, "$.x", "Expected `float` > 0.0"),
        ({"x": 1}, "$.x", "Expected `float` < 1.0"),
        ({"code": "A"}, "$.code", "Expected `str` of length >= 2"),
        ({"code": "ABCD"}, "$.code", "Expected `str` of length <= 3"),
        ({"code": "ab"}, "$.code", "Expected `str` matching regex '^[A-Z]+$'"),
        ({"items": [1, 2, 3]}, "$.items", "Expected `array` of length <= 2"),
    ],
)
def test_pydantic_field_constraints_are_enforced(record: dict[str, Any], path: str, message: str) -> None:
    good = {"n": 1, "x": 0.5, "code": "AB"}
    with pytest.raises(ValidationError, match="Expected") as info:
        RecordSchema.of(Limits).decode(msgspec.json.encode({**good, **record}), "JSON")
    assert info.value.errors == [{"index": 0, "path": path, "message": message}]


class Metered(msgspec.Struct):
    id: Key[int]
    reading: Annotated[float, msgspec.Meta(ge=0, le=5, description="kWh", examples=[1.5])]
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=4, pattern="^[a-z]+$")] = "x"
    at: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None


def test_msgspec_meta_constraints_are_enforced() -> None:
    schema = RecordSchema.of(Metered)
    assert schema.kind == "msgspec"
    assert schema.key_fields == ("id",)
    for record, path, message in [
        ({"id": 1, "reading": 6}, "$.reading", "Expected `float` <= 5.0"),
        ({"id": 1, "reading": -1}, "$.reading", "Expected `float` >= 0.0"),
        ({"id": 1, "reading": 1, "label": ""}, "$.label", "Expected `str` of length >= 1"),
        ({"id": 1, "reading": 1, "label": "abcde"}, "$.label", "Expected `str` of length <= 4"),
        ({"id": 1, "reading": 1, "label": "A"}, "$.label", "Expected `str` matching regex '^[a-z]+$'"),
        ({"id": 1, "reading": 1, "at": "2024-01-01T00:00:00"}, "$.at", "Expected `datetime` with a timezone component"),
    ]:
        with pytest.raises(ValidationError, match="Expected") as info:
            schema.decode(msgspec.json.encode(record), "JSON")
        assert info.value.errors == [{"index": 0, "path": path, "message": message}]
    assert schema.json_schema()["properties"]["reading"] == {
        "type": "number", "minimum": 0, "maximum": 5, "description": "kWh", "examples": [1.5],
    }
    objects = schema.to_objects(schema.decode(b'{"id":7,"reading":1}', "JSON"))
    assert objects == [Metered(id=7, reading=1.0)]


class Normalised(BaseModel):
    id: str
    email: str

    @field_validator("email")
    @classmethod
    def lower(cls, v: str) -> str:
        if "@" not in v:
            raise ValueError("not an email address")
        return v.lower()


class Ordered(BaseModel):
    low: int
    high: int

    @model_validator(mode="after")
    def ordered(self) -> Ordered:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


def test_pydantic_field_validators_run_and_rewrite_values() -> None:
    schema = RecordSchema.of(Normalised)
    batch = schema.decode(b'[{"id":"1","email":"A@X.ORG"}]')
    assert batch.column("email").to_pylist() == ["a@x.org"]
    with pytest.raises(ValidationError, match="not an email address") as info:
        schema.decode(b'[{"id":"1","email":"a@x"},{"id":"2","email":"nope"}]')
    assert info.value.errors == [
        {"index": 1, "path": "$.email", "message": "Value error, not an email address"}
    ]


def test_pydantic_model_validators_run_as_batch_checks() -> None:
    schema = RecordSchema.of(Ordered)
    assert schema.decode(b'[{"low":1,"high":2}]').num_rows == 1
    with pytest.raises(ValidationError, match="low must not exceed high") as info:
        schema.decode(b'[{"low":1,"high":2},{"low":3,"high":2}]')
    assert info.value.errors[0]["index"] == 1


class Point(BaseModel):
    x: float
    y: float


class Shape(BaseModel):
    name: str = Field(alias="shapeName")
    points: list[Point]
    centre: Optional[Point] = None  # noqa: UP045


def test_nested_models_and_aliases() -> None:
    schema = RecordSchema.of(Shape)
    body = b'{"shapeName":"tri","points":[{"x":0,"y":0},{"x":1,"y":0.5}],"centre":{"x":0.5,"y":0.2}}'
    objects = schema.to_objects(schema.decode(body, "JSON"))
    assert objects[0].points[1] == Point(x=1, y=0.5)
    assert objects[0].name == "tri"
    with pytest.raises(ValidationError, match="Expected `float`, got `str`") as info:
        schema.decode(b'{"shapeName":"t","points":[{"x":0,"y":0},{"x":"1","y":0}]}', "JSON")
    assert info.value.errors[0]["path"] == "$.points[1].x"


def test_other_classes_are_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"needs a msgspec\.Struct, pydantic BaseModel or Pandera DataFrameModel"):
        RecordSchema.of(dict)
    with pytest.raises(TypeError, match="got an instance of `Point`"):
        RecordSchema.of(Point(x=1, y=2))  # type: ignore[arg-type]
    assert pydantic.VERSION.startswith("2")
