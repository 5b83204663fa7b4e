"""Batch assets as the console shows them: schedule and next run, freshness, the last runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ("assets",)

RUNS = 10
_FRESHNESS = {"fresh": "ok", "unknown": "ok", "warn": "warn", "fail": "fail"}


def _next_run(cron: str | None, now: datetime) -> str | None:
    if not cron:
        return None
    from croniter import croniter

    nxt: datetime = croniter(cron, now).get_next(datetime)
    return nxt.astimezone(UTC).isoformat()


def assets(runtime: Any) -> list[dict[str, Any]]:
    """Every asset with its schedule, next run, freshness (against ``freshness_hours``) and last runs.

    Reads the run history (SQLite): call it from a worker thread.
    """
    runner = runtime.assets
    if runner is None:
        return []
    now = runner.clock()
    fresh = {f.asset: f for f in runner.freshness(now)}
    out = []
    for asset in runner.assets():
        runs = runner.history.runs(asset.name, limit=RUNS)
        state = fresh.get(asset.name)
        status = _FRESHNESS.get(state.status if state else "unknown", "warn")
        if state is None or state.status == "unknown":
            why = "never ran" if not runs else "no freshness policy"
        elif state.age_hours is None:
            why = "never succeeded"
        else:
            why = f"{state.status}: last success {state.age_hours:.1f} h ago"
        if runs and runs[0].status != "success":
            status, why = "fail", f"last run {runs[0].status}: {runs[0].result.error or ''}".strip()
        out.append({
            "name": asset.name,
            "table": asset.identifier,
            "group": asset.group,
            "cron": asset.cron,
            "scheduled": bool(runtime.schedule and asset.cron),
            "next_run": _next_run(asset.cron, now),
            "freshness": None if state is None else state.to_dict(),
            "freshness_hours": list(asset.freshness_hours) if asset.freshness_hours else None,
            "status": status,
            "why": why,
            "runs": [{**r.result.to_dict(), "trigger": r.trigger, "started_at": r.started_at.isoformat(),
                      "finished_at": r.finished_at.isoformat()} for r in runs],
        })
    return out
