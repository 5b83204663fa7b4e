"""Tables that stay fast: ingest through ``cascade-rt serve`` with table maintenance on and off.

For each mode (``on``: the writer's defaults; ``off``: what a plain Iceberg writer does, with
``cascade.compaction.enabled=false``, ``commit.manifest-merge.enabled=false`` and
``cascade.merge.rewrite-below-bytes=0``),
a fresh home and a ``cascade-rt serve`` of a generated app with two pipelines, each a durable
stream log feeding its table (which commits from the log about once a second):

* ``events`` (append): single-record bodies posted for ``--duration`` seconds by ``--connections``
  concurrent clients, at full speed (a 200 means synced to the log); meanwhile one more client
  posts a single record with ``?wait=table`` every ``--probe-interval`` seconds, which returns
  once the table has committed it: its latency is the table-commit latency a reader sees
  (waiting for the group, up to the 1 s commit interval, plus the commit, plus any compaction
  pass ahead of it in the commit queue);
* ``keyed`` (deduplicated): ``--bodies`` upsert bodies of ``--body-rows`` records each, keys drawn
  from ``--keys``, each posted with ``?wait=table`` (one commit per body).

When its ingest ends (and the table has committed it), each table is measured (files, and a
full pyiceberg scan, best of 9, against the same rows appended to a fresh table in one commit, in
the same run, the two scanned in turn); with maintenance on, again once the writer's idle pass has run
(``cascade.compaction.trigger.idle-ms``), the server still running. The files of each table are
also sampled during its ingest (every 5 s, and after each upsert body) for the peaks. ``/metrics`` is polled during ingest to mark the probes that were in flight while
a compaction pass ended. Per-minute p99 of acknowledgements and of table commits; ``--soak`` runs
10 minutes and compares the last minute with the first.

    .venv/bin/python bench/maintenance.py --quick          # 10 s of ingest per mode, 10 bodies
    .venv/bin/python bench/maintenance.py                  # 3 minutes per mode, 40 bodies
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


events = IngestPipeline[Event]("events", {"table": True, "stream": True, "ingest_api": True})
keyed = IngestPipeline[Event]("keyed", {"table": {"deduplicate": True}, "stream": True, "ingest_api": True})
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


NO_MAINTENANCE = {
    "cascade.compaction.enabled": "false",
    "commit.manifest-merge.enabled": "false",
    "cascade.merge.rewrite-below-bytes": "0",
}
"""Mode ``off``: no compaction, a manifest per commit, position deletes for every touched file (plain Iceberg)."""


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
            created.transaction().set_properties(NO_MAINTENANCE).commit_transaction()
    registry.clear()


IDLE_MS = 15_000
"""The writer's default ``cascade.compaction.trigger.idle-ms``."""


async def _post(session: Any, port: int, table: str, body: bytes, *, wait_table: bool = False) -> int:
    url = f"http://127.0.0.1:{port}/ingest/{table}" + ("?wait=table" if wait_table else "")
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        await resp.read()
        return int(resp.status)


def _compactions(port: int) -> float:
    """The events table's compactions so far (from /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('cascade_table_compactions_total{table="default.events"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _last_maintenance(port: int, table: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(f'cascade_table_last_maintenance_seconds{{table="default.{table}"}}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class _Peaks:
    """The most data files, delete files and manifests a table was seen with (``table_stats``)."""

    def __init__(self, home: Path, name: str) -> None:
        from cascade_rt.table import open_catalog

        self.catalog = open_catalog(home)
        self.name = name
        self.peaks = {"data_files": 0, "delete_files": 0, "manifests": 0}

    def sample(self) -> None:
        from cascade_rt.table import table_stats

        stats = table_stats(self.catalog.load_table(("default", self.name)))
        for key in self.peaks:
            self.peaks[key] = max(self.peaks[key], getattr(stats, key))


async def _single_records(port: int, duration: float, connections: int, probe_interval: float,
                          peaks: _Peaks) -> dict[str, Any]:
    """Acks (time since start, seconds) of the single-record posts, table-commit probes
    (start, end, seconds), the times a compaction pass was seen to end, and the table's file
    counts every 5 s (``peaks``)."""
    import aiohttp

    acks: list[tuple[float, float]] = []
    probes: list[tuple[float, float, float]] = []
    passes: list[float] = []
    began = time.perf_counter()
    stop = began + duration
    counter = iter(range(10**9))

    def body() -> bytes:
        n = next(counter)
        return json.dumps({"id": f"e{n}", "value": float(n)}).encode()

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            if await _post(session, port, "events", body()) == 200:
                acks.append((t - began, time.perf_counter() - t))

    async def probe(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            if await _post(session, port, "events", body(), wait_table=True) == 200:
                done = time.perf_counter()
                probes.append((t - began, done - began, done - t))
            await asyncio.sleep(max(0.0, probe_interval - (time.perf_counter() - t)))

    async def watch() -> None:
        seen = await asyncio.to_thread(_compactions, port)
        while time.perf_counter() < stop:
            await asyncio.sleep(0.25)
            now = await asyncio.to_thread(_compactions, port)
            if now > seen:
                passes.append(time.perf_counter() - began)
                seen = now

    async def files() -> None:
        while time.perf_counter() < stop:
            await asyncio.sleep(5)
            await asyncio.to_thread(peaks.sample)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(connections)), probe(session), watch(), files())
        # Everything posted is in the log before this: once it is committed, so is the rest.
        if await _post(session, port, "events", body(), wait_table=True) != 200:
            raise RuntimeError("the last table-commit probe failed")
    return {"acks": acks, "probes": probes, "passes": passes}


async def _upserts(port: int, bodies: int, rows: int, keys: int, peaks: _Peaks) -> list[float]:
    """Seconds from post to table commit of each upsert body (the table's files sampled after each)."""
    import aiohttp

    rng = random.Random(7)
    out = []
    async with aiohttp.ClientSession() as session:
        for b in range(bodies):
            records = [{"id": f"k{rng.randrange(keys)}", "value": float(b)} for _ in range(rows)]
            t = time.perf_counter()
            status = await _post(session, port, "keyed", json.dumps(records).encode(), wait_table=True)
            if status != 200:
                raise RuntimeError(f"upsert body {b}: HTTP {status}")
            out.append(time.perf_counter() - t)
            await asyncio.to_thread(peaks.sample)
    return out


def _scan_seconds(tables: list[Any], rounds: int = 9) -> list[tuple[float, int]]:
    """Best of ``rounds`` full scans of each table (the first warms the file cache), taken in turn
    so that each table sees the same load on the machine, and the rows each read."""
    best = [float("inf")] * len(tables)
    rows = [0] * len(tables)
    for _ in range(rounds):
        for i, table in enumerate(tables):
            t = time.perf_counter()
            rows[i] = table.scan().to_arrow().num_rows
            best[i] = min(best[i], time.perf_counter() - t)
    return list(zip(best, rows, strict=True))


def _table_report(catalog: Any, name: str, suffix: str) -> dict[str, Any]:
    import dataclasses

    from cascade_rt.table import ensure_table, table_stats

    table = catalog.load_table(("default", name))
    stats = dataclasses.asdict(table_stats(table))
    fresh = ensure_table(catalog, f"default.{name}_fresh_{suffix}", table.schema())
    fresh.append(table.scan().to_arrow())
    (scan, rows), (fresh_scan, _) = _scan_seconds([table, fresh])
    return {**stats, "rows": rows, "scan_s": scan, "fresh_scan_s": fresh_scan, "scan_ratio": scan / fresh_scan}


def _wait_idle_pass(port: int, table: str, since: float, timeout: float) -> bool:
    """Waits until the table's writer ran a maintenance pass that ended at least the idle time
    after ``since`` (Unix time), i.e. its idle pass; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _last_maintenance(port, table) >= since + IDLE_MS / 1000:
            return True
        time.sleep(0.5)
    return False


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _per_minute_p99(samples: list[tuple[float, float]]) -> list[float]:
    minutes: dict[int, list[float]] = {}
    for at, seconds in samples:
        minutes.setdefault(int(at // 60), []).append(seconds)
    return [p for m in sorted(minutes) if (p := _p99(minutes[m])) is not None]


def _ms(values: list[float]) -> list[float]:
    return [round(v * 1000, 1) for v in values]


def _latency_report(ingest: dict[str, Any]) -> dict[str, Any]:
    acks, probes, passes = ingest["acks"], ingest["probes"], ingest["passes"]
    commit_minutes = _per_minute_p99([(start, seconds) for start, _, seconds in probes])
    ack_minutes = _per_minute_p99(acks)
    # A probe "during a pass": in flight when /metrics showed a pass had ended (0.25 s polls).
    during = [seconds for start, end, seconds in probes if any(start <= at <= end + 0.25 for at in passes)]
    return {
        "acks": len(acks),
        "ack_p99_per_minute_ms": _ms(ack_minutes),
        "commit_probes": len(probes),
        "commit_p99_per_minute_ms": _ms(commit_minutes),
        "commit_p99_ms": round((_p99([p[2] for p in probes]) or 0) * 1000, 1),
        "commit_max_ms": round(max((p[2] for p in probes), default=0) * 1000, 1),
        "compaction_passes_seen": len(passes),
        "commit_during_pass_max_ms": round(max(during, default=0) * 1000, 1),
        "commit_during_pass_probes": len(during),
        "last_vs_first_minute_commit_p99": (commit_minutes[-1] / commit_minutes[0]) if len(commit_minutes) > 1 else None,
        "last_vs_first_minute_ack_p99": (ack_minutes[-1] / ack_minutes[0]) if len(ack_minutes) > 1 else None,
    }


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
        out: dict[str, Any] = {"mode": mode}
        try:
            _wait_ready(port)
            catalog = open_catalog(home)
            events_peaks, keyed_peaks = _Peaks(home, "events"), _Peaks(home, "keyed")
            ingest = asyncio.run(_single_records(port, args.duration, args.connections, args.probe_interval,
                                                 events_peaks))
            events_done = time.time()
            at_end = {"events": _table_report(catalog, "events", "end")}  # before its idle pass
            upserts = (asyncio.run(_upserts(port, args.bodies, args.body_rows, args.keys, keyed_peaks))
                       if args.bodies else [])
            keyed_done = time.time()
            at_end["keyed"] = _table_report(catalog, "keyed", "end")
            out.update({
                "acks_per_s": len(ingest["acks"]) / args.duration,
                **_latency_report(ingest),
                "upsert_commit_p99_ms": round((_p99(upserts) or 0) * 1000, 1),
                "peak_files_during_ingest": {"events": events_peaks.peaks, "keyed": keyed_peaks.peaks},
                "at_end": at_end,
            })
            if mode == "on":
                idle = {name: _wait_idle_pass(port, name, done, IDLE_MS / 1000 + 120)
                        for name, done in (("events", events_done), ("keyed", keyed_done))}
                out["idle_pass_seen"] = idle
                out["at_rest"] = {name: _table_report(catalog, name, "rest") for name in ("events", "keyed")}
        finally:
            server.terminate()
            server.wait(120)
        return out


def print_table(report: dict[str, Any]) -> None:
    print(f"{'mode':<4} {'when':<7} {'table':<7} {'rows':>8} {'files':>6} {'small':>6} {'deletes':>8} "
          f"{'manif':>6} {'snaps':>6} {'scan ms':>8} {'fresh ms':>9} {'ratio':>6}")
    for run in report["runs"]:
        for when in ("at_end", "at_rest"):
            for name, t in run.get(when, {}).items():
                print(f"{run['mode']:<4} {when[3:]:<7} {name:<7} {t['rows']:>8} {t['data_files']:>6} "
                      f"{t['small_data_files']:>6} {t['delete_files']:>8} {t['manifests']:>6} {t['snapshots']:>6} "
                      f"{t['scan_s'] * 1000:>8.1f} {t['fresh_scan_s'] * 1000:>9.1f} {t['scan_ratio']:>6.2f}")
    for run in report["runs"]:
        ratio = run["last_vs_first_minute_commit_p99"]
        print(f"{run['mode']}: {run['acks']} acks ({run['acks_per_s']:.0f}/s), ack p99 per minute "
              f"{run['ack_p99_per_minute_ms']} ms; table commit (?wait=table) p99 per minute "
              f"{run['commit_p99_per_minute_ms']} ms, max {run['commit_max_ms']} ms"
              + (f", last/first minute {ratio:.2f}" if ratio is not None else "")
              + f"; {run['compaction_passes_seen']} passes seen, commit max during a pass "
              f"{run['commit_during_pass_max_ms']} ms ({run['commit_during_pass_probes']} probes); "
              f"upsert commit p99 {run['upsert_commit_p99_ms']} ms")
        for name, peaks in run["peak_files_during_ingest"].items():
            print(f"{run['mode']}: {name} during ingest at most {peaks['data_files']} data files, "
                  f"{peaks['delete_files']} delete files, {peaks['manifests']} manifests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10 s of ingest per mode, 10 upsert bodies")
    parser.add_argument("--soak", action="store_true", help="10 minutes of ingest per mode")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--modes", default="on,off", help="comma-separated subset of on,off")
    parser.add_argument("--duration", type=float, default=None, help="seconds of single-record ingest")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bodies", type=int, default=None,
                        help="upsert bodies on the deduplicated table (0: none)")
    parser.add_argument("--body-rows", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--probe-interval", type=float, default=0.25,
                        help="seconds between table-commit probes (?wait=table)")
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
