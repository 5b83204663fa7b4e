"""Tables that stay fast: ingest through ``cascade-rt serve`` with table maintenance on and off.

For each mode (``on``: the writer's default triggers; ``off``: ``cascade.compaction.enabled=false``),
a fresh home and a ``cascade-rt serve`` of a generated app with two tables:

* ``events`` (append): single-record bodies posted for ``--duration`` seconds by ``--connections``
  concurrent clients, at full speed;
* ``keyed`` (deduplicated): ``--bodies`` upsert bodies of ``--body-rows`` records each, keys drawn
  from ``--keys``.

After the server drains, each table's files (``table_stats``) and a full pyiceberg scan (best of
3) are compared with the same rows appended to a fresh table in one commit, in the same run.
Acknowledgement p99 (a 200 waits for the table commit) is reported per minute; ``--soak`` runs
10 minutes and compares the last minute with the first.

    .venv/bin/python bench/maintenance.py --quick          # 10 s of ingest per mode
    .venv/bin/python bench/maintenance.py                  # 3 minutes per mode
    .venv/bin/python bench/maintenance.py --soak --modes on --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP = '''
import msgspec
from cascade_rt import IngestPipeline, Key


class Event(msgspec.Struct):
    id: Key[str]
    value: float


events = IngestPipeline[Event]("events", {"table": True, "ingest_api": True})
keyed = IngestPipeline[Event]("keyed", {"table": {"deduplicate": True}, "ingest_api": True})
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("cascade-rt serve did not become ready within 60 s")


def _prepare(home: Path, app: Path, maintenance: bool) -> None:
    """Creates the app's tables before the server starts, with maintenance switched as asked."""
    from cascade_rt._registry import default_registry
    from cascade_rt.cli._app import load
    from cascade_rt.table import ensure_namespace, ensure_table, open_catalog

    load(str(app))
    catalog = open_catalog(home)
    registry = default_registry()
    for table in registry.all("table"):
        ensure_namespace(catalog, table.identifier[0])
        created = ensure_table(catalog, ".".join(table.identifier), table.schema.iceberg_schema())
        if not maintenance:
            created.transaction().set_properties({"cascade.compaction.enabled": "false"}).commit_transaction()
    registry.clear()


async def _single_records(port: int, duration: float, connections: int) -> list[tuple[float, float]]:
    """(time since start, ack seconds) of every single-record post."""
    import aiohttp

    acks: list[tuple[float, float]] = []
    began = time.perf_counter()
    stop = began + duration
    counter = iter(range(10**9))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            n = next(counter)
            body = json.dumps({"id": f"e{n}", "value": float(n)}).encode()
            t = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/ingest/events", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                if resp.status == 200:
                    acks.append((t - began, time.perf_counter() - t))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    return acks


async def _upserts(port: int, bodies: int, rows: int, keys: int) -> None:
    import aiohttp

    rng = random.Random(7)
    async with aiohttp.ClientSession() as session:
        for b in range(bodies):
            records = [{"id": f"k{rng.randrange(keys)}", "value": float(b)} for _ in range(rows)]
            async with session.post(f"http://127.0.0.1:{port}/ingest/keyed", data=json.dumps(records).encode(),
                                    headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"upsert body {b}: HTTP {resp.status}")


def _scan_seconds(table: Any) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(3):
        t = time.perf_counter()
        rows = table.scan().to_arrow().num_rows
        best = min(best, time.perf_counter() - t)
    return best, rows


def _table_report(catalog: Any, name: str) -> dict[str, Any]:
    import dataclasses

    from cascade_rt.table import ensure_table, table_stats

    table = catalog.load_table(("default", name))
    stats = dataclasses.asdict(table_stats(table))
    scan, rows = _scan_seconds(table)
    fresh = ensure_table(catalog, f"default.{name}_fresh", table.schema())
    fresh.append(table.scan().to_arrow())
    fresh_scan, _ = _scan_seconds(fresh)
    return {**stats, "rows": rows, "scan_s": scan, "fresh_scan_s": fresh_scan, "scan_ratio": scan / fresh_scan}


def _per_minute_p99(acks: list[tuple[float, float]]) -> list[float]:
    minutes: dict[int, list[float]] = {}
    for at, seconds in acks:
        minutes.setdefault(int(at // 60), []).append(seconds)
    out = []
    for m in sorted(minutes):
        values = sorted(minutes[m])
        out.append(values[min(len(values) - 1, int(0.99 * len(values)))])
    return out


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    from cascade_rt.table import open_catalog

    with tempfile.TemporaryDirectory(prefix="cascade-maint-") as tmp:
        home = Path(tmp) / "home"
        app = Path(tmp) / "maint_app.py"
        app.write_text(APP)
        _prepare(home, app, maintenance=mode == "on")
        port = _free_port()
        env = {**os.environ, "CASCADE_HOME": str(home)}
        server = subprocess.Popen([sys.executable, "-m", "cascade_rt.cli", "serve", str(app), "--port", str(port),
                                   "--home", str(home)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(port)
            acks = asyncio.run(_single_records(port, args.duration, args.connections))
            asyncio.run(_upserts(port, args.bodies, args.body_rows, args.keys))
        finally:
            server.terminate()
            server.wait(120)
        catalog = open_catalog(home)
        p99 = _per_minute_p99(acks)
        return {
            "mode": mode,
            "acks": len(acks),
            "acks_per_s": len(acks) / args.duration,
            "ack_p99_per_minute_ms": [round(v * 1000, 1) for v in p99],
            "last_vs_first_minute_p99": (p99[-1] / p99[0]) if len(p99) > 1 else None,
            "events": _table_report(catalog, "events"),
            "keyed": _table_report(catalog, "keyed"),
        }


def print_table(report: dict[str, Any]) -> None:
    print(f"{'mode':<5} {'table':<7} {'rows':>8} {'files':>6} {'small':>6} {'deletes':>8} {'manif':>6} "
          f"{'snaps':>6} {'scan ms':>8} {'fresh ms':>9} {'ratio':>6}")
    for run in report["runs"]:
        for name in ("events", "keyed"):
            t = run[name]
            print(f"{run['mode']:<5} {name:<7} {t['rows']:>8} {t['data_files']:>6} {t['small_data_files']:>6} "
                  f"{t['delete_files']:>8} {t['manifests']:>6} {t['snapshots']:>6} {t['scan_s'] * 1000:>8.1f} "
                  f"{t['fresh_scan_s'] * 1000:>9.1f} {t['scan_ratio']:>6.2f}")
        print(f"{run['mode']:<5} acks {run['acks']} ({run['acks_per_s']:.0f}/s), p99 per minute (ms): "
              f"{run['ack_p99_per_minute_ms']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10 s of ingest per mode, 10 upsert bodies")
    parser.add_argument("--soak", action="store_true", help="10 minutes of ingest per mode")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--modes", default="on,off", help="comma-separated subset of on,off")
    parser.add_argument("--duration", type=float, default=None, help="seconds of single-record ingest")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bodies", type=int, default=None, help="upsert bodies on the deduplicated table")
    parser.add_argument("--body-rows", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=20_000)
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 10.0 if args.quick else 600.0 if args.soak else 180.0
    if args.bodies is None:
        args.bodies = 10 if args.quick else 40
    report = {"duration_s": args.duration, "runs": [run_mode(m, args) for m in args.modes.split(",")]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
