"""Fixtures for the ingest tests: a real aiohttp server on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import msgspec
import pytest

from cascade_rt.ingest import StaticState, build_app, serve
from cascade_rt.schema import RecordSchema

from ._doubles import RecordingEndpoint


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio"),
                        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """aiohttp is asyncio-only: asyncio and uvloop."""
    return cast("tuple[str, dict[str, object]]", request.param)


class Event(msgspec.Struct):
    id: str
    name: str
    value: float


@pytest.fixture(scope="session")
def schema() -> RecordSchema:
    """``Event`` records: ``{"id": str, "name": str, "value": float}``."""
    return RecordSchema.of(Event)


class Server:
    def __init__(self, state: StaticState, port: int, session: aiohttp.ClientSession) -> None:
        self.state = state
        self.port = port
        self.session = session
        self.url = f"http://127.0.0.1:{port}"

    def post(self, path: str, data: bytes, **kw: Any) -> Any:
        kw.setdefault("headers", {"Content-Type": "application/json"})
        return self.session.post(self.url + path, data=data, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.session.get(self.url + path, **kw)


@pytest.fixture
def make_server() -> Callable[..., Any]:
    """``async with make_server(endpoints, **build_app_options) as server``; stops what it starts."""

    @asynccontextmanager
    async def make(endpoints: list[RecordingEndpoint], *, ready: bool = True, **options: Any) -> AsyncIterator[Server]:
        state = StaticState(endpoints)
        if ready:
            state.set_ready()
        options.setdefault("token", "")
        runner, port = await serve(build_app(state, **options), "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                yield Server(state, port, session)
        finally:
            await runner.cleanup()

    return make
