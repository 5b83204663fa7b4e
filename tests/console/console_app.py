"""An app for the console's tests and screenshots: two pipelines, a transform, a consumer, an asset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from cascade_rt import IngestPipeline, Key
from cascade_rt._registry import Registry


class Order(msgspec.Struct):
    id: Key[str]
    customer: str
    amount: float
    placed_at: datetime


class Click(msgspec.Struct):
    id: Key[str]
    page: str
    ms: int


def declare(registry: Registry) -> dict[str, Any]:
    """Declares the console's example pipelines on ``registry``."""
    orders = IngestPipeline[Order]("Orders", {"table": {"deduplicate": True}, "stream": {"parallelism": 2},
                                              "ingest_api": {"format": "JSON_ARRAY"}}, registry=registry)
    clicks = IngestPipeline[Click]("Clicks", {"table": True, "stream": True, "ingest_api": {"format": "JSON_ARRAY"}},
                                   registry=registry)
    return {"orders": orders, "clicks": clicks}


def orders(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"o{i}", "customer": f"c{i % 7}", "amount": 10.0 + i, "placed_at": "2026-12-01T10:00:00+01:00"}
            for i in range(start, start + n)]
