"""Moose's table engines and lifecycle, mapped onto Iceberg tables.

``engine=None``, ``MergeTreeEngine()`` or ``ClickHouseEngines.MergeTree`` append;
``ReplacingMergeTreeEngine()`` (or ``ClickHouseEngines.ReplacingMergeTree``) upserts on the
schema's ``Key[...]`` fields, last write wins, as ReplacingMergeTree keeps the last inserted row
of a key when it has no ``ver`` column. Every other engine is ClickHouse-only: declaring it fails
with a message naming it and what to use instead.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

__all__ = (
    "AggregatingMergeTreeEngine",
    "ClickHouseEngines",
    "CollapsingMergeTreeEngine",
    "EngineConfig",
    "LifeCycle",
    "MergeTreeEngine",
    "ReplacingMergeTreeEngine",
    "SummingMergeTreeEngine",
    "VersionedCollapsingMergeTreeEngine",
    "engine_deduplicates",
)


class LifeCycle(enum.Enum):
    """How Moose propagates code changes to resources; accepted for portability.

    cascade-rt never drops or rewrites an Iceberg table when code changes (new optional fields are
    added, other changes fail at start), which is ``DELETION_PROTECTED`` whatever is chosen.
    """

    FULLY_MANAGED = "FULLY_MANAGED"
    DELETION_PROTECTED = "DELETION_PROTECTED"
    EXTERNALLY_MANAGED = "EXTERNALLY_MANAGED"


class ClickHouseEngines(enum.Enum):
    """Moose's legacy engine names."""

    MergeTree = "MergeTree"
    ReplacingMergeTree = "ReplacingMergeTree"
    SummingMergeTree = "SummingMergeTree"
    AggregatingMergeTree = "AggregatingMergeTree"
    CollapsingMergeTree = "CollapsingMergeTree"
    VersionedCollapsingMergeTree = "VersionedCollapsingMergeTree"
    GraphiteMergeTree = "GraphiteMergeTree"
    S3Queue = "S3Queue"
    S3 = "S3"
    Buffer = "Buffer"
    Distributed = "Distributed"
    IcebergS3 = "IcebergS3"
    Kafka = "Kafka"
    Merge = "Merge"


class EngineConfig:
    """Base of the engine configurations (as ``moose_lib.blocks.EngineConfig``)."""


@dataclasses.dataclass
class MergeTreeEngine(EngineConfig):
    """Append-only table (Iceberg's default)."""


@dataclasses.dataclass
class ReplacingMergeTreeEngine(EngineConfig):
    """Upsert on the key fields, last write wins.

    ``ver`` and ``is_deleted`` (keep the row with the highest version; drop keys whose newest row
    is marked deleted) are not supported yet: giving either fails at declaration.
    """

    ver: str | None = None
    is_deleted: str | None = None


@dataclasses.dataclass
class SummingMergeTreeEngine(EngineConfig):
    columns: list[str] | None = None


@dataclasses.dataclass
class AggregatingMergeTreeEngine(EngineConfig):
    pass


@dataclasses.dataclass
class CollapsingMergeTreeEngine(EngineConfig):
    sign: str = "sign"


@dataclasses.dataclass
class VersionedCollapsingMergeTreeEngine(EngineConfig):
    sign: str = "sign"
    ver: str = "ver"


def engine_deduplicates(engine: Any, *, owner: str) -> bool:
    """Whether ``engine`` means upsert on the key (True) or append (False).

    Raises:
        ValueError: a ClickHouse-only engine, or ``ReplacingMergeTreeEngine`` with ``ver`` or
            ``is_deleted``, naming the engine and what to use instead.
    """
    if engine is None or isinstance(engine, MergeTreeEngine) or engine is ClickHouseEngines.MergeTree:
        return False
    if engine is ClickHouseEngines.ReplacingMergeTree:
        return True
    if isinstance(engine, ReplacingMergeTreeEngine):
        for name in ("ver", "is_deleted"):
            if getattr(engine, name) is not None:
                raise ValueError(
                    f"{owner}: ReplacingMergeTreeEngine({name}=...) is not supported on Iceberg tables; "
                    "use ReplacingMergeTreeEngine() (upsert on the Key[...] fields, last write wins)"
                )
        return True
    label = engine.name if isinstance(engine, ClickHouseEngines) else type(engine).__name__
    raise ValueError(
        f"{owner}: engine {label} is ClickHouse-only and has no Iceberg equivalent; use engine=None "
        "(append) or ReplacingMergeTreeEngine() (upsert on the Key[...] fields)"
    )
