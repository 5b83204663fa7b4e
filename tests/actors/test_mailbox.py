"""Bounded mailboxes: the four overflow policies, dead letters, counters."""

from __future__ import annotations

import anyio
import pytest
from actor_helpers import Gated

from actors import ActorRef, ActorSystem, DeadLetter, Mailbox, MailboxFull, Overflow

pytestmark = pytest.mark.anyio


async def _blocked_actor(system: ActorSystem, overflow: Overflow, log: list[object]) -> tuple[ActorRef, anyio.Event]:
    """An actor stuck on its first message (``0``) with a mailbox of 2 that is full."""
    entered, gate = anyio.Event(), anyio.Event()
    ref = await system.spawn(
        Gated, name="gated", mailbox=Mailbox(capacity=2, overflow=overflow), entered=entered, gate=gate, log=log
    )
    await ref.tell(0)
    await entered.wait()
    await ref.tell(1)
    await ref.tell(2)
    assert ref.statistics().mailbox_depth == 2
    return ref, gate


def test_mailbox_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="capacity must be an int >= 1, got 0"):
        Mailbox(capacity=0)
    with pytest.raises(TypeError, match="overflow must be an Overflow member"):
        Mailbox(overflow="block")  # type: ignore[arg-type]


async def test_block_tell_waits_for_space_and_counts_blocked_time(system: ActorSystem) -> None:
    log: list[object] = []
    ref, gate = await _blocked_actor(system, Overflow.BLOCK, log)
    done = anyio.Event()

    async def producer() -> None:
        await ref.tell(3)
        done.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set()
            gate.set()
        assert await ref.ask("sync") == "sync"
    assert log == [0, 1, 2, 3, "sync"]
    stats = ref.statistics()
    assert stats.blocked_seconds > 0
    assert stats.mailbox_high_water == 2


async def test_block_tell_nowait_on_full_mailbox_raises(system: ActorSystem, letters: list[DeadLetter]) -> None:
    ref, gate = await _blocked_actor(system, Overflow.BLOCK, [])
    with pytest.raises(MailboxFull, match=r"mailbox of `test/gated` is full \(capacity 2, overflow BLOCK\)") as info:
        ref.tell_nowait(3)
    assert info.value.actor == "test/gated"
    assert info.value.capacity == 2
    assert letters == []
    gate.set()


async def test_fail_raises_and_keeps_message_out_of_dead_letters(
    system: ActorSystem, letters: list[DeadLetter]
) -> None:
    ref, gate = await _blocked_actor(system, Overflow.FAIL, [])
    with pytest.raises(MailboxFull, match="overflow FAIL"):
        await ref.tell(3)
    with pytest.raises(MailboxFull, match="overflow FAIL"):
        ref.tell_nowait(4)
    assert letters == []
    gate.set()


async def test_drop_newest_sends_new_message_to_dead_letters(
    system: ActorSystem, letters: list[DeadLetter]
) -> None:
    log: list[object] = []
    ref, gate = await _blocked_actor(system, Overflow.DROP_NEWEST, log)
    await ref.tell(3)
    ref.tell_nowait(4)
    assert [(d.message, d.reason, d.path) for d in letters] == [
        (3, "dropped_newest", "test/gated"),
        (4, "dropped_newest", "test/gated"),
    ]
    gate.set()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()  # the actor drains its mailbox first
        await ref.ask("sync")
    assert log == [0, 1, 2, "sync"]
    assert ref.statistics().dead_letters == {"dropped_newest": 2}
    assert system.dead_letters.counts == {"dropped_newest": 2}


async def test_drop_oldest_sends_evicted_to_dead_letters(system: ActorSystem, letters: list[DeadLetter]) -> None:
    log: list[object] = []
    ref, gate = await _blocked_actor(system, Overflow.DROP_OLDEST, log)
    await ref.tell(3)
    ref.tell_nowait(4)
    assert [(d.message, d.reason) for d in letters] == [(1, "dropped_oldest"), (2, "dropped_oldest")]
    gate.set()
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()  # the actor drains its mailbox first
        await ref.ask("sync")
    assert log == [0, 3, 4, "sync"]


async def test_dropped_ask_fails_the_asker_at_once(system: ActorSystem, letters: list[DeadLetter]) -> None:
    ref, gate = await _blocked_actor(system, Overflow.DROP_NEWEST, [])
    with anyio.fail_after(5), pytest.raises(MailboxFull, match="overflow DROP_NEWEST"):
        await ref.ask("question")
    assert [(d.message, d.reason) for d in letters] == [("question", "dropped_newest")]
    gate.set()


async def test_tell_to_stopped_actor_goes_to_dead_letters(system: ActorSystem, letters: list[DeadLetter]) -> None:
    entered, gate = anyio.Event(), anyio.Event()
    gate.set()
    ref = await system.spawn(Gated, name="g", entered=entered, gate=gate, log=[])
    await ref.stop()
    await ref.tell("late")
    ref.tell_nowait("later")
    assert [(d.message, d.reason) for d in letters] == [("late", "stopped"), ("later", "stopped")]
