"""Observability: Prometheus metrics and health/readiness reports for the HTTP server."""

from ._health import health_report as health_report
from ._health import readiness as readiness
from ._health import ready_state as ready_state
from ._metrics import LATENCY_BUCKETS as LATENCY_BUCKETS
from ._metrics import ActorTreeCollector as ActorTreeCollector
from ._metrics import IngestMetrics as IngestMetrics
from ._metrics import Latency as Latency
from ._metrics import PipelineMetrics as PipelineMetrics
from ._metrics import TableMaintenanceCollector as TableMaintenanceCollector
from ._metrics import register_actor_tree as register_actor_tree
from ._metrics import walk_tree as walk_tree

__all__ = (
    "LATENCY_BUCKETS",
    "ActorTreeCollector",
    "IngestMetrics",
    "Latency",
    "PipelineMetrics",
    "TableMaintenanceCollector",
    "health_report",
    "readiness",
    "ready_state",
    "register_actor_tree",
    "walk_tree",
)
