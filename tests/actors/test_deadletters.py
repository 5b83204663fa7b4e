"""Dead letters: counted by reason, subscribable by callback or actor, unsubscribable."""

from __future__ import annotations

import anyio
import pytest
from actor_helpers import Gated

from actors import Actor, ActorSystem, DeadLetter, DeadLetters, Mailbox, Overflow

pytestmark = pytest.mark.anyio


def test_counts_by_reason_and_fans_out() -> None:
    office = DeadLetters()
    seen: list[DeadLetter] = []
    sub = office.subscribe(seen.append)
    office.publish(DeadLetter("a", "app/x", "dropped_newest"))
    office.publish(DeadLetter("b", "app/x", "crashed", ValueError("bad")))
    assert office.counts == {"dropped_newest": 1, "crashed": 1}
    assert office.total == 2
    sub.unsubscribe()
    office.publish(DeadLetter("c", "app/x", "stopped"))
    assert [d.message for d in seen] == ["a", "b"]
    assert repr(office) == "<DeadLetters total=3 by_reason={'dropped_newest': 1, 'crashed': 1, 'stopped': 1}>"


def test_subscription_is_callable_and_a_context_manager() -> None:
    office = DeadLetters()
    seen: list[DeadLetter] = []
    with office.subscribe(seen.append):
        office.publish(DeadLetter(1, "p", "stopped"))
    office.publish(DeadLetter(2, "p", "stopped"))
    other = office.subscribe(seen.append)
    other()
    office.publish(DeadLetter(3, "p", "stopped"))
    assert [d.message for d in seen] == [1]


def test_failing_subscriber_is_counted_not_looped() -> None:
    office = DeadLetters()

    def broken(letter: DeadLetter) -> None:
        raise RuntimeError("subscriber bug")

    office.subscribe(broken)
    office.publish(DeadLetter(1, "p", "stopped"))
    assert office.undeliverable == 1
    assert office.counts == {"stopped": 1}


def test_subscribe_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="subscribe\\(\\) needs a callable taking a DeadLetter or an ActorRef, got 42"):
        DeadLetters().subscribe(42)


async def test_actor_can_subscribe_to_dead_letters(system: ActorSystem) -> None:
    got: list[DeadLetter] = []
    seen = anyio.Event()

    class Collector(Actor):
        async def receive(self, message: object) -> object:
            assert isinstance(message, DeadLetter)
            got.append(message)
            seen.set()
            return None

    collector = await system.spawn(Collector, name="collector")
    unsubscribe = system.dead_letters.subscribe(collector)
    entered, gate = anyio.Event(), anyio.Event()
    target = await system.spawn(
        Gated, name="t", entered=entered, gate=gate, log=[], mailbox=Mailbox(capacity=1, overflow=Overflow.DROP_NEWEST)
    )
    await target.tell(0)
    await entered.wait()
    await target.tell(1)
    await target.tell(2)  # dropped
    with anyio.fail_after(5):
        await seen.wait()
    assert got == [DeadLetter(2, "test/t", "dropped_newest", None)]
    unsubscribe()
    gate.set()
