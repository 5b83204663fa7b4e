"""Prometheus metrics: per-pipeline ingest counters and per-actor figures from the tree.

Every component registers on the one ``CollectorRegistry`` the server state holds; ``GET
/metrics`` renders it. Metric families are created once per registry (a second
:meth:`IngestMetrics.on` for the same registry returns the same object), so building two apps on
one registry never fails with a duplicate-name error.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, IngestMetrics] = weakref.WeakKeyDictionary()
_trees: weakref.WeakKeyDictionary[CollectorRegistry, ActorTreeCollector] = weakref.WeakKeyDictionary()


class PipelineMetrics:
    """The label-bound children for one pipeline (looked up once, cheap to update)."""

    __slots__ = ("accepted", "bytes", "commit_latency", "latency", "rejected")

    def __init__(self, metrics: IngestMetrics, pipeline: str) -> None:
        self.accepted = metrics.records_accepted.labels(pipeline)
        self.rejected = metrics.records_rejected.labels(pipeline)
        self.bytes = metrics.bytes_received.labels(pipeline)
        self.latency = metrics.request_latency.labels(pipeline)
        self.commit_latency = metrics.commit_latency.labels(pipeline)


class IngestMetrics:
    """Ingest metric families on one registry.

    Families (``pipeline`` label on all):
        ``cascade_ingest_records_accepted_total``, ``cascade_ingest_records_rejected_total``,
        ``cascade_ingest_bytes_total`` (request bytes as received), ``cascade_ingest_requests_total``
        (also labelled ``status``), ``cascade_ingest_request_seconds`` (histogram, until the
        response), ``cascade_commit_seconds`` (histogram; the durability hook: sinks call
        ``metrics.observe_commit(pipeline, seconds)``).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        label = ["pipeline"]
        self.records_accepted = Counter(
            "cascade_ingest_records_accepted", "Records acknowledged (durable).", label, registry=registry
        )
        self.records_rejected = Counter(
            "cascade_ingest_records_rejected", "Invalid records refused with 400.", label, registry=registry
        )
        self.bytes_received = Counter(
            "cascade_ingest_bytes", "Request body bytes as received.", label, registry=registry
        )
        self.requests = Counter(
            "cascade_ingest_requests", "Ingest requests by status.", ["pipeline", "status"], registry=registry
        )
        self.request_latency = Histogram(
            "cascade_ingest_request_seconds", "Time from request to response.", label,
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.commit_latency = Histogram(
            "cascade_commit_seconds", "Time a sink took to make a batch durable.", label,
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self._pipelines: dict[str, PipelineMetrics] = {}
        self._statuses: dict[tuple[str, int], Any] = {}

    @classmethod
    def on(cls, registry: CollectorRegistry) -> IngestMetrics:
        """The ingest metrics of ``registry``, created on first use."""
        with _lock:
            metrics = _by_registry.get(registry)
            if metrics is None:
                metrics = _by_registry[registry] = cls(registry)
            return metrics

    def pipeline(self, name: str) -> PipelineMetrics:
        """The children for ``name`` (cached)."""
        children = self._pipelines.get(name)
        if children is None:
            children = self._pipelines[name] = PipelineMetrics(self, name)
        return children

    def count_request(self, pipeline: str, status: int) -> None:
        child = self._statuses.get((pipeline, status))
        if child is None:
            child = self._statuses[(pipeline, status)] = self.requests.labels(pipeline, str(status))
        child.inc()

    def observe_commit(self, pipeline: str, seconds: float) -> None:
        """The durability hook: a sink reports how long one commit took."""
        self.pipeline(pipeline).commit_latency.observe(seconds)


_GAUGES = (
    ("mailbox_depth", "cascade_actor_mailbox_depth", "Messages waiting in the mailbox."),
    ("mailbox_high_water", "cascade_actor_mailbox_high_water", "Highest mailbox depth seen."),
    ("mailbox_capacity", "cascade_actor_mailbox_capacity", "Mailbox bound in messages."),
    ("latency_ms", "cascade_actor_latency_ms", "Handler latency in milliseconds."),
)
_COUNTERS = (
    ("processed", "cascade_actor_processed", "Messages processed."),
    ("failures", "cascade_actor_failures", "Exceptions raised by the handler."),
    ("restarts", "cascade_actor_restarts", "Restarts by the supervisor."),
    ("dead_letters", "cascade_actor_dead_letters", "Messages sent to dead letters."),
    ("blocked_seconds", "cascade_actor_blocked_seconds", "Time senders spent blocked on a full mailbox."),
)
STATES = ("running", "restarting", "stopped", "failed")


def walk_tree(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every actor of a ``tree()`` snapshot, parents first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.get("children") or []))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):  # e.g. dead letters by reason
        return float(sum(v for v in value.values() if isinstance(v, int | float)))
    return None


class ActorTreeCollector(Collector):
    """Turns ``state.tree()`` into per-actor metrics at scrape time (label ``actor`` = path).

    A tree that cannot be read (the callable raises) yields no actor metrics rather than
    failing the whole scrape.
    """

    def __init__(self, tree: Callable[[], dict[str, Any]]) -> None:
        self._tree = tree

    def describe(self) -> list[Metric]:
        return []  # names depend on the tree; collected lazily

    def collect(self) -> Iterator[Metric]:
        try:
            actors = list(walk_tree(self._tree()))
        except Exception:
            return
        labels = ["actor", "kind"]
        families: list[Metric] = []
        for family, specs in ((GaugeMetricFamily, _GAUGES), (CounterMetricFamily, _COUNTERS)):
            for key, name, doc in specs:
                metric = family(name, doc, labels=labels)
                for actor in actors:
                    value = _number(actor.get(key))
                    if value is not None:
                        metric.add_metric(_labels(actor), value)
                families.append(metric)
        state = GaugeMetricFamily("cascade_actor_state", "1 for the actor's current state.",
                                  labels=[*labels, "state"])
        for actor in actors:
            current = actor.get("state", "running")
            for candidate in STATES:
                state.add_metric([*_labels(actor), candidate], 1.0 if current == candidate else 0.0)
        families.append(state)
        yield from families


def _labels(actor: dict[str, Any]) -> list[str]:
    return [str(actor.get("path") or actor.get("name", "?")), str(actor.get("kind", ""))]


def register_actor_tree(registry: CollectorRegistry, tree: Callable[[], dict[str, Any]]) -> ActorTreeCollector:
    """Registers one :class:`ActorTreeCollector` per registry (later calls return the first)."""
    with _lock:
        collector = _trees.get(registry)
        if collector is None:
            collector = _trees[registry] = ActorTreeCollector(tree)
            registry.register(collector)
        return collector
