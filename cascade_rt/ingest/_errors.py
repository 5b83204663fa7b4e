"""JSON errors without a middleware: every answer but a 200 is ``{"error": ...}``.

An aiohttp middleware would do this in one place, but an app with any middleware runs each
request through aiohttp's middleware chain as well (two more coroutine frames and a context
manager): about 6 µs of CPU a request, a tenth of a one-record ingest request. So each handler
is wrapped instead (``json_errors``; the ingest handler handles its own), and a last, catch-all
route answers what the router did not match (``unmatched``): 405 with ``Allow`` when another
route takes the path with other methods, else 404.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger("cascade_rt.ingest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON = "application/json"
"""The media type of every JSON answer."""


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    """A JSON error body ``{"error": message, **extra}``."""
    return web.Response(
        status=status, body=orjson.dumps({"error": message, **extra}), content_type=JSON, headers=headers
    )


def internal_error(request: web.Request) -> web.Response:
    """500 ``{"error": "internal error", "id": ...}`` for the exception being handled, which is
    logged with its traceback under that id (the answer never carries it)."""
    error_id = uuid.uuid4().hex[:16]
    log.exception("internal error %s handling %s %s", error_id, request.method, request.path)
    return error_response(500, "internal error", id=error_id)


def http_error(exc: web.HTTPException) -> web.Response:
    """An aiohttp ``HTTPException`` as a JSON error, keeping the headers a client acts on."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "www-authenticate")}
    return error_response(exc.status, exc.reason, headers=headers)


def json_errors(handler: Handler) -> Handler:
    """``handler`` answering an ``HTTPException`` (400 and up) or any other exception as JSON."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == JSON:  # not an error, or already JSON
                raise
            return http_error(exc)
        except Exception:
            return internal_error(request)

    return wrapped


def add_unmatched_route(app: web.Application) -> None:
    """Adds the catch-all route, after every other: 405 (with ``Allow``) or 404, as JSON."""
    resource = app.router.add_resource("/{unmatched:.*}")

    async def unmatched(request: web.Request) -> web.Response:
        allowed: set[str] = set()
        for other in app.router.resources():
            if other is not resource:
                _, methods = await other.resolve(request)
                allowed |= methods
        if allowed:
            return http_error(web.HTTPMethodNotAllowed(request.method, allowed))
        return http_error(web.HTTPNotFound())

    resource.add_route("*", unmatched)
