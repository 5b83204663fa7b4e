"""The loopback REST API of the ingestion tests (aiohttp in its own thread, page-number pagination)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from aiohttp import web


class RestServer:
    """Serves ``/items`` (pages of ``page_size`` with ``total_pages``) and ``/events?since=N``."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.page_size = 10
        self.requests: list[str] = []
        self.base_url = ""

    async def _items(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        page = int(request.query.get("page", "1"))
        pages = max(1, -(-len(self.items) // self.page_size))
        chunk = self.items[(page - 1) * self.page_size : page * self.page_size]
        return web.json_response({"data": chunk, "page": page, "total_pages": pages})

    async def _events(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        since = int(request.query.get("since", "0"))
        return web.json_response([e for e in self.events if e["seq"] > since])

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def serve() -> None:
            app = web.Application()
            app.router.add_get("/items", self._items)
            app.router.add_get("/events", self._events)
            self.runner = web.AppRunner(app, access_log=None)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make_items(n: int, *, value: int = 1, offset: str = "+02:00") -> list[dict[str, Any]]:
    return [
        {
            "id": f"i{i:03d}",
            "created_at": f"2024-01-01T0{i % 10}:00:00{offset}",
            "value": value,
            "status": None if i % 2 else "ok",
            "extra": {"ignored": True},
        }
        for i in range(n)
    ]
