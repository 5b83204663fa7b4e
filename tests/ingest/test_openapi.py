"""The OpenAPI 3.1 document built from the endpoints' schemas."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from cascade_rt.ingest import build_openapi

from ._doubles import RecordingEndpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from cascade_rt.schema import RecordSchema

pytestmark = pytest.mark.anyio


class NestedSchema:
    name = "Order"

    def json_schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/Order",
            "$defs": {
                "Order": {"type": "object", "properties": {"line": {"$ref": "#/$defs/Line"}}},
                "Line": {"type": "object", "properties": {"sku": {"type": "string"}}},
            },
        }


def _body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_one_post_path_per_endpoint_with_the_body_shape_of_its_format(schema: RecordSchema) -> None:
    document = build_openapi([
        RecordingEndpoint("one", schema, format="JSON"),
        RecordingEndpoint("many", schema, format="JSON_ARRAY"),
        RecordingEndpoint("either", schema, version="2"),
    ])
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/ingest/one", "/ingest/many", "/ingest/either/2"}
    ref = {"$ref": "#/components/schemas/Event"}
    assert _body_schema(document, "/ingest/one") == ref
    assert _body_schema(document, "/ingest/many") == {"type": "array", "items": ref}
    assert _body_schema(document, "/ingest/either/2") == {"oneOf": [ref, {"type": "array", "items": ref}]}
    event = document["components"]["schemas"]["Event"]
    assert event["required"] == ["id", "name", "value"]
    responses = document["paths"]["/ingest/one"]["post"]["responses"]
    assert set(responses) == {"200", "400", "404", "413", "415", "503"}
    assert responses["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_nested_defs_are_hoisted_into_components_with_rewritten_refs() -> None:
    document = build_openapi([RecordingEndpoint("orders", NestedSchema())])
    schemas = document["components"]["schemas"]
    assert "$schema" not in json.dumps(document)
    assert schemas["Order"] == {"type": "object", "properties": {"line": {"$ref": "#/components/schemas/Line"}}}
    assert _body_schema(document, "/ingest/orders")["oneOf"][0] == {"$ref": "#/components/schemas/Order"}


def test_every_ref_resolves_inside_the_document(schema: RecordSchema) -> None:
    document = build_openapi([RecordingEndpoint("orders", NestedSchema()),
                              RecordingEndpoint("events", schema)], secured=True)
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]


async def test_openapi_json_is_served_and_declares_bearer_when_a_token_is_set(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    async with make_server([RecordingEndpoint("events", schema)], token="secret") as server:
        async with server.get("/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
    operation = document["paths"]["/ingest/events"]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert "401" in operation["responses"]
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
