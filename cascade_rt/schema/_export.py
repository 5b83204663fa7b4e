"""Iceberg schemas (pyiceberg) and JSON Schemas from a record node."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from pyiceberg import types as it
from pyiceberg.schema import Schema

from ..batch import FieldNode, TypeNode

__all__ = ("METADATA_FIELD_IDS", "iceberg_schema", "json_schema")

# Field ids reserved for the columns batch assets add (DESIGN §3).
METADATA_FIELD_IDS = {"_dlt_load_id": 100, "_dlt_id": 101, "_cascade_ingested_at": 102}

_ICEBERG_PRIMITIVES = {
    "str": it.StringType(),
    "int": it.LongType(),
    "float": it.DoubleType(),
    "decimal": it.DoubleType(),
    "bool": it.BooleanType(),
    "datetime": it.TimestamptzType(),
    "date": it.DateType(),
    "bytes": it.BinaryType(),
    "json": it.StringType(),
}


def _ids() -> Iterator[int]:
    return (i for i in itertools.count(1) if i not in METADATA_FIELD_IDS.values())


def _assign(fields: tuple[FieldNode, ...], ids: Iterator[int]) -> list[it.NestedField]:
    """Ids for all of ``fields`` first, then for what is nested in each, in order (as Iceberg does)."""
    own = [next(ids) for _ in fields]
    return [
        it.NestedField(
            field_id=fid, name=f.name, field_type=_iceberg_type(f.type, ids), required=not f.type.nullable, doc=f.doc
        )
        for fid, f in zip(own, fields, strict=True)
    ]


def _iceberg_type(node: TypeNode, ids: Iterator[int]) -> it.IcebergType:
    if node.kind == "struct":
        return it.StructType(*_assign(node.fields, ids))
    if node.kind == "list":
        assert node.item is not None
        element_id = next(ids)
        return it.ListType(
            element_id=element_id,
            element_type=_iceberg_type(node.item, ids),
            element_required=not node.item.nullable,
        )
    return _ICEBERG_PRIMITIVES[node.kind]


def iceberg_schema(root: TypeNode, *, metadata: bool = False) -> Schema:
    """The Iceberg schema of ``root``: ids 1..n at the top, nested after, never 100 to 102.

    Args:
        metadata: add ``_dlt_load_id`` (100), ``_dlt_id`` (101) and ``_cascade_ingested_at`` (102).
    """
    ids = _ids()
    top = list(root.fields)
    # Top-level ids first (1..n), then nested ones: assign the top level in one pass.
    fields = _assign(tuple(top), ids)
    if metadata:
        fields += [
            it.NestedField(100, "_dlt_load_id", it.StringType(), required=True, doc="dlt load identifier"),
            it.NestedField(101, "_dlt_id", it.StringType(), required=True, doc="dlt record identifier"),
            it.NestedField(
                102, "_cascade_ingested_at", it.TimestamptzType(), required=False, doc="cascade ingestion timestamp"
            ),
        ]
    by_name = {f.name: f.field_id for f in fields}
    keys = [by_name[f.name] for f in root.fields if f.is_key]
    return Schema(*fields, identifier_field_ids=keys)


def _json_type(node: TypeNode) -> dict[str, Any]:
    kind, c = node.kind, node.constraints
    out: dict[str, Any]
    if kind == "struct":
        out = _object(node)
    elif kind == "list":
        assert node.item is not None
        out = {"type": "array", "items": _json_type(node.item)}
    elif kind == "json":
        out = {"type": "object"} if node.json_object else {}
    else:
        primitive: dict[str, dict[str, Any]] = {
            "str": {"type": "string"},
            "int": {"type": "integer"},
            "float": {"type": "number"},
            "decimal": {"type": "number"},
            "bool": {"type": "boolean"},
            "datetime": {"type": "string", "format": "date-time"},
            "date": {"type": "string", "format": "date"},
            "bytes": {"type": "string", "contentEncoding": "base64"},
        }
        out = dict(primitive[kind])
    names = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
    for op, value in c.bounds.items():
        out[names[op]] = value.isoformat() if hasattr(value, "isoformat") else value
    length = ("minItems", "maxItems") if kind == "list" else ("minLength", "maxLength")
    if c.min_length is not None:
        out[length[0]] = c.min_length
    if c.max_length is not None:
        out[length[1]] = c.max_length
    if c.pattern is not None:
        out["pattern"] = c.pattern
    if c.choices is not None:
        out["enum"] = list(c.choices)
    if node.nullable and out:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _object(node: TypeNode) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required = []
    for f in node.fields:
        prop = _json_type(f.type)
        if f.doc:
            prop["description"] = f.doc
        if f.examples:
            prop["examples"] = list(f.examples)
        if f.has_default and isinstance(f.default, str | int | float | bool | type(None)):
            prop["default"] = f.default
        props[f.name] = prop
        if not f.has_default:
            required.append(f.name)
    out: dict[str, Any] = {"title": node.name, "type": "object", "properties": props}
    if required:
        out["required"] = required
    if node.doc:
        out["description"] = node.doc
    return out


def json_schema(root: TypeNode) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of the record's wire format."""
    return _object(root)
