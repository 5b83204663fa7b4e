"""Batch assets: ``@cascade_ingestion`` over dlt sources, merged into Iceberg on a schedule.

A run of an asset for a ``partition_date``, step by step: call the function; run the dlt
source or resource it returns inside the asset's dlt pipeline (``<home>/dlt``, state kept across
runs); read every item into Arrow in the asset's schema; validate the whole batch with Pandera
(nothing is written on failure); add ``_dlt_load_id``, ``_dlt_id`` and ``_cascade_ingested_at``;
stage the batch as Parquet; create the Iceberg table ``<namespace>.<table_name>`` if missing and
merge on ``unique_key`` (last row per key wins) in one commit on the run's branch; retry failed
attempts; cancel past ``max_runtime_seconds``; record the result in the run history.
"""

from ._decorator import IngestionAsset as IngestionAsset
from ._decorator import cascade_ingestion as cascade_ingestion
from ._errors import AssetDefinitionError as AssetDefinitionError
from ._errors import AssetError as AssetError
from ._errors import AssetSourceError as AssetSourceError
from ._errors import AssetTimeoutError as AssetTimeoutError
from ._errors import AssetValidationError as AssetValidationError
from ._freshness import Freshness as Freshness
from ._freshness import freshness as freshness
from ._history import RunHistory as RunHistory
from ._history import RunRecord as RunRecord
from ._load import load_app as load_app
from ._metrics import AssetMetrics as AssetMetrics
from ._result import IngestionResult as IngestionResult
from ._runner import AssetRunner as AssetRunner
from ._schedule import DueRun as DueRun
from ._schedule import Scheduler as Scheduler
from ._schedule import Tick as Tick
from ._schedule import due_runs as due_runs
from ._writers import spawn_asset_writer as spawn_asset_writer
from ._writers import writer_merge as writer_merge

__all__ = (
    "AssetDefinitionError",
    "AssetError",
    "AssetMetrics",
    "AssetRunner",
    "AssetScheduler",
    "AssetSourceError",
    "AssetTimeoutError",
    "AssetValidationError",
    "DueRun",
    "Freshness",
    "IngestionAsset",
    "IngestionResult",
    "RunHistory",
    "RunRecord",
    "Scheduler",
    "Tick",
    "cascade_ingestion",
    "due_runs",
    "freshness",
    "load_app",
    "spawn_asset_writer",
    "writer_merge",
)


def __getattr__(name: str) -> object:
    # The actor shell needs the actors runtime; the rest of the package does not.
    if name == "AssetScheduler":
        from ._scheduler_actor import AssetScheduler

        return AssetScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
