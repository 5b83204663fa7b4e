"""Declarations: ``IngestPipeline``, ``OlapTable``, ``Stream``, ``IngestApi``, ``DeadLetterQueue``."""

from ._config import DeadLetterQueueConfig as DeadLetterQueueConfig
from ._config import IngestConfig as IngestConfig
from ._config import IngestPipelineConfig as IngestPipelineConfig
from ._config import OlapConfig as OlapConfig
from ._config import StreamConfig as StreamConfig
from ._parts import DeadLetterQueue as DeadLetterQueue
from ._parts import IngestApi as IngestApi
from ._parts import OlapTable as OlapTable
from ._parts import Stream as Stream
from ._pipeline import IngestPipeline as IngestPipeline

__all__ = (
    "DeadLetterQueue",
    "DeadLetterQueueConfig",
    "IngestApi",
    "IngestConfig",
    "IngestPipeline",
    "IngestPipelineConfig",
    "OlapConfig",
    "OlapTable",
    "Stream",
    "StreamConfig",
)
