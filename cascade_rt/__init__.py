"""cascade-rt: streaming ingestion on an in-process actor model.

Declare schemas and pipelines (``IngestPipeline``, ``OlapTable``, ``Stream``, ``IngestApi``,
``DeadLetterQueue``) or batch assets (``cascade_rt.ingestion.cascade_ingestion``); run them with
``Runtime`` (embedded) or ``cascade-rt serve``.
"""

from .pipeline import DeadLetterQueue as DeadLetterQueue
from .pipeline import DeadLetterQueueConfig as DeadLetterQueueConfig
from .pipeline import IngestApi as IngestApi
from .pipeline import IngestConfig as IngestConfig
from .pipeline import IngestPipeline as IngestPipeline
from .pipeline import IngestPipelineConfig as IngestPipelineConfig
from .pipeline import OlapConfig as OlapConfig
from .pipeline import OlapTable as OlapTable
from .pipeline import Stream as Stream
from .pipeline import StreamConfig as StreamConfig
from .runtime import Runtime as Runtime
from .runtime import UnknownDefinition as UnknownDefinition
from .schema import Key as Key
from .schema import RecordSchema as RecordSchema
from .schema import ValidationError as ValidationError

__version__ = "0.1.0"

__all__ = (
    "DeadLetterQueue",
    "DeadLetterQueueConfig",
    "IngestApi",
    "IngestConfig",
    "IngestPipeline",
    "IngestPipelineConfig",
    "Key",
    "OlapConfig",
    "OlapTable",
    "RecordSchema",
    "Runtime",
    "Stream",
    "StreamConfig",
    "UnknownDefinition",
    "ValidationError",
)
