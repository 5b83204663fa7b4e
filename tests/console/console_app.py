"""An app for the console's tests and screenshots: two pipelines, a transform, a consumer, an asset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pandera.pandas as pa
from pandera.pandas import Field

from cascade_rt import IngestPipeline, Key
from cascade_rt._registry import Registry, default_registry
from cascade_rt.ingestion import cascade_ingestion


class Order(msgspec.Struct):
    id: Key[str]
    customer: str
    amount: float
    placed_at: datetime


class Click(msgspec.Struct):
    id: Key[str]
    page: str
    ms: int


class Price(pa.DataFrameModel):
    sku: str = Field(nullable=False, unique=True, description="Stock-keeping unit")
    cents: int = Field(ge=0)


def declare(registry: Registry) -> dict[str, Any]:
    """Declares the console's example pipelines and a daily asset on ``registry``."""

    @cascade_ingestion(table_name="daily_prices", unique_key="sku", validation_schema=Price, group="catalog",
                       cron="0 6 * * *", freshness_hours=(24, 48), max_retries=0)
    def daily_prices(partition_date: str) -> list[dict[str, Any]]:
        return [{"sku": f"sku-{k}", "cents": 100 * k + int(partition_date[-2:])} for k in range(12)]

    default_registry().unregister("asset", daily_prices.name)
    registry.register("asset", daily_prices.name, daily_prices)
    orders = IngestPipeline[Order]("Orders", {"table": {"deduplicate": True}, "stream": {"parallelism": 2},
                                              "ingest_api": {"format": "JSON_ARRAY"}}, registry=registry)
    clicks = IngestPipeline[Click]("Clicks", {"table": True, "stream": True, "ingest_api": {"format": "JSON_ARRAY"}},
                                   registry=registry)
    return {"orders": orders, "clicks": clicks, "daily_prices": daily_prices}


def orders(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"o{i}", "customer": f"c{i % 7}", "amount": 10.0 + i, "placed_at": "2026-12-01T10:00:00+01:00"}
            for i in range(start, start + n)]
