"""``GET /api/{name}`` and ``/api/{name}/{version}``: query APIs over HTTP, and their OpenAPI paths."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
import orjson
from aiohttp import web

from ._api import Api
from ._client import MooseClient
from ._engine import QueryEngine
from ._params import ParamsError

__all__ = ("ApiHandler",)

_JSON = "application/json"


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"error": message, **extra}), content_type=_JSON)


class ApiHandler:
    """Answers the query APIs of ``registry`` with ``engine`` (DuckDB over the catalog)."""

    def __init__(self, registry: Any, engine: QueryEngine) -> None:
        self.registry = registry
        self.engine = engine
        self.client = MooseClient(engine)

    def apis(self) -> list[Api[Any, Any]]:
        return list(self.registry.all("api"))

    def find(self, name: str, version: str | None) -> Api[Any, Any] | None:
        """The API at ``name``/``version``; unversioned, the unversioned one, else the only version."""
        matches = [a for a in self.apis() if a.name == name]
        if version is not None:
            return next((a for a in matches if a.version == version), None)
        plain = next((a for a in matches if a.version is None), None)
        if plain is not None:
            return plain
        return matches[0] if len(matches) == 1 else None

    def routes(self) -> list[tuple[str, Any]]:
        return [("/api/{name}", self.handle), ("/api/{name}/{version}", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        version = request.match_info.get("version")
        api = self.find(name, version)
        if api is None:
            known = sorted(a.path for a in self.apis())
            label = f"{name}/{version}" if version else name
            return _error(404, f"no query API {label!r}", known=known)
        try:
            params = api.params.parse(request.query)
        except ParamsError as exc:
            return _error(400, str(exc), details=exc.errors)
        try:
            # In a worker thread, an async function on an event loop of its own: its
            # ``client.query.execute`` calls are blocking (as in Moose), and must not stop the
            # server's event loop (ingest, other requests) while DuckDB runs.
            call = functools.partial(_run_coroutine, api.query_function) if api.is_async else api.query_function
            result = await anyio.to_thread.run_sync(call, self.client, params)
        except ValueError as exc:  # the function refused its parameters
            if _is_sql_error(exc):
                raise
            return _error(400, f"query API {api.resource_name!r}: {exc}")
        return web.Response(body=self._encode(api, result), content_type=_JSON)

    def _encode(self, api: Api[Any, Any], result: Any) -> bytes:
        from pydantic import TypeAdapter, ValidationError

        adapter = api.result
        if adapter is None:
            return orjson.dumps(result, default=_default)
        many = isinstance(result, list | tuple)
        checker = TypeAdapter(_list_of(api.result_type)) if many else adapter
        try:
            checked = checker.validate_python(result)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
            raise ResultMismatch(f"query API {api.resource_name!r}: its result does not match "
                                 f"{getattr(api.result_type, '__name__', api.result_type)}: at `{where}`: "
                                 f"{first['msg']}") from None
        return checker.dump_json(checked)

    def openapi_paths(self) -> dict[str, Any]:
        """One ``GET`` path per query API: its parameters and its result schema."""
        from pydantic import TypeAdapter

        paths: dict[str, Any] = {}
        for api in self.apis():
            schema = api.params.json_schema()
            parameters = [
                {"name": name, "in": "query", "required": name in schema.get("required", ()),
                 "schema": {k: v for k, v in prop.items() if k != "title"},
                 **({"description": prop["description"]} if "description" in prop else {})}
                for name, prop in schema.get("properties", {}).items()
            ]
            result = TypeAdapter(_list_of(api.result_type)).json_schema() if api.result_type is not None else {}
            paths[api.path] = {"get": {
                "operationId": f"api_{api.resource_name.replace(':', '_')}",
                "summary": f"query API {api.resource_name}",
                "parameters": parameters,
                "responses": {
                    "200": {"description": "the query's result",
                            "content": {_JSON: {"schema": result}}},
                    "400": {"description": "a parameter does not fit",
                            "content": {_JSON: {"schema": {"type": "object", "required": ["error"]}}}},
                },
            }}
        return paths


class ResultMismatch(RuntimeError):
    """A query function's result does not match the API's ``Result`` type (a bug in the API: 500)."""


def _is_sql_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("duckdb") or type(exc).__module__.startswith("_duckdb")


def _list_of(item: Any) -> Any:
    return list.__class_getitem__(item)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _run_coroutine(function: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Runs ``function(*args)`` to completion on a new asyncio event loop (in a worker thread)."""
    return asyncio.run(function(*args))
