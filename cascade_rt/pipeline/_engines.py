"""Moose's table engines and lifecycle, mapped onto Iceberg tables.

``engine=None``, ``MergeTreeEngine()`` or ``ClickHouseEngines.MergeTree`` append;
``ReplacingMergeTreeEngine()`` (or ``ClickHouseEngines.ReplacingMergeTree``) upserts on the
schema's ``Key[...]`` fields, last write wins, as ReplacingMergeTree keeps the last inserted row
of a key when it has no ``ver`` column; with ``ver`` the row with the greatest version wins, and
with ``is_deleted`` as well a winning row marked deleted removes its key (see
``cascade_rt.table._versions``). Every other engine is ClickHouse-only: declaring it fails with a
message naming it and what to use instead.
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
    "engine_columns",
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
    """Upsert on the key fields: the last write wins, or with ``ver`` the greatest version.

    ``ver`` names a required integer, date or datetime field: of the rows of one key, in one write
    or across writes, the one with the greatest ``ver`` is kept (the last of them on a tie), so a
    row older than the stored one is ignored. ``is_deleted`` (needs ``ver``) names a required
    ``UInt8``/``int``/``bool`` field: a winning row with a non-zero value deletes its key, and
    readers no longer see it. Unlike ClickHouse, which keeps both rows until a merge (and the
    deleted row until a cleanup merge), the table holds the winner only, at once; and a key once
    deleted leaves no trace, so a later row inserts it again whatever its version.

    Raises:
        ValueError: ``is_deleted`` without ``ver`` (as in Moose).
    """

    ver: str | None = None
    is_deleted: str | None = None

    def __post_init__(self) -> None:
        if self.is_deleted and not self.ver:
            raise ValueError(
                f"ReplacingMergeTreeEngine(is_deleted={self.is_deleted!r}) requires ver to be specified "
                "(the version that decides which row of a key wins)"
            )


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
        ValueError: a ClickHouse-only engine, naming it and what to use instead.
    """
    if engine is None or isinstance(engine, MergeTreeEngine) or engine is ClickHouseEngines.MergeTree:
        return False
    if engine is ClickHouseEngines.ReplacingMergeTree or isinstance(engine, ReplacingMergeTreeEngine):
        return True
    label = engine.name if isinstance(engine, ClickHouseEngines) else type(engine).__name__
    raise ValueError(
        f"{owner}: engine {label} is ClickHouse-only and has no Iceberg equivalent; use engine=None "
        "(append) or ReplacingMergeTreeEngine() (upsert on the Key[...] fields)"
    )


def engine_columns(engine: Any) -> tuple[str | None, str | None]:
    """The ``(ver, is_deleted)`` fields of a ``ReplacingMergeTreeEngine``; ``(None, None)`` otherwise."""
    if isinstance(engine, ReplacingMergeTreeEngine):
        return engine.ver or None, engine.is_deleted or None
    return None, None
