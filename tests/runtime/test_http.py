"""The runtime served over HTTP: acknowledged means durable, errors are clear, observability works."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import orjson
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt.ingest import DEFAULT_WAIT_BUDGET, WAIT_BUDGET_ENV
from cascade_rt.runtime._admission import Admission

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio"),
                        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class Event(msgspec.Struct):
    id: Key[str]
    at: datetime
    value: float


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "at": "2026-11-01T10:00:00+02:00", "value": float(i)} for i in range(start, start + n)]


async def test_a_200_with_wait_table_means_the_rows_are_in_iceberg(registry: Registry, home: Path) -> None:
    IngestPipeline[Event]("Events", {"table": {"deduplicate": True}, "stream": {"parallelism": 2},
                                     "ingest_api": {"format": "JSON_ARRAY"}}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Events?wait=table", data=orjson.dumps(events(100))) as resp:
                assert resp.status == 200
                assert await resp.json() == {"accepted": 100}
            catalog = SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
            data = catalog.load_table(("default", "Events")).scan().to_arrow()
            assert data.num_rows == 100
            # Timestamps with an offset land in UTC.
            assert data.sort_by("id")["at"][0].as_py().isoformat() == "2026-11-01T08:00:00+00:00"
            body = gzip.compress(orjson.dumps(events(10, start=95)))
            async with http.post("/ingest/Events", data=body, headers={"Content-Encoding": "gzip"}) as resp:
                assert resp.status == 200  # in the stream's log: the table follows
            await rt.flush()
            assert rt.table("Events").num_rows == 105
            async with http.post("/ingest/Events?wait=soon", data=body) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"] == "query parameter wait must be 'log' or 'table', got 'soon'"


async def test_invalid_records_get_400_and_only_they_go_to_the_dlq(registry: Registry, home: Path) -> None:
    pipeline = IngestPipeline[Event]("Checked", {"ingest_api": {"format": "JSON_ARRAY"}}, registry=registry)
    assert pipeline.dead_letter_queue is not None
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        body = events(3)
        body[1]["value"] = "lots"
        body[2]["at"] = "2026-11-01T10:00:00"
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Checked", data=orjson.dumps(body)) as resp:
                assert resp.status == 400
                payload = await resp.json()
            assert [(d["index"], d["path"]) for d in payload["details"]] == [(1, "$.value"), (2, "$.at")]
            assert payload["details"][0]["message"] == "Expected `float`, got `str`"
            async with http.post("/ingest/Nope", data=b"[]") as resp:
                assert resp.status == 404
                assert "Checked" in (await resp.text())
        letters = rt.dead_letter_queues["CheckedDeadLetterQueue"].read()
        assert [letter.original_record["id"] for letter in letters] == ["e1", "e2"]
        assert rt.table("Checked").num_rows == 0


async def test_observability_endpoints_describe_the_running_tree(registry: Registry, home: Path) -> None:
    IngestPipeline[Event]("Observed", {}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Observed", data=orjson.dumps(events(5))) as resp:
                assert resp.status == 200
            async with http.get("/ready") as resp:
                assert resp.status == 200
            async with http.get("/admin/actors") as resp:
                tree = await resp.json()
            top = [child["name"] for child in tree["children"]]
            assert top[0] == "pipelines"
            assert "http" in top
            async with http.get("/metrics") as resp:
                text = await resp.text()
            assert 'pipeline="Observed"' in text
            assert "restarts" in text
            assert "mailbox" in text
            async with http.get("/openapi.json") as resp:
                spec = await resp.json()
            assert "/ingest/Observed" in spec["paths"]


async def test_a_writer_crash_answers_503_never_500_and_keeps_every_acknowledged_row(
    registry: Registry, home: Path
) -> None:
    import anyio
    import pyarrow as pa

    from cascade_rt.table._writer import Write

    IngestPipeline[Event]("Fragile", {"table": True, "stream": False, "ingest_api": True}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        writer = rt.tables["Fragile"].writer
        statuses: list[int] = []
        acknowledged: set[str] = set()
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async def client(k: int) -> None:
                for j in range(6):
                    batch = events(1, start=k * 100 + j)
                    async with http.post("/ingest/Fragile", data=orjson.dumps(batch)) as resp:
                        statuses.append(resp.status)
                        if resp.status == 200:
                            acknowledged.add(batch[0]["id"])

            async with anyio.create_task_group() as tg:
                for k in range(4):
                    tg.start_soon(client, k)
                # A batch of the wrong type, with no one waiting on it, crashes the writer.
                await writer.tell(Write(pa.record_batch({"id": ["x"], "at": ["?"], "value": ["?"]})))
        from cascade_rt.observe import walk_tree

        table = next(n for n in walk_tree(rt.tree()) if n["path"].endswith("Fragile/table"))
        assert table["restarts"] >= 1
        assert table["state"] == "running"
        assert set(statuses) <= {200, 503}
        assert len(statuses) == 24
        assert acknowledged <= set(rt.table("Fragile")["id"].to_pylist())


async def test_a_log_past_its_size_limit_answers_503_and_keeps_what_it_acknowledged(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Event]("Capped", {"table": {"commit_interval": 600.0}}, registry=registry)
    async with Runtime(home, registry=registry, log_max_bytes=4000) as rt:
        port = await rt.serve("127.0.0.1", 0)
        accepted: list[str] = []
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for i in range(100):
                async with http.post("/ingest/Capped", data=orjson.dumps(events(1, start=i))) as resp:
                    if resp.status == 503:
                        body = await resp.json()
                        assert "stream 'Capped'" in body["error"]
                        assert "its limit is 4000" in body["error"]
                        assert resp.headers["Retry-After"]
                        break
                    assert resp.status == 200
                    accepted.append(events(1, start=i)[0]["id"])
            else:
                pytest.fail("the log never refused an append")
        assert accepted
        await rt.flush()
        assert sorted(rt.table("Capped")["id"].to_pylist()) == sorted(accepted)


async def test_wait_table_on_a_stream_without_a_table_is_a_400_and_writes_nothing(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Event]("Tableless", {"table": False, "stream": True, "ingest_api": True}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Tableless?wait=table", data=orjson.dumps(events(2))) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"] == (
                    "stream 'Tableless' feeds no table: wait='table' is not available; "
                    "the default (wait='log') answers once the records are durable in the stream")
        assert rt.streams["Tableless"].statistics().published == 0


async def _post(http: aiohttp.ClientSession, path: str, records: list[dict[str, Any]]) -> tuple[int, str | None, Any]:
    async with http.post(path, data=orjson.dumps(records)) as resp:
        return resp.status, resp.headers.get("Retry-After"), await resp.json()


async def _until(condition: Any) -> None:
    with anyio.fail_after(30):
        while not condition():  # noqa: ASYNC110 - the server's tasks change what it reads
            await anyio.sleep(0.005)


async def test_a_full_pipeline_sheds_at_once_and_lands_exactly_what_it_acknowledged(
    registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    IngestPipeline[Event]("Busy", {"table": {"commit_interval": 600.0}}, registry=registry)
    monkeypatch.setenv(WAIT_BUDGET_ENV, "60")  # only the bounded line can refuse quickly
    async with Runtime(home, registry=registry) as rt:
        endpoint = rt.endpoints["Busy"]
        endpoint.admission = admission = Admission("Busy", capacity=2, max_waiting=1)
        port = await rt.serve("127.0.0.1", 0)
        results: dict[str, tuple[int, str | None, Any]] = {}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tg:

            async def post(name: str, path: str, start: int) -> None:
                results[name] = await _post(http, path, events(1, start=start))

            # Two requests that wait for the table hold both slots until it commits.
            tg.start_soon(post, "e0", "/ingest/Busy?wait=table", 0)
            tg.start_soon(post, "e1", "/ingest/Busy?wait=table", 1)
            await _until(lambda: admission.in_flight == 2)
            tg.start_soon(post, "e2", "/ingest/Busy", 2)  # waits in line (one place)
            await _until(lambda: admission.waiting == 1)
            # The line is full: refused at once, though its 60 s budget has hardly begun.
            with anyio.fail_after(30):
                status, retry_after, body = await _post(http, "/ingest/Busy", events(1, start=3))
                assert (status, body) == (503, {"error": "ingest API 'Busy' is at capacity"})
                assert retry_after is not None
                assert int(retry_after) >= 1
                status, _, _ = await _post(http, "/ingest/Busy?wait=table", events(1, start=4))
                assert status == 503
            assert results == {}  # the sink is still full: nothing was answered yet
            await rt.flush()  # the table commits: the first two are answered, the third gets in
            await _until(lambda: len(results) == 3)
        assert {name: status for name, (status, _, _) in results.items()} == {"e0": 200, "e1": 200, "e2": 200}
        await rt.flush()
        assert sorted(rt.table("Busy")["id"].to_pylist()) == ["e0", "e1", "e2"]


async def test_a_request_waits_for_room_only_its_short_budget(registry: Registry, home: Path) -> None:
    IngestPipeline[Event]("Slow", {"table": {"commit_interval": 600.0}}, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        endpoint = rt.endpoints["Slow"]
        endpoint.admission = admission = Admission("Slow", capacity=1, max_waiting=100)
        port = await rt.serve("127.0.0.1", 0)
        held: list[int] = []
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tg:

            async def hold() -> None:
                held.append((await _post(http, "/ingest/Slow?wait=table", events(1)))[0])

            tg.start_soon(hold)
            await _until(lambda: admission.in_flight == 1)
            started = anyio.current_time()
            status, retry_after, body = await _post(http, "/ingest/Slow", events(1, start=1))
            waited = anyio.current_time() - started
            assert (status, body) == (503, {"error": "ingest API 'Slow' is at capacity"})
            assert retry_after is not None
            # Refused after the default budget (0.5 s), not the old 5 s; the bound leaves room for
            # a loaded machine.
            assert DEFAULT_WAIT_BUDGET <= 0.5
            assert waited < 4.0
            # Room comes before decoding: a body refused for lack of room is never decoded, so an
            # invalid one gets its 503 too (and its 400 once it is retried with room to spare).
            status, _, _ = await _post(http, "/ingest/Slow", [{"id": "bad", "at": "never", "value": "x"}])
            assert status == 503
            assert held == []  # refused while the sink was still full
            await rt.flush()
        assert held == [200]
        await rt.flush()
        assert rt.table("Slow")["id"].to_pylist() == ["e0"]
