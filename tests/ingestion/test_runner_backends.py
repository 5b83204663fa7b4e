"""The run machinery (worker thread, deadline, retries) on asyncio, uvloop and trio."""

from __future__ import annotations

from pathlib import Path

import anyio
import ingestion_shop_app as shop
import pytest

from cascade_rt.ingestion import AssetRunner
from cascade_rt.ingestion._extract import pipeline_lock

pytestmark = pytest.mark.anyio


async def test_run_and_timeout_work_on_every_backend(tmp_path: Path) -> None:
    runner = AssetRunner(home=tmp_path)
    ok = await runner.run_asset("plain_rows", partition_date="2024-03-01")
    assert (ok.status, ok.rows_inserted) == ("success", 2)
    shop.STATE["release"].clear()
    try:
        with anyio.fail_after(10):
            late = await runner.run_asset("hanging", partition_date="2024-03-01")
    finally:
        shop.STATE["release"].set()
    assert late.status == "timed_out"
    lock = pipeline_lock(str(tmp_path / "dlt" / "hanging"))
    assert lock.acquire(timeout=10)
    lock.release()


async def test_retry_delay_uses_the_injected_sleep(tmp_path: Path) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    shop.STATE["calls"], shop.STATE["fail_times"] = 0, 1
    try:
        result = await AssetRunner(home=tmp_path, sleep=sleep).run_asset("flaky", partition_date="2024-03-01")
    finally:
        shop.STATE["fail_times"] = 0
    assert (result.status, result.attempts, slept) == ("success", 2, [0.0])


async def test_cancelling_the_caller_cancels_the_run(tmp_path: Path) -> None:
    runner = AssetRunner(home=tmp_path)
    shop.STATE["release"].clear()
    try:
        with anyio.move_on_after(0.1):
            await runner.run_asset("hanging", partition_date="2024-03-01")
    finally:
        shop.STATE["release"].set()
    lock = pipeline_lock(str(tmp_path / "dlt" / "hanging"))
    assert lock.acquire(timeout=10)
    lock.release()
    assert not (tmp_path / "catalog.db").exists() or not runner.catalog.table_exists("raw.slow")
    assert runner.history.runs("hanging") == []  # a cancelled call records nothing
