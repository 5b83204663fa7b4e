"""Typed configuration for tables, streams, ingest APIs, DLQs and pipelines.

Every config is a ``msgspec.Struct`` that also accepts the plain dicts the Moose documents write
(``{"order_by_fields": ["id"], "deduplicate": True}``). Unknown keys and wrong types fail at
declaration, naming the definition and the key.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

IngestFormat = Literal["JSON", "JSON_ARRAY"]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
"""Streams keep records for 7 days unless ``retention_period`` says otherwise (Moose's default)."""


class OlapConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An Iceberg table: sort order, dedup on the key, partitioning and group-commit settings.

    Group commit: a commit holds every write waiting for it; it happens when ``commit_rows`` rows
    wait, ``commit_interval`` seconds after the first of them, or as soon as ``min_commit_interval``
    seconds have passed since the previous commit began (``None``: only by rows and time).
    """

    order_by_fields: list[str] = []
    deduplicate: bool = False
    partition_by: list[tuple[str, str]] = []
    namespace: str = "default"
    commit_rows: int = 100_000
    commit_interval: float = 1.0
    min_commit_interval: float | None = 0.05
    version: str | None = None
    metadata: dict[str, Any] | None = None


class StreamConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A stream: partitions (``parallelism``), retention in seconds and an optional destination table."""

    parallelism: int = 1
    retention_period: int = DEFAULT_RETENTION_SECONDS
    destination: Any = None
    version: str | None = None
    metadata: dict[str, Any] | None = None


class IngestConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An HTTP ingest API: its destination stream (or table) and accepted body format."""

    destination: Any = None
    format: IngestFormat | None = None
    version: str | None = None
    metadata: dict[str, Any] | None = None
    dead_letter_queue: Any = None


class DeadLetterQueueConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A dead-letter queue: a stream of records that failed, with their errors."""

    retention_period: int = DEFAULT_RETENTION_SECONDS
    version: str | None = None
    metadata: dict[str, Any] | None = None


class IngestPipelineConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which parts a pipeline creates; each is ``True`` (defaults), ``False`` or its config."""

    table: bool | OlapConfig = True
    stream: bool | StreamConfig = True
    ingest_api: bool | IngestConfig = True
    dead_letter_queue: bool | DeadLetterQueueConfig = True
    version: str | None = None
    metadata: dict[str, Any] | None = None


C = TypeVar("C", bound=msgspec.Struct)

# Moose's Python API spells some keys in camelCase in places; accept those spellings too.
_ALIASES = {"ingestApi": "ingest_api", "deadLetterQueue": "dead_letter_queue", "orderByFields": "order_by_fields"}


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
