"""Admission into an ingest endpoint: bounded in flight, a bounded line, shedding, Retry-After from the backlog."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from cascade_rt.ingest import Backpressure
from cascade_rt.runtime._admission import MAX_RETRY_AFTER, MIN_RETRY_AFTER, Admission

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - another task changes it
            await anyio.sleep(0.001)


async def test_a_free_slot_admits_at_once_and_a_full_line_refuses_at_once() -> None:
    admission = Admission("events", capacity=1, max_waiting=1)
    first, second, third = object(), object(), object()
    await admission.enter(first, 30.0)
    assert admission.refusal() is None  # the line has room
    admitted = anyio.Event()

    async def wait_in_line() -> None:
        await admission.enter(second, 30.0)
        admitted.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_in_line)
        await _wait_until(lambda: admission.waiting == 1)
        refused = admission.refusal()
        assert isinstance(refused, Backpressure)
        assert refused.reason == "ingest API 'events' is at capacity"
        with anyio.fail_after(10):  # refused without waiting out its 30 s budget
            with pytest.raises(Backpressure):
                await admission.enter(third, 30.0)
        assert not admitted.is_set()
        admission.leave(first)
        with anyio.fail_after(10):
            await admitted.wait()
    assert (admission.in_flight, admission.waiting, admission.completed) == (1, 0, 1)


async def test_past_its_budget_a_waiting_batch_is_refused_and_holds_no_slot() -> None:
    admission = Admission("events", capacity=1, max_waiting=10)
    await admission.enter(object(), None)
    with anyio.fail_after(10), pytest.raises(Backpressure):
        await admission.enter(object(), 0.01)
    with pytest.raises(Backpressure):
        await admission.enter(object(), 0)  # no budget: refused at once when there is no slot
    assert (admission.in_flight, admission.waiting) == (1, 0)


async def test_a_caller_without_a_budget_waits_whatever_the_line() -> None:
    admission = Admission("events", capacity=1, max_waiting=0)
    holder = object()
    await admission.enter(holder, None)
    assert admission.full()
    admitted = anyio.Event()

    async def embedded() -> None:
        await admission.enter(object(), None)
        admitted.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(embedded)
        await anyio.sleep(0.01)
        assert not admitted.is_set()
        admission.leave(holder)
        with anyio.fail_after(10):
            await admitted.wait()


async def test_retry_after_is_the_backlog_over_the_recent_rate() -> None:
    clock = Clock()
    admission = Admission("events", capacity=128, max_waiting=128, clock=clock)
    tokens = [object() for _ in range(128)]
    for token in tokens:
        await admission.enter(token, None)
    assert admission.retry_after() == MIN_RETRY_AFTER  # no rate known yet
    for token in tokens[:64]:  # 64 batches completed over two seconds: 32 a second
        clock.now += 1 / 32
        admission.leave(token)
    for token in tokens[:64]:
        await admission.enter(token, None)
    assert admission.rate() == 32.0
    assert admission.retry_after() == 4.0  # 128 in flight at 32 a second
    clock.now += 3.0  # nothing completes any more: the sink stalls
    assert admission.rate() == 0.0
    assert admission.retry_after() == MAX_RETRY_AFTER


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="ingest API 'events': max_inflight must be at least 1, got 0"):
        Admission("events", capacity=0, max_waiting=1)
    with pytest.raises(ValueError, match="ingest API 'events': max_waiting must be 0 or more, got -1"):
        Admission("events", capacity=1, max_waiting=-1)
