"""Reliability of ``cascade-rt serve``: hostile input, SIGKILL, overload and a broker outage.

Every part runs against a real ``cascade-rt serve examples/reliability_app.py`` subprocess on
127.0.0.1 with a temporary home (``POST /ingest/Events`` → durable log → Iceberg, append-only, so
a record that lands twice is two rows), loaded by an aiohttp client with many connections:

* ``fuzz``     hypothesis-generated and mutated bodies, headers and encodings (bad JSON, deep
               nesting, huge numbers, wrong types, invalid UTF-8, surrogates, NUL, wrong
               Content-Type, gzip and garbage Content-Encoding, empty and oversized bodies, arrays
               and NDJSON mixing good and bad records, odd paths and methods), interleaved with
               valid records carrying unique ids. No answer may be a 5xx (a 503 with
               ``Retry-After`` is backpressure, retried), no connection may drop, every valid
               request must be acknowledged.
* ``kill``     SIGKILL of ``serve`` mid-load, then a restart on the same home.
* ``overload`` the ingest capacity measured, then requests offered at twice that rate (open loop):
               the server's RSS sampled from ``/proc/<pid>/status``, 503s with ``Retry-After``
               counted, nothing acknowledged lost.
* ``broker``   the streams on a Kafka-protocol broker (tansu), stopped and restarted mid-load:
               requests during the outage must get 503, not 500. tansu keeps its log on a local
               S3 (moto), so its restart keeps the log as a real Kafka broker's does: everything
               acknowledged, before the stop, during the outage and after the restart, must land
               exactly once. ``--broker-storage memory`` keeps tansu's log in memory instead, which
               simulates every topic deleted and created again: what was acknowledged before the
               stop and not yet in the table is lost with it, and counted apart.

The log-backed parts share one server (fuzz, then overload, then kill, which restarts it). At the
end the table is read with pyiceberg: every acknowledged record must be there exactly once, and no
record of a refused request (4xx, 503) may be there. One table of figures; ``--json`` for machines.

    .venv/bin/python bench/reliability.py              # 100,000 fuzz requests, 60 s of overload
    .venv/bin/python bench/reliability.py --quick      # each part seconds long, under a minute
    .venv/bin/python bench/reliability.py --only fuzz,broker --json
    .venv/bin/python bench/reliability.py --only broker --broker-storage memory   # topics lost
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds modules named like packages (bench/actors.py): keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import _free_port, _wait_ready  # noqa: E402

APP = ROOT / "examples" / "reliability_app.py"
PATH = "/ingest/Events"
PARTS = ("fuzz", "kill", "overload", "broker")
MAX_BODY = 16 * 1024 * 1024  # the ingest API's default limit (cascade_rt.ingest.DEFAULT_MAX_BODY)
JSON_TYPE = {"Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------- the server


class Serve:
    """``cascade-rt serve`` of the app as a subprocess on a fixed port; restartable on its home."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**os.environ, **(env or {})}
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.logs: list[Path] = []

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.append(self.home.parent / f"serve-{self.home.name}-{self.starts}.log")
        output = open(self.logs[-1], "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cascade_rt.cli", "serve", str(APP), "--port", str(self.port),
             "--home", str(self.home)],
            cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT,
        )
        output.close()
        self.starts += 1
        if not _wait_ready(self.port, 180):
            self.kill()
            raise RuntimeError(f"`cascade-rt serve {APP.name}` did not become ready within 180 s")

    def cpu_seconds(self) -> float:
        """CPU seconds the server process has used (not its commit processes)."""
        return 0.0 if self.proc is None else _cpu_seconds(self.proc.pid)

    def cpu_wait_seconds(self) -> float:
        """Seconds the server's threads waited for a CPU while runnable."""
        return 0.0 if self.proc is None else _cpu_wait_seconds(self.proc.pid)

    def rss_kb(self) -> tuple[int, int]:
        """VmRSS of the server process, and of it with its children (the table commit processes)."""
        if self.proc is None:
            return 0, 0
        own = _vmrss(self.proc.pid)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            kids = [int(p) for p in children.read_text().split()]
        except OSError:
            kids = []
        return own, own + sum(_vmrss(k) for k in kids)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)

    def stop(self) -> None:
        """SIGTERM (drains and commits), then SIGKILL if it does not end within a minute."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()


    def log_errors(self) -> dict[str, Any]:
        """The ERROR lines cascade-rt logged in every run of the server, by message."""
        found: collections.Counter[str] = collections.Counter()
        for path in self.logs:
            for line in path.read_text(errors="replace").splitlines():
                if " ERROR cascade_rt" in line or " CRITICAL " in line:
                    found[line.split(" ERROR ", 1)[-1][:200]] += 1
        return {"errors": sum(found.values()), "messages": dict(found.most_common(10))}


def _vmrss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_wait_seconds(pid: int) -> float:
    """Seconds process ``pid``'s threads were runnable but waiting for a CPU (``/proc/<pid>/schedstat``):
    on a machine shared with other work, the time the server lost to it."""
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        pass
    return total


def _percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of ``values`` in milliseconds (zeros when there are none)."""
    if not values:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)
    at = {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.5, 0.9, 0.99)}
    return {"p50_ms": at[0.5], "p90_ms": at[0.9], "p99_ms": at[0.99], "max_ms": ordered[-1] * 1000}


def read_ids(home: Path) -> collections.Counter[str]:
    """How many times each id is in the Events table of ``home`` (pyiceberg scan)."""
    from cascade_rt.table import open_catalog

    try:
        table = open_catalog(home).load_table(("default", "Events"))
    except Exception:  # no table yet: nothing landed
        return collections.Counter()
    return collections.Counter(table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist())


# ---------------------------------------------------------------------------------------- the ledger


@dataclass
class Tally:
    """What one part sent and got back."""

    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    dropped: int = 0
    server_errors: list[str] = field(default_factory=list)  # 5xx other than a 503 with Retry-After
    drops: list[str] = field(default_factory=list)  # the classes of the requests whose connection dropped
    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)  # ids of requests answered 4xx or 503: must not land
    unsure: set[str] = field(default_factory=set)  # ids of requests in flight when the server was killed
    by_class: dict[str, collections.Counter[int]] = field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, label: str, status: int | None, headers: Any, payload: bytes, ids: list[str],
               expected_ok: bool, *, crashed: bool = False) -> None:
        self.requests += 1
        if status is None:
            self.unsure.update(ids)  # the client cannot know whether they were written
            if crashed:
                self.statuses[-1] += 1
            else:
                self.dropped += 1
                self.drops.append(f"{label}: {payload.decode()}")
            self.by_class[label][-1] += 1
            return
        self.statuses[status] += 1
        self.by_class[label][status] += 1
        if status >= 500 and not (status == 503 and "Retry-After" in headers):
            self.server_errors.append(f"{label}: {status} {payload[:300]!r}")
        if status == 200 and expected_ok:
            self.acked.update(ids)
        elif status != 200:
            self.refused.update(ids)

    def retried(self, label: str) -> None:
        """A 503 with ``Retry-After`` the client waits out and sends again."""
        self.requests += 1
        self.statuses[503] += 1
        self.by_class[label][503] += 1

    def merge(self, other: Tally) -> None:
        """Adds the answers and acknowledgements of ``other`` (a phase of the same part)."""
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.dropped += other.dropped
        self.drops += other.drops
        self.server_errors += other.server_errors
        self.acked |= other.acked
        self.refused |= other.refused
        self.unsure |= other.unsure
        for label, counts in other.by_class.items():
            self.by_class[label].update(counts)


def verify(tally: Tally, landed: collections.Counter[str], prefix: str) -> dict[str, Any]:
    """Acknowledged vs landed for the ids of one part (all starting with ``prefix``)."""
    mine = {i: c for i, c in landed.items() if i.startswith(prefix)}
    lost = [i for i in tally.acked if i not in mine]
    duplicates = [i for i, c in mine.items() if c > 1]
    phantoms = [i for i in mine if i not in tally.acked and i not in tally.unsure]
    refused_landed = [i for i in tally.refused if i in mine and i not in tally.acked]
    return {
        "acked_records": len(tally.acked),
        "landed_records": sum(1 for i in mine if i in tally.acked),
        "lost": len(lost),
        "duplicates": len(duplicates),
        "landed_though_refused": len(refused_landed),
        "landed_never_acked": len(phantoms),
        "unsure_landed": sum(1 for i in tally.unsure if i in mine),
        "unsure": len(tally.unsure),
        "samples": {"lost": lost[:5], "duplicates": duplicates[:5], "landed_though_refused": refused_landed[:5]},
    }


# ---------------------------------------------------------------------------------------- the client


@contextlib.asynccontextmanager
async def client(connections: int) -> AsyncIterator[Any]:
    import aiohttp

    from cascade_rt.cli._app import raise_file_limit

    raise_file_limit()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def send(session: Any, method: str, url: str, body: bytes, headers: dict[str, str],
               *, chunked: bool = False) -> tuple[int | None, Any, bytes]:
    """One request; ``(None, {}, b"<exception class> (<errno's text>)")`` when the connection failed or dropped."""
    import aiohttp

    skip = ("Content-Type",) if "Content-Type" not in headers else ()
    data: Any = body
    if chunked:
        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 4096):
                yield body[i:i + 4096]
        data = pieces()
    try:
        async with session.request(method, url, data=data, headers=headers, skip_auto_headers=skip) as response:
            return response.status, response.headers, await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        errno = getattr(exc, "errno", None)  # ClientOSError: which (reset, refused, timed out)
        name = type(exc).__name__ if errno is None else f"{type(exc).__name__} ({os.strerror(errno)})"
        return None, {}, name.encode()


class Ids:
    """Unique record ids for one part: ``{part}-{n}-{random}`` (a mutated id never equals another)."""

    def __init__(self, part: str, rng: random.Random) -> None:
        self.part, self.rng, self.n = part, rng, 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.part}-{self.n}-{self.rng.getrandbits(40):010x}"


_PLAIN = '{"id":"%s","n":%d,"value":%d.5,"name":"r%d","tags":["a"]}'


def plain_body(ids: Ids, count: int) -> tuple[bytes, list[str]]:
    """A body of ``count`` plain valid records (one object when 1) and their ids; cheap to build,
    so that the client spends its CPU on sending."""
    batch = [ids() for _ in range(count)]
    text = ",".join(_PLAIN % (record_id, i, i, i % 13) for i, record_id in enumerate(batch))
    return (text if count == 1 else "[" + text + "]").encode(), batch


async def send_retrying(session: Any, tally: Tally, label: str, method: str, url: str, body: bytes,
                        headers: dict[str, str], *, chunked: bool = False) -> tuple[int | None, Any, bytes]:
    """``send``, waiting out each 503 with ``Retry-After`` (at most a second here) and sending again,
    as a client of the ingest API should; the retries are counted in ``tally``."""
    while True:
        status, answer, payload = await send(session, method, url, body, headers, chunked=chunked)
        if status != 503 or "Retry-After" not in answer:
            return status, answer, payload
        tally.retried(label)
        await asyncio.sleep(min(1.0, float(answer["Retry-After"])))


async def flush(session: Any, base: str, part: str) -> None:
    """A last record with ``?wait=table``: the log keeps order, so everything before it is committed."""
    body = json.dumps({"id": f"flush-{part}-{time.time_ns()}", "n": 0, "value": 0.0, "name": "flush"}).encode()
    for _ in range(60):
        status, _, _ = await send(session, "POST", base + PATH + "?wait=table", body, JSON_TYPE)
        if status == 200:
            return
        await asyncio.sleep(1)
    raise RuntimeError(f"{part}: the flush request was not acknowledged within a minute")


async def wait_landed(home: Path, ids: set[str], seconds: float) -> collections.Counter[str]:
    """Reads the table until every id in ``ids`` is there or ``seconds`` pass; the last read."""
    deadline = time.monotonic() + seconds
    while True:
        landed = await asyncio.to_thread(read_ids, home)
        if all(i in landed for i in ids) or time.monotonic() > deadline:
            return landed
        await asyncio.sleep(1)


# ---------------------------------------------------------------------------------------- fuzz inputs


@dataclass
class Case:
    """One fuzz request; ``ids`` are its records' when it is valid (and must be acknowledged)."""

    label: str
    body: bytes
    headers: dict[str, str]
    ids: list[str] = field(default_factory=list)
    valid: bool = False
    method: str = "POST"
    path: str = PATH
    chunked: bool = False


def hypothesis_pools(size: int, seed: int) -> dict[str, list[Any]]:
    """``size`` valid records (arbitrary Unicode text, int64, finite floats, free-form meta) and
    as many hostile values and records (wrong types, surrogates, NaN, huge integers, any nesting),
    drawn by hypothesis."""
    from hypothesis import strategies as st

    int64 = st.integers(-(2**63), 2**63 - 1)
    finite = st.floats(allow_nan=False, allow_infinity=False)
    text = st.text(max_size=40)  # any code point but surrogates: NUL, U+D7FF, astral planes
    meta_value = st.recursive(st.none() | st.booleans() | int64 | finite | text,
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                              max_leaves=8)
    valid = st.fixed_dictionaries(
        {"n": int64, "value": finite, "name": text},
        optional={"tags": st.lists(text, max_size=4), "meta": st.dictionaries(text, meta_value, max_size=4)},
    )
    any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates too
    junk = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | any_text,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
        max_leaves=20,
    )
    hostile_record = st.dictionaries(st.sampled_from(["id", "n", "value", "name", "tags", "meta", "extra"]) | any_text,
                                     junk, max_size=7)
    pools: dict[str, list[Any]] = {"valid": [], "junk": [], "hostile": []}
    for name, strategy in (("valid", valid), ("junk", junk), ("hostile", hostile_record)):
        draw_examples(strategy, size, seed, pools[name].append)
    return pools


def draw_examples(strategy: Any, size: int, seed: int, take: Callable[[Any], None]) -> None:
    """Hands ``size`` examples of ``strategy`` to ``take`` (hypothesis's generate phase, seeded)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    @hypothesis_seed(seed)
    @settings(max_examples=size, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        take(value)

    collect()


def dumps(value: Any, rng: random.Random) -> bytes:
    """JSON of any value: surrogates either escaped (``\\ud800``) or raw (invalid UTF-8)."""
    if rng.random() < 0.5:
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def mutate(body: bytes, rng: random.Random) -> bytes:
    """One to four random edits: a flipped, deleted, inserted or repeated run of bytes, or a cut."""
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        if not data:
            data += bytes([rng.randrange(256)])
            continue
        at = rng.randrange(len(data))
        op = rng.randrange(6)
        if op == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[at:at + rng.randint(1, 8)]
        elif op == 2:
            data[at:at] = rng.choice([b"\x00", b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\\u", b"\"", b"{", b"[",
                                      b"]", b",", b"1e99999", b"\n", bytes(rng.randrange(256) for _ in range(4))])
        elif op == 3:
            data[at:at] = data[at:at + rng.randint(1, 16)]
        elif op == 4:
            del data[at:]
        else:
            data[at] = rng.choice(b'{}[]:,"\\0123456789eE+-.ntfalsru ')
    return bytes(data)


class FuzzInputs:
    """Draws fuzz requests: valid ones with unique ids, interleaved with hostile ones."""

    def __init__(self, pools: dict[str, list[Any]], rng: random.Random, *, huge_every: int) -> None:
        self.pools, self.rng, self.ids, self.hostile_ids = pools, rng, Ids("fuzz", rng), Ids("hostile", rng)
        self.huge_every = huge_every
        self.n = 0
        self._huge = b"[" + b",".join([b'{"id":"huge","n":1,"value":1,"name":"%s"}' % (b"x" * 1000)] * 17_000) + b"]"
        self._bomb = gzip.compress(b" " * (MAX_BODY * 4), 1)

    def record(self, ids: Ids | None = None) -> dict[str, Any]:
        return {"id": (ids or self.ids)(), **self.rng.choice(self.pools["valid"])}

    def valid(self) -> Case:
        rng = self.rng
        kind = rng.choices(["object", "array", "ndjson", "gzip", "charset", "chunked", "large"],
                           [30, 30, 12, 8, 5, 5, 1])[0]
        count = {"object": 1, "charset": 1, "large": rng.randint(1000, 3000)}.get(kind, rng.randint(1, 30))
        records = [self.record() for _ in range(count)]
        ids = [r["id"] for r in records]
        headers = dict(JSON_TYPE)
        if kind == "ndjson":
            body = b"\n".join(json.dumps(r).encode() for r in records) + rng.choice([b"", b"\n", b"\r\n"])
            headers = {"Content-Type": rng.choice(["application/x-ndjson", "application/jsonl"])}
        else:
            body = json.dumps(records if kind != "object" and kind != "charset" else records[0],
                              ensure_ascii=rng.random() < 0.5).encode()
        if kind == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body), rng.choice(["gzip", "x-gzip", "GZIP"])
        if kind == "charset":
            headers["Content-Type"] = rng.choice(["application/json; charset=utf-8", "Application/JSON",
                                                  "application/vnd.api+json"])
        return Case(f"valid {kind}", body, headers, ids, valid=True, chunked=kind == "chunked")

    def hostile(self) -> Case:
        rng, pools = self.rng, self.pools
        kind = rng.choices(
            ["mutated", "json value", "wrong types", "deep nesting", "huge numbers", "invalid utf-8",
             "surrogates", "nul", "content-type", "content-encoding", "empty", "mixed array", "mixed ndjson",
             "headers", "path or method"],
            [25, 8, 10, 6, 6, 6, 5, 4, 5, 5, 3, 6, 4, 3, 3])[0]
        # Records that may be accepted (a mutation can leave a body valid): ids apart from the valid ones'.
        good = json.dumps([self.record(self.hostile_ids) for _ in range(rng.randint(1, 5))]).encode()
        headers = dict(JSON_TYPE)
        body: bytes
        refused: list[str] = []
        path, method = PATH, "POST"
        if kind == "mutated":
            body = mutate(good, rng)
        elif kind == "json value":
            body = dumps(rng.choice(pools["junk"]), rng)
        elif kind == "wrong types":
            records = [rng.choice(pools["hostile"]) for _ in range(rng.randint(1, 4))]
            body = dumps(records if rng.random() < 0.5 else records[0], rng)
        elif kind == "deep nesting":
            depth = rng.choice([257, 1000, 5000, 20000])
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            deep = opener * depth + (closer * depth if rng.random() < 0.5 else b"")
            body = rng.choice([deep, b"[" + good[1:-1] + b"," + deep + b"]",
                               b'{"id":"d","n":1,"value":1,"name":"x","meta":{"x":' + deep + b"}}"])
        elif kind == "huge numbers":
            number = rng.choice([b"1" + b"0" * rng.randint(19, 5000), b"-9223372036854775809", b"1e999", b"-1e400",
                                 b"1" * 400 + b".5", b"0." + b"0" * 400 + b"1e-99999", b"9" * 20])
            body = rng.choice([b'{"id":"h","n":%s,"value":1,"name":"x"}' % number,
                               b'{"id":"h","n":1,"value":%s,"name":"x"}' % number,
                               b'{"id":"h","n":1,"value":1,"name":"x","meta":{"big":%s}}' % number])
        elif kind == "invalid utf-8":
            bad = rng.choice([b"\xff", b"\xc0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80", b"\xed\xb0\x80", b"\x80"])
            at = good.index(b'"name": "') + 9
            body = good[:at] + bad + good[at:]
        elif kind == "surrogates":
            escape = rng.choice([b"\\ud800", b"\\udfff", b"\\udc00\\ud800", b"\\ud83d", b"\\ud83dx"])
            body = b'{"id":"s","n":1,"value":1,"name":"%s","meta":{"%s":1}}' % (escape, escape)
        elif kind == "nul":
            body = rng.choice([b'{"id":"z","n":1,\x00"value":1,"name":"x"}', b'{"id":"z","n":1,"value":1,"name":"a\x00b"}',
                               b"\x00" * rng.randint(1, 100), good + b"\x00"])
        elif kind == "content-type":
            body = good
            headers = {"Content-Type": rng.choice(["text/plain", "application/xml", "multipart/form-data; boundary=x",
                                                   "application/x-www-form-urlencoded", "json", "text/json; q=\"",
                                                   "application/json; charset=latin-1", "*/*", ";;;"])}
            if rng.random() < 0.2:
                headers = {}
        elif kind == "content-encoding":
            encoding = rng.choice(["gzip", "gzip", "br", "deflate", "compress", "gzip, gzip", "identity, gzip", "zstd",
                                   "x" * 300])
            body = rng.choice([good, mutate(gzip.compress(good), rng), gzip.compress(good)[:-8], self._bomb,
                               bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))])
            headers["Content-Encoding"] = encoding
        elif kind == "empty":
            body = rng.choice([b"", b" ", b"\n", b"[]", b"{}", b"null", b"[{}]", b"[null]", b'""', b"0"])
        elif kind in ("mixed array", "mixed ndjson"):
            records = [self.record() for _ in range(rng.randint(1, 10))]
            refused = [r["id"] for r in records]
            bad = rng.choice([rng.choice(pools["hostile"]), {"id": 7}, {**records[0], "n": "seven"}, [1, 2], "x"])
            records.insert(rng.randrange(len(records) + 1), bad)
            if kind == "mixed array":
                body = dumps(records, rng)
            else:
                body = b"\n".join(dumps(r, rng) for r in records)
                headers = {"Content-Type": "application/x-ndjson"}
        elif kind == "headers":
            body = good
            headers = rng.choice([{**headers, "X-Junk": "x" * rng.choice([100, 9000, 20000])},
                                  {**headers, "Authorization": "Bearer " + "y" * 100},
                                  {**headers, "Content-Type": "application/json", "Expect": "100-continue"},
                                  {**headers, "Accept-Encoding": "br"},
                                  {**headers, "Cookie": "a=" + "b" * 4000}])
        elif kind == "path or method":
            body = good
            path, method = rng.choice([(PATH, "GET"), (PATH, "PUT"), (PATH, "DELETE"), ("/ingest/Nope", "POST"),
                                       (PATH + "/v9", "POST"), (PATH + "?wait=bogus", "POST"), ("/ingest/", "POST"),
                                       ("/ingest/Events%00", "POST"), ("/ingest/" + "x" * 3000, "POST")])
        return Case(kind, body, headers, refused, method=method, path=path)

    def __iter__(self) -> Iterator[Case]:
        while True:
            self.n += 1
            if self.n % self.huge_every == 0:
                yield Case("huge body", self._huge, dict(JSON_TYPE))  # past the limit: 413
            else:
                yield self.valid() if self.rng.random() < 0.4 else self.hostile()


# ---------------------------------------------------------------------------------------- the parts


async def fuzz(server: Serve, args: argparse.Namespace) -> Tally:
    """``args.requests`` fuzz requests over ``args.connections`` connections."""
    tally = Tally()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    pools = hypothesis_pools(args.pool, args.seed)
    tally.extra["hypothesis_s"] = time.perf_counter() - t0
    inputs = iter(FuzzInputs(pools, rng, huge_every=max(1, args.requests // args.huge)))
    remaining = args.requests
    valid_refused: list[str] = []
    t0 = time.perf_counter()

    async with client(args.connections) as session:
        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                case = next(inputs)
                url = server.base + case.path
                if case.valid:  # retried on 503, as a client should
                    status, headers, payload = await send_retrying(session, tally, case.label, case.method, url,
                                                                   case.body, case.headers, chunked=case.chunked)
                    if status is not None and status != 200:
                        valid_refused.append(f"{case.label}: {status} {payload[:200]!r}")
                else:
                    status, headers, payload = await send(session, case.method, url, case.body, case.headers,
                                                          chunked=case.chunked)
                tally.record(case.label, status, headers, payload, case.ids, case.valid)

        await asyncio.gather(*(worker() for _ in range(args.connections)))
        tally.extra["seconds"] = time.perf_counter() - t0
        await flush(session, server.base, "fuzz")
    tally.extra["valid_refused"] = len(valid_refused)
    tally.extra["valid_refused_samples"] = valid_refused[:5]
    tally.extra["hostile_accepted"] = sum(c[200] for label, c in tally.by_class.items() if not label.startswith("valid"))
    return tally


async def closed_load(session: Any, base: str, tally: Tally, ids: Ids, *, connections: int, until: Callable[[], bool],
                      size: Callable[[], int], crashed: Callable[[], bool] = lambda: False, label: str = "load",
                      on_ack: Callable[[list[str]], None] | None = None) -> None:
    """``connections`` clients posting valid records one request after another until ``until()``."""
    async def one() -> None:
        while not until():
            body, batch = plain_body(ids, size())
            status, headers, payload = await send_retrying(session, tally, label, "POST", base + PATH, body, JSON_TYPE)
            tally.record(label, status, headers, payload, batch, True, crashed=status is None and crashed())
            if status == 200 and on_ack is not None:
                on_ack(batch)
            if status is None and crashed():
                return

    await asyncio.gather(*(one() for _ in range(connections)))


async def kill(server: Serve, args: argparse.Namespace) -> Tally:
    """``args.kills`` cycles of load, SIGKILL at a random moment, restart."""
    tally = Tally()
    rng = random.Random(args.seed + 1)
    ids = Ids("kill", rng)
    for _ in range(args.kills):
        killed = asyncio.Event()
        stop_at = time.monotonic() + rng.uniform(args.kill_after * 0.5, args.kill_after * 1.5)

        async def killer(stop_at: float = stop_at, killed: asyncio.Event = killed) -> None:
            await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
            killed.set()
            await asyncio.to_thread(server.kill)

        async with client(32) as session:
            await asyncio.gather(killer(), closed_load(
                session, server.base, tally, ids, connections=16, until=killed.is_set,
                size=lambda: rng.randint(1, 10), crashed=killed.is_set, label="kill"))
        await asyncio.to_thread(server.start)
    async with client(4) as session:
        await flush(session, server.base, "kill")
    tally.extra["kills"] = args.kills
    return tally


async def overload(server: Serve, args: argparse.Namespace) -> Tally:
    """Capacity measured closed-loop, then an open-loop offer at twice that rate; RSS sampled."""
    tally = Tally()
    rng = random.Random(args.seed + 2)
    ids = Ids("over", rng)
    size = args.overload_body
    async with client(8192) as session:
        measure = Tally()
        end = time.monotonic() + args.capacity_seconds
        # As many connections as the endpoint admits at once (its in-flight limit): the server's rate.
        await closed_load(session, server.base, measure, ids, connections=256, until=lambda: time.monotonic() > end,
                          size=lambda: size, label="capacity")
        capacity = measure.statuses[200] / args.capacity_seconds
        tally.merge(measure)
        measured_ok = tally.statuses[200]
        tally.extra.update(capacity_requests_per_s=capacity, capacity_records_per_s=capacity * size)
        rate = args.overload_rate or 2 * capacity
        baseline = server.rss_kb()
        samples: list[tuple[int, int]] = []
        latencies: dict[str, list[float]] = collections.defaultdict(list)  # seconds, by status ("dropped")
        in_flight = 0
        peak_in_flight = 0
        skipped = 0
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                samples.append(server.rss_kb())
                await asyncio.sleep(0.25)

        async def offer(body: bytes, batch: list[str]) -> None:
            nonlocal in_flight
            try:
                began = time.monotonic()
                status, headers, payload = await send(session, "POST", server.base + PATH, body, JSON_TYPE)
                latencies["dropped" if status is None else str(status)].append(time.monotonic() - began)
                tally.record("overload", status, headers, payload, batch, True)
                if status == 503:
                    tally.extra["retry_after_503"] = tally.extra.get("retry_after_503", 0) + ("Retry-After" in headers)
            finally:
                in_flight -= 1

        sampler = asyncio.create_task(sample())
        tasks: set[asyncio.Task[None]] = set()
        t0 = time.monotonic()
        cpu0, client0, starved0 = server.cpu_seconds(), time.process_time(), server.cpu_wait_seconds()
        sent = 0
        while (now := time.monotonic()) - t0 < args.overload_seconds:
            due = int((now - t0) * rate) - sent
            for _ in range(due):
                sent += 1
                if in_flight >= args.max_in_flight:
                    skipped += 1  # the client holds no more; counted, not sent
                    continue
                in_flight += 1  # counted from creation, so the cap holds within one burst
                task = asyncio.create_task(offer(*plain_body(ids, size)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            peak_in_flight = max(peak_in_flight, in_flight)
            await asyncio.sleep(0.005)
        offered_s = time.monotonic() - t0
        server_cpu = (server.cpu_seconds() - cpu0) / offered_s
        client_cpu = (time.process_time() - client0) / offered_s
        server_starved = (server.cpu_wait_seconds() - starved0) / offered_s
        await asyncio.gather(*tasks)
        drained_s = time.monotonic() - t0 - offered_s
        stop.set()
        await sampler
        await flush(session, server.base, "over")
    tally.extra.update(
        offered_requests_per_s=sent / offered_s, acked_requests_per_s=(tally.statuses[200] - measured_ok) / offered_s,
        offered_ratio=(sent / offered_s) / capacity if capacity else 0.0, seconds=offered_s, drain_s=drained_s,
        goodput_ratio=(tally.statuses[200] - measured_ok) / offered_s / capacity if capacity else 0.0,
        server_cpu_cores=server_cpu, client_cpu_cores=client_cpu, server_cpu_wait_cores=server_starved, latency={status: _percentiles(values) for status, values in sorted(latencies.items())},
        client_skipped=skipped, peak_in_flight=peak_in_flight,
        rss_baseline_mb=baseline[0] / 1024, rss_peak_mb=max((s[0] for s in samples), default=0) / 1024,
        rss_end_mb=samples[-1][0] / 1024 if samples else 0.0,
        rss_with_children_peak_mb=max((s[1] for s in samples), default=0) / 1024,
        rss_samples=len(samples),
    )
    return tally


async def broker(workdir: Path, args: argparse.Namespace) -> Tally:
    """The streams on tansu; the broker stopped and restarted mid-load (its log kept, unless in memory)."""
    from cascade_rt.testing import KafkaBroker

    tally = Tally()
    rng = random.Random(args.seed + 3)
    ids = Ids("kafka", rng)
    phases: dict[str, set[str]] = {"before": set(), "outage": set(), "after": set()}
    phase = "before"
    durable = args.broker_storage == "s3"
    with KafkaBroker(storage=args.broker_storage) as kafka:
        if kafka.external:
            raise RuntimeError("the broker part stops and restarts its own broker: unset CASCADE_KAFKA_BOOTSTRAP")
        server = Serve(workdir / "kafka-home", {"CASCADE_KAFKA_BOOTSTRAP": kafka.bootstrap})
        server.start()
        try:
            done = False

            def acked(batch: list[str]) -> None:
                phases[phase].update(batch)

            async def script() -> None:
                nonlocal phase, done
                await asyncio.sleep(args.broker_seconds)
                await asyncio.to_thread(kafka.stop)
                phase = "outage"
                t_stop = time.monotonic()
                await asyncio.sleep(args.broker_seconds)
                await asyncio.to_thread(kafka.start)
                tally.extra["outage_s"] = time.monotonic() - t_stop
                phase = "after"
                await asyncio.sleep(args.broker_seconds * 1.5)
                done = True

            async with client(32) as session:
                await asyncio.gather(script(), closed_load(
                    session, server.base, tally, ids, connections=16, until=lambda: done,
                    size=lambda: rng.randint(1, 10), label="broker", on_ack=acked))
            await wait_landed(server.home, (phases["before"] if durable else set()) | phases["after"] | phases["outage"],
                              args.landed_wait)
        finally:
            await asyncio.to_thread(server.stop)
    tally.extra["server_log"] = server.log_errors()  # the outage is logged: for reading, not a failure
    landed = await asyncio.to_thread(read_ids, server.home)
    tally.extra["landed_counter"] = landed
    before_lost = [i for i in phases["before"] if i not in landed]
    tally.extra.update(
        acked_before_stop=len(phases["before"]), acked_during_outage=len(phases["outage"]),
        acked_after_restart=len(phases["after"]), lost_before_stop=len(before_lost),
        broker_storage=args.broker_storage,
        # Records twice in the table, by the phase their request was acknowledged in.
        duplicates_by_phase={name: sum(1 for i in ids_ if landed[i] > 1) for name, ids_ in phases.items()},
    )
    # A broker that keeps its log loses nothing it acknowledged; one that kept it in memory may lose
    # what it held when it was killed (counted apart as lost_before_stop), and nothing else.
    tally.extra["must_land"] = (phases["before"] if durable else set()) | phases["outage"] | phases["after"]
    return tally


# ---------------------------------------------------------------------------------------- driver


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json"}, "parts": {}}
    with tempfile.TemporaryDirectory(prefix="cascade-reliability-") as tmp:
        workdir = Path(tmp)
        tallies: dict[str, Tally] = {}
        log_parts = [p for p in ("fuzz", "overload", "kill") if p in args.only]
        if log_parts:
            server = Serve(workdir / "home")
            server.start()
            try:
                for part in log_parts:
                    t0 = time.perf_counter()
                    tallies[part] = await {"fuzz": fuzz, "overload": overload, "kill": kill}[part](server, args)
                    tallies[part].extra["wall_s"] = time.perf_counter() - t0
                    print(f"[{part}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            finally:
                await asyncio.to_thread(server.stop)
            report["server_log"] = server.log_errors()
            landed = await asyncio.to_thread(read_ids, server.home)
            for part in log_parts:
                prefix = {"fuzz": "fuzz-", "overload": "over-", "kill": "kill-"}[part]
                report["parts"][part] = summary(tallies[part], verify(tallies[part], landed, prefix))
        if "broker" in args.only:
            t0 = time.perf_counter()
            tally = await broker(workdir, args)
            landed = tally.extra.pop("landed_counter")
            must = tally.extra.pop("must_land")
            checked = verify(tally, landed, "kafka-")
            checked["lost"] = sum(1 for i in must if i not in landed)
            checked["samples"]["lost"] = [i for i in must if i not in landed][:5]
            tally.extra["wall_s"] = time.perf_counter() - t0
            report["parts"]["broker"] = summary(tally, checked)
            print(f"[broker] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return report


def summary(tally: Tally, checked: dict[str, Any]) -> dict[str, Any]:
    statuses = tally.statuses
    return {
        "requests": tally.requests,
        "ok": statuses[200],
        "4xx": sum(c for s, c in statuses.items() if 400 <= s < 500),
        "503": statuses[503],
        "5xx": len(tally.server_errors),
        "dropped": tally.dropped,
        "in_flight_at_kill": statuses[-1],
        **{k: v for k, v in checked.items()},
        "server_errors": tally.server_errors[:10],
        "dropped_classes": dict(collections.Counter(tally.drops)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "by_class": {label: {str(k): v for k, v in sorted(c.items())} for label, c in sorted(tally.by_class.items())},
        **tally.extra,
    }


def print_table(report: dict[str, Any]) -> None:
    header = (f"{'part':<9} {'requests':>9} {'200':>8} {'4xx':>7} {'503':>6} {'5xx':>4} {'dropped':>7} "
              f"{'acked rec':>10} {'landed':>9} {'lost':>5} {'dup':>4} {'refused→landed':>14}")
    print(header)
    print("-" * len(header))
    for part, r in report["parts"].items():
        print(f"{part:<9} {r['requests']:>9,} {r['ok']:>8,} {r['4xx']:>7,} {r['503']:>6,} {r['5xx']:>4} "
              f"{r['dropped']:>7} {r['acked_records']:>10,} {r['landed_records']:>9,} {r['lost']:>5} "
              f"{r['duplicates']:>4} {r['landed_though_refused']:>14}")
    parts = report["parts"]
    if "fuzz" in parts:
        f = parts["fuzz"]
        print(f"fuzz: {f['seconds']:.1f} s ({f['requests'] / f['seconds']:,.0f} requests/s); valid requests refused "
              f"{f['valid_refused']}; hostile requests accepted (still valid after mutation) {f['hostile_accepted']}")
    if "kill" in parts:
        k = parts["kill"]
        print(f"kill: {k['kills']} SIGKILL(s); {k['unsure']} records in flight at a kill, {k['unsure_landed']} of "
              f"them landed (the client never learnt: both outcomes are right)")
    if "overload" in parts:
        o = parts["overload"]
        print(f"overload: capacity {o['capacity_requests_per_s']:,.0f} requests/s ({o['capacity_records_per_s']:,.0f} "
              f"records/s); offered {o['offered_requests_per_s']:,.0f}/s ({o['offered_ratio']:.2f}x) for "
              f"{o['seconds']:.0f} s, acknowledged {o['acked_requests_per_s']:,.0f}/s "
              f"({o['goodput_ratio']:.0%} of capacity; CPU: server {o['server_cpu_cores']:.2f} (waiting for a CPU "
              f"{o['server_cpu_wait_cores']:.2f}), client {o['client_cpu_cores']:.2f} cores); 503 with Retry-After "
              f"{o.get('retry_after_503', 0):,}; peak in flight {o['peak_in_flight']:,}, not sent (client cap) "
              f"{o['client_skipped']:,}; RSS {o['rss_baseline_mb']:.0f} MB before, peak {o['rss_peak_mb']:.0f} MB, "
              f"end {o['rss_end_mb']:.0f} MB (with commit processes peak {o['rss_with_children_peak_mb']:.0f} MB)")
        for status, figures in o["latency"].items():
            print(f"  latency of {status}: p50 {figures['p50_ms']:,.0f} ms, p90 {figures['p90_ms']:,.0f} ms, "
                  f"p99 {figures['p99_ms']:,.0f} ms, max {figures['max_ms']:,.0f} ms")
    if "broker" in parts:
        b = parts["broker"]
        print(f"broker ({b['broker_storage']} log): outage {b.get('outage_s', 0):.1f} s; acknowledged before the stop "
              f"{b['acked_before_stop']:,} ({b['lost_before_stop']:,} of them not in the table), during the outage "
              f"{b['acked_during_outage']:,}, after the restart {b['acked_after_restart']:,} (lost: {b['lost']}; twice, "
              f"by phase acknowledged: {b['duplicates_by_phase']})")
    for part, r in parts.items():
        for error in r["server_errors"][:5]:
            print(f"  {part} server error: {error}")
    if "server_log" in report:
        print(f"cascade-rt ERROR lines in the log-backed server's output: {report['server_log']['errors']}")
        for message, count in report["server_log"]["messages"].items():
            print(f"  {count} x {message}")
    for part, r in parts.items():
        for kind, sample in r["samples"].items():
            if sample:
                print(f"  {part} {kind}: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="each part seconds long, the whole run under a minute")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    parser.add_argument("--requests", type=int, default=None, help="fuzz requests (full 100,000)")
    parser.add_argument("--connections", type=int, default=64, help="fuzz client connections")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--broker-storage", choices=("s3", "memory"), default="s3",
                        help="broker: where tansu keeps its log; s3 (a local moto server) survives the restart like "
                             "a real broker's, memory simulates a topic that is deleted and created again")
    parser.add_argument("--overload-seconds", type=float, default=None, help="seconds at twice capacity (full 60)")
    parser.add_argument("--max-in-flight", type=int, default=4096, help="overload: most requests the client holds")
    parser.add_argument("--overload-rate", type=float, default=None,
                        help="overload: requests/s offered instead of twice the capacity measured (to compare runs)")
    args = parser.parse_args()
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    if not args.only or set(args.only) - set(PARTS):
        parser.error(f"--only takes a subset of {','.join(PARTS)}, got {args.only}")
    quick = args.quick
    args.requests = args.requests or (1_000 if quick else 100_000)
    args.pool = 150 if quick else 2_000
    args.huge = 2 if quick else 20  # oversized bodies (17 MB) among the fuzz requests
    args.overload_seconds = args.overload_seconds or (3.0 if quick else 60.0)
    args.capacity_seconds = 1.5 if quick else 10.0
    args.overload_body = 20 if quick else 100  # records per overload request
    args.kills = 1 if quick else 3
    args.kill_after = 2.0 if quick else 6.0
    args.broker_seconds = 1.5 if quick else 8.0
    args.landed_wait = 8.0 if quick else 120.0  # broker: seconds to wait for the table to catch up
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
