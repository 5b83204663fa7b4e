"""ActorSystem: graceful shutdown, introspection, statistics."""

from __future__ import annotations

import dataclasses
import json

import anyio
import pytest
from actor_helpers import Gated, Recorder

from actors import Actor, ActorRef, ActorStatistics, ActorStopped, ActorSystem, DeadLetter, Pool

pytestmark = pytest.mark.anyio

TREE_KEYS = {
    "name", "path", "kind", "state", "mailbox_depth", "mailbox_high_water", "mailbox_capacity",
    "processed", "failures", "restarts", "dead_letters", "blocked_seconds", "latency_ms", "children",
}


async def test_leaving_the_system_drains_then_stops_in_reverse_order() -> None:
    events: list[tuple[str, object]] = []

    class Sink(Actor):
        def __init__(self, tag: str) -> None:
            self.tag = tag

        async def receive(self, message: object) -> object:
            events.append((self.tag, message))
            return None

        async def stopped(self) -> None:
            events.append((self.tag, "stopped"))

    async with ActorSystem("app") as system:
        first = await system.spawn(Sink, name="first", tag="first")
        second = await system.spawn(Sink, name="second", tag="second")
        for i in range(3):
            first.tell_nowait(i)
            second.tell_nowait(i)
    assert sorted(e for e in events if e[1] != "stopped") == sorted(
        (tag, i) for tag in ("first", "second") for i in range(3)
    )
    stops = [e[0] for e in events if e[1] == "stopped"]
    assert stops == ["second", "first"]  # reverse start order
    for tag in ("first", "second"):
        own = [e[1] for e in events if e[0] == tag]
        assert own == [0, 1, 2, "stopped"]  # drained before stopping


async def test_shutdown_timeout_fails_queued_asks_and_dead_letters_tells() -> None:
    entered, gate = anyio.Event(), anyio.Event()
    letters: list[DeadLetter] = []
    outcome: list[BaseException] = []
    async def asker(ref: ActorRef) -> None:
        try:
            await ref.ask("queued ask", timeout=None)
        except ActorStopped as exc:
            outcome.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with ActorSystem("app", shutdown_timeout=0.1) as system:
                system.dead_letters.subscribe(letters.append)
                ref = await system.spawn(Gated, name="stuck", entered=entered, gate=gate, log=[], shutdown=0.05)
                await ref.tell("first")
                await entered.wait()
                await ref.tell("queued tell")
                tg.start_soon(asker, ref)
                await anyio.wait_all_tasks_blocked()
    assert [str(e) for e in outcome] == ["actor `app/stuck` stopped before answering"]
    assert sorted((d.message, d.reason) for d in letters) == [
        ("first", "shutdown_timeout"),
        ("queued tell", "stopped"),
    ]


async def test_body_exception_propagates_unwrapped() -> None:
    async def body() -> None:
        async with ActorSystem("app") as system:
            await system.spawn(Recorder, name="r")
            raise LookupError("from the body")

    with pytest.raises(LookupError, match="from the body"):
        await body()


async def test_tree_is_plain_json_with_the_design_keys(system: ActorSystem) -> None:
    ref = await system.spawn(Recorder, name="rec")
    await system.spawn(Pool, name="pool", factory=Recorder, size=2)
    await ref.tell(1)
    await ref.ask("get")
    tree = system.tree()
    assert json.loads(json.dumps(tree)) == tree

    def walk(node: dict[str, object]) -> list[dict[str, object]]:
        return [node, *(n for child in node["children"] for n in walk(child))]  # type: ignore[attr-defined]

    nodes = walk(tree)
    assert all(set(node) == TREE_KEYS for node in nodes)
    assert [(n["path"], n["kind"], n["state"]) for n in nodes] == [
        ("test", "ActorSystem", "running"),
        ("test/rec", "Recorder", "running"),
        ("test/pool", "Pool", "running"),
        ("test/pool/0", "Recorder", "running"),
        ("test/pool/1", "Recorder", "running"),
    ]
    rec = nodes[1]
    assert (rec["processed"], rec["mailbox_capacity"], rec["mailbox_depth"]) == (2, 1000, 0)


async def test_statistics_is_a_frozen_snapshot(system: ActorSystem) -> None:
    ref = await system.spawn(Recorder, name="rec")
    before = ref.statistics()
    assert isinstance(before, ActorStatistics)
    await ref.ask("ping")
    assert before.processed == 0
    assert ref.statistics().processed == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.processed = 5  # type: ignore[misc]


def test_system_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="ActorSystem name must be a non-empty str without '/', got ''"):
        ActorSystem("")
    with pytest.raises(ValueError, match="shutdown_timeout must be > 0 seconds, got 0"):
        ActorSystem("app", shutdown_timeout=0)


def test_system_outside_async_with_explains() -> None:
    system = ActorSystem("app")
    with pytest.raises(RuntimeError, match=r"ActorSystem `app` is not running; use `async with ActorSystem\(\.\.\.\)`"):
        system.tree()
