"""Prometheus metrics of asset runs, on a ``CollectorRegistry`` the caller passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FRESHNESS_CODES = {"fresh": 0, "warn": 1, "fail": 2, "unknown": -1}
"""Value of ``cascade_asset_freshness`` per freshness status."""


class AssetMetrics:
    """The asset metrics, registered once on ``registry``.

    Metrics (labels):
        ``cascade_asset_runs_total`` (asset, status): finished runs.
        ``cascade_asset_attempts_total`` (asset): attempts, retries included.
        ``cascade_asset_rows_total`` (asset, kind=loaded|inserted|updated): rows.
        ``cascade_asset_stage_seconds`` (asset, stage=dlt|validate|commit|total): durations.
        ``cascade_asset_last_success_timestamp_seconds`` (asset): Unix time of the last success.
        ``cascade_asset_freshness`` (asset): 0 fresh, 1 warn, 2 fail, -1 unknown.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.runs = Counter("cascade_asset_runs", "Finished asset runs.", ["asset", "status"], registry=r)
        self.attempts = Counter(
            "cascade_asset_attempts", "Asset run attempts, retries included.", ["asset"], registry=r
        )
        self.rows = Counter("cascade_asset_rows", "Rows by asset and kind.", ["asset", "kind"], registry=r)
        self.seconds = Histogram(
            "cascade_asset_stage_seconds",
            "Duration of asset run stages.",
            ["asset", "stage"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.last_success = Gauge(
            "cascade_asset_last_success_timestamp_seconds",
            "Unix time of the last successful run.",
            ["asset"],
            registry=r,
        )
        self.freshness = Gauge(
            "cascade_asset_freshness", "0 fresh, 1 warn, 2 fail, -1 unknown.", ["asset"], registry=r
        )

    def set_freshness(self, asset: str, status: str) -> None:
        """Export a freshness status (see :data:`FRESHNESS_CODES`)."""
        self.freshness.labels(asset).set(FRESHNESS_CODES.get(status, -1))
