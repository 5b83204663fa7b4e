"""A small Chrome DevTools Protocol client over aiohttp's websocket: enough to drive headless Chromium.

Starts Debian's ``chromium`` headless (``--no-sandbox``: tests run as root) with a temporary profile,
attaches to one page and records every request the page makes (``Network.requestWillBeSent``) and
every uncaught script error (``Runtime.exceptionThrown``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self._ws = ws
        self.session = session
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.loads = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._load: asyncio.Event = asyncio.Event()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(f"CDP error: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Page.loadEventFired":
            self.loads += 1
            self._load.set()

    async def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> Any:
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        await self._ws.send_json(message)
        return await asyncio.wait_for(future, 15)

    async def goto(self, url: str) -> None:
        self._load.clear()
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._load.wait(), 15)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 10.0) -> Any:
        """Evaluates ``expression`` until it is truthy (the page updates itself; nothing to await)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        data = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        await anyio.Path(path).write_bytes(base64.b64decode(data["data"]))


@contextlib.asynccontextmanager
async def open_page(width: int = 1360, height: int = 900) -> AsyncIterator[Page]:
    """Starts headless Chromium and yields a :class:`Page` attached to a new tab."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="cascade-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless=new", "--no-sandbox", f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-features=Translate,OptimizationHints,MediaRouter",
            "--hide-scrollbars", f"--window-size={width},{height}", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            url = ""
            while not url:
                line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
                if not line:
                    raise RuntimeError("chromium exited before it listened for DevTools")
                if "DevTools listening on " in line:
                    url = line.split("DevTools listening on ", 1)[1].strip()
            drain = asyncio.ensure_future(_drain(proc.stderr))
            async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
                page = Page(ws, "")
                reader = asyncio.ensure_future(_read(ws, page))
                try:
                    target = await page.send("Target.createTarget", {"url": "about:blank"}, session=False)
                    attached = await page.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                                         "flatten": True}, session=False)
                    page.session = attached["sessionId"]
                    for domain in ("Page", "Network", "Runtime"):
                        await page.send(f"{domain}.enable")
                    await page.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                           "deviceScaleFactor": 1, "mobile": False})
                    yield page
                finally:
                    reader.cancel()
            drain.cancel()
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def _read(ws: aiohttp.ClientWebSocketResponse, page: Page) -> None:
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            page._dispatch(message.json())


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass
