"""Pools: routers in the sender, per-key order, worker crashes."""

from __future__ import annotations

from collections import defaultdict
from typing import cast

import anyio
import pytest

from actors import Actor, ActorSystem, Backoff, DeadLetter, Mailbox, Pool, PoolRef

pytestmark = pytest.mark.anyio


class KeyWorker(Actor):
    """Records ``(worker name, key, seq)``; ``seq < 0`` crashes."""

    def __init__(self, log: list[tuple[str, str, int]]) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        if message == "sync":
            return self.name
        key, seq = cast("tuple[str, int]", message)
        if seq < 0:
            raise RuntimeError(f"bad seq for {key}")
        self.log.append((self.name, key, seq))
        return seq


async def _sync(pool: PoolRef) -> None:
    for worker in pool.workers:
        await worker.ask("sync")


async def test_key_hash_keeps_per_key_order_across_8_workers(system: ActorSystem) -> None:
    log: list[tuple[str, str, int]] = []
    pool = cast("PoolRef", await system.spawn(
        Pool, name="pool", factory=KeyWorker, size=8, router="key_hash", log=log,
        worker_mailbox=Mailbox(capacity=16),
    ))
    keys = [f"customer-{k}" for k in range(40)]
    with anyio.fail_after(10):
        for seq in range(30):
            for key in keys:  # interleaved keys
                await pool.tell((key, seq), key=key)
        await _sync(pool)
    by_key: dict[str, list[int]] = defaultdict(list)
    workers_of: dict[str, set[str]] = defaultdict(set)
    for worker, key, seq in log:
        by_key[key].append(seq)
        workers_of[key].add(worker)
    assert all(seqs == list(range(30)) for seqs in by_key.values())
    assert len(by_key) == 40
    assert all(len(w) == 1 for w in workers_of.values())
    assert len({w for ws in workers_of.values() for w in ws}) > 1  # spread over workers


async def test_round_robin_spreads_evenly(system: ActorSystem) -> None:
    log: list[tuple[str, str, int]] = []
    pool = cast("PoolRef", await system.spawn(Pool, name="pool", factory=KeyWorker, size=4, log=log))
    assert pool.router == "round_robin"
    for seq in range(40):
        pool.tell_nowait(("k", seq))
    with anyio.fail_after(5):
        await _sync(pool)
    counts: defaultdict[str, int] = defaultdict(int)
    for worker, _, _ in log:
        counts[worker] += 1
    assert dict(counts) == {"0": 10, "1": 10, "2": 10, "3": 10}


async def test_least_busy_avoids_the_busy_worker(system: ActorSystem) -> None:
    entered, gate = anyio.Event(), anyio.Event()
    log: list[tuple[str, object]] = []

    class Slow(Actor):
        async def receive(self, message: object) -> object:
            if message == "block":
                entered.set()
                await gate.wait()
            log.append((self.name, message))
            return None

    pool = cast("PoolRef", await system.spawn(Pool, name="pool", factory=Slow, size=3, router="least_busy"))
    await pool.workers[0].tell("block")
    await entered.wait()
    for i in range(2):  # worker 0 is busy (load 1): the idle ones take these
        await pool.tell(i)
    assert [w.statistics().mailbox_depth for w in pool.workers] == [0, 1, 1]
    gate.set()
    with anyio.fail_after(5):
        await _sync_plain(pool)
    assert sorted((name, m) for name, m in log if isinstance(m, int)) == [("1", 0), ("2", 1)]


async def _sync_plain(pool: PoolRef) -> None:
    for worker in pool.workers:
        await worker.ask("sync")


async def test_ask_and_key_routing_errors(system: ActorSystem) -> None:
    pool = cast("PoolRef", await system.spawn(Pool, name="pool", factory=KeyWorker, size=2, router="key_hash", log=[]))
    assert await pool.ask(("k", 7), key="k", timeout=5) == 7
    with pytest.raises(ValueError, match=r"pool `test/pool` routes by key_hash; pass key=\.\.\."):
        await pool.tell(("k", 1))


async def test_crashed_worker_restarts_without_losing_other_messages(
    system: ActorSystem, letters: list[DeadLetter]
) -> None:
    log: list[tuple[str, str, int]] = []
    pool = cast("PoolRef", await system.spawn(
        Pool, name="pool", factory=KeyWorker, size=4, router="key_hash", log=log,
        backoff=Backoff(initial=0.001, jitter=0),
    ))
    keys = [f"k{i}" for i in range(12)]
    with anyio.fail_after(10):
        for seq in range(10):
            for key in keys:
                await pool.tell((key, -1 if (key == "k3" and seq == 4) else seq), key=key)
        await _sync(pool)
    assert sorted((k, s) for _, k, s in log) == sorted(
        (k, s) for k in keys for s in range(10) if not (k == "k3" and s == 4)
    )
    assert [(d.message, d.reason) for d in letters] == [(("k3", -1), "crashed")]
    restarts = [w.statistics().restarts for w in pool.workers]
    assert sorted(restarts) == [0, 0, 0, 1]


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="Pool size must be an int >= 1, got 0"):
        Pool(factory=KeyWorker, size=0)
    with pytest.raises(ValueError, match="Pool router must be one of round_robin, key_hash, least_busy; got 'random'"):
        Pool(factory=KeyWorker, router="random")
    with pytest.raises(TypeError, match="got an instance of `KeyWorker`; pass the class"):
        Pool(factory=KeyWorker([]))
