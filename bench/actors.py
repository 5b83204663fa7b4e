"""Actor runtime throughput against asyncio/anyio baselines measured in the same run.

Usage: python bench/actors.py [--quick] [--json] [--loop asyncio|uvloop] [--repeat N] [--wall]

Baselines: asyncio.Queue put/get, an anyio memory object stream (an await per message), and a
bare asyncio Future round trip (request + future through an asyncio.Queue). Ours: tell (1
producer -> 1 actor, capacity 1000), ask round trips, and a pool of 4 (key_hash) against a
single actor. Goals (ratios within this run): tell >= 1.1x asyncio.Queue, ask >= 0.8x the bare
Future round trip, pool of 4 >= 0.8x a single actor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import Actor, ActorSystem, Mailbox, Pool

CAPACITY = 1000
# Rates use this process's CPU time by default: the machine is shared, and other processes'
# load would otherwise skew one case against another. --wall switches to wall-clock time.
clock = time.process_time


class Sink(Actor):
    async def started(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if message is None:
            return self.count
        self.count += 1
        return None


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return message


async def asyncio_queue(n: int) -> float:
    q: asyncio.Queue[int | None] = asyncio.Queue(CAPACITY)

    async def consume() -> None:
        while await q.get() is not None:
            pass

    start = clock()
    task = asyncio.ensure_future(consume())  # baseline only: a bare asyncio task on purpose
    for i in range(n):
        await q.put(i)
    await q.put(None)
    await task
    return n / (clock() - start)


async def anyio_stream(n: int) -> float:
    send, receive = anyio.create_memory_object_stream[int | None](CAPACITY)
    start = clock()
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            async with receive:
                async for item in receive:
                    if item is None:
                        return

        tg.start_soon(consume)
        async with send:
            for i in range(n):
                await send.send(i)
            await send.send(None)
    return n / (clock() - start)


async def future_round_trip(n: int) -> float:
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[tuple[int, asyncio.Future[int]] | None] = asyncio.Queue()

    async def serve() -> None:
        while (item := await q.get()) is not None:
            item[1].set_result(item[0])

    task = asyncio.ensure_future(serve())  # baseline only
    start = clock()
    for i in range(n):
        fut = loop.create_future()
        q.put_nowait((i, fut))
        await fut
    elapsed = clock() - start
    q.put_nowait(None)
    await task
    return n / elapsed


async def actor_tell(n: int) -> float:
    async with ActorSystem("bench") as system:
        ref = await system.spawn(Sink, name="sink", mailbox=Mailbox(capacity=CAPACITY))
        start = clock()
        for i in range(n):
            await ref.tell(i)
        count = await ref.ask(None, timeout=60)
        elapsed = clock() - start
        if count != n:
            raise RuntimeError(f"sink counted {count}, expected {n}")
    return n / elapsed


async def actor_ask(n: int) -> float:
    async with ActorSystem("bench") as system:
        ref = await system.spawn(Echo, name="echo")
        start = clock()
        for i in range(n):
            await ref.ask(i)
        elapsed = clock() - start
    return n / elapsed


async def actor_pool(n: int, size: int) -> float:
    async with ActorSystem("bench") as system:
        if size == 1:
            ref = await system.spawn(Sink, name="single", mailbox=Mailbox(capacity=CAPACITY))
            start = clock()
            for i in range(n):
                await ref.tell(i)
            total = await ref.ask(None, timeout=60)
        else:
            pool = await system.spawn(
                Pool, name="pool", factory=Sink, size=size, router="key_hash",
                worker_mailbox=Mailbox(capacity=CAPACITY),
            )
            keys = [f"customer-{k}" for k in range(64)]
            start = clock()
            for i in range(n):
                await pool.tell(i, key=keys[i & 63])
            total = 0
            for worker in pool.workers:
                total += await worker.ask(None, timeout=60)
        elapsed = clock() - start
        if total != n:
            raise RuntimeError(f"pool counted {total}, expected {n}")
    return n / elapsed


async def run(quick: bool, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` rounds; each round runs every case once, so load drifts hit all alike."""
    n = 100_000 if quick else 1_000_000
    n_ask = 20_000 if quick else 100_000
    cases: dict[str, Callable[[], Awaitable[float]]] = {
        "asyncio.Queue put/get": lambda: asyncio_queue(n),
        "anyio memory stream": lambda: anyio_stream(n // 4),
        "asyncio Future round trip": lambda: future_round_trip(n_ask),
        "actor tell": lambda: actor_tell(n),
        "actor ask": lambda: actor_ask(n_ask),
        "single actor (pool baseline)": lambda: actor_pool(n, 1),
        "pool of 4 (key_hash)": lambda: actor_pool(n, 4),
    }
    best: dict[str, float] = dict.fromkeys(cases, 0.0)
    for _ in range(repeat):
        for name, case in cases.items():
            best[name] = max(best[name], await case())
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 k messages instead of 1 M")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--repeat", type=int, default=3, help="best of N rounds per row")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of CPU time")
    args = parser.parse_args()
    global clock
    if args.wall:
        clock = time.perf_counter
    options = {"use_uvloop": args.loop == "uvloop"}
    rates = anyio.run(run, args.quick, args.repeat, backend="asyncio", backend_options=options)
    goals = [
        ("tell / asyncio.Queue", rates["actor tell"] / rates["asyncio.Queue put/get"], 1.1),
        ("ask / Future round trip", rates["actor ask"] / rates["asyncio Future round trip"], 0.8),
        ("pool of 4 / single actor", rates["pool of 4 (key_hash)"] / rates["single actor (pool baseline)"], 0.8),
    ]
    if args.json:
        print(json.dumps({
            "loop": args.loop,
            "quick": args.quick,
            "clock": "wall" if args.wall else "process_cpu",
            "msg_per_s": rates,
            "ratios": {name: {"ratio": ratio, "goal": goal, "met": ratio >= goal} for name, ratio, goal in goals},
        }, indent=2))
        return
    timing = "wall clock" if args.wall else "process CPU time"
    print(f"actors benchmark (loop={args.loop}, {'quick' if args.quick else 'full'}, best of {args.repeat}, {timing})")
    print(f"{'case':<32}{'msg/s':>14}")
    for name, rate in rates.items():
        print(f"{name:<32}{rate:>14,.0f}")
    print()
    print(f"{'ratio':<32}{'value':>8}{'goal':>8}  met")
    for name, ratio, goal in goals:
        print(f"{name:<32}{ratio:>8.2f}{goal:>8.2f}  {'yes' if ratio >= goal else 'NO'}")


if __name__ == "__main__":
    main()
