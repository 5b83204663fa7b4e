"""Batch-asset throughput: our asset run against a plain dlt pipeline into Iceberg, same run.

Usage: python bench/assets.py [--quick] [--json] [--rows N] [--baseline-rows N] [--page N]

A loopback aiohttp server plays a REST API with page-number pagination (pages of ``--page``
rows). The same source (``rest_api_source``) is loaded twice, a first load and a re-load where
every row changed (so every row is an update):

* ours: ``AssetRunner.run_asset`` of a ``@cascade_ingestion`` asset (dlt extract, Pandera
  validation, metadata columns, Parquet staging, Iceberg merge on the key in one commit);
* baseline: ``pipeline.run`` into dlt's own filesystem destination with ``table_format="iceberg"``
  and ``write_disposition={"disposition": "merge", "strategy": "upsert"}``.

The baseline manages about 2,000 rows/s here, so it loads ``--baseline-rows`` (default 20,000)
rows rather than the full ``--rows`` (default 100,000): rows/s is the comparable figure, and the
ratio is ours / baseline rows/s for each load. Goal: >= 10x. Each side first makes one small
untimed warm-up load (its own table), so one-off process costs (imports, Pandera's first
validation, dlt's first pipeline) are not charged to the first measured load of either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import orjson
from aiohttp import web


class Api:
    """``GET /items?page=N``: ``{"data": [...], "total_pages": P}``; ``version`` changes every value."""

    def __init__(self) -> None:
        self.n, self.page, self.version = 0, 5000, 0
        self.bodies: list[bytes] = []

    def build(self, n: int, page: int, version: int) -> None:
        self.n, self.page, self.version = n, page, version
        pages = max(1, -(-n // page))
        self.bodies = []
        for p in range(pages):
            rows = [
                {
                    "id": f"r{i:07d}",
                    "created_at": "2024-01-01T02:00:00+02:00",
                    "value": (i + version) % 100,
                    "status": None if i % 3 else f"v{version}",
                }
                for i in range(p * page, min(n, (p + 1) * page))
            ]
            self.bodies.append(orjson.dumps({"data": rows, "page": p + 1, "total_pages": pages}))

    async def handle(self, request: web.Request) -> web.Response:
        p = int(request.query.get("page", "1"))
        body = (
            self.bodies[p - 1]
            if p <= len(self.bodies)
            else orjson.dumps({"data": [], "total_pages": len(self.bodies)})
        )
        return web.Response(body=body, content_type="application/json")

    def start(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/items", self.handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return f"http://127.0.0.1:{port}"


def config(base_url: str) -> dict[str, Any]:
    return {
        "client": {
            "base_url": base_url,
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"},
        },
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": {"disposition": "merge", "strategy": "upsert"},
                "endpoint": {"path": "items", "data_selector": "data"},
            }
        ],
    }


def bench_ours(api: Api, base_url: str, rows: int, page: int, home: Path) -> list[float]:
    from dlt.sources.rest_api import rest_api_source
    from pandera.pandas import DataFrameModel, Field

    from cascade_rt.ingestion import AssetRunner, cascade_ingestion

    class BenchItems(DataFrameModel):
        id: str = Field(nullable=False, unique=True, description="Unique identifier")
        created_at: datetime = Field(nullable=False)
        value: int = Field(ge=0, le=100)
        status: str | None = Field(nullable=True)

    @cascade_ingestion(
        table_name="bench_items",
        unique_key="id",
        validation_schema=BenchItems,
        group="bench",
        max_retries=0,
        max_runtime_seconds=3600,
    )
    def bench_items(partition_date: str) -> Any:
        return rest_api_source(config(base_url))

    @cascade_ingestion(
        table_name="bench_warmup", unique_key="id", validation_schema=BenchItems, max_retries=0
    )
    def bench_warmup(partition_date: str) -> Any:
        return rest_api_source(config(base_url))

    runner = AssetRunner(home=home)
    # Warm-up (not timed): one small run pays the process's one-off costs (Pandera's first
    # validation sets up its backends, ~0.5 s; dlt's first pipeline) on a table of its own.
    api.build(100, page, 9)
    warm = anyio.run(lambda: runner.run_asset("bench_warmup", partition_date="2024-01-01"))
    if not warm.ok:
        raise SystemExit(f"warm-up run failed: {warm.error}")
    rates = []
    for version in (0, 1):
        api.build(rows, page, version)
        start = time.perf_counter()
        result = anyio.run(lambda: runner.run_asset("bench_items", partition_date="2024-01-01"))
        elapsed = time.perf_counter() - start
        if not result.ok or result.rows_loaded != rows:
            raise SystemExit(f"our run failed: {result.error} ({result.rows_loaded} rows)")
        expected = (rows, 0) if version == 0 else (0, rows)
        if (result.rows_inserted, result.rows_updated) != expected:
            raise SystemExit(
                f"our run merged {result.rows_inserted} new, {result.rows_updated} updated; expected {expected}"
            )
        rates.append(rows / elapsed)
    return rates


def bench_dlt(api: Api, base_url: str, rows: int, page: int, home: Path) -> list[float]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    pipeline = dlt.pipeline(
        "bench_dlt",
        pipelines_dir=str(home / "dlt"),
        destination=dlt.destinations.filesystem((home / "lake").as_uri()),
        dataset_name="raw",
    )
    # Warm-up (not timed), as for ours: a small load through a pipeline of its own.
    api.build(100, page, 9)
    warm = dlt.pipeline(
        "bench_dlt_warmup",
        pipelines_dir=str(home / "dlt"),
        destination=dlt.destinations.filesystem((home / "warm").as_uri()),
        dataset_name="raw",
    )
    warm.run(rest_api_source(config(base_url)), table_format="iceberg", loader_file_format="parquet")
    rates = []
    for version in (0, 1):
        api.build(rows, page, version)
        start = time.perf_counter()
        pipeline.run(rest_api_source(config(base_url)), table_format="iceberg", loader_file_format="parquet")
        elapsed = time.perf_counter() - start
        rates.append(rows / elapsed)
    from pyiceberg.table import StaticTable

    metadata = sorted(
        (home / "lake" / "raw" / "items" / "metadata").glob("*.metadata.json"), key=os.path.getmtime
    )
    data = StaticTable.from_metadata(str(metadata[-1])).scan().to_arrow()
    if data.num_rows != rows or set(data.column("value").to_pylist()) != {(i + 1) % 100 for i in range(rows)}:
        raise SystemExit(f"dlt baseline left {data.num_rows} rows, expected {rows} updated rows")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (10,000 rows, baseline 2,000)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--rows", type=int, default=None, help="rows for our asset (default 100,000)")
    parser.add_argument(
        "--baseline-rows", type=int, default=None, help="rows for the dlt baseline (default 20,000)"
    )
    parser.add_argument("--page", type=int, default=5000, help="rows per page")
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    base_rows = args.baseline_rows or (2_000 if args.quick else 20_000)
    page = min(args.page, rows)

    api = Api()
    base_url = api.start()
    work = Path(tempfile.mkdtemp(prefix="cascade-bench-assets-"))
    try:
        ours = bench_ours(api, base_url, rows, page, work / "ours")
        theirs = bench_dlt(api, base_url, base_rows, min(page, base_rows), work / "dlt")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = []
    for i, load in enumerate(("first load (insert)", "re-load (update every row)")):
        results.append(
            {
                "load": load,
                "ours_rows": rows,
                "ours_rows_per_s": round(ours[i]),
                "dlt_rows": base_rows,
                "dlt_rows_per_s": round(theirs[i]),
                "ratio": round(ours[i] / theirs[i], 1),
            }
        )
    if args.json:
        print(json.dumps({"benchmark": "assets", "page_size": page, "goal_ratio": 10, "results": results}))
        return
    print(
        f"batch asset: REST API (pages of {page}) -> Iceberg merge on key; baseline dlt filesystem+iceberg upsert"
    )
    header = (
        f"{'load':<28} {'ours rows':>10} {'ours rows/s':>12} {'dlt rows':>9} {'dlt rows/s':>11} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['load']:<28} {r['ours_rows']:>10,} {r['ours_rows_per_s']:>12,} {r['dlt_rows']:>9,} "
            f"{r['dlt_rows_per_s']:>11,} {r['ratio']:>6}x"
        )
    print("goal: ratio >= 10x for each load")


if __name__ == "__main__":
    main()
