"""Freshness of an asset, from the time of its last successful run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

FreshnessStatus = Literal["fresh", "warn", "fail", "unknown"]


@dataclass(frozen=True)
class Freshness:
    """An asset's freshness at one instant.

    Attributes:
        asset: The asset name.
        status: ``fresh``; ``warn`` past ``warn_hours`` since the last success; ``fail`` past
            ``fail_hours`` or with no success at all; ``unknown`` for an asset without
            ``freshness_hours`` that never succeeded.
        last_success: When the last successful run finished (None if never).
        age_hours: Hours since then (None if never).
        warn_hours, fail_hours: The asset's thresholds (None without ``freshness_hours``).
    """

    asset: str
    status: FreshnessStatus
    last_success: datetime | None
    age_hours: float | None
    warn_hours: float | None
    fail_hours: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for /health details)."""
        return {
            "asset": self.asset,
            "status": self.status,
            "last_success": None if self.last_success is None else self.last_success.isoformat(),
            "age_hours": self.age_hours,
            "warn_hours": self.warn_hours,
            "fail_hours": self.fail_hours,
        }


def freshness(asset: Any, history: Any, now: datetime) -> Freshness:
    """The freshness of ``asset`` at ``now``.

    Args:
        asset: An :class:`IngestionAsset` (its ``name`` and ``freshness_hours`` are used).
        history: A :class:`RunHistory`, or the finish time of the last successful run (or None).
        now: The current aware datetime.
    """
    if history is None or isinstance(history, datetime):
        last = history
    else:
        record = history.last_success(asset.name)
        last = None if record is None else record.finished_at
    policy = asset.freshness_hours
    warn, fail = policy if policy else (None, None)
    age = None if last is None else max(0.0, (now - last).total_seconds() / 3600)
    status: FreshnessStatus
    if age is None:
        status = "fail" if policy else "unknown"
    elif warn is None or fail is None or age <= warn:
        status = "fresh"
    elif age <= fail:
        status = "warn"
    else:
        status = "fail"
    return Freshness(asset.name, status, last, age, warn, fail)
