"""Iceberg and JSON Schemas: field ids, required, docs, identifier fields, metadata columns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
import pyarrow as pa
from pyiceberg import types as it

from cascade_rt.schema import Key, RecordSchema


class Address(msgspec.Struct):
    street: str
    zips: list[int] | None = None


class Person(msgspec.Struct):
    """A person."""

    id: Key[str]
    name: Annotated[str, msgspec.Meta(description="Full name", examples=["Ada"])]
    address: Address
    emails: list[str]
    meta: dict[str, Any] | None = None
    born: dt.date | None = None


def test_field_ids_are_top_level_first_then_nested_in_order() -> None:
    schema = RecordSchema.of(Person).iceberg_schema()
    ids = {f.name: f.field_id for f in schema.fields}
    assert ids == {"id": 1, "name": 2, "address": 3, "emails": 4, "meta": 5, "born": 6}
    address = schema.find_field("address").field_type
    assert isinstance(address, it.StructType)
    assert [(f.field_id, f.name) for f in address.fields] == [(7, "street"), (8, "zips")]
    zips = address.fields[1].field_type
    assert isinstance(zips, it.ListType)
    assert zips.element_id == 9
    assert zips.element_required
    emails = schema.find_field("emails").field_type
    assert isinstance(emails, it.ListType)
    assert emails.element_id == 10


def test_required_doc_and_identifier_fields() -> None:
    schema = RecordSchema.of(Person).iceberg_schema()
    assert [f.required for f in schema.fields] == [True, True, True, True, False, False]
    assert schema.find_field("name").doc == "Full name"
    assert schema.identifier_field_ids == [1]


def test_metadata_columns_use_ids_100_to_102() -> None:
    schema = RecordSchema.of(Person).iceberg_schema(metadata=True)
    tail = [(f.field_id, f.name, f.field_type, f.required) for f in schema.fields[-3:]]
    assert tail == [
        (100, "_dlt_load_id", it.StringType(), True),
        (101, "_dlt_id", it.StringType(), True),
        (102, "_cascade_ingested_at", it.TimestamptzType(), False),
    ]


def test_ids_skip_100_to_102_for_wide_schemas() -> None:
    Wide = msgspec.defstruct("Wide", [(f"c{i}", int) for i in range(110)])
    ids = [f.field_id for f in RecordSchema.of(Wide).iceberg_schema(metadata=True).fields]
    assert 99 in ids
    assert 103 in ids
    assert sorted(ids) == sorted(set(ids))
    assert [i for i in ids if 100 <= i <= 102] == [100, 101, 102]


def test_arrow_schema_nullability_and_element_names() -> None:
    arrow = RecordSchema.of(Person).arrow_schema
    assert not arrow.field("id").nullable
    assert arrow.field("meta").nullable
    assert arrow.field("emails").type == pa.list_(pa.field("element", pa.string(), nullable=False))
    assert arrow.field("name").metadata == {b"doc": b"Full name"}


def test_json_schema_lists_types_descriptions_and_examples() -> None:
    js = RecordSchema.of(Person).json_schema()
    assert js["title"] == "Person"
    assert js["description"] == "A person."
    assert js["required"] == ["id", "name", "address", "emails"]
    assert js["properties"]["name"] == {"type": "string", "description": "Full name", "examples": ["Ada"]}
    assert js["properties"]["address"]["properties"]["zips"] == {
        "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
        "default": None,
    }
    assert js["properties"]["born"]["anyOf"][0] == {"type": "string", "format": "date"}
    assert js["properties"]["meta"]["anyOf"][0] == {"type": "object"}
