"""The runtime: running declarations as supervised actors, embedded or served over HTTP."""

from ._runtime import Runtime as Runtime
from ._runtime import UnknownDefinition as UnknownDefinition
from ._runtime import read_table as read_table
from ._sinks import PipelineEndpoint as PipelineEndpoint
from ._sinks import TableSink as TableSink

__all__ = ("PipelineEndpoint", "Runtime", "TableSink", "UnknownDefinition", "read_table")
