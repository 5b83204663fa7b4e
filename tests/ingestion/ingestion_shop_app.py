"""A test app: the seed's asset forms against the loopback REST server of conftest.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import dlt
from dlt.sources.helpers import requests
from dlt.sources.rest_api import rest_api, rest_api_source
from pandera.pandas import DataFrameModel, Field

from cascade_rt.ingestion import cascade_ingestion

if TYPE_CHECKING:
    from dlt.sources.rest_api.typing import RESTAPIConfig

STATE: dict[str, Any] = {"base_url": None, "calls": 0, "fail_times": 0, "release": threading.Event()}


class RawItems(DataFrameModel):
    """Raw items from the shop API."""

    id: str = Field(nullable=False, unique=True, description="Unique identifier")
    created_at: datetime = Field(nullable=False, description="Record creation timestamp")
    value: int = Field(ge=0, le=100, description="Data value")
    status: str | None = Field(nullable=True, description="Optional status")


class RawEvents(DataFrameModel):
    id: str = Field(nullable=False, unique=True)
    seq: int = Field(ge=0)


def _config(partition_date: str) -> dict[str, Any]:
    return {
        "client": {
            "base_url": STATE["base_url"],
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"},
        },
        "resources": [
            {
                "name": "items",
                "endpoint": {"path": "items", "data_selector": "data", "params": {"date": partition_date}},
            }
        ],
    }


@cascade_ingestion(
    table_name="items",
    unique_key="id",
    validation_schema=RawItems,
    group="shop",
    cron="0 */1 * * *",
    freshness_hours=(1, 24),
    retry_delay_seconds=0,
)
def items(partition_date: str) -> Any:
    """Ingest items with rest_api_source."""
    return rest_api_source(cast("RESTAPIConfig", _config(partition_date)))


@cascade_ingestion(table="items_kw", unique_key="id", validation_schema=RawItems, group="shop", max_retries=0)
def items_kw(partition_date: str) -> Any:
    return rest_api(**_config(partition_date))


@cascade_ingestion(
    table_name="items_seed", unique_key="id", validation_schema=RawItems, group="shop", retry_delay_seconds=0
)
def items_seed_form(partition_date: str) -> Any:
    return rest_api(_config(partition_date))  # type: ignore[arg-type]  # the seed's form


@dlt.resource(name="events", write_disposition="append")
def fetch_events(seq: dlt.sources.incremental[int] = dlt.sources.incremental("seq", initial_value=0)) -> Iterator[Any]:  # noqa: B008 (dlt's documented form)
    response = requests.get(f"{STATE['base_url']}/events", params={"since": seq.last_value})
    response.raise_for_status()
    yield response.json()


@cascade_ingestion(
    table_name="events", unique_key="id", validation_schema=RawEvents, group="shop", cron="30 2 * * *"
)
def events(partition_date: str) -> Any:
    return fetch_events()


@dlt.resource(name="flaky")
def flaky_rows() -> Iterator[list[dict[str, Any]]]:
    STATE["calls"] += 1
    if STATE["calls"] <= STATE["fail_times"]:
        raise ConnectionError(f"upstream unavailable (call {STATE['calls']})")
    yield [{"id": "a", "seq": 1}, {"id": "b", "seq": 2}]


@cascade_ingestion(
    table_name="flaky", unique_key="id", validation_schema=RawEvents, max_retries=3, retry_delay_seconds=0
)
def flaky(partition_date: str) -> Any:
    return flaky_rows()


@dlt.resource(name="slow")
def slow_rows() -> Iterator[dict[str, Any]]:
    yield {"id": "first", "seq": 1}
    STATE["release"].wait(10)
    yield {"id": "second", "seq": 2}


@cascade_ingestion(
    table_name="slow", unique_key="id", validation_schema=RawEvents, max_runtime_seconds=0.3, max_retries=0
)
def hanging(partition_date: str) -> Any:
    return slow_rows()


@cascade_ingestion(table_name="plain", unique_key="id", validation_schema=RawEvents, max_retries=0)
def plain_rows(partition_date: str) -> list[dict[str, Any]]:
    return [{"id": "x", "seq": 1, "when": partition_date}, {"id": "x", "seq": 2}, {"id": "y", "seq": 3}]


@cascade_ingestion(
    table_name="daily",
    unique_key="id",
    validation_schema=RawItems,
    max_retries=0,
    partition_spec=[("created_at", "day")],
)
def partitioned(partition_date: str) -> list[dict[str, Any]]:
    return [
        {"id": "p1", "created_at": f"{partition_date}T23:30:00-02:00", "value": 1},
        {"id": "p2", "created_at": f"{partition_date}T10:00:00Z", "value": 2},
    ]
