"""Property: through a supervisor + pool with injected crashes, no message is lost or duplicated."""

from __future__ import annotations

from collections import Counter
from typing import cast

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import (
    Actor,
    ActorSystem,
    Backoff,
    DeadLetter,
    Mailbox,
    Overflow,
    Pool,
    PoolRef,
    Strategy,
    Supervisor,
)

pytestmark = pytest.mark.anyio


class Worker(Actor):
    """Records message ids; an id in ``crash_ids`` crashes the worker on it."""

    def __init__(self, processed: list[int], crash_ids: frozenset[int]) -> None:
        self.processed = processed
        self.crash_ids = crash_ids

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        if message in self.crash_ids:
            raise RuntimeError(f"injected crash on {message}")
        self.processed.append(message)
        return None


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    count=st.integers(min_value=1, max_value=300),
    crash_ratio=st.floats(min_value=0.0, max_value=0.3),
    size=st.integers(min_value=1, max_value=5),
    router=st.sampled_from(["round_robin", "key_hash", "least_busy"]),
    strategy=st.sampled_from(list(Strategy)),
    capacity=st.integers(min_value=1, max_value=16),
    overflow=st.sampled_from([Overflow.BLOCK, Overflow.DROP_OLDEST, Overflow.DROP_NEWEST]),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_every_message_processed_once_or_dead_lettered(
    count: int,
    crash_ratio: float,
    size: int,
    router: str,
    strategy: Strategy,
    capacity: int,
    overflow: Overflow,
    seed: int,
) -> None:
    import random

    rng = random.Random(seed)
    crash_ids = frozenset(i for i in range(count) if rng.random() < crash_ratio)
    processed: list[int] = []
    letters: list[DeadLetter] = []
    with anyio.fail_after(20):
        async with ActorSystem("prop") as system:
            system.dead_letters.subscribe(letters.append)
            sup = await system.spawn(Supervisor, name="sup", max_restarts=10_000, backoff=Backoff(initial=0.0))
            pool = cast("PoolRef", await system.spawn(
                Pool,
                name="pool",
                parent=sup,
                factory=Worker,
                size=size,
                router=router,
                strategy=strategy,
                max_restarts=10_000,
                backoff=Backoff(initial=0.0),
                worker_mailbox=Mailbox(capacity=capacity, overflow=overflow),
                processed=processed,
                crash_ids=crash_ids,
            ))
            for i in range(count):
                await pool.tell(i, key=i % 7)
                if rng.random() < 0.05:
                    await anyio.lowlevel.checkpoint()  # let workers run (and crash) mid-stream
    seen = Counter(processed)
    assert all(n == 1 for n in seen.values()), "a message was processed twice"
    dead = Counter(d.message for d in letters if d.message is not None)
    assert all(n == 1 for n in dead.values()), "a message was dead-lettered twice"
    assert not set(seen) & set(dead), "a message was processed and dead-lettered"
    assert set(seen) | set(dead) == set(range(count)), "a message vanished"
    for letter in letters:
        if letter.reason == "crashed":
            assert letter.message in crash_ids
            assert str(letter.exception) == f"injected crash on {letter.message}"
        else:
            assert letter.reason in ("dropped_oldest", "dropped_newest")
            assert letter.exception is None
    assert {i for i in crash_ids if i in seen} == set()
