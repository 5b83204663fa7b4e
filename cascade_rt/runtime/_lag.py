"""How far each table is behind its stream's log, and how big the logs are: ``/health`` and ``/metrics``.

Families (``stream`` label on all; ``table`` on the lag ones):
    ``cascade_stream_log_bytes`` (bytes of the log on disk), ``cascade_stream_log_end_offset``
    (records appended since the log began), ``cascade_stream_log_segments``,
    ``cascade_stream_log_torn_entries_cut`` (torn tails cut when the log was opened),
    ``cascade_table_lag_records`` (records synced to the log but not yet committed to the table) and
    ``cascade_table_lag_seconds`` (how long the oldest of those has waited).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ("LAG_WARN_SECONDS", "LogCollector", "log_health")

LAG_WARN_SECONDS = 30.0
"""A table further behind its log than this is reported as ``warn`` by ``/health``."""


def _logs(streams: Mapping[str, Any]) -> Iterable[tuple[str, Any, str | None, dict[str, Any] | None]]:
    for name, stream in streams.items():
        durable = getattr(stream, "durable", None)
        if durable is None:
            continue
        sink = getattr(stream, "sink", None)
        yield name, durable.statistics(), getattr(sink, "name", None), stream.lag()


def log_health(streams: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``stream:<name>`` components: the log's size and the table's lag (``warn`` past 30 s)."""
    out: dict[str, dict[str, Any]] = {}
    for name, stats, table, lag in _logs(streams):
        entry: dict[str, Any] = {"status": "ok", "log_bytes": stats.bytes, "log_end": stats.end,
                                 "segments": stats.segments}
        if lag is not None:
            entry.update(table=table, lag_records=lag["records"], lag_seconds=round(float(lag["seconds"]), 3))
            if lag["seconds"] > LAG_WARN_SECONDS:
                entry["status"] = "warn"
                entry["reason"] = f"table {table} is {lag['seconds']:.0f} s behind the log"
        out[f"stream:{name}"] = entry
    return out


class LogCollector(Collector):
    """Renders the families above at scrape time from ``streams()``."""

    def __init__(self, streams: Callable[[], Mapping[str, Any]]) -> None:
        self._streams = streams

    def collect(self) -> Iterable[GaugeMetricFamily]:
        size = GaugeMetricFamily("cascade_stream_log_bytes", "Bytes of the stream's log on disk", labels=["stream"])
        end = GaugeMetricFamily("cascade_stream_log_end_offset", "Records appended to the stream's log",
                                labels=["stream"])
        segments = GaugeMetricFamily("cascade_stream_log_segments", "Segment files of the stream's log",
                                     labels=["stream"])
        torn = GaugeMetricFamily("cascade_stream_log_torn_entries_cut",
                                 "Torn entries cut off the log's tail when it was opened", labels=["stream"])
        lag_records = GaugeMetricFamily("cascade_table_lag_records",
                                        "Records in the stream's log not yet committed to its table",
                                        labels=["stream", "table"])
        lag_seconds = GaugeMetricFamily("cascade_table_lag_seconds",
                                        "Seconds the oldest record not yet committed to the table has waited",
                                        labels=["stream", "table"])
        for name, stats, table, lag in _logs(self._streams()):
            size.add_metric([name], stats.bytes)
            end.add_metric([name], stats.end)
            segments.add_metric([name], stats.segments)
            torn.add_metric([name], stats.torn_entries_cut)
            if lag is not None:
                lag_records.add_metric([name, table or ""], lag["records"])
                lag_seconds.add_metric([name, table or ""], lag["seconds"])
        yield from (size, end, segments, torn, lag_records, lag_seconds)
