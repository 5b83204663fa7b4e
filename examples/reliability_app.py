"""The app `bench/reliability.py` serves: one pipeline, HTTP → stream → Iceberg, durable before the 200.

Append-only (no deduplication), so a record that landed twice shows as two rows.

    cascade-rt serve examples/reliability_app.py
"""

from typing import Any

import msgspec

from cascade_rt import IngestPipeline


class Event(msgspec.Struct):
    id: str
    n: int
    value: float
    name: str
    tags: list[str] = []
    meta: dict[str, Any] = {}


events = IngestPipeline[Event]("Events", {"table": True, "stream": True, "ingest_api": True, "dead_letter_queue": True})
