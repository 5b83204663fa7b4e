"""Typed configuration for tables, streams, ingest APIs, DLQs and pipelines.

Every config is a ``msgspec.Struct`` that also accepts the plain dicts the Moose documents write
(``{"order_by_fields": ["id"], "deduplicate": True}``). Unknown keys and wrong types fail at
declaration, naming the definition and the key.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Literal, TypeVar

import msgspec

from ._engines import engine_columns, engine_deduplicates

IngestFormat = Literal["JSON", "JSON_ARRAY"]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
"""Streams keep records for 7 days unless ``retention_period`` says otherwise (Moose's default)."""


class OlapConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An Iceberg table: sort order, dedup on the key, partitioning, retention and group-commit settings.

    ``engine=ReplacingMergeTreeEngine(ver=..., is_deleted=...)`` upserts on the key by version
    (see ``ReplacingMergeTreeEngine``). ``ttl`` is row retention, a ClickHouse TTL expression
    (``"timestamp + INTERVAL 90 DAY"``, ``"timestamp + toIntervalDay(90)"``, a trailing ``DELETE``
    allowed): the table's writer deletes rows whose column plus the interval has passed, at its
    next TTL pass (every ``cascade.ttl.interval-ms``, default a minute), as ClickHouse does at its
    next TTL merge. Other TTL forms fail at declaration, naming what is accepted.

    Group commit: a commit holds every write waiting for it; it happens when ``commit_rows`` rows
    wait, ``commit_interval`` seconds after the first of them, or as soon as ``min_commit_interval``
    seconds have passed since the previous commit began (``None``: only by rows and time).
    """

    order_by_fields: list[str] = []
    deduplicate: bool = False
    partition_by: Any = []
    namespace: str = "default"
    commit_rows: int = 100_000
    commit_interval: float = 1.0
    min_commit_interval: float | None = 0.05
    version: str | None = None
    metadata: dict[str, Any] | None = None
    engine: Any = None
    life_cycle: Any = None
    ttl: str | None = None
    order_by_expression: str | None = None
    sample_by_expression: str | None = None
    primary_key_expression: str | None = None
    settings: dict[str, str] | None = None
    cluster: str | None = None
    database: str | None = None
    indexes: list[Any] = []
    projections: list[Any] = []

    def __post_init__(self) -> None:
        # Moose's engine decides append or upsert; `deduplicate` is the seed's spelling of the same.
        if self.engine is not None and engine_deduplicates(self.engine, owner="OlapConfig"):
            self.deduplicate = True
        if self.ttl is not None:
            from ..table import parse_ttl

            try:
                parse_ttl(self.ttl)
            except ValueError as exc:
                raise ValueError(f"OlapConfig: {exc}") from None
        if isinstance(self.partition_by, str):
            self.partition_by = [partition_from_expression(self.partition_by)]
        elif self.partition_by is None:
            self.partition_by = []
        if self.order_by_expression is not None:
            self.order_by_fields = order_by_from_expression(self.order_by_expression)
            self.order_by_expression = None
        for name, instead in _UNSUPPORTED_OLAP.items():
            if getattr(self, name):
                raise ValueError(f"OlapConfig: `{name}` is ClickHouse-only and not supported on Iceberg tables; {instead}")

    @property
    def version_column(self) -> str | None:
        """The engine's ``ver`` field, if any."""
        return engine_columns(self.engine)[0]

    @property
    def deleted_column(self) -> str | None:
        """The engine's ``is_deleted`` field, if any."""
        return engine_columns(self.engine)[1]


class StreamConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A stream: partitions (``parallelism``), retention in seconds and an optional destination table."""

    parallelism: int = 1
    retention_period: int = DEFAULT_RETENTION_SECONDS
    destination: Any = None
    version: str | None = None
    metadata: dict[str, Any] | None = None
    life_cycle: Any = None
    default_dead_letter_queue: Any = None
    schema_config: Any = None

    def __post_init__(self) -> None:
        if self.schema_config is not None:
            raise ValueError(
                "StreamConfig: `schema_config` (a Kafka schema registry) is not supported; streams carry "
                "JSON checked against the stream's schema"
            )


class IngestConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An HTTP ingest API: its destination stream (or table) and accepted body format."""

    destination: Any = None
    format: IngestFormat | None = None
    version: str | None = None
    metadata: dict[str, Any] | None = None
    dead_letter_queue: Any = None
    path: str | None = None
    life_cycle: Any = None

    def __post_init__(self) -> None:
        if self.path is not None:
            raise ValueError(
                f"IngestConfig: a custom `path` ({self.path!r}) is not supported; ingest APIs answer on "
                "/ingest/{name} (and /ingest/{name}/{version})"
            )


class DeadLetterQueueConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A dead-letter queue: a stream of records that failed, with their errors."""

    retention_period: int = DEFAULT_RETENTION_SECONDS
    version: str | None = None
    metadata: dict[str, Any] | None = None
    # Moose configures a dead-letter queue with a StreamConfig: its keys are accepted too.
    parallelism: int = 1
    destination: Any = None
    life_cycle: Any = None
    default_dead_letter_queue: Any = None
    schema_config: Any = None


class IngestPipelineConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which parts a pipeline creates; each is ``True`` (defaults), ``False`` or its config.

    ``ingest`` is Moose's legacy name of ``ingest_api`` (deprecated there too): given, it becomes
    ``ingest_api`` with a ``DeprecationWarning``. ``life_cycle`` is passed on to the table and stream.
    """

    table: bool | OlapConfig = True
    stream: bool | StreamConfig = True
    ingest_api: bool | IngestConfig = True
    dead_letter_queue: Any = True  # True, False, a DeadLetterQueueConfig or (as in Moose) a StreamConfig
    version: str | None = None
    metadata: dict[str, Any] | None = None
    life_cycle: Any = None
    path: str | None = None
    ingest: Any = None

    def __post_init__(self) -> None:
        if self.ingest is not None:
            warnings.warn(
                "IngestPipelineConfig: `ingest` is deprecated (as in Moose); use `ingest_api`",
                DeprecationWarning,
                stacklevel=3,
            )
            self.ingest_api, self.ingest = self.ingest, None
        if self.path is not None:
            raise ValueError(
                f"IngestPipelineConfig: a custom `path` ({self.path!r}) is not supported; the ingest API "
                "answers on /ingest/{name} (and /ingest/{name}/{version})"
            )


_UNSUPPORTED_OLAP = {
    "sample_by_expression": "sample in the query (DuckDB's USING SAMPLE)",
    "primary_key_expression": "mark key fields with Key[...]",
    "settings": "table properties are set by cascade-rt",
    "cluster": "scale out with streams on Kafka and several `cascade-rt serve` processes",
    "database": "use `namespace`",
    "indexes": "Iceberg prunes files by column metrics",
    "projections": "query the table with DuckDB",
}

_PARTITION_FUNCTIONS = {
    "toyyyymm": "month", "tostartofmonth": "month", "toyyyymmdd": "day", "todate": "day",
    "tostartofday": "day", "toyear": "year", "toyyyy": "year", "tostartofyear": "year",
    "tostartofhour": "hour", "tohour": "hour",
}


def partition_from_expression(expression: str) -> tuple[str, str]:
    """Moose's ``partition_by`` expression as an Iceberg ``(field, transform)`` pair.

    ``"toYYYYMM(ts)"`` → ``("ts", "month")``, ``"toDate(ts)"``/``"toYYYYMMDD(ts)"`` → day,
    ``"toYear(ts)"`` → year, ``"toStartOfHour(ts)"`` → hour, a bare column → identity.

    Raises:
        ValueError: any other expression, naming it.
    """
    text = expression.strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        return (text, "identity")
    match = re.fullmatch(r"([A-Za-z]+)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)", text)
    if match and match.group(1).lower() in _PARTITION_FUNCTIONS:
        return (match.group(2), _PARTITION_FUNCTIONS[match.group(1).lower()])
    raise ValueError(
        f"OlapConfig: partition_by {expression!r} has no Iceberg equivalent; use a column name, "
        "toYYYYMM(col), toDate(col), toYear(col), toStartOfHour(col), or [(field, transform)] pairs"
    )


def order_by_from_expression(expression: str) -> list[str]:
    """Moose's ``order_by_expression`` (``"(a, b)"`` or ``"a, b"``) as field names.

    Raises:
        ValueError: anything but a list of column names (``tuple()`` means no sort order).
    """
    text = expression.strip()
    if text in ("tuple()", "()", ""):
        return []
    inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    names = [part.strip() for part in inner.split(",")]
    if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
        raise ValueError(
            f"OlapConfig: order_by_expression {expression!r} must list column names; use order_by_fields"
        )
    return names


C = TypeVar("C", bound=msgspec.Struct)

# Moose's Python API spells some keys in camelCase in places; accept those spellings too.
_ALIASES = {"ingestApi": "ingest_api", "deadLetterQueue": "dead_letter_queue", "orderByFields": "order_by_fields",
            "lifeCycle": "life_cycle", "partitionBy": "partition_by"}


def coerce_config(config: Any, cls: type[C], *, owner: str) -> C:
    """Returns ``config`` as ``cls``: accepts an instance, a dict, or ``None`` (all defaults).

    Raises:
        TypeError: ``config`` is neither a dict nor a ``cls``.
        ValueError: an unknown key or a value of the wrong type, naming ``owner`` and the key.
    """
    if config is None:
        return cls()
    if isinstance(config, cls):
        return config
    if isinstance(config, msgspec.Struct) and type(config).__name__ in _CROSS and cls.__name__ in _CROSS:
        # A StreamConfig where a dead-letter queue is configured (Moose types DLQs as streams).
        config = {k: getattr(config, k) for k in config.__struct_fields__ if k in cls.__struct_fields__}
    if not isinstance(config, dict):
        raise TypeError(
            f"{owner}: config must be a dict or {cls.__name__}, got {type(config).__name__}"
        )
    data = {_ALIASES.get(k, k): v for k, v in config.items()}
    try:
        # from_attributes lets nested typed configs (OlapConfig inside a pipeline dict) through.
        return msgspec.convert(data, cls, strict=True, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{owner}: invalid config: {_describe(exc, cls)}") from None
    except ValueError as exc:  # a __post_init__ refusing a value: put the owner in front
        raise ValueError(f"{owner}: {str(exc).split(': ', 1)[-1]}") from None


_CROSS = {"StreamConfig", "DeadLetterQueueConfig"}


def _describe(exc: msgspec.ValidationError, cls: type[msgspec.Struct]) -> str:
    text = str(exc)
    if text.startswith("Object contains unknown field") and " - at `$." not in text:
        known = ", ".join(f"`{name}`" for name in cls.__struct_fields__)
        return f"{text.replace('Object contains unknown field', 'unknown key')}; known keys: {known}"
    return text.replace("Object contains unknown field", "unknown key")


def part_config(value: Any, cls: type[C], *, owner: str, part: str) -> C | None:
    """A pipeline part's setting: ``False``/``None`` → absent, ``True`` → defaults, else its config."""
    if value is False or value is None:
        return None
    if value is True:
        return cls()
    return coerce_config(value, cls, owner=f"{owner}: {part}")


def versioned_name(name: str, version: str | None) -> str:
    """The resource name for ``name`` at ``version``: ``Orders`` + ``1.2`` → ``Orders_1_2``."""
    if not version:
        return name
    return f"{name}_{version.replace('.', '_').replace('-', '_')}"
