"""cascade-rt: streaming ingestion on an in-process actor model.

Declare schemas and pipelines (``IngestPipeline``, ``OlapTable``, ``Stream``, ``IngestApi``,
``DeadLetterQueue``) or batch assets (``cascade_rt.ingestion.cascade_ingestion``); run them with
``Runtime`` (embedded) or ``cascade-rt serve``.
"""

from .api import Api as Api
from .api import ApiConfig as ApiConfig
from .api import ConsumptionApi as ConsumptionApi
from .api import EgressConfig as EgressConfig
from .api import MooseClient as MooseClient
from .api import QueryClient as QueryClient
from .pipeline import AggregatingMergeTreeEngine as AggregatingMergeTreeEngine
from .pipeline import ClickHouseEngines as ClickHouseEngines
from .pipeline import CollapsingMergeTreeEngine as CollapsingMergeTreeEngine
from .pipeline import Column as Column
from .pipeline import Columns as Columns
from .pipeline import ConsumerConfig as ConsumerConfig
from .pipeline import DeadLetterModel as DeadLetterModel
from .pipeline import DeadLetterQueue as DeadLetterQueue
from .pipeline import DeadLetterQueueConfig as DeadLetterQueueConfig
from .pipeline import EngineConfig as EngineConfig
from .pipeline import FailedRecord as FailedRecord
from .pipeline import IngestApi as IngestApi
from .pipeline import IngestConfig as IngestConfig
from .pipeline import IngestPipeline as IngestPipeline
from .pipeline import IngestPipelineConfig as IngestPipelineConfig
from .pipeline import InsertOptions as InsertOptions
from .pipeline import InsertResult as InsertResult
from .pipeline import LifeCycle as LifeCycle
from .pipeline import MergeTreeEngine as MergeTreeEngine
from .pipeline import OlapConfig as OlapConfig
from .pipeline import OlapTable as OlapTable
from .pipeline import ReplacingMergeTreeEngine as ReplacingMergeTreeEngine
from .pipeline import RoutedMessage as RoutedMessage
from .pipeline import Stream as Stream
from .pipeline import StreamConfig as StreamConfig
from .pipeline import SummingMergeTreeEngine as SummingMergeTreeEngine
from .pipeline import TransformConfig as TransformConfig
from .pipeline import VersionedCollapsingMergeTreeEngine as VersionedCollapsingMergeTreeEngine
from .runtime import Runtime as Runtime
from .runtime import UnknownDefinition as UnknownDefinition
from .schema import ClickHouseCodec as ClickHouseCodec
from .schema import ClickhouseDefault as ClickhouseDefault
from .schema import ClickHouseTTL as ClickHouseTTL
from .schema import Float32 as Float32
from .schema import Float64 as Float64
from .schema import Int8 as Int8
from .schema import Int16 as Int16
from .schema import Int32 as Int32
from .schema import Int64 as Int64
from .schema import Key as Key
from .schema import LowCardinality as LowCardinality
from .schema import RecordSchema as RecordSchema
from .schema import StringToEnumMixin as StringToEnumMixin
from .schema import UInt8 as UInt8
from .schema import UInt16 as UInt16
from .schema import UInt32 as UInt32
from .schema import UInt64 as UInt64
from .schema import ValidationError as ValidationError
from .schema import clickhouse_default as clickhouse_default

__version__ = "0.1.0"

__all__ = (
    "AggregatingMergeTreeEngine",
    "Api",
    "ApiConfig",
    "ClickHouseCodec",
    "ClickHouseEngines",
    "ClickHouseTTL",
    "ClickhouseDefault",
    "CollapsingMergeTreeEngine",
    "Column",
    "Columns",
    "ConsumerConfig",
    "ConsumptionApi",
    "DeadLetterModel",
    "DeadLetterQueue",
    "DeadLetterQueueConfig",
    "EgressConfig",
    "EngineConfig",
    "FailedRecord",
    "Float32",
    "Float64",
    "IngestApi",
    "IngestConfig",
    "IngestPipeline",
    "IngestPipelineConfig",
    "InsertOptions",
    "InsertResult",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Key",
    "LifeCycle",
    "LowCardinality",
    "MergeTreeEngine",
    "MooseClient",
    "OlapConfig",
    "OlapTable",
    "QueryClient",
    "RecordSchema",
    "ReplacingMergeTreeEngine",
    "RoutedMessage",
    "Runtime",
    "Stream",
    "StreamConfig",
    "StringToEnumMixin",
    "SummingMergeTreeEngine",
    "TransformConfig",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "UnknownDefinition",
    "ValidationError",
    "VersionedCollapsingMergeTreeEngine",
    "clickhouse_default",
)
