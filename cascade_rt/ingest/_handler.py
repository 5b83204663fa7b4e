"""``POST /ingest/{name}[/{version}]``: read, decode + validate inline, submit, acknowledge.

Decode and validation run inline in the request handler, not in a pool of actors. Both share
one event loop and ``RecordSchema.decode`` is CPU work that holds the GIL, so a pool adds no
parallelism, only a hop (enqueue, wake-up, reply) per request. ``bench/ingest.py`` measures both
(targets ``own`` and ``pool``, an ``actors.Pool`` of decoders): on 1,000-record bodies they are
equal within noise (decoding dominates: 1.03 M vs 0.96 M records/s), on single-record bodies the
hop costs about 40 % more CPU per request (95 vs 133 µs) and 42 % of the requests/s (5.4 k vs
3.1 k/s). Parallelism comes from processes
instead (``serve(..., reuse_port=True)`` behind ``--workers N``). Backpressure is still carried
by actors: ``submit`` blocks on the sink's bounded mailbox.

One-object bodies that arrive in the same event-loop turn go together (``_ingest_together``):
joined as NDJSON, decoded once and submitted as one batch, each request acknowledged when that
batch is durable. A single record's Arrow batch costs ≈ 50 µs of fixed work, the submit and the
table write a message each: one group pays them once. A body joins only when it starts a JSON
object and holds no line break, so the group decodes as NDJSON one line per body; when the
group's decode reports invalid records or malformed JSON, every member is decoded and answered
alone, so each 400 lists its own records and only they reach the dead-letter queue.

Acknowledgement: 200 ``{"accepted": N}`` is sent only after ``endpoint.submit`` returned, i.e.
once the batch is durable. The wait budget bounds only *admission* (room in the sink): past it
the request gets 503 + ``Retry-After`` and the batch was never admitted, so nothing of it is
written and the client retries it. The budget is short (``DEFAULT_WAIT_BUDGET``) and the line
of waiting requests bounded by the endpoint: under overload a request that will be refused is
refused soon, one that finds the line full (the endpoint's ``refusal()``) before its body is
read, and a body that goes alone takes its room (``admit``) before it is decoded, so that refused
requests hold no connection, body or CPU that the admitted ones need. An admitted batch is never
cancelled by the budget; the request waits until it is durable (a client that hangs up meanwhile
does not cancel it either: aiohttp no longer cancels handlers on disconnect, and the write lives
in the sink actor anyway).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web

from cascade_rt.observe import IngestMetrics

from ._body import BodyError, check_encoding, detect_format, format_for, gunzip, invalid_records
from ._errors import JSON, error_response, internal_error
from ._openapi import ingest_path
from ._protocol import Backpressure, IngestEndpoint, Unavailable, accepts_admission_timeout

log = logging.getLogger("cascade_rt.ingest")


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


def _refused(exc: Exception) -> web.Response:
    """503 with ``Retry-After`` for a batch the endpoint did not admit (nothing of it was written)."""
    if isinstance(exc, Backpressure):
        return error_response(503, exc.reason, headers=_retry_after(exc.retry_after))
    if isinstance(exc, Unavailable):
        return error_response(503, str(exc), headers=_retry_after(exc.retry_after))
    raise TypeError(f"an endpoint's refusal() must return Backpressure, Unavailable or None, got {exc!r}")


_OBJECT_FORMATS = frozenset({"JSON", "AUTO"})
_ALONE = object()
MAX_GROUP = 1024
"""Most one-object bodies decoded and submitted together."""


def _one_line_object(body: bytes) -> bool:
    """Whether ``body`` may join a group: it starts an object and holds no line break, so bodies
    joined with newlines decode as NDJSON one line per body. A line that is not exactly one JSON
    object (``{..},{..}``, ``{..}}``) fails the group's decode, and every body then goes alone."""
    return body[:1] == b"{" and b"\n" not in body and b"\r" not in body


class _Group:
    """One-object bodies decoded and submitted together; ``done`` gets the shared outcome."""

    __slots__ = ("bodies", "done", "size")

    def __init__(self, done: asyncio.Future[Any]) -> None:
        self.bodies: list[bytes] = []
        self.done = done
        self.size = 0

    def add(self, body: bytes) -> None:
        self.bodies.append(body)
        self.size += len(body) + 1


class _Route:
    __slots__ = ("admit", "budget_kw", "endpoint", "group", "metrics", "name", "refusal", "release")

    def __init__(self, endpoint: IngestEndpoint, metrics: IngestMetrics) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.metrics = metrics.pipeline(endpoint.name)
        self.budget_kw = accepts_admission_timeout(endpoint)
        refusal = getattr(endpoint, "refusal", None)
        self.refusal: Callable[[], Exception | None] | None = refusal if callable(refusal) else None
        admit, release = getattr(endpoint, "admit", None), getattr(endpoint, "release", None)
        both = callable(admit) and callable(release) and self.budget_kw
        self.admit: Callable[[float], Awaitable[object]] | None = admit if both else None
        self.release: Callable[[object], None] | None = release if both else None
        self.group: _Group | None = None


class IngestHandler:
    """The ingest request handler over a server state (see the module docstring for the contract)."""

    def __init__(self, state: Any, *, max_body: int, token: str | None, wait_budget: float,
                 coalesce: bool = True, max_group: int = MAX_GROUP) -> None:
        self.state = state
        self.coalesce = coalesce
        self.max_group = max_group
        self.max_body = max_body
        self.token = token.encode() if token else None
        self.wait_budget = wait_budget
        self.metrics = IngestMetrics.on(state.registry)
        self._routes: dict[tuple[str, str | None], _Route] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-reads ``state.endpoints()``; done again whenever a path is not found."""
        routes: dict[tuple[str, str | None], _Route] = {}
        for endpoint in self.state.endpoints():
            key = (endpoint.name, endpoint.version or None)
            old = self._routes.get(key)
            routes[key] = old if old is not None and old.endpoint is endpoint else _Route(endpoint, self.metrics)
        self._routes = routes

    def known_paths(self) -> list[str]:
        return sorted(ingest_path(route.endpoint) for route in self._routes.values())

    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the configured bearer token (constant-time compare)."""
        if self.token is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serves one ingest request on ``/ingest/{name}[/{version}]``."""
        info = request.match_info
        return await self.handle_path(request, (info["name"], info.get("version")))

    def plain_routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        """(path, handler) of each endpoint known now, for routes matched without a regular expression."""

        # A partial, not a closure: one coroutine frame less a request.
        return [(ingest_path(route.endpoint), functools.partial(self.handle_path, key=key))
                for key, route in self._routes.items()]

    async def handle_path(self, request: web.Request, key: tuple[str, str | None]) -> web.StreamResponse:
        """Serves one ingest request for the endpoint ``key`` (name, version)."""
        started = time.perf_counter()
        route = self._routes.get(key)
        if route is None:
            self.refresh()
            route = self._routes.get(key)
            if route is None:
                shown = "/".join(k for k in key if k)
                return error_response(404, f"no ingest API at /ingest/{shown}", known=self.known_paths())
        try:
            response = await self._ingest(request, route)
        except Exception:
            response = internal_error(request)  # JSON, no middleware: see _errors
        route.metrics.latency.observe(time.perf_counter() - started)
        route.metrics.count(response.status)
        return response

    async def _ingest(self, request: web.Request, route: _Route) -> web.StreamResponse:
        if self.token is not None and not self.authorized(request):
            return error_response(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        if self.state.shutting_down:
            return error_response(503, "server is shutting down", headers=_retry_after(5))
        if route.refusal is not None:
            refused = route.refusal()
            if refused is not None:  # shed before the body is read or decoded
                return _refused(refused)
        endpoint = route.endpoint
        headers = request.headers
        try:
            fmt = format_for(headers.get("Content-Type", ""), endpoint.format)
            gzipped = check_encoding(headers.get("Content-Encoding", "").strip().lower())
            length = request.content_length
            if length is not None and length > self.max_body:
                raise BodyError(413, f"body of {length} bytes exceeds the limit of {self.max_body} bytes")
            try:
                body = await request.read()  # bounded by client_max_size (= max_body)
            except web.HTTPRequestEntityTooLarge:
                raise BodyError(413, f"body exceeds the limit of {self.max_body} bytes") from None
            route.metrics.bytes.inc(len(body))
            if gzipped:
                body = gunzip(body, self.max_body)
        except BodyError as exc:
            return error_response(exc.status, exc.message)
        if request.query_string:
            wait = request.query.get("wait", "log")
            if wait not in ("log", "table"):
                return error_response(400, f"query parameter wait must be 'log' or 'table', got {wait!r}")
            if wait == "table":
                return await self._ingest_alone(route, body, fmt, wait="table")
        if fmt in _OBJECT_FORMATS and route.budget_kw and self.coalesce and _one_line_object(body):
            accepted = await self._ingest_together(route, body)
            if accepted is not None:
                return accepted
        return await self._ingest_alone(route, body, fmt)

    async def _ingest_alone(self, route: _Route, body: bytes, fmt: str, *, wait: str = "log") -> web.StreamResponse:
        if route.admit is None or route.release is None:
            return await self._decode_and_submit(route, body, fmt, wait, None)
        try:  # room first: a request refused under overload is never decoded
            ticket = await route.admit(self.wait_budget)
        except (Backpressure, Unavailable) as exc:
            return _refused(exc)
        try:
            return await self._decode_and_submit(route, body, fmt, wait, ticket)
        finally:
            route.release(ticket)

    async def _decode_and_submit(self, route: _Route, body: bytes, fmt: str, wait: str,
                                 ticket: object | None) -> web.StreamResponse:
        endpoint = route.endpoint
        extra = {} if ticket is None else {"ticket": ticket}
        try:
            batch = await self.decode(endpoint, body, fmt)
        except ValueError as exc:
            errors = getattr(exc, "errors", None)
            if not isinstance(errors, list):
                raise
            return await self._invalid(route, body, fmt, errors)
        try:
            if wait != "log":
                try:
                    await cast("Any", endpoint).submit(batch, admission_timeout=self.wait_budget, wait=wait, **extra)
                except ValueError as exc:
                    return error_response(400, str(exc))
            elif route.budget_kw:
                await cast("Any", endpoint).submit(batch, admission_timeout=self.wait_budget, **extra)
            else:  # an endpoint written to the bare ``submit(batch)`` form (see IngestEndpoint)
                await cast("Any", endpoint).submit(batch)
        except (Backpressure, Unavailable) as exc:
            return _refused(exc)
        rows = batch.num_rows
        route.metrics.accepted.inc(rows)
        return web.Response(body=b'{"accepted":%d}' % rows, content_type=JSON)

    async def _ingest_together(self, route: _Route, body: bytes) -> web.Response | None:
        """Ingests a one-object body together with the others that arrive in the same event-loop
        turn: one decode (as NDJSON, one line per body), one submit, one acknowledgement when the
        whole group is durable. Returns None when the body must go alone: the group did not
        decode (each body is then decoded by itself, so its 400 names its own records and only
        they go to the dead-letter queue) or it was the only one."""
        group = route.group
        if group is None or len(group.bodies) >= self.max_group or group.size + len(body) > self.max_body:
            group = route.group = _Group(asyncio.get_running_loop().create_future())
            group.add(body)
            try:
                await asyncio.sleep(0)  # the requests already read in this turn join the group
                if route.group is group:
                    route.group = None
                group.done.set_result(await self._submit_group(route, group.bodies))
            except BaseException as exc:
                if route.group is group:
                    route.group = None
                if not group.done.done():
                    if isinstance(exc, Exception):
                        group.done.set_exception(exc)
                    else:
                        group.done.cancel()
                raise
        else:
            group.add(body)
        outcome = await group.done
        if outcome is _ALONE:
            return None
        if isinstance(outcome, (Backpressure, Unavailable)):
            return _refused(outcome)
        route.metrics.accepted.inc(1)
        return web.Response(body=b'{"accepted":1}', content_type=JSON)

    async def _submit_group(self, route: _Route, bodies: list[bytes]) -> Any:
        """Decodes and submits a group of one-object bodies; the outcome every member answers."""
        if len(bodies) == 1:
            return _ALONE
        endpoint = route.endpoint
        try:
            batch = await self.decode(endpoint, b"\n".join(bodies), "NDJSON")
        except ValueError as exc:
            if isinstance(getattr(exc, "errors", None), list):
                return _ALONE  # some body is invalid: each is decoded (and answered) by itself
            raise
        if batch.num_rows != len(bodies):  # pragma: no cover - one line decodes to one record or fails
            return _ALONE
        try:
            await endpoint.submit(batch, admission_timeout=self.wait_budget)
        except (Backpressure, Unavailable) as exc:
            return exc
        return None

    async def decode(self, endpoint: IngestEndpoint, body: bytes, fmt: str) -> Any:
        """Decodes and validates inline (see the module docstring); a seam for ``bench/ingest.py``."""
        return endpoint.schema.decode(body, fmt)

    async def _invalid(self, route: _Route, body: bytes, fmt: str, errors: list[dict[str, Any]]) -> web.Response:
        body_level = any(e.get("index") is None for e in errors)
        records, resolved = invalid_records(body, fmt, errors)
        try:
            await route.endpoint.reject(records, errors, resolved)
        except Exception:
            log.exception("dead-lettering %d invalid record(s) of ingest API %r failed", len(errors), route.name)
        if body_level:
            message = f"invalid {detect_format(body, fmt)} body; nothing was accepted"
        else:
            route.metrics.rejected.inc(len(errors))
            message = f"{len(errors)} invalid record(s); nothing was accepted"
        return error_response(400, message, details=errors)
