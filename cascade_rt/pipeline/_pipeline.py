"""``IngestPipeline``: a table, a stream, an ingest API and a dead-letter queue in one declaration."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import msgspec

from .._registry import Registry
from ._config import (
    DeadLetterQueueConfig,
    IngestConfig,
    IngestPipelineConfig,
    OlapConfig,
    StreamConfig,
    part_config,
)
from ._declare import Declaration
from ._parts import DeadLetterQueue, IngestApi, OlapTable, Stream

T = TypeVar("T")


def _bind(kind: Any, schema: Any) -> Any:
    """``kind[schema]`` for a schema known only at run time."""
    return kind[schema]


class IngestPipeline(Declaration[T], Generic[T]):
    """Creates and wires the parts the config asks for, as the Moose document describes.

    1. ``table`` → an ``OlapTable`` (``True`` = defaults).
    2. ``stream`` → a ``Stream`` whose destination is the table, if there is one.
    3. ``ingest_api`` → an ``IngestApi`` whose destination is the stream, or the table when there is no
       stream.
    4. ``dead_letter_queue`` (on by default) → a ``DeadLetterQueue`` for records that fail validation,
       transforms or consumers.

    A versioned pipeline (``"version": "1.1"``) names its parts ``<name>_1_1`` and serves
    ``/ingest/<name>/1.1``. The parts are exposed as ``.table``, ``.stream``, ``.ingest_api`` and
    ``.dead_letter_queue`` (``None`` when not configured).
    """

    kind = "pipeline"

    table: OlapTable[T] | None
    stream: Stream[T] | None
    ingest_api: IngestApi[T] | None
    dead_letter_queue: DeadLetterQueue[T] | None

    def __init__(self, name: str, config: IngestPipelineConfig | dict[str, Any] | None = None, *,
                 registry: Registry | None = None) -> None:
        self._declare(name, registry, config, IngestPipelineConfig)
        owner = f"IngestPipeline {name!r}"
        cfg = self.config
        version = cfg.version
        if self._registry.get("pipeline", self.pipeline_name) is not None:
            # Fail before any part registers, so a clash leaves nothing half-declared behind.
            self._register()
        schema = self.schema_class
        table_cfg = part_config(cfg.table, OlapConfig, owner=owner, part="table")
        stream_cfg = part_config(cfg.stream, StreamConfig, owner=owner, part="stream")
        api_cfg = part_config(cfg.ingest_api, IngestConfig, owner=owner, part="ingest_api")
        dlq_cfg = part_config(cfg.dead_letter_queue, DeadLetterQueueConfig, owner=owner, part="dead_letter_queue")

        def inherit(part_cfg: Any, **extra: Any) -> Any:
            changes = {"version": part_cfg.version or version, **extra}
            if cfg.life_cycle is not None and getattr(part_cfg, "life_cycle", None) is None:
                changes["life_cycle"] = cfg.life_cycle
            if cfg.metadata is not None and part_cfg.metadata is None:
                changes["metadata"] = cfg.metadata
            return msgspec.structs.replace(part_cfg, **changes)

        reg = self._registry
        self.dead_letter_queue = self.table = self.stream = self.ingest_api = None
        try:
            self.dead_letter_queue = (
                _bind(DeadLetterQueue, schema)(f"{name}DeadLetterQueue", inherit(dlq_cfg), registry=reg)
                if dlq_cfg is not None else None
            )
            self.table = _bind(OlapTable, schema)(name, inherit(table_cfg), registry=reg) if table_cfg is not None else None
            self.stream = (
                _bind(Stream, schema)(name, inherit(
                    stream_cfg, destination=stream_cfg.destination or self.table,
                    default_dead_letter_queue=stream_cfg.default_dead_letter_queue or self.dead_letter_queue,
                ), registry=reg)
                if stream_cfg is not None else None
            )
            if api_cfg is not None:
                destination = api_cfg.destination or self.stream or self.table
                if destination is None:
                    raise ValueError(f"{owner}: ingest_api needs a stream or a table to write to")
                self.ingest_api = _bind(IngestApi, schema)(
                    name,
                    inherit(api_cfg, destination=destination,
                            dead_letter_queue=api_cfg.dead_letter_queue or self.dead_letter_queue),
                    registry=reg,
                )
            else:
                self.ingest_api = None
        except BaseException:
            self._forget_parts()
            raise
        self._register()

    @property
    def pipeline_name(self) -> str:
        return self.resource_name

    @property
    def version(self) -> str | None:
        return cast("str | None", self.config.version)

    @property
    def metadata(self) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self.config.metadata)

    def get_table(self) -> OlapTable[T]:
        """The pipeline's table. Raises ``ValueError`` when it has none (``table=False``)."""
        return cast("OlapTable[T]", self._part("table", self.table))

    def get_stream(self) -> Stream[T]:
        """The pipeline's stream. Raises ``ValueError`` when it has none (``stream=False``)."""
        return cast("Stream[T]", self._part("stream", self.stream))

    def get_ingest_api(self) -> IngestApi[T]:
        """The pipeline's ingest API. Raises ``ValueError`` when it has none (``ingest_api=False``)."""
        return cast("IngestApi[T]", self._part("ingest_api", self.ingest_api))

    def get_dead_letter_queue(self) -> DeadLetterQueue[T]:
        """The pipeline's dead-letter queue. Raises ``ValueError`` when it has none."""
        return cast("DeadLetterQueue[T]", self._part("dead_letter_queue", self.dead_letter_queue))

    def _part(self, role: str, part: Any) -> Any:
        if part is None:
            raise ValueError(f"IngestPipeline {self.name!r} has no {role}; declare it with {role}=True")
        return part

    def _forget_parts(self) -> None:
        for part in (self.dead_letter_queue, self.table, self.stream, self.ingest_api):
            if part is not None:
                part._forget()

    def parts(self) -> dict[str, Any]:
        """The created parts by role, for ``cascade-rt ls`` and the runtime."""
        return {
            "table": self.table,
            "stream": self.stream,
            "ingest_api": self.ingest_api,
            "dead_letter_queue": self.dead_letter_queue,
        }

