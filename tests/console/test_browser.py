"""The console in a real headless Chromium: every page renders live data, updates without a reload,
shows dead letters and replays them, and requests nothing off loopback.

Set ``CASCADE_CONSOLE_SCREENSHOTS=docs/console`` to save a PNG of each page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from cascade_rt import Runtime
from cascade_rt._registry import Registry

from .cdp import CHROMIUM, open_page
from .console_app import orders

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]
TOKEN = "console-test-token"


@pytest.fixture
def anyio_backend() -> Any:
    return "asyncio", {}  # aiohttp and the DevTools client run on asyncio


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")


async def test_every_page_renders_updates_live_and_replays_dead_letters(
    app_registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_ADMIN_TOKEN", TOKEN)
    shots = os.environ.get("CASCADE_CONSOLE_SCREENSHOTS")
    async with Runtime(home, registry=app_registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base) as http:
            async def post(path: str, records: list[dict[str, Any]]) -> int:
                async with http.post(path, data=orjson.dumps(records)) as resp:
                    return resp.status

            assert await post("/ingest/Orders", orders(40)) == 200
            assert await post("/ingest/Clicks", [{"id": "k1", "page": "/home", "ms": 12}]) == 200
            bad = orders(1, 900)
            bad[0]["amount"] = "twelve"
            assert await post("/ingest/Orders", bad) == 400
            # A record that failed on its way (not for its content): it replays cleanly.
            dlq = rt.dead_letter_queues["OrdersDeadLetterQueue"]
            await dlq.send(orders(2, 500), "the warehouse was unreachable", "ingest_api:Orders",
                           error_type="Unavailable")
            await rt.run_asset("daily_prices", partition_date="2026-12-01")

            async with open_page() as page:
                pages = {"overview": ("/", "Overview", "Orders"),
                         "pipelines": ("/console/pipelines", "Pipelines", "INGEST API"),
                         "tables": ("/console/tables", "Tables", "default.Orders"),
                         "table": ("/console/tables/Orders", "Orders", "placed_at"),
                         "streams": ("/console/streams", "Streams", "OrdersDeadLetterQueue"),
                         "stream": ("/console/streams/Orders", "Orders", "o39"),
                         "dead-letters": ("/console/dead-letters", "Dead letters", "twelve"),
                         "assets": ("/console/assets", "Assets", "0 6 * * *"),
                         "actors": ("/console/actors", "Actors", "TableWriter")}
                for name, (path, title, text) in pages.items():
                    await page.goto(base + path)
                    assert await page.evaluate("document.querySelector('h1').textContent") == title
                    assert text in await page.evaluate("document.getElementById('live').textContent"), name
                    await page.wait_for("document.body.getAttribute('data-updates') >= '1'")
                    if shots:
                        await page.screenshot(Path(shots) / f"{name}.png")

                # Live: the pipelines page shows new records without a reload.
                await page.goto(base + "/console/pipelines")
                loads = page.loads
                await page.evaluate("window.__marker = 1")
                shown = "document.querySelector('[data-testid=\"accepted-Orders\"]').textContent"
                assert await page.evaluate(shown) == "40"
                assert await post("/ingest/Orders", orders(25, 40)) == 200
                await page.wait_for(f"{shown} === '65'")
                await page.wait_for("document.querySelector('[data-testid=\"rows-Orders\"]').textContent === '65'")
                assert await page.evaluate("window.__marker") == 1
                assert page.loads == loads

                # The live tables sort by a click on their headers (re-applied after each update).
                await page.goto(base + "/console/actors")
                await page.evaluate("document.querySelectorAll('#live th')[6].click()")
                await page.wait_for("document.querySelectorAll('#live th')[6].classList.contains('asc')")

                # Dead letters: read-only until signed in, then replay a group.
                await page.goto(base + "/console/dead-letters")
                assert "needs the admin token" in await page.evaluate("document.getElementById('live').textContent")
                await page.evaluate("document.querySelector('input[name=token]').value = "
                                    f"{orjson.dumps(TOKEN).decode()}")
                loads = page.loads
                await page.evaluate("document.querySelector('form.login').submit()")
                await page.wait_for(f"{loads} < 0 || document.querySelector('button[data-action]') !== null")
                await page.evaluate("window.confirm = () => true")
                pending = "document.querySelector('[data-testid=\"pending-OrdersDeadLetterQueue\"]').textContent"
                assert await page.evaluate(pending) == "3 waiting"
                await page.evaluate("[...document.querySelectorAll('button[data-action]')]"
                                    ".find(b => b.textContent.startsWith('Replay 2')).click()")
                await page.wait_for("document.getElementById('status').textContent.includes('\"replayed\":2')")
                await page.wait_for(f"{pending} === '1 waiting'")
                # The invalid record fails again and comes back to the queue as a new letter.
                await page.evaluate("document.querySelector('button[data-action]').click()")
                await page.wait_for("document.getElementById('status').textContent.includes('\"failed_again\":1')")
                await page.wait_for(f"{pending} === '1 waiting'")
                if shots:
                    await page.goto(base + "/console/pipelines")
                    await page.wait_for("document.body.getAttribute('data-updates') >= '1'")
                    await page.screenshot(Path(shots) / "pipelines.png")

                assert page.errors == []
                off_loopback = [u for u in page.requests
                                if not u.startswith((base + "/", "about:", "data:"))]
                assert off_loopback == []
        await rt.flush()
        ids = set(rt.table("Orders").column("id").to_pylist())
        assert {"o500", "o501"} <= ids
        assert "o900" not in ids
