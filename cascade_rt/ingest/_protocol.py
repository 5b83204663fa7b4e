"""The contract between the HTTP layer and whatever makes records durable.

The ingest API never knows how a batch becomes durable (Kafka acks, an Iceberg group commit, a
test double): it talks to an :class:`IngestEndpoint` per API and to a :class:`ServerState` for the
whole server. The runtime implements both; :class:`StaticState` is a plain implementation for
embedding and tests.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import pyarrow as pa
from prometheus_client import CollectorRegistry

T = TypeVar("T")


class Backpressure(Exception):
    """The endpoint could not admit a batch within the admission budget (answered 503).

    Raised by :meth:`IngestEndpoint.submit` only *before* the batch was admitted: a batch that
    raised ``Backpressure`` was not written, not even in part, so the client may retry it.

    Attributes:
        endpoint: the API name.
        retry_after: seconds the client should wait before retrying (the ``Retry-After`` header).
    """

    def __init__(self, endpoint: str, retry_after: float = 1.0, reason: str = "") -> None:
        self.endpoint = endpoint
        self.retry_after = retry_after
        self.reason = reason or f"ingest API {endpoint!r} is at capacity"
        super().__init__(self.reason)


class Unavailable(Exception):
    """The endpoint cannot take work at all (stopping, its sink failed): answered 503.

    Like :class:`Backpressure`, raised only when nothing of the batch was written.

    Attributes:
        endpoint: the API name.
        reason: why, shown to the client.
        retry_after: seconds for the ``Retry-After`` header.
    """

    def __init__(self, endpoint: str, reason: str, retry_after: float = 5.0) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"ingest API {endpoint!r} is unavailable: {reason}")


@runtime_checkable
class IngestEndpoint(Protocol):
    """One ingest API as the HTTP layer sees it.

    Attributes:
        name: the API (pipeline) name; served at ``POST /ingest/{name}``.
        version: when set, served at ``POST /ingest/{name}/{version}`` instead.
        schema: a ``cascade_rt.schema.RecordSchema`` (anything with ``decode(body, format)``,
            ``json_schema()`` and ``name``).
        format: ``"JSON"`` (one object), ``"JSON_ARRAY"`` (an array of objects) or ``None`` for
            both (decoded as ``"AUTO"``). ``Content-Type: application/x-ndjson`` is accepted by
            every endpoint.

    ``submit(batch, *, admission_timeout)`` returns only once the batch is durable. It waits at
    most ``admission_timeout`` seconds for the batch to be *admitted* (mailbox space in the
    sink) and raises :class:`Backpressure` when it was not; an admitted batch is never
    cancelled by the budget: the call then waits for durability however long it takes.
    :func:`admit_within` implements that split. An endpoint whose ``submit`` takes only
    ``batch`` gets no budget from the HTTP layer and must raise ``Backpressure`` by itself.

    Optionally, ``admit(budget)`` takes room for one batch *before* the HTTP layer decodes the
    body (waiting at most ``budget`` seconds, else raising :class:`Backpressure`) and returns a
    ticket that ``submit(batch, ..., ticket=ticket)`` uses instead of admitting again and that the
    HTTP layer gives back with ``release(ticket)`` once the request is answered, whatever happened:
    a refused request then costs no decoding. And ``refusal()`` returns the :class:`Backpressure` (or :class:`Unavailable`) a
    new batch with a budget would get at once, or ``None``: the HTTP layer asks before it reads
    and decodes a body, so that under overload a refused request costs neither (load shedding).

    ``reject(body, errors, fmt)`` receives the invalid records only, for the dead-letter queue:
    ``body`` holds them in the request's framing (``fmt``: a ``JSON_ARRAY`` array or
    ``NDJSON`` lines, each record's original text, in the order of ``errors``; for ``JSON``
    or a body-level error, the whole body) and ``errors[k]`` describes record ``k`` of
    ``body`` while keeping its ``index`` in the original request.
    """

    name: str
    version: str | None
    schema: Any
    format: str | None

    async def submit(self, batch: pa.RecordBatch, *, admission_timeout: float) -> None: ...

    async def reject(self, body: bytes, errors: list[dict[str, Any]], fmt: str) -> None: ...


@runtime_checkable
class ServerState(Protocol):
    """What the HTTP server asks of the runtime.

    Attributes:
        registry: the ``prometheus_client`` registry every component registers its metrics on;
            ``GET /metrics`` renders it.
        shutting_down: true once stopping began; ingest then answers 503.

    Methods:
        endpoints(): the ingest endpoints; asked again when a path is not found, so endpoints
            added later are served.
        ready(): ``(True, "")`` once everything started, else ``(False, why)``.
        tree(): the actor supervision snapshot (``ActorSystem.tree()``), plain JSON.
        health(): extra per-component details merged into ``GET /health`` (``{name: {"status":
            "ok" | "warn" | "fail", ...}}``), e.g. asset freshness.
    """

    registry: CollectorRegistry
    shutting_down: bool

    def endpoints(self) -> Iterable[IngestEndpoint]: ...

    def ready(self) -> tuple[bool, str]: ...

    def tree(self) -> dict[str, Any]: ...

    def health(self) -> dict[str, dict[str, Any]]: ...


class StaticState:
    """A :class:`ServerState` over a fixed set of endpoints, for embedding and tests.

    Starts not ready; call :meth:`set_ready` once the endpoints' sinks run and
    :meth:`begin_shutdown` when stopping.
    """

    def __init__(
        self,
        endpoints: Iterable[IngestEndpoint] = (),
        *,
        registry: CollectorRegistry | None = None,
        tree: Callable[[], dict[str, Any]] | None = None,
        health: Callable[[], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        self._endpoints = list(endpoints)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.shutting_down = False
        self._ready = False
        self._why = "starting"
        self._tree = tree
        self._health = health

    def add(self, endpoint: IngestEndpoint) -> None:
        """Serves one more endpoint."""
        self._endpoints.append(endpoint)

    def endpoints(self) -> list[IngestEndpoint]:
        return list(self._endpoints)

    def set_ready(self) -> None:
        self._ready, self._why = True, ""

    def begin_shutdown(self) -> None:
        self.shutting_down = True
        self._ready, self._why = False, "shutting down"

    def ready(self) -> tuple[bool, str]:
        return self._ready, self._why

    def tree(self) -> dict[str, Any]:
        if self._tree is None:
            return {"name": "root", "path": "root", "kind": "root", "state": "running", "children": []}
        return self._tree()

    def health(self) -> dict[str, dict[str, Any]]:
        return {} if self._health is None else self._health()


async def admit_within(budget: float, admit: Callable[[], Awaitable[T]], *, endpoint: str) -> T:
    """Runs ``admit()`` (e.g. a blocking ``ref.tell``) for at most ``budget`` seconds.

    This is the admission half of :meth:`IngestEndpoint.submit`: the caller awaits durability
    afterwards, outside any budget.

    Raises:
        Backpressure: ``admit()`` did not finish in time; it was cancelled before admitting
            anything (the caller's mailbox guarantees a cancelled ``tell`` enqueued nothing).
    """
    with anyio.move_on_after(budget) as scope:
        return await admit()
    if scope.cancelled_caught:
        raise Backpressure(endpoint, retry_after=max(1.0, math.ceil(budget)))
    raise AssertionError("unreachable")  # pragma: no cover


def accepts_admission_timeout(endpoint: IngestEndpoint) -> bool:
    """Whether ``endpoint.submit`` takes the ``admission_timeout`` keyword."""
    try:
        params = inspect.signature(endpoint.submit).parameters
    except (TypeError, ValueError):
        return False
    return "admission_timeout" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
