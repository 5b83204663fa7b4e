"""OpenAPI 3.1 document for the ingest API, built from the endpoints' record schemas."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any, cast

import cascade_rt

from ._protocol import IngestEndpoint

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_DETAIL = {
    "type": "object",
    "required": ["index", "path", "message"],
    "properties": {
        "index": {"type": ["integer", "null"], "description": "record position; null for the body"},
        "path": {"type": "string", "examples": ["$.value"]},
        "message": {"type": "string"},
    },
}
_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")


def ingest_path(endpoint: IngestEndpoint) -> str:
    """``/ingest/{name}`` or ``/ingest/{name}/{version}``."""
    return f"/ingest/{endpoint.name}" + (f"/{endpoint.version}" if endpoint.version else "")


def _hoist(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Moves ``$defs`` into ``components/schemas`` and rewrites ``#/$defs/X`` references."""
    schema = copy.deepcopy(schema)
    for key in ("$defs", "definitions"):
        for name, sub in (schema.pop(key, None) or {}).items():
            defs.setdefault(name, sub)

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                for prefix in ("#/$defs/", "#/definitions/"):
                    if ref.startswith(prefix):
                        node["$ref"] = "#/components/schemas/" + ref[len(prefix):]
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)
        return node

    for sub in defs.values():
        rewrite(sub)
    schema.pop("$schema", None)
    return cast("dict[str, Any]", rewrite(schema))


def _record_ref(endpoint: IngestEndpoint, components: dict[str, Any]) -> dict[str, Any]:
    base = _COMPONENT_NAME.sub("_", str(getattr(endpoint.schema, "name", None) or endpoint.name))
    record = _hoist(endpoint.schema.json_schema(), components)
    if "$ref" in record and len(record) == 1:  # the schema is a bare reference to its own $defs entry
        return record
    name, n = base, 2
    while name in components and components[name] != record:
        name, n = f"{base}_{n}", n + 1
    components[name] = record
    return {"$ref": f"#/components/schemas/{name}"}


def _body_schema(record: dict[str, Any], fmt: str | None) -> dict[str, Any]:
    array = {"type": "array", "items": record}
    if fmt == "JSON":
        return record
    if fmt == "JSON_ARRAY":
        return array
    return {"oneOf": [record, array]}


def _response(description: str, ref: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    if headers:
        out["headers"] = headers
    return out


def build_openapi(
    endpoints: Iterable[IngestEndpoint], *, secured: bool = False, title: str = "cascade-rt ingest API"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document: one ``POST`` path per endpoint.

    The request body schema is the record schema for ``JSON``, an array of it for
    ``JSON_ARRAY`` and ``oneOf`` both when the endpoint takes either; ``application/x-ndjson`` is
    listed as text, one record per line. Responses 200/400/401/404/413/415/503 are described,
    and a bearer security scheme is declared when ``secured``.
    """
    components: dict[str, Any] = {
        "IngestAccepted": {
            "type": "object",
            "required": ["accepted"],
            "properties": {"accepted": {"type": "integer", "minimum": 0}},
        },
        "Error": _ERROR,
        "ValidationDetail": _DETAIL,
        "ValidationFailure": {
            "type": "object",
            "required": ["error", "details"],
            "properties": {
                "error": {"type": "string"},
                "details": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationDetail"}},
            },
        },
    }
    retry_after = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        record = _record_ref(endpoint, components)
        fmt = endpoint.format
        shape = {"JSON": "one record", "JSON_ARRAY": "an array of records"}.get(fmt or "", "one record or an array of records")
        responses = {
            "200": _response("All records are durable.", "IngestAccepted"),
            "400": _response("Invalid records or body; nothing was accepted.", "ValidationFailure"),
            "404": _response("Unknown ingest API.", "Error"),
            "413": _response("Body (or decompressed body) too large.", "Error"),
            "415": _response("Unsupported Content-Type or Content-Encoding.", "Error"),
            "503": _response("Backpressure or shutting down; retry later.", "Error", retry_after),
        }
        if secured:
            responses["401"] = _response("Missing or wrong bearer token.", "Error")
        operation: dict[str, Any] = {
            "operationId": "ingest_" + _COMPONENT_NAME.sub("_", ingest_path(endpoint)[len("/ingest/"):]),
            "summary": f"Ingest {endpoint.name}" + (f" v{endpoint.version}" if endpoint.version else ""),
            "description": f"Accepts {shape} (gzip allowed); answers 200 once durable.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _body_schema(record, fmt)},
                    "application/x-ndjson": {
                        "schema": {"type": "string", "description": "one JSON record per line"}
                    },
                },
            },
            "responses": responses,
        }
        if secured:
            operation["security"] = [{"bearer": []}]
        paths[ingest_path(endpoint)] = {"post": operation}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": cascade_rt.__version__},
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
