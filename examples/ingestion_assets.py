"""The "Cascade Ingestion Assets" document's custom-resource example, with only the imports changed.

The document's ``fetch_from_somewhere`` stands in for an API; here it makes a day's records so the
example runs anywhere:

    cascade-rt run examples/ingestion_assets.py my_asset --partition 2026-11-01
    cascade-rt assets examples/ingestion_assets.py
    cascade-rt peek raw.my_table
"""

from datetime import UTC, datetime, timedelta

import dlt
from pandera.pandas import DataFrameModel, Field

from cascade_rt.ingestion import cascade_ingestion


class RawMyData(DataFrameModel):
    """Raw data from my API."""

    id: str = Field(nullable=False, unique=True, description="Unique identifier")
    created_at: datetime = Field(nullable=False, description="Record creation timestamp")
    value: int = Field(ge=0, le=100, description="Data value")
    status: str | None = Field(nullable=True, description="Optional status")


def fetch_from_somewhere(partition_date: str) -> list[dict]:
    """Twenty-four hourly readings for the day (ids repeat across days, so re-runs update)."""
    day = datetime.fromisoformat(partition_date).replace(tzinfo=UTC)
    return [
        {
            "id": f"reading-{hour:02d}",
            "created_at": (day + timedelta(hours=hour)).isoformat(),
            "value": (day.day * 7 + hour * 3) % 101,
            "status": None if hour % 5 else "checked",
        }
        for hour in range(24)
    ]


@dlt.resource(name="my_resource", write_disposition="replace")
def fetch_my_data(partition_date: str):
    """Fetch data from custom source."""
    data = fetch_from_somewhere(partition_date)
    for record in data:
        yield record


@cascade_ingestion(
    table_name="my_table",
    unique_key="id",
    validation_schema=RawMyData,  # PyIceberg schema auto-generated!
    group="my_domain",
    cron="0 */1 * * *",
    freshness_hours=(1, 24),
)
def my_asset(partition_date: str):
    """Ingest my data using custom DLT resource."""
    return fetch_my_data(partition_date)
