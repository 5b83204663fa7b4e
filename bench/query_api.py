"""Query API latency: GET /api/{name} on an Iceberg table against the same DuckDB SQL on a Parquet copy.

Usage: python bench/query_api.py [--quick] [--json] [--rows N] [--requests N]

One run builds a table of ``--rows`` rows (1 M; 100 k with --quick) through the runtime, serves a
query API over it (an aggregate with bound parameters, as a Moose API runs it) and times, round by
round interleaved: (a) an HTTP request to the API, end to end (parameters validated, the query
rendered and run by DuckDB over the table's cached Arrow scan, the result validated and encoded);
(b) the same SQL run directly by DuckDB on a Parquet copy of the table, on an open connection
(``read_parquet``, no HTTP). The figure is the median per request; the ratio is (b) / (a), so
1.0 means the API answers as fast as DuckDB reads the Parquet file (goal ≥ 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/actors.py would shadow the actors package: drop bench/ from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import aiohttp  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from cascade_rt import Api, MooseClient, OlapTable, Runtime  # noqa: E402
from cascade_rt._registry import Registry  # noqa: E402

SQL = ("SELECT customer, count(*) AS orders, sum(amount) AS total FROM {table} WHERE amount >= {min_amount} "
       "GROUP BY customer ORDER BY total DESC LIMIT {limit}")


class Order(BaseModel):
    id: int
    customer: str
    amount: float


class Params(BaseModel):
    min_amount: float = Field(default=0.0, ge=0)
    limit: int = Field(default=10, gt=0, le=100)


class Row(BaseModel):
    customer: str
    orders: int
    total: float


def _data(rows: int) -> pa.Table:
    import numpy as np

    rng = np.random.default_rng(7)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "customer": pa.array([f"c{i}" for i in rng.integers(0, 1000, rows)]),
        "amount": pa.array(rng.random(rows) * 100.0),
    })


async def run(rows: int, requests: int) -> dict[str, Any]:
    registry = Registry()
    table = OlapTable[Order]("orders", {"commit_rows": 10_000_000}, registry=registry)

    def query(client: MooseClient, params: Params) -> Any:
        return client.query.execute(SQL, {"table": table, "min_amount": params.min_amount, "limit": params.limit})

    Api[Params, Row]("top_customers", query_function=query, registry=registry)
    data = _data(rows)
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "orders.parquet"
        pq.write_table(data, parquet)
        async with Runtime(Path(tmp) / "home", registry=registry) as rt:
            for batch in data.to_batches(max_chunksize=250_000):
                await rt.tables["orders"](batch)
            await rt.flush()
            port = await rt.serve("127.0.0.1", 0)
            url = f"http://127.0.0.1:{port}/api/top_customers?min_amount=50&limit=10"
            import duckdb

            con = duckdb.connect()
            direct_sql = SQL.format(table=f"read_parquet('{parquet}')", min_amount="$min_amount", limit="$limit")

            def direct() -> list[Any]:
                return con.execute(direct_sql, {"min_amount": 50.0, "limit": 10}).fetchall()

            api_times: list[float] = []
            direct_times: list[float] = []
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as resp:  # first request: scans the table into the cache
                    first = await resp.json()
                # Same answer (sums compared loosely: DuckDB adds in parallel, in no fixed order).
                expected = direct()
                assert [(r["customer"], r["orders"]) for r in first] == [(c, n) for c, n, _ in expected]
                assert all(abs(r["total"] - t) < 1e-6 * abs(t) for r, (_, _, t) in zip(first, expected, strict=True))
                for _ in range(requests):
                    start = time.perf_counter()
                    async with http.get(url) as resp:
                        await resp.read()
                    api_times.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    direct()
                    direct_times.append(time.perf_counter() - start)
            engine = rt.query_apis().engine
            con.close()
    api_ms = statistics.median(api_times) * 1000
    direct_ms = statistics.median(direct_times) * 1000
    return {
        "rows": rows,
        "requests": requests,
        "api_ms": round(api_ms, 3),
        "duckdb_parquet_ms": round(direct_ms, 3),
        "ratio": round(direct_ms / api_ms, 3),
        "goal": 0.5,
        "table_scans": engine.scans,
        "cache_hits": engine.hits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 k rows, 20 requests")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    requests = args.requests or (20 if args.quick else 100)
    result = asyncio.run(run(rows, requests))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'case':<44} {'median ms':>10}")
    print(f"{'GET /api/top_customers (HTTP, cached scan)':<44} {result['api_ms']:>10.2f}")
    print(f"{'DuckDB on a Parquet copy (no HTTP)':<44} {result['duckdb_parquet_ms']:>10.2f}")
    print(f"ratio {result['ratio']:.2f} (goal >= 0.5) over {rows:,} rows; "
          f"{result['table_scans']} table scan(s), {result['cache_hits']} cache hits")


if __name__ == "__main__":
    main()
