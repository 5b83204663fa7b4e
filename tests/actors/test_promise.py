"""Promise: a one-shot result across tasks, on every backend."""

from __future__ import annotations

import anyio
import pytest

from actors import Actor, ActorSystem, Promise

pytestmark = pytest.mark.anyio


async def test_wait_returns_result_set_by_another_task() -> None:
    p: Promise[int] = Promise()
    results: list[int] = []
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            results.append(await p.wait(timeout=5))

        tg.start_soon(waiter)
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert not p.done()
        p.set_result(7)
    assert results == [7, 7]
    assert p.done()
    assert await p.wait() == 7


async def test_wait_raises_the_exception() -> None:
    p: Promise[int] = Promise()
    p.set_exception(KeyError("missing"))
    with pytest.raises(KeyError, match="missing"):
        await p.wait()
    assert repr(p) == "<Promise failed>"


async def test_wait_times_out() -> None:
    p: Promise[int] = Promise()
    with pytest.raises(TimeoutError):
        await p.wait(timeout=0.01)
    p.set_result(1)  # still settable after a waiter gave up
    assert await p.wait(0) == 1


def test_promise_is_set_once() -> None:
    p: Promise[int] = Promise()
    p.set_result(1)
    with pytest.raises(RuntimeError, match=r"promise already resolved \(<Promise done>\); a Promise is set once"):
        p.set_result(2)
    with pytest.raises(RuntimeError, match="a Promise is set once"):
        p.set_exception(ValueError())
    with pytest.raises(TypeError, match="set_exception\\(\\) needs an exception instance, got str"):
        Promise().set_exception("nope")  # type: ignore[arg-type]


async def test_deferred_reply_past_receive(system: ActorSystem) -> None:
    """A writer completes waiting requests later (a group commit), not in receive."""

    class Writer(Actor):
        async def started(self) -> None:
            self.waiting: list[tuple[int, Promise[int]]] = []

        async def receive(self, message: object) -> object:
            if message == "commit":
                for n, p in self.waiting:
                    p.set_result(n * 10)
                self.waiting.clear()
            else:
                self.waiting.append(message)  # type: ignore[arg-type]
            return None

    writer = await system.spawn(Writer, name="writer")
    promises = [Promise[int]() for _ in range(3)]
    for n, p in enumerate(promises):
        await writer.tell((n, p))
    await writer.ask("commit")
    with anyio.fail_after(5):
        assert [await p.wait() for p in promises] == [0, 10, 20]


async def test_done_callbacks_run_once_when_resolved_after_the_waiters_wake() -> None:
    seen: list[str] = []
    promise: Promise[int] = Promise()
    promise.add_done_callback(lambda p: seen.append(f"first {p.done()}"))
    async with anyio.create_task_group() as tg:
        async def waiter() -> None:
            assert await promise.wait() == 3
            seen.append("waiter")

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        promise.set_result(3)
        assert seen == ["first True"]  # synchronously, in set_result
    promise.add_done_callback(lambda p: seen.append("late"))  # already resolved: called at once
    assert seen == ["first True", "waiter", "late"]
    failed: Promise[int] = Promise()
    errors: list[BaseException] = []
    failed.add_done_callback(lambda p: errors.append(ValueError("seen")))
    assert failed.exception() is None  # not resolved yet
    failed.set_exception(KeyError("x"))
    assert len(errors) == 1
    assert isinstance(failed.exception(), KeyError)
    assert promise.exception() is None  # succeeded
