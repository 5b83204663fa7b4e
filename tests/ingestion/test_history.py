"""The run history (SQLite): records, last runs, scheduled ticks, branch tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cascade_rt.ingestion import IngestionResult, RunHistory
from cascade_rt.ingestion._result import RunStatus

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def result(
    asset: str, status: RunStatus = "success", branch: str = "main", table: str = "raw.t"
) -> IngestionResult:
    return IngestionResult(
        asset=asset,
        status=status,
        table=table,
        branch=branch,
        partition_date="2024-03-01",
        rows_loaded=3,
        failures=[{"column": "v", "row": 1}],
    )


def test_records_round_trip_newest_first(tmp_path: Path) -> None:
    history = RunHistory(tmp_path / "runs.db")
    first = history.record(result("a"), started_at=T, finished_at=T + timedelta(seconds=1))
    second = history.record(
        result("a", "failed"),
        started_at=T,
        finished_at=T + timedelta(seconds=2),
        trigger="schedule",
        scheduled_for=T,
    )
    history.record(result("b"), started_at=T, finished_at=T)
    runs = history.runs("a")
    assert [r.result.run_id for r in runs] == [second, first]
    assert runs[0].trigger == "schedule"
    assert runs[0].scheduled_for == T
    assert runs[1].result == result("a").__class__(**{**result("a").to_dict(), "run_id": first})
    assert len(history.runs()) == 3
    assert history.last_success("a").result.run_id == first  # type: ignore[union-attr]
    assert history.last_run("a").status == "failed"  # type: ignore[union-attr]
    assert history.last_run("zzz") is None
    assert history.last_scheduled() == {"a": T}


def test_branch_tables_track_written_published_and_dropped(tmp_path: Path) -> None:
    history = RunHistory.at_home(tmp_path)
    history.record(result("a", branch="dev", table="raw.x"), started_at=T, finished_at=T)
    history.record(result("b", branch="dev", table="raw.y"), started_at=T, finished_at=T)
    history.record(result("c", "failed", branch="dev", table="raw.z"), started_at=T, finished_at=T)
    history.record(result("a", branch="main", table="raw.x"), started_at=T, finished_at=T)
    assert history.branch_tables("dev") == ["raw.x", "raw.y"]
    history.mark_branch("dev", "raw.x", "published", snapshot_id=7)
    assert history.branch_tables("dev") == ["raw.y"]
    assert history.branch_tables("dev", state=None) == ["raw.x", "raw.y"]
    [dev] = history.branches()
    assert dev["tables"] == {"raw.x": "published", "raw.y": "open"}
