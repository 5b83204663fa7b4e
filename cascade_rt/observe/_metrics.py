"""Prometheus metrics: per-pipeline ingest counters and per-actor figures from the tree.

Every component registers on the one ``CollectorRegistry`` the server state holds; ``GET
/metrics`` renders it. Metric families are created once per registry (a second
:meth:`IngestMetrics.on` for the same registry returns the same object), so building two apps on
one registry never fails with a duplicate-name error.
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LE = (*map(repr, LATENCY_BUCKETS), "+Inf")  # the bounds as Prometheus writes them

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, IngestMetrics] = weakref.WeakKeyDictionary()
_trees: weakref.WeakKeyDictionary[CollectorRegistry, ActorTreeCollector] = weakref.WeakKeyDictionary()


class Count:
    """A counter updated without a lock.

    The event loop that serves ingest is the only writer, and a scrape only reads it: a lock per
    update (as ``prometheus_client.Counter`` takes) would cost a few per cent of a one-record
    request's CPU for nothing.
    """

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class Latency:
    """A histogram of seconds over ``LATENCY_BUCKETS``, updated without a lock (see :class:`Count`)."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # a bucket holds what is <= its bound
        self.sum += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs as Prometheus exposes them."""
        total = 0
        out = []
        for bound, count in zip(_LE, self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


class PipelineMetrics:
    """The figures of one pipeline (looked up once, cheap to update)."""

    __slots__ = ("accepted", "bytes", "commit_latency", "latency", "rejected", "requests")

    def __init__(self) -> None:
        self.accepted = Count()
        self.rejected = Count()
        self.bytes = Count()
        self.latency = Latency()
        self.commit_latency = Latency()
        self.requests: dict[int, Count] = {}

    def count(self, status: int) -> None:
        """Counts one request answered with ``status``."""
        count = self.requests.get(status)
        if count is None:
            count = self.requests[status] = Count()
        count.value += 1


class IngestMetrics(Collector):
    """Ingest metric families on one registry (a collector, rendered at scrape time).

    Families (``pipeline`` label on all):
        ``cascade_ingest_records_accepted_total``, ``cascade_ingest_records_rejected_total``,
        ``cascade_ingest_bytes_total`` (request bytes as received), ``cascade_ingest_requests_total``
        (also labelled ``status``), ``cascade_ingest_request_seconds`` (histogram, until the
        response), ``cascade_commit_seconds`` (histogram; the durability hook: sinks call
        ``metrics.observe_commit(pipeline, seconds)``).

    Updates take no lock: they are meant for one event loop (see :class:`Count`).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._pipelines: dict[str, PipelineMetrics] = {}
        registry.register(self)

    @classmethod
    def on(cls, registry: CollectorRegistry) -> IngestMetrics:
        """The ingest metrics of ``registry``, created on first use."""
        with _lock:
            metrics = _by_registry.get(registry)
            if metrics is None:
                metrics = _by_registry[registry] = cls(registry)
            return metrics

    def pipeline(self, name: str) -> PipelineMetrics:
        """The figures of ``name`` (created on first use)."""
        children = self._pipelines.get(name)
        if children is None:
            children = self._pipelines[name] = PipelineMetrics()
        return children

    def count_request(self, pipeline: str, status: int) -> None:
        """Counts one request of ``pipeline`` answered with ``status``."""
        self.pipeline(pipeline).count(status)

    def observe_commit(self, pipeline: str, seconds: float) -> None:
        """The durability hook: a sink reports how long one commit took."""
        self.pipeline(pipeline).commit_latency.observe(seconds)

    def describe(self) -> list[Metric]:
        return []  # the families are built at each scrape

    def collect(self) -> Iterator[Metric]:
        counters = {
            "accepted": CounterMetricFamily("cascade_ingest_records_accepted", "Records acknowledged (durable).",
                                            labels=["pipeline"]),
            "rejected": CounterMetricFamily("cascade_ingest_records_rejected", "Invalid records refused with 400.",
                                            labels=["pipeline"]),
            "bytes": CounterMetricFamily("cascade_ingest_bytes", "Request body bytes as received.",
                                         labels=["pipeline"]),
        }
        requests = CounterMetricFamily("cascade_ingest_requests", "Ingest requests by status.",
                                       labels=["pipeline", "status"])
        latency = HistogramMetricFamily("cascade_ingest_request_seconds", "Time from request to response.",
                                        labels=["pipeline"])
        commits = HistogramMetricFamily("cascade_commit_seconds", "Time a sink took to make a batch durable.",
                                        labels=["pipeline"])
        for name, figures in sorted(self._pipelines.items()):
            for key, family in counters.items():
                count: Count = getattr(figures, key)
                family.add_metric([name], count.value, created=count.created)
            for status, count in sorted(figures.requests.items()):
                requests.add_metric([name, str(status)], count.value, created=count.created)
            for histogram, histograms in ((figures.latency, latency), (figures.commit_latency, commits)):
                histograms.add_metric([name], histogram.buckets(), histogram.sum)
        yield from (*counters.values(), requests, latency, commits)


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


_MAINTENANCE = (
    ("snapshots_expired", "cascade_table_snapshots_expired", "Snapshots expired by the table's writer."),
    ("expiry_failures", "cascade_table_expiry_failures", "Snapshot expiry passes that failed."),
    ("compactions", "cascade_table_compactions", "Compaction passes that committed a replace snapshot."),
    ("compaction_failures", "cascade_table_compaction_failures", "Compaction passes that failed."),
    ("data_files_compacted", "cascade_table_data_files_compacted", "Data files rewritten by compaction."),
    ("delete_files_removed", "cascade_table_delete_files_removed", "Delete files folded into rewritten data files."),
    ("orphans_deleted", "cascade_table_orphan_files_deleted", "Orphan files deleted."),
    ("orphan_failures", "cascade_table_orphan_failures", "Orphan cleanups that failed."),
)


class TableMaintenanceCollector(Collector):
    """Per-table maintenance counters (``{identifier: MaintenanceCounters}``, kept by the writers)
    as ``cascade_table_*`` counters with a ``table`` label, and the time of the last pass."""

    def __init__(self, counters: Callable[[], dict[str, Any]]) -> None:
        self._counters = counters

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        current = dict(self._counters())
        for attribute, name, doc in _MAINTENANCE:
            family = CounterMetricFamily(name, doc, labels=["table"])
            for table, counters in current.items():
                family.add_metric([table], float(getattr(counters, attribute)))
            yield family
        last = GaugeMetricFamily("cascade_table_last_maintenance_seconds",
                                 "When the last compaction or orphan cleanup ended (Unix time; 0: never).",
                                 labels=["table"])
        for table, counters in current.items():
            last.add_metric([table], counters.last_maintenance_ms / 1000)
        yield last
