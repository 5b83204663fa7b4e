"""JSON errors without a middleware: wrapped handlers and the catch-all route."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cascade_rt.ingest import StaticState, build_app, serve
from cascade_rt.ingest._errors import add_unmatched_route, json_errors

pytestmark = pytest.mark.anyio


def test_the_app_runs_no_middleware() -> None:
    # Any middleware sends every request through aiohttp's middleware chain: ~6 µs a request.
    assert list(build_app(StaticState(), token="").middlewares) == []


async def test_a_method_the_path_does_not_take_gets_405_with_allow(make_server: Callable[..., Any]) -> None:
    async with make_server([]) as server, server.session.post(server.url + "/health", data=b"") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET,HEAD"
        assert await response.json() == {"error": "Method Not Allowed"}


async def test_any_method_on_an_unknown_path_gets_404_as_json(make_server: Callable[..., Any]) -> None:
    async with make_server([]) as server:
        for method in ("GET", "POST", "DELETE"):
            async with server.session.request(method, server.url + "/no/such/path") as response:
                assert (response.status, await response.json()) == (404, {"error": "Not Found"})


async def test_a_failing_observability_handler_gets_500_with_an_id(make_server: Callable[..., Any],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("tree on fire")

    with caplog.at_level(logging.ERROR, logger="cascade_rt.ingest"):
        async with make_server([]) as server:
            server.state._tree = broken
            async with server.get("/admin/actors") as response:
                assert response.status == 500
                text = await response.text()
    payload = json.loads(text)
    assert set(payload) == {"error", "id"}
    assert payload["error"] == "internal error"
    assert "tree on fire" not in text
    (record,) = [r for r in caplog.records if payload["id"] in r.getMessage()]
    assert record.getMessage() == f"internal error {payload['id']} handling GET /admin/actors"
    assert "tree on fire" in str(record.exc_info[1] if record.exc_info else None)


@pytest.fixture
async def raising_app() -> AsyncIterator[str]:
    async def too_many(request: web.Request) -> web.Response:
        raise web.HTTPTooManyRequests(headers={"Retry-After": "7", "X-Internal": "no"})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def conflict(request: web.Request) -> web.Response:
        raise web.HTTPConflict(text='{"error": "taken", "id": 7}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/busy", json_errors(too_many))
    app.router.add_get("/conflict", json_errors(conflict))
    app.router.add_get("/moved", json_errors(moved))
    add_unmatched_route(app)
    runner, port = await serve(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_an_http_exception_becomes_json_with_the_headers_a_client_acts_on(raising_app: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(raising_app + "/busy") as response:
        assert (response.status, await response.json()) == (429, {"error": "Too Many Requests"})
        assert response.headers["Retry-After"] == "7"
        assert "X-Internal" not in response.headers


async def test_an_http_exception_that_is_json_already_is_answered_as_raised(raising_app: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(raising_app + "/conflict") as response:
        assert (response.status, await response.json()) == (409, {"error": "taken", "id": 7})


async def test_a_redirect_is_not_an_error(raising_app: str) -> None:
    async with aiohttp.ClientSession() as session, \
            session.get(raising_app + "/moved", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/elsewhere"
