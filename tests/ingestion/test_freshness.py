"""Freshness from the last successful run: fresh, warn past the first hour count, fail past the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from cascade_rt.ingestion import IngestionResult, RunHistory, freshness

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ASSET = SimpleNamespace(name="glucose", freshness_hours=(1.0, 24.0))


def test_freshness_states_follow_the_age_of_the_last_success() -> None:
    assert freshness(ASSET, NOW - timedelta(minutes=30), NOW).status == "fresh"
    assert freshness(ASSET, NOW - timedelta(hours=1), NOW).status == "fresh"
    warn = freshness(ASSET, NOW - timedelta(hours=2), NOW)
    assert (warn.status, warn.age_hours) == ("warn", 2.0)
    assert freshness(ASSET, NOW - timedelta(hours=25), NOW).status == "fail"
    assert freshness(ASSET, None, NOW).status == "fail"


def test_asset_without_policy_is_fresh_once_it_succeeded() -> None:
    manual = SimpleNamespace(name="m", freshness_hours=None)
    assert freshness(manual, None, NOW).status == "unknown"
    assert freshness(manual, NOW - timedelta(days=30), NOW).status == "fresh"


def test_freshness_reads_the_last_successful_run_of_the_history(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "runs.db")
    ok = IngestionResult(
        asset="glucose", status="success", table="raw.g", branch="main", partition_date="2024-03-01"
    )
    history.record(ok, started_at=NOW - timedelta(hours=3), finished_at=NOW - timedelta(hours=3))
    failed = IngestionResult(
        asset="glucose",
        status="failed",
        table="raw.g",
        branch="main",
        partition_date="2024-03-01",
        error="boom",
    )
    history.record(failed, started_at=NOW, finished_at=NOW)
    state = freshness(ASSET, history, NOW)
    assert (state.status, state.last_success, state.age_hours) == ("warn", NOW - timedelta(hours=3), 3.0)
    assert state.to_dict()["last_success"] == "2024-03-01T09:00:00+00:00"


def test_runner_exports_freshness_as_a_gauge(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from cascade_rt.ingestion import AssetRunner

    registry = CollectorRegistry()
    runner = AssetRunner(home=tmp_path, metrics=registry, assets={"glucose": ASSET}, clock=lambda: NOW)  # type: ignore[dict-item]
    ok = IngestionResult(
        asset="glucose", status="success", table="raw.g", branch="main", partition_date="2024-03-01"
    )
    runner.history.record(ok, started_at=NOW, finished_at=NOW - timedelta(hours=30))
    [state] = runner.freshness()
    assert state.status == "fail"
    assert registry.get_sample_value("cascade_asset_freshness", {"asset": "glucose"}) == 2
