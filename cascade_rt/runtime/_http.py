"""The HTTP server as an actor of the runtime's tree (``root/http``).

The actor starts the aiohttp server in ``started()`` and stops it in ``stopped()``; the runtime stops
it before anything else, so new requests get 503 while the pipelines drain.
"""

from __future__ import annotations

from typing import Any

import actors

from ..ingest import build_app, serve


class RuntimeState:
    """The runtime as the HTTP layer's ``ServerState``."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self.registry = runtime.metrics_registry
        self.query_apis = runtime.query_apis()

    @property
    def shutting_down(self) -> bool:
        return bool(self._runtime.shutting_down)

    def endpoints(self) -> list[Any]:
        return list(self._runtime.endpoints.values())

    def ready(self) -> tuple[bool, str]:
        return self._runtime.ready()  # type: ignore[no-any-return]

    def tree(self) -> dict[str, Any]:
        return self._runtime.tree()  # type: ignore[no-any-return]

    def health(self) -> dict[str, dict[str, Any]]:
        return self._runtime.health()  # type: ignore[no-any-return]


class HttpServer(actors.Actor):
    """Serves the runtime's HTTP API on ``host:port`` while it runs (port 0: a free one)."""

    def __init__(self, *, runtime: Any, host: str, port: int, reuse_port: bool = False) -> None:
        self.runtime = runtime
        self.host = host
        self.requested_port = port
        self.reuse_port = reuse_port
        self.port = 0
        self._runner: Any = None

    async def started(self) -> None:
        app = build_app(RuntimeState(self.runtime), extra_routes=self._console)
        self._runner, self.port = await serve(app, self.host, self.requested_port, reuse_port=self.reuse_port)
        if self.requested_port == 0 or self.port == self.requested_port:
            # A restart keeps the port the first start found.
            self.requested_port = self.port

    def _console(self, app: Any) -> dict[str, Any]:
        from ..console import OPENAPI_PATHS, add_console

        add_console(app, self.runtime)
        return OPENAPI_PATHS

    async def receive(self, message: Any) -> Any:
        if message == "port":
            return self.port
        raise ValueError(f"http server: unexpected message {message!r}")

    async def stopped(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class _Handle:
    def __init__(self, ref: actors.ActorRef, port: int) -> None:
        self.ref = ref
        self.port = port

    async def stop(self) -> None:
        await self.ref.stop()


async def start_http(runtime: Any, host: str, port: int, *, reuse_port: bool = False) -> _Handle:
    """Spawns the HTTP actor under the runtime's root; returns a handle with ``port`` and ``stop()``."""
    ref = await runtime.system.spawn(HttpServer, name="http", runtime=runtime, host=host, port=port,
                                     reuse_port=reuse_port)
    return _Handle(ref, await ref.ask("port"))
