"""The aiohttp application: ingest routes, observability endpoints, JSON errors; and ``serve``.

Routes:
    ``POST /ingest/{name}``, ``POST /ingest/{name}/{version}`` — see ``_handler``.
    ``GET /health`` — 200 with per-component details (``cascade_rt.observe.health_report``).
    ``GET /ready`` — 200 once started, 503 while starting or shutting down.
    ``GET /metrics`` — Prometheus text of ``state.registry`` (ingest counters, per-actor figures).
    ``GET /openapi.json`` — OpenAPI 3.1 of the ingest endpoints.
    ``GET /admin/actors`` — ``state.tree()`` as JSON (bearer token required when configured).
    ``GET /api/{name}``, ``/api/{name}/{version}`` — query APIs, when ``state.query_apis`` is set
    (``cascade_rt.api.ApiHandler``: ``routes()`` and ``openapi_paths()``).
    Whatever ``extra_routes`` adds (``Runtime.serve`` adds the console: ``cascade_rt.console``).

Every error is JSON ``{"error": ...}``; an unexpected exception is logged with its traceback
under an id and answered 500 ``{"error": "internal error", "id": ...}``, never with the
traceback (see ``_errors``: no middleware, for speed).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cascade_rt.observe import health_report, readiness, register_actor_tree

from ._errors import JSON, add_unmatched_route, error_response, json_errors
from ._handler import IngestHandler
from ._openapi import build_openapi

log = logging.getLogger("cascade_rt.ingest")

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_WAIT_BUDGET = 0.5
"""Seconds an ingest request waits for room in its sink before 503: short, so that under
overload refused requests are answered soon and hold nothing the admitted ones need."""
LISTEN_BACKLOG = socket.SOMAXCONN
"""Connections the kernel completes for the server before it accepts them (capped by the kernel's
``net.core.somaxconn``, 4096 by default). Past it the kernel drops handshakes: the client waits a
second or more to resend them, or its connection is reset, which under overload turned fast 503s
into slow ones and dropped connections; a connection waiting here costs no memory of the server's."""
TOKEN_ENV = "CASCADE_INGEST_TOKEN"
WAIT_BUDGET_ENV = "CASCADE_INGEST_ADMISSION_WAIT"

STATE_KEY = web.AppKey("cascade_state", object)
HANDLER_KEY = web.AppKey("cascade_ingest_handler", IngestHandler)

def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type=JSON)


def build_app(
    state: Any,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    token: str | None = None,
    wait_budget: float | None = None,
    group_single: bool = True,
    extra_routes: Callable[[web.Application], Mapping[str, Any] | None] | None = None,
) -> web.Application:
    """Builds the HTTP application over a :class:`~cascade_rt.ingest.ServerState`.

    Args:
        state: the server state (endpoints, readiness, tree, metrics registry).
        max_body: largest request body in bytes, before and after gzip decompression (413 past it).
        token: bearer token required on ``/ingest`` and ``/admin``; ``None`` reads
            ``CASCADE_INGEST_TOKEN`` (unset or empty: no token); ``""`` turns the check off
            even when the variable is set.
        wait_budget: seconds a request may wait for admission into its sink before 503 (0: none,
            refused at once when the sink has no room); ``None`` reads
            ``CASCADE_INGEST_ADMISSION_WAIT``, else ``DEFAULT_WAIT_BUDGET`` (0.5 s).
        group_single: decode and submit one-object bodies that arrive in the same event-loop
            turn as one batch, acknowledging each once the batch is durable (a group holding an
            invalid body falls back to one request at a time, so every answer and dead letter
            stays the request's own). False submits every request alone.
        extra_routes: ``extra_routes(app)`` adds more routes (the console) before the catch-all;
            it may return OpenAPI ``paths`` to list in ``/openapi.json``.

    Raises:
        ValueError: ``max_body`` not positive, ``wait_budget`` (or the variable) negative or not a number.
    """
    if max_body <= 0:
        raise ValueError(f"max_body must be a positive number of bytes, got {max_body!r}")
    if wait_budget is None:
        wait_budget = _budget_from_env()
    if not wait_budget >= 0:  # also NaN
        raise ValueError(f"wait_budget must be 0 or a positive number of seconds, got {wait_budget!r}")
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    ingest = IngestHandler(state, max_body=max_body, token=token, wait_budget=wait_budget, coalesce=group_single)
    register_actor_tree(state.registry, state.tree)
    query_apis = getattr(state, "query_apis", None)

    async def health(request: web.Request) -> web.Response:
        return _json(health_report(state))

    async def ready(request: web.Request) -> web.Response:
        status, body = readiness(state)
        return _json(body, status)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(state.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def openapi(request: web.Request) -> web.Response:
        ingest.refresh()
        document = build_openapi((r.endpoint for r in ingest._routes.values()), secured=ingest.token is not None)
        if query_apis is not None:
            document["paths"].update(query_apis.openapi_paths())
        document["paths"].update(extra_paths)
        return _json(document)

    async def actors(request: web.Request) -> web.Response:
        if not ingest.authorized(request):
            return error_response(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        return _json(state.tree())

    # auto_decompress=False: the handler gunzips itself, bounded by max_body, and answers 415
    # for encodings it does not take (aiohttp would answer 400 before the handler runs).
    app = web.Application(client_max_size=max_body, handler_args={"auto_decompress": False})
    app[STATE_KEY] = state
    app[HANDLER_KEY] = ingest
    # The paths known now get plain routes (looked up, not matched by a regular expression: a
    # tenth of the CPU of a one-record request); the patterns serve endpoints added later.
    for path, handler in ingest.plain_routes():
        app.router.add_post(path, handler)
    app.router.add_post("/ingest/{name}", ingest.handle)
    app.router.add_post("/ingest/{name}/{version}", ingest.handle)
    for path, handler in (("/health", health), ("/ready", ready), ("/metrics", metrics),
                          ("/openapi.json", openapi), ("/admin/actors", actors)):
        app.router.add_get(path, json_errors(handler))
    if query_apis is not None:
        for path, handler in query_apis.routes():
            app.router.add_get(path, json_errors(handler))
    extra_paths: dict[str, Any] = {}
    if extra_routes is not None:
        extra_paths.update(extra_routes(app) or {})
    add_unmatched_route(app)
    return app


def _budget_from_env() -> float:
    text = os.environ.get(WAIT_BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_BUDGET
    try:
        budget = float(text)
    except ValueError:
        budget = -1.0
    if not budget >= 0:
        raise ValueError(f"{WAIT_BUDGET_ENV} must be 0 or a positive number of seconds, got {text!r}")
    return budget


async def serve(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    reuse_port: bool = False,
    shutdown_timeout: float = 10.0,
    access_log: logging.Logger | None = None,
) -> tuple[web.AppRunner, int]:
    """Starts ``app`` on ``host:port`` and returns ``(runner, actual_port)``.

    ``port=0`` picks a free port. ``reuse_port=True`` lets several processes bind the same port
    (``--workers N``; the kernel spreads connections). The caller owns the runner: ``await
    runner.cleanup()`` stops accepting, lets in-flight requests finish for up to
    ``shutdown_timeout`` seconds, then closes. Access logging is off unless a logger is given
    (it costs more than the ingest path on small bodies).
    """
    runner = web.AppRunner(app, handle_signals=False, access_log=access_log, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=LISTEN_BACKLOG)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    actual = runner.addresses[0][1]
    return runner, actual
