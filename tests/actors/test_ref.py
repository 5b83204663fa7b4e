"""tell / tell_nowait / ask and stop, through ActorRef."""

from __future__ import annotations

import anyio
import pytest
from actor_helpers import Gated, Recorder

from actors import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    AskCycle,
    AskTimeout,
    DeadLetter,
    Mailbox,
    MailboxFull,
    RestartRequested,
)

pytestmark = pytest.mark.anyio


class Counter(Actor):
    async def started(self) -> None:
        self.n = 0

    async def receive(self, message: object) -> object:
        if message == "get":
            return self.n
        if message == "fail":
            raise KeyError("no such thing")
        assert isinstance(message, int)
        self.n += message
        return None


class SelfAsker(Actor):
    async def receive(self, message: object) -> object:
        return await self.ref.ask("again", timeout=1)


class Relay(Actor):
    """Asks ``peer`` whatever it is asked (after ``("peer", ref)`` sets the peer)."""

    peer: ActorRef | None = None

    async def receive(self, message: object) -> object:
        if isinstance(message, tuple) and message[0] == "peer":
            self.peer = message[1]
            return None
        assert self.peer is not None
        return await self.peer.ask(message, timeout=1)


async def test_ask_returns_the_handler_return_value(system: ActorSystem) -> None:
    ref = await system.spawn(Counter, name="counter")
    await ref.tell(5)
    ref.tell_nowait(5)
    assert await ref.ask("get", timeout=5.0) == 10


async def test_ask_reraises_handler_exception_in_asker(system: ActorSystem, letters: list[DeadLetter]) -> None:
    ref = await system.spawn(Counter, name="counter")
    with pytest.raises(KeyError, match="no such thing"):
        await ref.ask("fail")
    assert [(d.message, d.reason, type(d.exception)) for d in letters] == [("fail", "crashed", KeyError)]
    assert await ref.ask("get") == 0  # restarted, fresh state


async def test_ask_times_out_naming_target_and_timeout(system: ActorSystem) -> None:
    entered, gate = anyio.Event(), anyio.Event()
    ref = await system.spawn(Gated, name="slow", entered=entered, gate=gate, log=[])
    with pytest.raises(AskTimeout, match=r"ask to `test/slow` timed out after 0\.05 s") as info:
        await ref.ask("x", timeout=0.05)
    assert info.value.actor == "test/slow"
    assert info.value.timeout == 0.05
    assert isinstance(info.value, TimeoutError)
    gate.set()


async def test_ask_to_self_raises_instead_of_hanging(system: ActorSystem) -> None:
    ref = await system.spawn(SelfAsker, name="me")
    with anyio.fail_after(5), pytest.raises(AskCycle, match=r"ask to `test/me` would deadlock \(test/me -> test/me\)"):
        await ref.ask("start")


async def test_ask_cycle_raises_instead_of_hanging(system: ActorSystem) -> None:
    a = await system.spawn(Relay, name="a")
    b = await system.spawn(Relay, name="b")
    await a.tell(("peer", b))
    await b.tell(("peer", a))
    with anyio.fail_after(5), pytest.raises(AskCycle, match=r"test/b -> test/a -> test/b") as info:
        await a.ask("hello")
    assert info.value.actor == "test/a"


async def test_stop_happens_while_block_mailbox_is_full(system: ActorSystem, letters: list[DeadLetter]) -> None:
    entered, gate = anyio.Event(), anyio.Event()
    log: list[object] = []
    ref = await system.spawn(Gated, name="full", entered=entered, gate=gate, log=log, mailbox=Mailbox(capacity=2))
    stopped = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await ref.tell(0)
            await entered.wait()
            await ref.tell(1)
            await ref.tell(2)

            async def blocked_sender() -> None:
                await ref.tell(3)  # waits: the mailbox is full

            async def stopper() -> None:
                await ref.stop()
                stopped.set()

            tg.start_soon(blocked_sender)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(stopper)
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert stopped.is_set()
    assert ref.statistics().state == "stopped"
    assert log == [0, 1, 2]  # queued messages drained
    assert [(d.message, d.reason) for d in letters] == [(3, "stopped")]
    with pytest.raises(ActorStopped, match="actor `test/full` is stopped"):
        await ref.ask("anything")


async def test_reply_is_not_queued_behind_asker_full_mailbox(system: ActorSystem) -> None:
    """An actor whose own mailbox is full still receives the reply to its ask."""
    entered, gate = anyio.Event(), anyio.Event()
    slow = await system.spawn(Gated, name="slow", entered=entered, gate=gate, log=[])

    class Asker(Actor):
        async def receive(self, message: object) -> object:
            if message == "go":
                return await slow.ask("question")
            return message

    asker = await system.spawn(Asker, name="asker", mailbox=Mailbox(capacity=1))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def ask_go() -> None:
                assert await asker.ask("go") == "question"

            tg.start_soon(ask_go)
            await entered.wait()
            asker.tell_nowait("filler")  # the asker's mailbox is now full
            assert asker.statistics().mailbox_depth == 1
            gate.set()


async def test_stop_from_inside_own_task_is_refused(system: ActorSystem) -> None:
    class Stopper(Actor):
        async def receive(self, message: object) -> None:
            await self.ref.stop()

    ref = await system.spawn(Stopper, name="s")
    with pytest.raises(ValueError, match=r"`test/s` cannot await its own stop from inside; call self.stop\(\)"):
        await ref.ask("go")


async def test_ref_is_stable_and_named(system: ActorSystem) -> None:
    ref = await system.spawn(Recorder, name="rec")
    assert ref.name == "rec"
    assert ref.path == "test/rec"
    assert system.lookup("test/rec") is ref
    assert system.lookup("test/nope") is None
    assert system.lookup("other/rec") is None
    assert repr(ref) == "<ActorRef test/rec running>"


async def test_tell_to_own_full_block_mailbox_raises_instead_of_deadlocking(system: ActorSystem) -> None:
    class Echoer(Actor):
        async def receive(self, message: object) -> object:
            if message == "flood":
                await self.ref.tell("one")  # fills the mailbox of 1
                await self.ref.tell("two")  # would wait for ourselves forever
            return None

    ref = await system.spawn(Echoer, name="echoer", mailbox=Mailbox(capacity=1))
    with anyio.fail_after(5), pytest.raises(MailboxFull, match=r"overflow BLOCK \(tell to self\)"):
        await ref.ask("flood")


async def test_current_names_the_running_actor(system: ActorSystem) -> None:
    class Who(Actor):
        async def receive(self, message: object) -> object:
            return ActorSystem.current()

    ref = await system.spawn(Who, name="who")
    assert await ref.ask("?") is ref
    assert ActorSystem.current() is None


async def test_restart_gives_a_fresh_instance_keeping_the_mailbox_and_ref(system: ActorSystem) -> None:
    ref = await system.spawn(Counter, name="restartable")
    await ref.tell(7)
    assert await ref.ask("get", timeout=5.0) == 7
    ref.restart("stuck in a loop")
    ref.tell_nowait(2)  # queued behind the restart: handled by the new instance
    with anyio.fail_after(5):
        while ref.statistics().restarts < 1:  # noqa: ASYNC110 - the supervisor restarts it on its own schedule
            await anyio.sleep(0.01)
    assert await ref.ask("get", timeout=5.0) == 2  # fresh state, same ref, the message kept
    stats = ref.statistics()
    assert stats.failures == 1
    await ref.stop()
    with pytest.raises(ActorStopped, match=r"actor `.*restartable` is stopped; only a running actor restarts"):
        ref.restart()


def test_restart_names_the_actor_and_reason_in_the_failure() -> None:
    error = RestartRequested("app/x", "operator asked")
    assert str(error) == "`app/x` was asked to restart: operator asked"
    assert error.actor == "app/x"
    assert error.reason == "operator asked"
