"""``Runtime``: turns the registered declarations into a running tree of supervised actors.

    root ─┬─ dead_letter_queues, tables               (parts declared on their own)
          ├─ pipelines ─── <pipeline> ─┬─ <dlq>      (dead-letter queue)
          │                            ├─ table      (the Iceberg writer, group commit)
          │                            └─ <stream>   (partition workers, Kafka consumer)
          ├─ streams                                 (declared on their own)
          ├─ assets ─┬─ table:<namespace.table>      (one writer per asset table)
          │          └─ scheduler                    (when scheduling is on)
          └─ http                                    (when serving)

Sinks start first and stop last: leaving the runtime stops HTTP (new requests get 503), then the
scheduler, then each pipeline's stream (draining into its table), then its table (a final commit),
then its dead-letter queue.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.to_thread
import pyarrow as pa
from prometheus_client import CollectorRegistry

import actors

from .._registry import Registry, default_registry
from ..observe import IngestMetrics, TableMaintenanceCollector
from ..pipeline import DeadLetterQueue, IngestApi, OlapTable, Stream
from ..stream import DEFAULT_LOG_MAX_BYTES as DEFAULT_MAX_BYTES
from ..stream import KafkaBackend, spawn_dead_letter_queue, spawn_stream
from ..table import TableWriter, committed_positions, open_catalog, query, resolve_home
from ._lag import LogCollector, log_health
from ._sinks import PipelineEndpoint, TableSink
from ._wiring import wire_functions

log = logging.getLogger("cascade_rt.runtime")

KAFKA_ENV = "CASCADE_KAFKA_BOOTSTRAP"
LOG_MAX_BYTES_ENV = "CASCADE_LOG_MAX_BYTES"


class UnknownDefinition(LookupError):
    """No pipeline, ingest API, stream or table has that name; ``.known`` lists those that do."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        listing = ", ".join(self.known) or "none"
        super().__init__(f"no {kind} named {name!r}; known: {listing}")


class Runtime:
    """Runs every registered pipeline, table, stream, API, dead-letter queue and asset.

    ``async with Runtime() as rt:`` starts them without HTTP; ``await rt.serve(host, port)`` adds
    the HTTP server; leaving the block drains everything and commits what is buffered.

    Args:
        home: Where the catalog, warehouse, dlt state and run history live (default ``$CASCADE_HOME``
            or ``./.cascade``).
        registry: The declarations to run (default: everything declared in this process).
        kafka_bootstrap: Put every stream on this Kafka (default ``$CASCADE_KAFKA_BOOTSTRAP``).
        schedule: Run the asset scheduler (``cascade-rt serve`` turns it on); it checks the cron
            schedules every ``schedule_interval`` seconds.
        role: ``"all"``, or ``"ingest"`` for extra ``--workers`` processes that only publish to Kafka.
        commit_rows, commit_interval: Override every table's group-commit limits.
        commit_process: Run each pipeline table's commits in a process of its own (see
            ``TableWriter``), so that their CPU leaves the event loop that serves HTTP alone;
            ``cascade-rt serve`` turns it on.
        log_max_bytes: Bytes each stream's durable log may hold on disk before ingest answers
            503 (default ``$CASCADE_LOG_MAX_BYTES`` or 8 GiB).
        clock: Current aware datetime (asset partitions, freshness); tests inject one.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        registry: Registry | None = None,
        kafka_bootstrap: str | None = None,
        schedule: bool = False,
        role: str = "all",
        commit_rows: int | None = None,
        commit_interval: float | None = None,
        commit_process: bool = False,
        log_max_bytes: int | None = None,
        schedule_interval: float = 30.0,
        shutdown_timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if role not in ("all", "ingest"):
            raise ValueError(f"role must be 'all' or 'ingest', got {role!r}")
        self._home_arg = home
        self.registry = registry if registry is not None else default_registry()
        bootstrap = kafka_bootstrap if kafka_bootstrap is not None else os.environ.get(KAFKA_ENV) or None
        self.kafka = KafkaBackend(bootstrap) if bootstrap else None
        self.schedule = schedule
        self.role = role
        self.commit_rows = commit_rows
        self.commit_interval = commit_interval
        self.commit_process = commit_process
        env_max = os.environ.get(LOG_MAX_BYTES_ENV)
        self.log_max_bytes = log_max_bytes or (int(env_max) if env_max else DEFAULT_MAX_BYTES)
        self.schedule_interval = schedule_interval
        self.shutdown_timeout = shutdown_timeout
        self.clock = clock
        self.metrics_registry = CollectorRegistry()
        self.ingest_metrics = IngestMetrics.on(self.metrics_registry)
        self.metrics_registry.register(LogCollector(lambda: self.streams))
        self.maintenance_counters: dict[str, Any] = {}
        self.metrics_registry.register(TableMaintenanceCollector(lambda: self.maintenance_counters))
        self.home: Path = Path()
        self.catalog: Any = None
        self.system: actors.ActorSystem | None = None
        self.tables: dict[str, TableSink] = {}
        self.streams: dict[str, Any] = {}
        self.dead_letter_queues: dict[str, Any] = {}
        self.endpoints: dict[str, PipelineEndpoint] = {}
        self.assets: Any = None
        self.shutting_down = False
        self._ready = False
        self._stack: AsyncExitStack | None = None
        self._server: Any = None
        self._query_apis: Any = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        self.home = resolve_home(self._home_arg)
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            self.catalog = await anyio.to_thread.run_sync(open_catalog, self.home)
            self.system = await stack.enter_async_context(
                actors.ActorSystem("cascade", shutdown_timeout=self.shutdown_timeout)
            )
            stack.push_async_callback(self._begin_shutdown)
            await self._start_pipelines()
            await self._start_assets()
        except BaseException:
            # No shield here: the stack holds the actor system's task group, whose cancel scope
            # must be exited as it was entered; the system shields its own cleanup.
            await stack.aclose()
            raise
        self._stack = stack
        self._ready = True
        _set_current(self)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        stack, self._stack = self._stack, None
        _set_current(None, only=self)
        for kind in ("stream", "dead_letter_queue", "table"):
            for decl in self.registry.all(kind):
                decl._live = None
        if stack is not None:
            await stack.__aexit__(*exc_info)

    async def _begin_shutdown(self) -> None:
        # Runs first on exit (pushed after the system): refuse new work before anything stops.
        self.shutting_down = True
        self._ready = False
        for endpoint in self.endpoints.values():
            endpoint.closed = True
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    def _require_system(self) -> actors.ActorSystem:
        if self.system is None:
            raise RuntimeError("the runtime is not running; use `async with Runtime() as rt:`")
        return self.system

    # -- pipelines ------------------------------------------------------------------------------

    async def _start_pipelines(self) -> None:
        # Start order = reverse stop order: sinks (dead-letter queues, tables) before what writes
        # into them. Parts declared on their own live under one supervisor per kind, since names
        # are unique per kind only.
        system = self._require_system()
        pipelines = self.registry.all("pipeline")
        owned = {id(p) for pipeline in pipelines for p in pipeline.parts().values() if p is not None}

        async def start_loose(kind: str, group: str) -> None:
            loose = [d for d in self.registry.all(kind) if id(d) not in owned]
            if loose:
                await self._start_parts(loose, await system.spawn(actors.Supervisor, name=group))

        await start_loose("dead_letter_queue", "dead_letter_queues")
        await start_loose("table", "tables")
        if pipelines:
            root = await system.spawn(actors.Supervisor, name="pipelines")
            for pipeline in pipelines:
                sup = await system.spawn(actors.Supervisor, name=pipeline.pipeline_name, parent=root)
                parts = [pipeline.dead_letter_queue, pipeline.table, pipeline.stream]
                await self._start_parts([p for p in parts if p is not None], sup)
        await start_loose("stream", "streams")
        self._wire_transforms()
        for live in (*self.streams.values(), *self.dead_letter_queues.values()):
            live.release_delivery()  # every transform and consumer is wired: deliver from here
        for api in self.registry.all("ingest_api"):
            self._add_endpoint(api)

    async def _start_parts(self, parts: Sequence[Any], parent: actors.ActorRef) -> None:
        # Sinks first: dead-letter queues, then tables, then streams (which write into them).
        order = {DeadLetterQueue: 0, OlapTable: 1, Stream: 2}
        for part in sorted(parts, key=lambda p: next(v for k, v in order.items() if isinstance(p, k))):
            if isinstance(part, DeadLetterQueue):
                await self._start_dlq(part, parent)
            elif isinstance(part, OlapTable):
                if self.role == "all":
                    await self._start_table(part, parent)
            else:
                await self._start_stream(part, parent)

    async def _start_dlq(self, dlq: DeadLetterQueue[Any], parent: actors.ActorRef) -> None:
        self.dead_letter_queues[dlq.queue_name] = await spawn_dead_letter_queue(
            self._require_system(), name=dlq.queue_name, parent=parent,
            retention_period=dlq.config.retention_period, backend=self.kafka,
            consume=self.role == "all",
            log_dir=self.home / "streams" / dlq.queue_name if self.kafka is None else None,
            log_max_bytes=self.log_max_bytes, hold_delivery=True,
        )

    async def _start_table(self, table: OlapTable[Any], parent: actors.ActorRef) -> None:
        cfg = table.config
        schema = table.schema
        identifier = ".".join(table.identifier)
        writer = await self._require_system().spawn(
            TableWriter,
            name="table" if parent.name != "tables" else table.table_name,
            parent=parent,
            catalog=functools.partial(open_catalog, self.home) if self.commit_process else self.catalog,
            identifier=identifier,
            schema=schema.iceberg_schema(),
            key_fields=list(schema.key_fields),
            deduplicate=cfg.deduplicate,
            version_field=cfg.version_column,
            deleted_field=cfg.deleted_column,
            ttl=cfg.ttl,
            column_ttls=table.column_ttls,
            partition_by=list(cfg.partition_by) or None,
            order_by=list(cfg.order_by_fields),
            max_rows=self.commit_rows or cfg.commit_rows,
            max_delay=self.commit_interval or cfg.commit_interval,
            # Fed from a stream's log (or topic), a table commits in large groups (every
            # commit_interval or commit_rows): nothing waits for its commits but ``wait="table"``.
            min_interval=None if self._fed_from_log(table) else cfg.min_commit_interval,
            commit_process=self.commit_process,
            maintenance_counters=self.maintenance_counters,
            # The rows that make a commit fail go to the pipeline's dead-letter queue, if any.
            dead_letter=self._dlq_for(table),
        )
        self.tables[table.table_name] = TableSink(table.table_name, writer, identifier=identifier,
                                                  catalog=self.catalog)

    def _fed_from_log(self, table: OlapTable[Any]) -> bool:
        return any(s.destination is table or s.destination == table.table_name for s in self.registry.all("stream"))

    async def _start_stream(self, stream: Stream[Any], parent: actors.ActorRef) -> None:
        destination = self._table_sink(stream.destination, owner=f"Stream {stream.name!r}")
        dlq = self._dlq_for(stream)
        if self.role != "all" and self.kafka is None:
            raise RuntimeError(f"stream {stream.stream_name!r}: ingest-only workers need Kafka ({KAFKA_ENV})")
        self.streams[stream.stream_name] = await spawn_stream(
            self._require_system(), name=stream.stream_name, schema=stream.schema, parent=parent,
            parallelism=stream.config.parallelism, retention_period=stream.config.retention_period,
            sink=destination, dlq=dlq, backend=self.kafka, consume=self.role == "all",
            log_dir=self.home / "streams" / stream.stream_name if self.kafka is None else None,
            log_max_bytes=self.log_max_bytes, committed=self._committed_reader(stream.destination),
            hold_delivery=True,
        )

    def _committed_reader(self, destination: Any) -> Callable[[], Awaitable[dict[str, int]]] | None:
        """For a worker that only publishes to Kafka: reads the positions the destination table
        has committed from the catalog (what ``wait="table"`` waits for; the consumer is elsewhere)."""
        if destination is None or self.role == "all" or self.kafka is None:
            return None
        decl = destination if isinstance(destination, OlapTable) else self.registry.get("table", str(destination))
        if decl is None:
            raise UnknownDefinition("table", str(destination), self.registry.names("table"))
        identifier = ".".join(decl.identifier)
        catalog = self.catalog

        async def read() -> dict[str, int]:
            table = await anyio.to_thread.run_sync(catalog.load_table, identifier)
            return committed_positions(table)

        return read

    def _table_sink(self, destination: Any, *, owner: str) -> TableSink | None:
        if destination is None or self.role != "all":
            return None
        name = destination.table_name if isinstance(destination, OlapTable) else str(destination)
        sink = self.tables.get(name)
        if sink is None:
            raise UnknownDefinition("table", name, self.tables) from None
        return sink

    def _dlq_for(self, part: Any) -> Any:
        """The dead-letter queue of the pipeline that owns ``part`` (or the only one declared)."""
        for pipeline in self.registry.all("pipeline"):
            if part in (pipeline.stream, pipeline.ingest_api, pipeline.table) and pipeline.dead_letter_queue:
                return self.dead_letter_queues.get(pipeline.dead_letter_queue.queue_name)
        return None

    def _wire_transforms(self) -> None:
        wire_functions(self, self.registry.all("stream"), self.streams, queue=False)
        wire_functions(self, self.registry.all("dead_letter_queue"), self.dead_letter_queues, queue=True)
        for decl in self.registry.all("table"):
            decl._live = self.tables.get(decl.table_name)

    def _add_endpoint(self, api: IngestApi[Any]) -> None:
        destination = api.destination
        if isinstance(destination, Stream):
            target: Any = self.streams[destination.stream_name]
        elif isinstance(destination, OlapTable):
            if self.role != "all":
                raise RuntimeError(
                    f"IngestApi {api.name!r} writes straight to a table; extra --workers need it to go "
                    "through a stream on Kafka"
                )
            target = self.tables[destination.table_name]
        elif isinstance(destination, str) and destination in self.streams:
            target = self.streams[destination]
        elif isinstance(destination, str) and destination in self.tables:
            target = self.tables[destination]
        else:
            raise UnknownDefinition("stream or table", str(destination), [*self.streams, *self.tables])
        dlq_decl = api.config.dead_letter_queue
        dlq = self.dead_letter_queues.get(dlq_decl.queue_name) if dlq_decl is not None else None
        self.endpoints[api.api_name] = PipelineEndpoint(api, target, dlq=dlq, metrics=self.ingest_metrics)

    # -- assets ---------------------------------------------------------------------------------

    async def _start_assets(self) -> None:
        from ..ingestion import AssetRunner, spawn_asset_writer, writer_merge

        assets = self.registry.all("asset")
        if self.role != "all":
            return
        system = self._require_system()
        if assets:
            # Registered before the runner's own metrics, so a scrape refreshes freshness first.
            self.metrics_registry.register(_FreshnessRefresh(self))
        writers: dict[str, actors.ActorRef] = {}
        sup = await system.spawn(actors.Supervisor, name="assets") if assets else None
        for asset in assets:
            # One writer per table: an asset's merge goes through the table's single committer.
            if asset.identifier not in writers:
                writers[asset.identifier] = await spawn_asset_writer(system, asset, catalog=self.catalog, parent=sup)
        self.assets = AssetRunner(
            home=self.home, catalog=self.catalog, metrics=self.metrics_registry, assets=self.registry,
            merge=writer_merge(writers.__getitem__), clock=self.clock,
        )
        if self.schedule and assets:
            from ..ingestion import AssetScheduler

            await system.spawn(AssetScheduler, name="scheduler", parent=sup, runner=self.assets,
                               interval=self.schedule_interval, clock=self.clock)

    async def run_asset(self, name: str, *, partition_date: str | date | None = None,
                        branch: str = "main") -> Any:
        """Runs one asset for ``partition_date`` (default: today) on ``branch``; returns its result."""
        if self.assets is None:
            raise RuntimeError("the runtime is not running (or runs as an ingest-only worker)")
        return await self.assets.run_asset(name, partition_date=partition_date, branch=branch)

    # -- embedding API --------------------------------------------------------------------------

    def endpoint(self, name: str) -> PipelineEndpoint:
        """The ingest endpoint of a pipeline or ingest API called ``name``."""
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            for candidate in self.endpoints.values():
                if candidate.name == name:
                    return candidate
            raise UnknownDefinition("ingest API", name, self.endpoints)
        return endpoint

    async def ingest(self, name: str, records: Iterable[Any], *, wait: str = "log") -> int:
        """Validates ``records`` (dicts or schema instances) and returns once they are durable.

        ``name`` is a pipeline or ingest API (records go to the dead-letter queue when invalid), a
        stream or a table. Durable means synced to the stream's log (``wait="log"``, the
        default), or, with ``wait="table"``, committed to the table the stream feeds, so that a
        query right after sees them. Writes straight to a table always wait for its commit.

        Raises:
            ValidationError: a record is invalid (the whole call is rejected; the invalid records go
                to the pipeline's dead-letter queue).
            UnknownDefinition: nothing has that name.
        """
        from ..schema import ValidationError

        self._require_system()
        records = list(records)
        target: Any
        try:
            endpoint = self.endpoint(name)
        except UnknownDefinition:
            endpoint = None
        if endpoint is not None:
            try:
                batch = endpoint.schema.decode_records(records)
            except ValidationError as exc:
                await endpoint.reject_records(records, exc.errors)
                raise
            await endpoint.submit(batch, wait=wait)
            return cast("int", batch.num_rows)
        if name in self.streams:
            target = self.streams[name]
            batch = target.schema.decode_records(records)
            await target.publish(batch, wait=wait)
            return cast("int", batch.num_rows)
        decl = self.registry.get("table", name)
        if decl is not None and name in self.tables:
            batch = decl.schema.decode_records(records)
            await self.tables[name](batch)
            return cast("int", batch.num_rows)
        raise UnknownDefinition("pipeline, ingest API, stream or table", name,
                                [*self.endpoints, *self.streams, *self.tables])

    async def flush(self) -> None:
        """Makes everything ingested so far visible: waits until every stream's log has been
        committed to its table and run through its transforms and consumers (again while a
        transform adds to another stream), then commits what every table writer has buffered."""
        for _ in range(100):
            moved = [await stream.settle() for stream in self.streams.values()]
            if not any(moved):
                break
        for sink in self.tables.values():
            await sink.flush()

    def query(self, sql: str) -> pa.Table:
        """Runs ``sql`` with DuckDB over the catalog's tables; returns Arrow."""
        return query(self.catalog, sql)

    def query_apis(self) -> Any:
        """The HTTP handler of the declared query APIs (``GET /api/...``), made on first use.

        Its query engine caches each table's scan per snapshot, for as long as the runtime runs.
        """
        if self._query_apis is None:
            from ..api import ApiHandler, QueryEngine

            self._query_apis = ApiHandler(self.registry, QueryEngine(self.catalog))
        return self._query_apis

    def table(self, name: str, *, branch: str = "main") -> pa.Table:
        """Reads a table (``name`` or ``namespace.name``) as Arrow."""
        return read_table(_identifier(name), branch=branch, catalog=self.catalog)

    async def compact(self, name: str) -> Any:
        """Compacts a table now (see ``cascade_rt.table.compact``); returns its ``CompactionResult``.

        A table this runtime writes is compacted by its writer, in its commit queue (after what is
        buffered, never conflicting with its writes); any other table of the catalog directly.
        """
        sink = self._sink_of(name)
        if sink is not None:
            return await sink.maintain("compact")
        from ..table import compact

        identifier = _identifier(name)
        return await anyio.to_thread.run_sync(lambda: compact(self.catalog.load_table(identifier)))

    async def expire_rows(self, name: str) -> Any:
        """Runs a TTL pass on a table this runtime writes now, in its writer's commit queue (the
        writer runs one every ``cascade.ttl.interval-ms`` anyway); returns its ``TtlResult``.

        Raises:
            KeyError: no table of this runtime has that name.
        """
        sink = self._sink_of(name)
        if sink is None:
            raise KeyError(f"no table {name!r} is written by this runtime; tables: {', '.join(self.tables)}")
        return await sink.maintain("expire_rows")

    async def table_stats(self, name: str) -> Any:
        """The ``TableStats`` of a table (files, small files, delete files, manifests, snapshots,
        bytes, last maintenance), read from the catalog."""
        from ..table import table_stats

        identifier = _identifier(name)
        return await anyio.to_thread.run_sync(lambda: table_stats(self.catalog.load_table(identifier)))

    def _sink_of(self, name: str) -> TableSink | None:
        wanted = ".".join(_identifier(name))
        for sink in self.tables.values():
            if sink.identifier == wanted or sink.name == name:
                return sink
        return None

    def tree(self) -> dict[str, Any]:
        """The supervision tree snapshot (plain JSON)."""
        return self._require_system().tree()

    # -- HTTP -----------------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 4000, *, reuse_port: bool = False) -> int:
        """Starts the HTTP server (ingest, health, metrics, OpenAPI, admin); returns the bound port."""
        from ._http import start_http

        if self._server is not None:
            raise RuntimeError("the runtime already serves HTTP")
        self._server = await start_http(self, host, port, reuse_port=reuse_port)
        return int(self._server.port)

    # -- ServerState ----------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        if self.shutting_down:
            return False, "shutting down"
        return (True, "") if self._ready else (False, "starting")

    def health(self) -> dict[str, dict[str, Any]]:
        """For ``GET /health``: each stream's log and its table's lag (see ``_lag``), and each
        asset's freshness (``fresh`` → ok, ``warn``, ``fail``)."""
        out = log_health(self.streams)
        if self.assets is None:
            return out
        status = {"fresh": "ok", "unknown": "ok", "warn": "warn", "fail": "fail"}
        out.update({
            f"asset:{state.asset}": {**state.to_dict(), "freshness": state.status, "status": status[state.status]}
            for state in self.assets.freshness()
        })
        return out


class _FreshnessRefresh:
    """A Prometheus collector that exports nothing itself: on each scrape it recomputes the assets'
    freshness, so ``cascade_asset_freshness`` is current rather than as of the last run."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterable[Any]:
        if self._runtime.assets is not None:
            self._runtime.assets.freshness()
        return []


def _identifier(name: str) -> tuple[str, str]:
    if "." in name:
        namespace, _, table = name.partition(".")
        return namespace, table
    return "default", name


def read_table(identifier: tuple[str, str] | str, *, branch: str = "main", home: Any = None,
               catalog: Any = None) -> pa.Table:
    """Reads a whole Iceberg table (on ``branch``) from the runtime's catalog as Arrow."""
    from ..table import read_branch

    if isinstance(identifier, str):
        identifier = _identifier(identifier)
    if catalog is None:
        current = _current
        catalog = current.catalog if current is not None and home is None else open_catalog(resolve_home(home))
    table = catalog.load_table(identifier)
    return read_branch(table, branch)


_current: Runtime | None = None


def _set_current(runtime: Runtime | None, *, only: Runtime | None = None) -> None:
    global _current
    if only is None or _current is only:
        _current = runtime
