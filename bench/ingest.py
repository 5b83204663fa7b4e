"""HTTP ingest throughput and acknowledgement latency.

Targets, each a server in its own process, loaded by a generator in another process (many
concurrent keep-alive connections, bounded in count and time, loopback only):

* ``a``     bare aiohttp handler that only reads the body;
* ``b``     aiohttp handler doing msgspec + Arrow decode, no durability;
* ``own``   ``cascade_rt.ingest.build_app`` with a real ``RecordSchema``, decode inline, and an
            endpoint whose ``submit`` returns at once (the HTTP layer alone, no durability);
* ``pool``  the same, with decode+validate moved behind an actor-pool hop (``actors.Pool`` when
            available, else the cheapest equivalent: worker tasks on a queue with a reply future);
* ``c``     the full runtime, durable to Iceberg: ``python -m cascade_rt.cli serve
            examples/bench_app.py --port P``, posting to ``--cascade-path`` (default
            ``/ingest/bench``); skipped with a message when the CLI or the app is not there.

Bodies: 1,000-record ``JSON_ARRAY`` arrays and single records, at high concurrency (raw client,
256 / 2,048 connections) and at the modest concurrency real clients have (aiohttp's client:
``array_1000@16``, ``single@64``, and ``single@1``, one connection posting one record after
another, whose p50 is the acknowledgement latency). Reported: records/s, requests/s, p50/p99
acknowledgement latency, ratios ``own/b``, ``own/a``, ``pool/own``, ``c/b``, ``c/a``.
Goals: ``c`` ≥ 0.7x ``b`` and ≥ 500,000 records/s on 1,000-record bodies (also at 16
connections); single-record bodies ≥ 0.7x ``a``'s requests/s (also at 64 connections); a
sequential single record acknowledged in ≤ 3 ms (p50).

    .venv/bin/python bench/ingest.py            # ~4 minutes: raw client, 256 / 2,048 connections
    .venv/bin/python bench/ingest.py --quick    # smoke run
    .venv/bin/python bench/ingest.py --json --client aiohttp --connections-single 256
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds modules named like packages (bench/actors.py): keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class BenchRecord(msgspec.Struct, gc=False):
    id: str
    name: str
    value: float
    count: int
    tags: list[str]


def make_body(n: int) -> bytes:
    records = [
        {"id": f"id-{i:07d}", "name": f"name {i % 97}", "value": i * 0.25, "count": i, "tags": ["a", f"t{i % 5}"]}
        for i in range(n)
    ]
    return msgspec.json.encode(records if n > 1 else records[0])


# ---------------------------------------------------------------------------------------- servers


def _baseline_decoder() -> Any:
    import pyarrow as pa

    many = msgspec.json.Decoder(list[BenchRecord])
    one = msgspec.json.Decoder(BenchRecord)
    schema = pa.schema([("id", pa.string()), ("name", pa.string()), ("value", pa.float64()),
                        ("count", pa.int64()), ("tags", pa.list_(pa.string()))])

    def decode(body: bytes) -> Any:
        records = many.decode(body) if body.lstrip()[:1] == b"[" else [one.decode(body)]
        return pa.RecordBatch.from_arrays(
            [pa.array([r.id for r in records], pa.string()), pa.array([r.name for r in records], pa.string()),
             pa.array([r.value for r in records], pa.float64()), pa.array([r.count for r in records], pa.int64()),
             pa.array([r.tags for r in records], pa.list_(pa.string()))],
            schema=schema,
        )

    return decode


class _NullEndpoint:
    """Accepts at once: measures the HTTP layer without durability."""

    def __init__(self, schema: Any) -> None:
        self.name, self.version, self.schema, self.format = "bench", None, schema, None

    async def submit(self, batch: Any, *, admission_timeout: float) -> None:
        return None

    async def reject(self, body: bytes, errors: list[dict[str, Any]], fmt: str) -> None:
        return None


async def _start_pool_hop(size: int = 2) -> Any:
    """An async ``decode(schema, body, fmt)`` that goes through a pool of workers."""
    try:
        from actors import ActorSystem, Pool  # type: ignore[attr-defined]
    except ImportError:
        ActorSystem = Pool = None
    if ActorSystem is not None and Pool is not None:
        from actors import Actor

        class Decoder(Actor):  # type: ignore[misc]
            async def receive(self, message: Any) -> Any:
                schema, body, fmt = message
                return schema.decode(body, fmt)

        system = ActorSystem("bench")
        await system.__aenter__()
        pool = await system.spawn(Pool, name="decoders", factory=Decoder, size=size, router="round_robin")

        async def decode_actor(schema: Any, body: bytes, fmt: str) -> Any:
            return await pool.ask((schema, body, fmt))

        return decode_actor, "actors.Pool"

    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

    async def worker() -> None:
        while True:
            schema, body, fmt, fut = await queue.get()
            try:
                fut.set_result(schema.decode(body, fmt))
            except Exception as exc:
                fut.set_exception(exc)

    workers = [asyncio.ensure_future(worker()) for _ in range(size)]  # owned by the server process

    async def decode_queue(schema: Any, body: bytes, fmt: str) -> Any:
        fut = asyncio.get_running_loop().create_future()
        await queue.put((schema, body, fmt, fut))
        return await fut

    decode_queue.workers = workers  # type: ignore[attr-defined]
    return decode_queue, "queue+future stand-in (actors.Pool not available)"


async def _build_target_app(target: str) -> tuple[Any, str]:
    """The aiohttp app of an in-bench target (``a``, ``b``, ``own`` or ``pool``) and a note."""
    from aiohttp import web

    from cascade_rt.ingest import StaticState, build_app
    from cascade_rt.ingest._handler import IngestHandler
    from cascade_rt.schema import RecordSchema

    if target == "a":
        async def bare(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=b'{"accepted":0}', content_type="application/json")

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/ingest/{name}", bare)
        return app, ""
    if target == "b":
        decode = _baseline_decoder()

        async def decoding(request: web.Request) -> web.Response:
            batch = decode(await request.read())
            return web.Response(body=b'{"accepted":%d}' % batch.num_rows, content_type="application/json")

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/ingest/{name}", decoding)
        return app, ""
    note = ""
    if target == "pool":
        hop, note = await _start_pool_hop()

        async def pooled(self: Any, endpoint: Any, body: bytes, fmt: str) -> Any:
            return await hop(endpoint.schema, body, fmt)

        IngestHandler.decode = pooled  # type: ignore[method-assign]
    state = StaticState([_NullEndpoint(RecordSchema.of(BenchRecord))])
    state.set_ready()
    return build_app(state, token=""), note


def _server_main(target: str, conn: Any) -> None:
    import uvloop

    from cascade_rt.cli._app import GC_THRESHOLD, raise_file_limit
    from cascade_rt.ingest import serve

    raise_file_limit()

    async def main() -> None:
        app, note = await _build_target_app(target)
        _runner, port = await serve(app, "127.0.0.1", 0)
        # The garbage-collector settings of `cascade-rt serve` (target c), so that no ratio comes
        # from them.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        conn.send((port, note))
        await asyncio.Event().wait()

    uvloop.run(main())


def _handler_cost_main(targets: list[str], bodies: dict[str, bytes], seconds: float, conn: Any) -> None:
    """CPU per request of each app's dispatch + handler, no sockets (a steadier figure than HTTP
    throughput on a shared machine): mocked requests through ``app._handle``."""
    import uvloop
    from aiohttp import streams
    from aiohttp.test_utils import make_mocked_request

    async def main() -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {kind: {} for kind in bodies}
        for target in sorted(targets, key=lambda t: t == "pool"):  # pool patches the handler: last
            app, _ = await _build_target_app(target)
            app.freeze()
            for kind, body in bodies.items():
                headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}

                def request(app: Any = app, headers: dict[str, str] = headers, body: bytes = body) -> Any:
                    req = make_mocked_request("POST", "/ingest/bench", headers=headers, app=app,
                                              client_max_size=16 * 1024 * 1024)
                    payload = streams.StreamReader(req.protocol, 2**16, loop=asyncio.get_running_loop())
                    payload.feed_data(body)
                    payload.feed_eof()
                    req._payload = payload
                    return req

                spent, samples = 0.0, []
                while spent < seconds and len(samples) < 50:  # mocked requests are slow to build
                    batch = [request() for _ in range(20)]
                    t0 = time.process_time()  # CPU time: other processes' load counts less
                    for req in batch:
                        response = await app._handle(req)
                        if response.status != 200:
                            raise RuntimeError(f"{target}: status {response.status}: {response.body!r}")
                    took = time.process_time() - t0
                    spent += took
                    samples.append(took / len(batch))
                out[kind][target] = sorted(samples)[len(samples) // 2] * 1e6  # median of 20-request chunks
        return out

    conn.send(uvloop.run(main()))


# ---------------------------------------------------------------------------------------- clients


async def _aiohttp_load(url: str, body: bytes, connections: int, duration: float, warmup: float) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "records": 0}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def one(session: aiohttp.ClientSession) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.read()
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if response.status == 200:
                    counts["ok"] += 1
                    counts["records"] += json.loads(payload)["accepted"]
                    latencies.append(t1 - t0)
                else:
                    counts["errors"] += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _bounded(asyncio.gather(*(one(session) for _ in range(connections))), stop_at, counts)
    return {**counts, "latencies": latencies, "seconds": duration}


async def _bounded(gathered: Any, stop_at: float, counts: dict[str, int]) -> None:
    """Waits for in-flight requests at most ``GRACE`` seconds past the end; the rest count as
    ``unfinished`` (a server that holds requests cannot stall the benchmark)."""
    try:
        await asyncio.wait_for(gathered, max(0.0, stop_at - time.perf_counter()) + GRACE)
    except TimeoutError:
        counts["unfinished"] = counts.get("unfinished", 0) + 1


GRACE = 10.0


async def _raw_load(host: str, port: int, path: str, body: bytes, connections: int, duration: float,
                    warmup: float) -> dict[str, Any]:
    """A minimal keep-alive HTTP/1.1 client: pre-built request bytes, Content-Length framing."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "records": 0}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                payload = await reader.readexactly(length)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if head.startswith(b"HTTP/1.1 200"):
                        counts["ok"] += 1
                        counts["records"] += json.loads(payload)["accepted"]
                        latencies.append(t1 - t0)
                    else:
                        counts["errors"] += 1
        finally:
            writer.close()

    await _bounded(asyncio.gather(*(one() for _ in range(connections))), stop_at, counts)
    return {**counts, "latencies": latencies, "seconds": duration}


def _client_main(kind: str, port: int, path: str, body: bytes, connections: int, duration: float,
                 warmup: float, conn: Any) -> None:
    import uvloop

    from cascade_rt.cli._app import raise_file_limit

    raise_file_limit()  # thousands of connections

    if kind == "raw":
        coro = _raw_load("127.0.0.1", port, path, body, connections, duration, warmup)
    else:
        coro = _aiohttp_load(f"http://127.0.0.1:{port}{path}", body, connections, duration, warmup)
    result = uvloop.run(coro)
    lat = sorted(result.pop("latencies"))

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    seconds = result["seconds"]
    conn.send({
        "requests_per_s": result["ok"] / seconds,
        "records_per_s": result["records"] / seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": result["errors"],
        "unfinished": bool(result.get("unfinished")),
    })


# ---------------------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
                if response.status == 200:
                    return True
        time.sleep(0.2)
    return False


def _console_main(port: int, page: str) -> None:
    """An open console: loads ``page`` once, then reads its live updates until terminated."""
    base = f"http://127.0.0.1:{port}"
    path = "/" if page == "overview" else f"/console/{page}"
    with urllib.request.urlopen(base + path, timeout=10) as response:
        response.read()
    with urllib.request.urlopen(f"{base}/admin/events?page={page}", timeout=30) as events:
        while events.readline():
            pass


class _Target:
    """A running server: an in-bench process, or ``cascade-rt serve`` as a subprocess."""

    def __init__(self, name: str, ctx: Any, cascade_path: str, cascade_app: str = "examples/bench_app.py",
                 console: str | None = None) -> None:
        self.name = name
        self._console: Any = None
        self.note = ""
        self.path = "/ingest/bench"
        self._proc: Any = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self.home: str | None = None
        if name not in ("c", "cc"):
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(target=_server_main, args=(name, child), daemon=True)
            self._proc.start()
            self.port, self.note = parent.recv()
            return
        self.path = cascade_path
        app = (ROOT / cascade_app).resolve()
        try:
            import cascade_rt.cli  # noqa: F401
        except ImportError as exc:
            raise _Skip(f"cascade_rt.cli is not importable yet ({exc})") from None
        if not app.exists():
            raise _Skip(f"{cascade_app} does not exist yet")
        self.port = _free_port()
        self._home = tempfile.TemporaryDirectory(prefix="cascade-bench-")
        self.home = self._home.name
        env = {**os.environ, "CASCADE_HOME": self._home.name}
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "cascade_rt.cli", "serve", str(app), "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        if not _wait_ready(self.port, 60):
            self.close()
            raise _Skip("`cascade-rt serve examples/bench_app.py` did not become ready within 60 s")
        if console:
            self._console = ctx.Process(target=_console_main, args=(self.port, console), daemon=True)
            self._console.start()
            self.note = f"console {console} page open (live updates)"

    def close(self) -> None:
        if self._console is not None:
            self._console.terminate()
            self._console.join(5)
        if self._proc is not None:
            self._proc.terminate()
            self._proc.join(5)
        if self._popen is not None:
            self._popen.terminate()
            try:
                self._popen.wait(30)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        if self._home is not None:
            self._home.cleanup()


class _Skip(Exception):
    pass


def _measure(ctx: Any, args: argparse.Namespace, target: _Target, body: bytes, connections: int,
             client_kind: str | None = None) -> dict[str, Any]:
    parent, child = ctx.Pipe()
    client = ctx.Process(
        target=_client_main,
        args=(client_kind or args.client, target.port, target.path, body, connections, args.duration, args.warmup,
              child),
    )
    client.start()
    result: dict[str, Any] = parent.recv()
    ended = time.time()  # the client has just finished its measured seconds
    client.join(10)
    if target.home is not None:
        result["table_commits_per_s"] = _commits_per_s(target.home, ended - args.duration, ended)
    return result


def _commits_per_s(home: str, start: float, end: float) -> float:
    """Appends the table of ``cascade-rt serve`` committed per second between ``start`` and ``end``
    (its snapshots' times; maintenance snapshots are not counted)."""
    from cascade_rt.table import open_catalog

    table = open_catalog(home).load_table("default.bench")
    times = [s.timestamp_ms / 1000 for s in table.snapshots()
             if s.summary is not None and s.summary.operation.value != "replace"]
    return sum(start <= t <= end for t in times) / max(end - start, 1e-9)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Starts every target, then measures them interleaved for ``--rounds`` rounds, keeping each
    target's best run (the machine is shared: the best run is the least disturbed one)."""
    ctx = mp.get_context("spawn")
    payloads = {"array_1000": make_body(1000), "single": make_body(1)}
    bodies = {kind: payloads[kind] for kind in ("array_1000", "single") if kind in args.bodies}
    # (label, body, connections, client): the high-concurrency cases, then the modest ones real
    # clients have (16 connections posting arrays, 64 posting single records, aiohttp's client),
    # and one connection posting single records one after another (the acknowledgement latency).
    cases = [(kind, kind, args.connections_array if kind == "array_1000" else args.connections_single, args.client)
             for kind in bodies]
    if args.modest:
        cases += [(f"{kind}@{n}", kind, n, "aiohttp") for kind, n in (("array_1000", 16), ("single", 64), ("single", 1))
                  if kind in bodies]
    connections = {label: n for label, _, n, _ in cases}
    results: dict[str, dict[str, Any]] = {label: {} for label, *_ in cases}
    notes: dict[str, str] = {}
    targets: list[_Target] = []
    try:
        for name in args.targets:
            try:
                targets.append(_Target(name, ctx, args.cascade_path, args.cascade_app,
                                       args.console if name == "cc" else None))
            except _Skip as skip:
                notes[name] = f"skipped: {skip}"
                print(f"[{name}] skipped: {skip}", file=sys.stderr)
                continue
            if targets[-1].note:
                notes[name] = targets[-1].note
        for round_no in range(args.rounds):
            for label, kind, n, client_kind in cases:
                for target in targets:
                    metric = "records_per_s" if kind == "array_1000" and target.name != "a" else "requests_per_s"
                    result = _measure(ctx, args, target, payloads[kind], n, client_kind)
                    print(f"[round {round_no + 1}] {target.name} {label}: {result}", file=sys.stderr)
                    best = results[label].get(target.name)
                    if best is None or result[metric] > best[metric]:
                        results[label][target.name] = result
    finally:
        for target in targets:
            target.close()
    handler_us: dict[str, dict[str, float]] = {}
    local = [t for t in args.targets if t not in ("c", "cc")]
    if local:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_handler_cost_main, args=(local, bodies, args.handler_seconds, child))
        proc.start()
        handler_us = parent.recv()
        proc.join(10)
    ratios: dict[str, dict[str, float]] = {}
    for kind, by_target in results.items():
        metric = "records_per_s" if kind.startswith("array_1000") else "requests_per_s"
        ratios[kind] = {}
        for top, bottom in (("own", "b"), ("own", "a"), ("pool", "own"), ("c", "b"), ("c", "a"), ("cc", "c")):
            if top in by_target and bottom in by_target and by_target[bottom][metric]:
                ratios[kind][f"{top}/{bottom}"] = by_target[top][metric] / by_target[bottom][metric]
    return {
        "config": {"duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds, "client": args.client,
                   "connections": connections, "cpus": os.cpu_count()},
        "results": results,
        "ratios": ratios,
        "handler_us_per_request": handler_us,
        "handler_ratios": {
            kind: {f"{top}/{bottom}": costs[bottom] / costs[top]
                   for top, bottom in (("own", "b"), ("own", "a"), ("pool", "own"))
                   if top in costs and bottom in costs}
            for kind, costs in handler_us.items()
        },
        "notes": notes,
    }


def print_table(report: dict[str, Any]) -> None:
    config = report["config"]
    print(f"ingest benchmark — client {config['client']}, best of {config['rounds']} runs of {config['duration_s']} s")
    header = (f"{'body':<15} {'target':<6} {'records/s':>12} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>6} {'commits/s':>9}")
    print(header)
    print("-" * len(header))
    for kind, by_target in report["results"].items():
        for name, r in by_target.items():
            print(f"{kind:<15} {name:<6} {r['records_per_s']:>12,.0f} {r['requests_per_s']:>11,.0f} "
                  f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6} "
                  f"{'' if 'table_commits_per_s' not in r else format(r['table_commits_per_s'], '.2f'):>9}")
    for kind, ratios in report["ratios"].items():
        metric = "records/s" if kind.startswith("array_1000") else "requests/s"
        shown = ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items())
        print(f"ratios ({kind}, {metric}): {shown}")
    if report["handler_us_per_request"]:
        print("\nCPU per request in-process (dispatch + handler, no sockets), microseconds:")
        for kind, costs in report["handler_us_per_request"].items():
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in costs.items())
            speed = ", ".join(f"{k} = {v:.2f}" for k, v in report["handler_ratios"][kind].items())
            print(f"  {kind:<11} {shown}   (speed ratios: {speed})")
    for name, note in report["notes"].items():
        print(f"note [{name}]: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per run")
    parser.add_argument("--targets", default="a,b,own,pool,c", help="comma-separated subset of a,b,own,pool,c")
    parser.add_argument("--client", choices=("aiohttp", "raw"), default="raw",
                        help="load generator: aiohttp.ClientSession or a minimal raw HTTP/1.1 client")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds; the best run counts")
    parser.add_argument("--bodies", default="array_1000,single", help="comma-separated subset of array_1000,single")
    parser.add_argument("--connections-array", type=int, default=256)
    parser.add_argument("--connections-single", type=int, default=2048,
                        help="a durable acknowledgement waits for a group commit: many requests in flight hide it")
    parser.add_argument("--no-modest", dest="modest", action="store_false",
                        help="leave out the modest-concurrency cases (16 / 64 / 1 connections, aiohttp client)")
    parser.add_argument("--cascade-app", default="examples/bench_app.py", help="app file for `cascade-rt serve`")
    parser.add_argument("--console", default=None, metavar="PAGE",
                        help="add target cc: target c with a console page (e.g. pipelines) open, reading its "
                             "live updates; the ratio cc/c is the console's cost")
    parser.add_argument("--cascade-path", default="/ingest/bench", help="ingest path served by that app")
    args = parser.parse_args()
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"a", "b", "own", "pool", "c"}
    if unknown:
        parser.error(f"unknown target(s) {sorted(unknown)}; choose from a, b, own, pool, c")
    if args.console:
        if "c" not in args.targets:
            parser.error("--console compares target c with and without the console open: include c in --targets")
        args.targets.insert(args.targets.index("c") + 1, "cc")
    args.bodies = [b.strip() for b in args.bodies.split(",") if b.strip()]
    if not args.bodies or set(args.bodies) - {"array_1000", "single"}:
        parser.error(f"--bodies takes array_1000 and/or single, got {args.bodies}")
    args.duration = args.duration or (1.0 if args.quick else 4.0)
    args.warmup = 0.3 if args.quick else 0.5
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.handler_seconds = 0.3 if args.quick else 1.0
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
