"""build_app arguments and the serve() runner helper."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

import cascade_rt.ingest
from cascade_rt.ingest import DEFAULT_WAIT_BUDGET, WAIT_BUDGET_ENV, StaticState, build_app, serve
from cascade_rt.ingest._app import HANDLER_KEY
from cascade_rt.schema import RecordSchema

from ._doubles import RecordingEndpoint

pytestmark = pytest.mark.anyio


def test_every_public_name_is_exported() -> None:
    for name in cascade_rt.ingest.__all__:
        assert getattr(cascade_rt.ingest, name) is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_body": 0}, "max_body must be a positive number of bytes, got 0"),
        ({"wait_budget": -1.0}, "wait_budget must be 0 or a positive number of seconds, got -1.0"),
        ({"wait_budget": float("nan")}, "wait_budget must be 0 or a positive number of seconds, got nan"),
    ],
)
def test_build_app_refuses_non_positive_limits(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_app(StaticState(), **options)


def test_the_admission_wait_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAIT_BUDGET_ENV, "0.125")
    assert build_app(StaticState())[HANDLER_KEY].wait_budget == 0.125
    monkeypatch.setenv(WAIT_BUDGET_ENV, "soon")
    with pytest.raises(ValueError, match="CASCADE_INGEST_ADMISSION_WAIT must be 0 or a positive number of "
                                         "seconds, got 'soon'"):
        build_app(StaticState())
    monkeypatch.delenv(WAIT_BUDGET_ENV)
    assert build_app(StaticState())[HANDLER_KEY].wait_budget == DEFAULT_WAIT_BUDGET


async def test_serve_on_port_zero_returns_the_bound_port() -> None:
    runner, port = await serve(build_app(StaticState()), "127.0.0.1", 0)
    try:
        assert port > 0
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
    finally:
        await runner.cleanup()


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    first, port = await serve(build_app(StaticState()), "127.0.0.1", 0, reuse_port=True)
    try:
        second, same = await serve(build_app(StaticState()), "127.0.0.1", port, reuse_port=True)
        await second.cleanup()
        assert same == port
    finally:
        await first.cleanup()


async def test_port_in_use_without_reuse_port_raises_and_cleans_up() -> None:
    first, port = await serve(build_app(StaticState()), "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="address already in use"):
            await serve(build_app(StaticState()), "127.0.0.1", port)
    finally:
        await first.cleanup()


def test_paths_known_when_built_get_plain_routes(schema: RecordSchema) -> None:
    # Plain routes are looked up, not matched by a regular expression (a tenth of the CPU of a
    # one-record request); endpoints added later are served by the patterns (test_handler).
    state = StaticState([RecordingEndpoint("events", schema), RecordingEndpoint("orders", schema, version="2")])
    app = build_app(state, token="")
    plain = {r.canonical for r in app.router.resources() if isinstance(r, web.PlainResource)}
    assert {"/ingest/events", "/ingest/orders/2"} <= plain
    patterns = [r.canonical for r in app.router.resources() if isinstance(r, web.DynamicResource)]
    assert patterns == ["/ingest/{name}", "/ingest/{name}/{version}", "/{unmatched}"]  # the catch-all last
