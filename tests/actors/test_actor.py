"""The Actor base: attached attributes, children, death watch, timers, spawn validation."""

from __future__ import annotations

import functools

import anyio
import pytest
from actor_helpers import Recorder, Watcher

from actors import Actor, ActorStopped, ActorSystem, Mailbox, Terminated, TimerHandle

pytestmark = pytest.mark.anyio


class NoSuperInit(Actor):
    def __init__(self, greeting: str) -> None:  # no super().__init__() on purpose
        self.greeting = greeting

    async def receive(self, message: object) -> object:
        return (self.greeting, self.name, self.path, self.ref.path, self.system.name)


async def test_runtime_attaches_ref_and_context_without_super_init(system: ActorSystem) -> None:
    ref = await system.spawn(NoSuperInit, name="hi", greeting="hello")
    assert await ref.ask("who") == ("hello", "hi", "test/hi", "test/hi", "test")


async def test_using_ref_in_init_explains_when_it_becomes_available(system: ActorSystem) -> None:
    class Early(Actor):
        def __init__(self) -> None:
            self.me = self.ref

    with pytest.raises(RuntimeError, match=r"Early is not attached to a system yet; use ref/spawn/timers from started\(\)"):
        await system.spawn(Early, name="early")
    assert system.lookup("test/early") is None


async def test_spawn_accepts_zero_argument_factory(system: ActorSystem) -> None:
    ref = await system.spawn(functools.partial(NoSuperInit, "hey"), name="f")
    assert (await ref.ask("x"))[0] == "hey"


async def test_spawn_rejects_misuse_with_the_fix(system: ActorSystem) -> None:
    with pytest.raises(TypeError, match="got an instance of `NoSuperInit`; pass the class"):
        await system.spawn(NoSuperInit("x"), name="a")
    with pytest.raises(TypeError, match=r"got class `int` which does not subclass actors\.Actor"):
        await system.spawn(int, name="a")
    with pytest.raises(TypeError, match=r"options \(greeting\) only to an Actor subclass"):
        await system.spawn(lambda: NoSuperInit("x"), name="a", greeting="y")
    with pytest.raises(TypeError, match=r"the factory of `test/a` returned str, not an actors\.Actor instance"):
        await system.spawn(lambda: "nope", name="a")
    with pytest.raises(ValueError, match="name must be a non-empty str without '/', got 'a/b'"):
        await system.spawn(Recorder, name="a/b")
    with pytest.raises(TypeError, match=r"mailbox must be a Mailbox\(capacity=\.\.\., overflow=\.\.\.\), got 10"):
        await system.spawn(Recorder, name="a", mailbox=10)  # type: ignore[arg-type]
    await system.spawn(Recorder, name="dup")
    with pytest.raises(ValueError, match="`test/dup` already exists; names are unique among siblings"):
        await system.spawn(Recorder, name="dup")


async def test_spawn_raises_what_started_raised(system: ActorSystem) -> None:
    class Broken(Actor):
        async def started(self) -> None:
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await system.spawn(Broken, name="broken")
    assert system.lookup("test/broken") is None


async def test_children_of_an_actor_stop_with_it(system: ActorSystem) -> None:
    class Parent(Actor):
        async def started(self) -> None:
            await self.spawn(Recorder, name="kid")

        async def receive(self, message: object) -> object:
            return [c.path for c in self.children]

    parent = await system.spawn(Parent, name="parent")
    assert await parent.ask("kids") == ["test/parent/kid"]
    kid = system.lookup("test/parent/kid")
    assert kid is not None
    await parent.stop()
    assert kid.statistics().state == "stopped"
    with pytest.raises(ActorStopped, match="actor `test/parent` is stopped; cannot spawn children"):
        await system.spawn(Recorder, name="late", parent=parent)


async def test_watch_delivers_terminated_with_reason(system: ActorSystem) -> None:
    notices: list[Terminated] = []
    seen = anyio.Event()
    watcher = await system.spawn(Watcher, name="watcher", notices=notices, notify=seen.set)
    target = await system.spawn(Recorder, name="target")
    await watcher.ask(target)
    await target.stop()
    with anyio.fail_after(5):
        await seen.wait()
    assert notices == [Terminated(target, "stopped", None)]


async def test_watching_a_dead_actor_notifies_at_once(system: ActorSystem) -> None:
    notices: list[Terminated] = []
    seen = anyio.Event()
    target = await system.spawn(Recorder, name="target")
    await target.stop()
    watcher = await system.spawn(Watcher, name="watcher", notices=notices, notify=seen.set)
    await watcher.ask(target)
    with anyio.fail_after(5):
        await seen.wait()
    assert [(n.ref, n.reason) for n in notices] == [(target, "stopped")]


class Ticker(Actor):
    def __init__(self, log: list[object], enough: anyio.Event, mode: str) -> None:
        self.log = log
        self.enough = enough
        self.mode = mode

    async def started(self) -> None:
        if self.mode == "once":
            self.handle: TimerHandle = self.schedule_once(0.001, "once")
        elif self.mode == "every":
            self.handle = self.schedule_every(0.001, "tick")
        else:
            self.handle = self.schedule_once(0.001, "cancelled")
            self.handle.cancel()
            self.schedule_once(0.02, "later")

    async def receive(self, message: object) -> object:
        self.log.append(message)
        if message in ("once", "later") or (message == "tick" and self.log.count("tick") == 3):
            self.handle.cancel()
            self.enough.set()
        return None


@pytest.mark.parametrize(("mode", "expected"), [("once", ["once"]), ("every", ["tick"] * 3), ("cancel", ["later"])])
async def test_timers_deliver_to_own_mailbox(system: ActorSystem, mode: str, expected: list[object]) -> None:
    log: list[object] = []
    enough = anyio.Event()
    ref = await system.spawn(Ticker, name="ticker", log=log, enough=enough, mode=mode)
    with anyio.fail_after(5):
        await enough.wait()
        await ref.ask("sync")
    if mode == "every":  # a tick already queued when the timer is cancelled stays queued
        assert set(log[:-1]) == {"tick"}
        assert len(log) - 1 >= 3
        assert log[-1] == "sync"
    else:
        assert log == [*expected, "sync"]


async def test_timer_tick_is_skipped_when_mailbox_is_full(system: ActorSystem) -> None:
    entered, gate = anyio.Event(), anyio.Event()
    log: list[object] = []

    class Busy(Actor):
        async def receive(self, message: object) -> object:
            if message == "hold":
                self.schedule_once(0, "tick")
                entered.set()
                await gate.wait()
            log.append(message)
            return None

    ref = await system.spawn(Busy, name="busy", mailbox=Mailbox(capacity=1))
    await ref.tell("hold")
    await entered.wait()
    await ref.tell("data")  # the mailbox is now full
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()  # the due timer has fired against the full mailbox
    assert ref.statistics().timer_ticks_skipped == 1
    gate.set()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()
        await ref.ask("sync")
    assert log == ["hold", "data", "sync"]


async def test_timers_are_cancelled_on_restart(system: ActorSystem) -> None:
    log: list[object] = []

    class Periodic(Actor):
        async def started(self) -> None:
            self.schedule_every(0.001, "tick")

        async def receive(self, message: object) -> object:
            if message == "boom":
                raise RuntimeError("boom")
            if message == "count":
                return len(self.timers())
            log.append(message)
            return None

        def timers(self) -> set[TimerHandle]:
            return self._actor_cell.timers

    ref = await system.spawn(Periodic, name="p")
    with pytest.raises(RuntimeError, match="boom"):
        await ref.ask("boom")
    assert await ref.ask("count") == 1  # the old incarnation's timer is gone


def test_timer_handle_repr_names_the_message() -> None:
    handle = TimerHandle.__new__(TimerHandle)
    handle.message, handle.interval, handle.cancelled = "tick", 0.5, False
    assert repr(handle) == "<TimerHandle 'tick' every 0.5 s cancelled=False>"


async def test_self_stop_is_a_normal_exit(system: ActorSystem) -> None:
    class Quitter(Actor):
        async def receive(self, message: object) -> object:
            self.stop()
            return "bye"

    from actors import Restart

    notices: list[Terminated] = []
    seen = anyio.Event()
    watcher = await system.spawn(Watcher, name="watcher", notices=notices, notify=seen.set)
    ref = await system.spawn(Quitter, name="q", restart=Restart.TRANSIENT)
    await watcher.ask(ref)
    assert await ref.ask("quit") == "bye"
    with anyio.fail_after(5):
        await seen.wait()
    assert notices == [Terminated(ref, "stopped", None)]
    assert ref.statistics().failures == 0


async def test_crash_from_outside_a_handler_restarts_and_requeue_puts_work_first(system: ActorSystem) -> None:
    log: list[object] = []

    class Worker(Actor):
        """Takes ("job", n) messages into a buffer of its own; a crash hands them back as ("redo", n)."""

        def __init__(self) -> None:
            self.taken: list[int] = []

        async def receive(self, message: object) -> object:
            if message == "fail":  # as a thread the actor runs would report a failure
                self.crash(RuntimeError("lost the disk (test)"))
            elif isinstance(message, tuple) and message[0] == "job":
                self.taken.append(message[1])
            else:
                log.append(message)
            return None

        async def stopped(self) -> None:
            self.requeue(("redo", n) for n in self.taken)

    ref = await system.spawn(Worker, name="w")
    for message in (("job", 1), ("job", 2), "fail", "later"):
        await ref.tell(message)
    with anyio.fail_after(5):
        await ref.ask("sync")
    # "fail" ended the incarnation before "later"; the next one did the requeued work first.
    assert log == [("redo", 1), ("redo", 2), "later", "sync"]
    assert (ref.statistics().failures, ref.statistics().restarts) == (1, 1)
