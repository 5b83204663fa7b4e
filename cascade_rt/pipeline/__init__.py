"""Declarations: ``IngestPipeline``, ``OlapTable``, ``Stream``, ``IngestApi``, ``DeadLetterQueue``."""

from ._config import DeadLetterQueueConfig as DeadLetterQueueConfig
from ._config import IngestConfig as IngestConfig
from ._config import IngestPipelineConfig as IngestPipelineConfig
from ._config import OlapConfig as OlapConfig
from ._config import StreamConfig as StreamConfig
from ._dead_letter import DeadLetterModel as DeadLetterModel
from ._engines import AggregatingMergeTreeEngine as AggregatingMergeTreeEngine
from ._engines import ClickHouseEngines as ClickHouseEngines
from ._engines import CollapsingMergeTreeEngine as CollapsingMergeTreeEngine
from ._engines import EngineConfig as EngineConfig
from ._engines import LifeCycle as LifeCycle
from ._engines import MergeTreeEngine as MergeTreeEngine
from ._engines import ReplacingMergeTreeEngine as ReplacingMergeTreeEngine
from ._engines import SummingMergeTreeEngine as SummingMergeTreeEngine
from ._engines import VersionedCollapsingMergeTreeEngine as VersionedCollapsingMergeTreeEngine
from ._moose import Column as Column
from ._moose import Columns as Columns
from ._moose import ConsumerConfig as ConsumerConfig
from ._moose import FailedRecord as FailedRecord
from ._moose import InsertOptions as InsertOptions
from ._moose import InsertResult as InsertResult
from ._moose import RoutedMessage as RoutedMessage
from ._moose import TransformConfig as TransformConfig
from ._parts import DeadLetterQueue as DeadLetterQueue
from ._parts import IngestApi as IngestApi
from ._parts import OlapTable as OlapTable
from ._parts import Stream as Stream
from ._pipeline import IngestPipeline as IngestPipeline

__all__ = (
    "AggregatingMergeTreeEngine",
    "ClickHouseEngines",
    "CollapsingMergeTreeEngine",
    "Column",
    "Columns",
    "ConsumerConfig",
    "DeadLetterModel",
    "DeadLetterQueue",
    "DeadLetterQueueConfig",
    "EngineConfig",
    "FailedRecord",
    "IngestApi",
    "IngestConfig",
    "IngestPipeline",
    "IngestPipelineConfig",
    "InsertOptions",
    "InsertResult",
    "LifeCycle",
    "MergeTreeEngine",
    "OlapConfig",
    "OlapTable",
    "ReplacingMergeTreeEngine",
    "RoutedMessage",
    "Stream",
    "StreamConfig",
    "SummingMergeTreeEngine",
    "TransformConfig",
    "VersionedCollapsingMergeTreeEngine",
)
