"""The app `bench/ingest.py` serves: one pipeline, HTTP → stream → Iceberg, durable before the 200.

    cascade-rt serve examples/bench_app.py
"""

import msgspec

from cascade_rt import IngestPipeline, Key


class BenchRecord(msgspec.Struct):
    id: Key[str]
    name: str
    value: float
    count: int
    tags: list[str]


bench = IngestPipeline[BenchRecord](
    "bench",
    {
        "table": True,
        "stream": {"parallelism": 2},
        "ingest_api": True,
    },
)
