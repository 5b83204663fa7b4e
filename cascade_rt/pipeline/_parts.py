"""The declarations users write: ``OlapTable``, ``Stream``, ``IngestApi``, ``DeadLetterQueue``.

They only describe; the ``Runtime`` turns them into supervised actors when it starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, cast, get_args, get_origin

import msgspec

from .._registry import Registry
from ._config import DeadLetterQueueConfig, IngestConfig, OlapConfig, StreamConfig
from ._declare import Declaration
from ._moose import (
    Columns,
    ConsumerConfig,
    InsertOptions,
    InsertResult,
    RoutedMessage,
    TransformConfig,
    insert_records,
)

T = TypeVar("T")
U = TypeVar("U")


class OlapTable(Declaration[T], Generic[T]):
    """An Apache Iceberg table written by one writer actor (group commit, optional dedup on the key).

    ``OlapTable[Orders]("orders", {"order_by_fields": ["id"], "deduplicate": True})`` creates the table
    ``default.orders`` in the runtime's catalog when the runtime starts.
    """

    kind = "table"

    def __init__(self, name: str, config: OlapConfig | dict[str, Any] | None = None, *,
                 registry: Registry | None = None) -> None:
        self._declare(name, registry, config, OlapConfig)
        self._check_fields()
        self._register()

    @property
    def table_name(self) -> str:
        """The Iceberg table's name: the declared name, versioned (``Orders_1_2``)."""
        return self.resource_name

    @property
    def identifier(self) -> tuple[str, str]:
        """``(namespace, table)`` in the Iceberg catalog."""
        return (self.config.namespace, self.table_name)

    def _schema_options(self) -> dict[str, Any]:
        return {}

    def _check_fields(self) -> None:
        names = {f.name for f in self.schema.fields}
        for field in self.config.order_by_fields:
            if field not in names:
                raise ValueError(
                    f"OlapTable {self.name!r}: order_by_fields names `{field}`, which is not a field of "
                    f"{self.schema.name} (fields: {', '.join(sorted(names))})"
                )
        for field, _transform in self.config.partition_by:
            if field not in names:
                raise ValueError(
                    f"OlapTable {self.name!r}: partition_by names `{field}`, which is not a field of "
                    f"{self.schema.name}"
                )
        if self.config.deduplicate and not self.schema.key_fields:
            raise ValueError(
                f"OlapTable {self.name!r}: deduplicate=True needs a key; mark one field of "
                f"{self.schema.name} as Key[str] or Key[int]"
            )
        self._check_engine_fields()

    def _check_engine_fields(self) -> None:
        """``ver``/``is_deleted`` name required fields of fitting types; ``ttl`` a date or datetime field."""
        import pyarrow as pa

        fields = {f.name: f for f in self.schema.fields}
        cfg = self.config
        checks: list[tuple[str, str | None, str, Callable[[Any], bool], bool]] = [
            ("ReplacingMergeTreeEngine(ver=...)", cfg.version_column, "an integer, date or datetime",
             lambda t: pa.types.is_integer(t) or pa.types.is_date(t) or pa.types.is_timestamp(t), True),
            ("ReplacingMergeTreeEngine(is_deleted=...)", cfg.deleted_column, "an integer (UInt8) or bool",
             lambda t: pa.types.is_integer(t) or pa.types.is_boolean(t), True),
        ]
        from ..table import parse_ttl

        def time_field(t: Any) -> bool:
            return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))

        if cfg.ttl is not None:
            checks.append(("ttl", parse_ttl(cfg.ttl).column, "a date or datetime", time_field, False))
        self.column_ttls: dict[str, str] = {}
        for field in self.schema.fields:
            expression = _column_ttl(field.annotation)
            if expression is None:
                continue
            where = f"ClickHouseTTL on `{field.name}`"
            try:
                checks.append((where, parse_ttl(expression).column, "a date or datetime", time_field, False))
            except ValueError as exc:
                raise ValueError(f"OlapTable {self.name!r}: {where}: {exc}") from None
            clearable = (pa.types.is_string(field.arrow_type) or pa.types.is_large_string(field.arrow_type)
                         or pa.types.is_integer(field.arrow_type) or pa.types.is_floating(field.arrow_type)
                         or pa.types.is_boolean(field.arrow_type))
            if field.is_key or (field.required and not clearable):
                why = "a key field is never cleared" if field.is_key else (
                    "make it Optional (cleared to None) or a str, int, float or bool field (cleared to '', 0 or False)")
                raise ValueError(f"OlapTable {self.name!r}: {where}: {why}")
            self.column_ttls[field.name] = expression
        for what, name, kind, fits, required in checks:
            if name is None:
                continue
            field = fields.get(name)
            if field is None:
                raise ValueError(
                    f"OlapTable {self.name!r}: {what} names `{name}`, which is not a field of "
                    f"{self.schema.name} (fields: {', '.join(sorted(fields))})"
                )
            if not fits(field.arrow_type):
                raise ValueError(f"OlapTable {self.name!r}: {what} field `{name}` must be {kind}, not {field.arrow_type}")
            if required and not field.required:
                raise ValueError(
                    f"OlapTable {self.name!r}: {what} field `{name}` must not be Optional (a row needs a value there)"
                )

    @property
    def cols(self) -> Columns:
        """The table's columns, for query placeholders: ``table.cols.amount`` or ``table.cols["amount"]``."""
        return Columns(self.name, [f.name for f in self.schema.fields])

    @property
    def columns(self) -> Columns:
        """Same as :attr:`cols`."""
        return self.cols

    async def insert(self, records: Any, options: InsertOptions | None = None) -> InsertResult[Any]:
        """Validates ``records`` (dicts or schema instances) and writes them; returns once committed.

        ``options.strategy`` is Moose's: ``"fail-fast"`` (any invalid record rejects the whole call,
        raising ``ValidationError``), ``"discard"`` (invalid records are dropped) or ``"isolate"``
        (as discard, and the result lists them in ``failed_records``). ``allow_errors`` /
        ``allow_errors_ratio`` bound how many may be invalid before the call fails. Unlike Moose's,
        it is a coroutine: ``await table.insert(rows)``; the table must be running.

        Raises:
            RuntimeError: no runtime runs this table.
            ValidationError: fail-fast with an invalid record, or past the error bounds.
        """
        sink = getattr(self, "_live", None)
        if sink is None:
            raise RuntimeError(f"OlapTable {self.name!r}: insert() needs a running runtime "
                               "(`async with cascade_rt.Runtime():` or `cascade-rt serve`)")
        return await insert_records(self.schema, sink, records, options or InsertOptions(), owner=f"OlapTable {self.name!r}")

    def to_arrow(self, *, branch: str = "main", home: Any = None) -> Any:
        """Reads the whole table (on ``branch``) as a ``pyarrow.Table``: from the catalog of the
        runtime running it, or else from the catalog under ``home`` (default ``$CASCADE_HOME``)."""
        live = getattr(self, "_live", None)
        if live is not None and home is None and callable(getattr(live, "read", None)):
            return live.read(branch)
        from ..table import open_catalog, read_branch, resolve_home

        return read_branch(open_catalog(resolve_home(home)).load_table(self.identifier), branch)


def _column_ttl(annotation: Any) -> str | None:
    """The expression of a ``ClickHouseTTL`` in an ``Annotated`` field annotation, if any."""
    from ..schema import ClickHouseTTL

    if get_origin(annotation) is not Annotated:
        return None
    found = [m.expression for m in get_args(annotation)[1:] if isinstance(m, ClickHouseTTL)]
    return found[0] if found else None


class _Transform:
    __slots__ = ("config", "destination", "function", "name")

    def __init__(self, destination: Stream[Any] | None, function: Callable[..., Any], name: str,
                 config: Any = None) -> None:
        self.destination = destination
        self.function = function
        self.name = name
        self.config = config


def _check_callable(owner: str, what: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{owner}: {what} must be a function taking one record, got {type(fn).__name__}")
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return
    if len(params) > 1:
        raise TypeError(f"{owner}: {what} {getattr(fn, '__name__', fn)!r} must take exactly one record")


class Stream(Declaration[T], Generic[T]):
    """A stream of records: ``parallelism`` partitions (routed by key), retention, transforms, consumers.

    In memory by default; on Kafka (one topic per stream) when ``CASCADE_KAFKA_BOOTSTRAP`` is set.
    """

    kind = "stream"

    def __init__(self, name: str, config: StreamConfig | dict[str, Any] | None = None, *,
                 registry: Registry | None = None) -> None:
        self._declare(name, registry, config, StreamConfig)
        if self.config.parallelism < 1:
            raise ValueError(f"Stream {name!r}: parallelism must be at least 1, got {self.config.parallelism}")
        if self.config.retention_period <= 0:
            raise ValueError(
                f"Stream {name!r}: retention_period must be a positive number of seconds, "
                f"got {self.config.retention_period}"
            )
        self.transforms: list[_Transform] = []
        self.consumers: list[_Transform] = []
        self.multi_transform: _Transform | None = None
        self._register()

    @property
    def stream_name(self) -> str:
        """The stream's (and Kafka topic's) name: the declared name, versioned."""
        return self.resource_name

    @property
    def destination(self) -> Any:
        """The destination table (an ``OlapTable`` or its name), if any."""
        return self.config.destination

    def add_transform(self, destination: Stream[U], transformation: Callable[[T], Any],
                      config: TransformConfig | None = None) -> None:
        """Sends each record through ``transformation`` into ``destination``.

        ``transformation`` gets one record (an instance of the schema class) and returns a record, a
        list of records or ``None`` (drop); it may be sync or async. A record it raises on goes to
        ``config.dead_letter_queue`` (else the stream's ``default_dead_letter_queue``, else its
        pipeline's) with the error; the stream goes on. As in Moose, a second transform to the
        same destination with the same ``config.version`` is ignored.
        """
        if not isinstance(destination, Stream):
            raise TypeError(f"Stream {self.name!r}: add_transform needs a destination Stream, "
                            f"got {type(destination).__name__}")
        _check_callable(f"Stream {self.name!r}", "transformation", transformation)
        config = self._with_default_dlq(TransformConfig.coerce(config, owner=f"Stream {self.name!r}"))
        if any(t.destination is destination and t.config.version == config.version for t in self.transforms):
            return
        self.transforms.append(_Transform(destination, transformation, _fn_name(transformation), config))

    def add_consumer(self, consumer: Callable[[T], Any], config: ConsumerConfig | None = None) -> None:
        """Calls ``consumer`` (sync or async) with each record; failures go to the dead-letter queue.

        As in Moose, a second consumer with the same ``config.version`` is ignored.
        """
        _check_callable(f"Stream {self.name!r}", "consumer", consumer)
        config = self._with_default_dlq(ConsumerConfig.coerce(config, owner=f"Stream {self.name!r}"))
        if any(c.config.version == config.version for c in self.consumers):
            return
        self.consumers.append(_Transform(None, consumer, _fn_name(consumer), config))

    def set_multi_transform(self, transformation: Callable[[T], Any]) -> None:
        """Routes each record to several streams: ``transformation`` returns a list of
        ``stream.routed(values)``; each ``values`` (a record, a list or ``None``) goes to its stream.

        One per stream (a second call replaces the first, as in Moose); a record it raises on goes
        to the dead-letter queue.
        """
        _check_callable(f"Stream {self.name!r}", "multi-transform", transformation)
        self.multi_transform = _Transform(None, transformation, _fn_name(transformation),
                                          self._with_default_dlq(TransformConfig()))

    def routed(self, values: Any) -> RoutedMessage:
        """``values`` addressed to this stream, for a multi-transform's result."""
        return RoutedMessage(self, values)

    def has_consumers(self) -> bool:
        return bool(self.consumers)

    async def send(self, values: Any) -> None:
        """Publishes ``values`` (a record, a list of records or ``None``) to the running stream.

        Unlike Moose's, it is a coroutine (``await stream.send(records)``): it returns once the
        records are published (in memory: delivered to the table, transforms and consumers).

        Raises:
            RuntimeError: no runtime runs this stream.
            ValidationError: a record does not fit the schema (nothing is published).
        """
        live = getattr(self, "_live", None)
        if live is None:
            raise RuntimeError(f"Stream {self.name!r}: send() needs a running runtime "
                               "(`async with cascade_rt.Runtime():` or `cascade-rt serve`)")
        records = [] if values is None else list(values) if isinstance(values, list | tuple) else [values]
        if records:
            await live.publish_records(records)

    def _with_default_dlq(self, config: Any) -> Any:
        default = self.config.default_dead_letter_queue
        if config.dead_letter_queue is None and default is not None:
            config = msgspec.structs.replace(config, dead_letter_queue=default)
        return config


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


class IngestApi(Declaration[T], Generic[T]):
    """``POST /ingest/{name}`` (``/ingest/{name}/{version}`` when versioned) into a stream or a table."""

    kind = "ingest_api"

    def __init__(self, name: str, config: IngestConfig | dict[str, Any] | None = None, *,
                 registry: Registry | None = None) -> None:
        self._declare(name, registry, config, IngestConfig)
        self._register()

    @property
    def api_name(self) -> str:
        return self.resource_name

    @property
    def path(self) -> str:
        """The HTTP path this API answers on."""
        if self.config.version:
            return f"/ingest/{self.name}/{self.config.version}"
        return f"/ingest/{self.name}"

    @property
    def destination(self) -> Any:
        return self.config.destination

    @property
    def format(self) -> str | None:
        return cast("str | None", self.config.format)


class DeadLetterQueue(Declaration[T], Generic[T]):
    """A stream of records that failed validation, a transform or a consumer, with their errors."""

    kind = "dead_letter_queue"

    def __init__(self, name: str, config: DeadLetterQueueConfig | dict[str, Any] | None = None, *,
                 registry: Registry | None = None) -> None:
        self._declare(name, registry, config, DeadLetterQueueConfig)
        self.transforms: list[_Transform] = []
        self.consumers: list[_Transform] = []
        self.multi_transform: _Transform | None = None
        self._register()

    @property
    def queue_name(self) -> str:
        return self.resource_name

    def _typed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        from ._dead_letter import DeadLetterModel

        model: Any = DeadLetterModel.__class_getitem__(self.schema_class)

        def typed(letter: Any) -> Any:
            return fn(model.from_letter(letter, self.schema_class))

        typed.__qualname__ = _fn_name(fn)
        return typed

    def add_consumer(self, consumer: Callable[[Any], Any], config: ConsumerConfig | None = None) -> None:
        """Calls ``consumer`` with each dead letter as a ``DeadLetterModel[T]`` (``.as_typed()``
        gives the original record as ``T``). A consumer that raises is counted, never re-queued."""
        _check_callable(f"DeadLetterQueue {self.name!r}", "consumer", consumer)
        config = ConsumerConfig.coerce(config, owner=f"DeadLetterQueue {self.name!r}")
        if any(c.config.version == config.version for c in self.consumers):
            return
        self.consumers.append(_Transform(None, self._typed(consumer), _fn_name(consumer), config))

    def add_transform(self, destination: Stream[U], transformation: Callable[[Any], Any],
                      config: TransformConfig | None = None) -> None:
        """Sends each dead letter (a ``DeadLetterModel[T]``) through ``transformation`` into
        ``destination`` (to retry fixed records, say)."""
        if not isinstance(destination, Stream):
            raise TypeError(f"DeadLetterQueue {self.name!r}: add_transform needs a destination Stream, "
                            f"got {type(destination).__name__}")
        _check_callable(f"DeadLetterQueue {self.name!r}", "transformation", transformation)
        config = TransformConfig.coerce(config, owner=f"DeadLetterQueue {self.name!r}")
        if any(t.destination is destination and t.config.version == config.version for t in self.transforms):
            return
        self.transforms.append(_Transform(destination, self._typed(transformation), _fn_name(transformation), config))

    def set_multi_transform(self, transformation: Callable[[Any], Any]) -> None:
        """As ``Stream.set_multi_transform``, with each dead letter as a ``DeadLetterModel[T]``."""
        _check_callable(f"DeadLetterQueue {self.name!r}", "multi-transform", transformation)
        self.multi_transform = _Transform(None, self._typed(transformation), _fn_name(transformation), TransformConfig())
