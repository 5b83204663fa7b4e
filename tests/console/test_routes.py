"""The console over HTTP: JSON endpoints, the live stream, read-only by default, actions behind the
admin token with a CSRF check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from cascade_rt import Runtime
from cascade_rt._registry import Registry

from .console_app import orders

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> Any:
    return "asyncio", {}


async def _bad_order(http: aiohttp.ClientSession) -> None:
    bad = orders(1, 7)
    bad[0]["amount"] = "lots"
    async with http.post("/ingest/Orders", data=orjson.dumps(bad)) as resp:
        assert resp.status == 400


async def test_json_endpoints_answer_what_the_pages_show(app_registry: Registry, home: Path) -> None:
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Orders?wait=table", data=orjson.dumps(orders(5))) as resp:
                assert resp.status == 200
            await _bad_order(http)
            async with http.get("/admin/overview") as resp:
                overview = await resp.json()
                assert resp.headers["Content-Security-Policy"] == "default-src 'self'"
            dlq = next(i for i in overview["items"] if i["name"] == "OrdersDeadLetterQueue")
            assert (dlq["status"], dlq["why"]) == ("warn", "1 dead letters waiting")
            async with http.get("/admin/pipelines") as resp:
                graph = next(p for p in (await resp.json())["pipelines"] if p["name"] == "Orders")
            api = next(n for n in graph["nodes"] if n["kind"] == "ingest_api")
            assert (api["figures"]["accepted"], api["figures"]["rejected"]) == (5, 1)
            assert {(e["from"], e["to"]) for e in graph["edges"]} >= {("api:Orders", "stream:Orders"),
                                                                      ("stream:Orders", "table:Orders")}
            async with http.get("/admin/tables/Orders") as resp:
                table = await resp.json()
            assert table["rows"] == 5
            assert [f["name"] for f in table["schema"]] == ["id", "customer", "amount", "placed_at"]
            assert len(table["peek"]) == 5
            async with http.get("/admin/tables/Nope") as resp:
                assert resp.status == 404
                assert "Orders" in (await resp.json())["error"]
            async with http.get("/admin/streams/Orders/tail", params={"q": "o3"}) as resp:
                assert [r["id"] for r in (await resp.json())["records"]] == ["o3"]
            async with http.get("/admin/dead-letters") as resp:
                queue = next(q for q in (await resp.json())["queues"] if q["name"] == "OrdersDeadLetterQueue")
            assert queue["groups"][0]["error"] == "at $.amount: Expected `float`, got `str`"
            assert queue["groups"][0]["samples"][0]["record"]["id"] == "o7"
            async with http.get("/openapi.json") as resp:
                assert "/admin/dead-letters/{queue}/groups/{group}/replay" in (await resp.json())["paths"]
            async with http.get("/admin/events", params={"page": "pipelines"}) as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                first = await resp.content.readuntil(b"\n\n")
            assert first.startswith(b"event: live\ndata: ")
            assert b"/ingest/Orders" in first
            async with http.get("/nothing-here") as resp:
                assert resp.status == 404


async def test_actions_are_refused_without_the_admin_token(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASCADE_ADMIN_TOKEN", raising=False)
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            await _bad_order(http)
            async with http.get("/admin/dead-letters") as resp:
                queue = next(q for q in (await resp.json())["queues"] if q["name"] == "OrdersDeadLetterQueue")
            group = queue["groups"][0]["id"]
            async with http.post(f"/admin/dead-letters/OrdersDeadLetterQueue/groups/{group}/replay") as resp:
                assert resp.status == 403
                assert "read-only" in (await resp.json())["error"]


async def test_a_session_needs_the_csrf_token_and_a_bearer_token_does_not(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_ADMIN_TOKEN", "t0ken")
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        # unsafe=True: keep cookies of an IP address (the server is on 127.0.0.1).
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _bad_order(http)
            async with http.get("/admin/dead-letters") as resp:
                queue = next(q for q in (await resp.json())["queues"] if q["name"] == "OrdersDeadLetterQueue")
            url = f"/admin/dead-letters/OrdersDeadLetterQueue/groups/{queue['groups'][0]['id']}/replay"
            async with http.post(url) as resp:
                assert resp.status == 401
            async with http.post("/console/login", data={"token": "wrong"}) as resp:
                assert resp.status == 401
            async with http.post("/console/login", data={"token": "t0ken"}, allow_redirects=False) as resp:
                assert resp.status == 303
            async with http.post(url) as resp:
                assert resp.status == 403
                assert "X-CSRF-Token" in (await resp.json())["error"]
            async with http.get("/console/dead-letters") as resp:
                page = await resp.text()
            csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            async with http.post(url, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}) as resp:
                assert resp.status == 403
                assert "cross-origin" in (await resp.json())["error"]
            async with http.post(url, headers={"X-CSRF-Token": csrf, "Origin": base}) as resp:
                assert resp.status == 200
                assert await resp.json() == {"replayed": 0, "failed_again": 1, "into": "ingest_api:Orders",
                                             "group": queue["groups"][0]["id"]}
        async with aiohttp.ClientSession(base) as api:
            async with api.get("/admin/dead-letters") as resp:
                queue = next(q for q in (await resp.json())["queues"] if q["name"] == "OrdersDeadLetterQueue")
            assert queue["pending"] == 1  # the record failed again: a new letter
            url = f"/admin/dead-letters/OrdersDeadLetterQueue/groups/{queue['groups'][0]['id']}/replay"
            async with api.post(url, headers={"Authorization": "Bearer nope"}) as resp:
                assert resp.status == 401
            async with api.post(url, headers={"Authorization": "Bearer t0ken"}) as resp:
                assert resp.status == 200
            async with api.post("/admin/dead-letters/Nope/groups/x/replay",
                                headers={"Authorization": "Bearer t0ken"}) as resp:
                assert resp.status == 404
                assert "OrdersDeadLetterQueue" in (await resp.json())["error"]


async def test_run_now_runs_an_asset_and_its_run_is_listed(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_ADMIN_TOKEN", "t0ken")
    async with Runtime(home, registry=app_registry) as rt:
        port = await rt.serve("127.0.0.1", 0)
        bearer = {"Authorization": "Bearer t0ken"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/admin/assets/daily_prices/run", json={"partition_date": "2026-12-01"},
                                 headers=bearer) as resp:
                assert resp.status == 200
                (run,) = (await resp.json())["runs"]
            assert (run["status"], run["rows_inserted"]) == ("success", 12)
            async with http.post("/admin/assets/nope/run", headers=bearer) as resp:
                assert resp.status == 404
                assert "daily_prices" in (await resp.json())["error"]
            async with http.get("/admin/assets") as resp:
                (asset,) = (await resp.json())["assets"]
            assert (asset["cron"], asset["status"], asset["freshness"]["status"]) == ("0 6 * * *", "ok", "fresh")
            assert [r["rows_loaded"] for r in asset["runs"]] == [12]
            assert asset["next_run"].endswith("06:00:00+00:00")


async def test_restart_restarts_an_actor_through_its_supervisor_and_ingest_goes_on(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_ADMIN_TOKEN", "t0ken")
    admin = {"Authorization": "Bearer t0ken"}
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/admin/actors/flat") as resp:
                rows = (await resp.json())["actors"]
            writer = next(r for r in rows if r["path"].endswith("/Orders/table"))
            async with http.post(f"/admin/actors/restart?path={writer['path']}") as resp:
                assert resp.status == 401  # an action: the token is needed
            async with http.post(f"/admin/actors/restart?path={writer['path']}", headers=admin) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"actor": writer["path"], "restarts_before": writer["restarts"]}
            assert rt.system is not None
            ref = rt.system.lookup(writer["path"])
            assert ref is not None
            for _ in range(100):
                if ref.statistics().restarts > writer["restarts"]:
                    break
                await anyio.sleep(0.05)
            assert ref.statistics().restarts == writer["restarts"] + 1
            async with http.post("/ingest/Orders?wait=table", data=orjson.dumps(orders(3, 900))) as resp:
                assert resp.status == 200, await resp.text()  # the restarted writer commits
            async with http.post("/admin/actors/restart?path=app/nope", headers=admin) as resp:
                assert resp.status == 404
                assert (await resp.json())["error"] == "no actor at 'app/nope' (paths are as on the actors page)"
            root = rows[0]["path"]
            async with http.post(f"/admin/actors/restart?path={root}", headers=admin) as resp:
                assert resp.status == 400
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", cookie_jar=aiohttp.CookieJar(unsafe=True)) as web_:
            async with web_.post("/console/login", data={"token": "t0ken"}, allow_redirects=False) as resp:
                assert resp.status == 303
            async with web_.get("/admin/events?page=actors") as resp:
                line = b""
                while not line.startswith(b"data: "):
                    line = await resp.content.readline()
            html = orjson.loads(line[len(b"data: "):])["html"]
            assert f'data-action="/admin/actors/restart?path={writer["path"]}"' in html  # signed in: a button


async def test_dead_letters_and_what_was_replayed_survive_a_restart(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_ADMIN_TOKEN", "t0ken")
    admin = {"Authorization": "Bearer t0ken"}

    async def pending(http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get("/admin/dead-letters") as resp:
            return next(q for q in (await resp.json())["queues"] if q["name"] == "OrdersDeadLetterQueue")

    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            await _bad_order(http)
            await _bad_order(http)
            assert (await pending(http))["pending"] == 2
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            queue = await pending(http)
            assert queue["pending"] == 2  # the queue is a log on disk: the letters are still there
            url = f"/admin/dead-letters/OrdersDeadLetterQueue/groups/{queue['groups'][0]['id']}/replay"
            async with http.post(url, headers=admin) as resp:
                assert (await resp.json())["failed_again"] == 2
            assert (await pending(http))["pending"] == 2  # the two new letters of the failed replay
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            assert (await pending(http))["pending"] == 2  # the replayed ones stay hidden
