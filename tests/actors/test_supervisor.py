"""Supervision: strategies, restart types, intensity, backoff, ordering, nesting, the root."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from actor_helpers import Recorder, Watcher

from actors import (
    Actor,
    ActorRef,
    ActorSystem,
    Backoff,
    DeadLetter,
    Restart,
    RestartLimitExceeded,
    Strategy,
    Supervisor,
    Terminated,
)

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.001, maximum=0.001, jitter=0.0)


class Logged(Actor):
    """Logs its life cycle into ``events``; ``"boom"`` crashes, ``"exit"`` exits normally."""

    def __init__(self, tag: str, events: list[str]) -> None:
        self.tag = tag
        self.events = events

    async def started(self) -> None:
        self.events.append(f"start {self.tag}")

    async def stopped(self) -> None:
        self.events.append(f"stop {self.tag}")

    async def receive(self, message: object) -> object:
        if message == "boom":
            raise RuntimeError(f"{self.tag} crashed")
        if message == "exit":
            self.stop()
            return None
        return f"{self.tag}:{message}"


async def _tree_of(system: ActorSystem, strategy: Strategy, **sup: Any) -> tuple[ActorRef, list[ActorRef], list[str]]:
    events: list[str] = []
    parent = await system.spawn(Supervisor, name="sup", strategy=strategy, backoff=FAST, **sup)
    children = [
        await system.spawn(Logged, name=tag, parent=parent, tag=tag, events=events) for tag in ("a", "b", "c")
    ]
    return parent, children, events


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, ["stop b", "start b"]),
        (Strategy.ONE_FOR_ALL, ["stop b", "stop c", "stop a", "start a", "start b", "start c"]),
        (Strategy.REST_FOR_ONE, ["stop b", "stop c", "start b", "start c"]),
    ],
)
async def test_strategy_restarts_the_right_children_in_order(
    system: ActorSystem, strategy: Strategy, restarted: list[str]
) -> None:
    _, (a, b, c), events = await _tree_of(system, strategy)
    assert events == ["start a", "start b", "start c"]
    events.clear()
    with anyio.fail_after(5):
        with pytest.raises(RuntimeError, match="b crashed"):
            await b.ask("boom")
        assert await b.ask("x") == "b:x"
        assert await c.ask("x") == "c:x"
        assert await a.ask("x") == "a:x"
    assert events == restarted
    counts = {ref.name: ref.statistics().restarts for ref in (a, b, c)}
    expected = {name: sum(e == f"start {name}" for e in restarted) for name in "abc"}
    assert counts == expected


async def test_restarted_actor_keeps_ref_and_queued_messages(system: ActorSystem, letters: list[DeadLetter]) -> None:
    log: list[object] = []
    gate = anyio.Event()
    ref = await system.spawn(Recorder, name="rec", log=log, gate=gate)
    await ref.tell(1)
    await ref.tell(("boom", 2))
    await ref.tell(3)
    await ref.tell(4)
    gate.set()
    with anyio.fail_after(5):
        assert await ref.ask("ping") == "pong"
    assert log == [1, 3, 4]
    assert system.lookup("test/rec") is ref
    assert [(d.message, d.reason, str(d.exception)) for d in letters] == [(("boom", 2), "crashed", "boom 2")]
    stats = ref.statistics()
    assert (stats.failures, stats.restarts, stats.processed) == (1, 1, 4)


@pytest.mark.parametrize(
    ("restart", "after_crash", "after_exit"),
    [
        (Restart.PERMANENT, "running", "running"),
        (Restart.TRANSIENT, "running", "stopped"),
        (Restart.TEMPORARY, "failed", "stopped"),
    ],
)
async def test_restart_types(system: ActorSystem, restart: Restart, after_crash: str, after_exit: str) -> None:
    events: list[str] = []
    terminated: list[Terminated] = []
    seen = anyio.Event()

    # notify reads ``seen`` when called: the test swaps in a fresh event after each notice
    watcher = await system.spawn(Watcher, name="watcher", notices=terminated, notify=lambda: seen.set())
    for trigger, expected in (("boom", after_crash), ("exit", after_exit)):
        name = f"child-{trigger}"
        ref = await system.spawn(Logged, name=name, restart=restart, tag=name, events=events)
        await watcher.ask(ref)
        with anyio.fail_after(5):
            if trigger == "boom":
                with pytest.raises(RuntimeError, match="crashed"):
                    await ref.ask("boom")
            else:
                await ref.ask("exit")
            if expected == "running":
                assert await ref.ask("x") == f"{name}:x"
            else:
                await seen.wait()
                seen = anyio.Event()
        assert ref.statistics().state == expected
    reasons = [(t.ref.name, t.reason) for t in terminated]
    expected_notices = [
        (f"child-{trigger}", state)
        for trigger, state in (("boom", after_crash), ("exit", after_exit))
        if state != "running"
    ]
    assert reasons == expected_notices


async def test_intensity_escalates_to_parent_which_restarts_the_supervisor(system: ActorSystem) -> None:
    events: list[str] = []
    outer = await system.spawn(Supervisor, name="outer", backoff=FAST)
    inner = await system.spawn(Supervisor, name="inner", parent=outer, max_restarts=1, within=60, backoff=FAST)
    worker = await system.spawn(Logged, name="w", parent=inner, tag="w", events=events)
    with anyio.fail_after(5):
        for _ in range(2):
            with pytest.raises(RuntimeError, match="w crashed"):
                await worker.ask("boom")
        assert await worker.ask("x") == "w:x"
    inner_stats = inner.statistics()
    assert (inner_stats.failures, inner_stats.restarts) == (1, 1)
    assert worker.statistics().restarts == 2
    assert outer.statistics().state == "running"


async def test_root_gives_up_a_top_level_child_and_keeps_the_rest() -> None:
    failed = anyio.Event()
    notices: list[Terminated] = []

    async with ActorSystem("app", max_restarts=1, within=60, backoff=FAST) as system:
        letters: list[DeadLetter] = []
        system.dead_letters.subscribe(letters.append)
        bystander = await system.spawn(Recorder, name="bystander")
        flaky = await system.spawn(Recorder, name="flaky")
        watcher = await system.spawn(Watcher, name="watcher", notices=notices, notify=failed.set)
        await watcher.ask(flaky)
        with anyio.fail_after(5):
            for attempt in range(2):
                with pytest.raises(RuntimeError, match=f"boom {attempt}"):
                    await flaky.ask(("boom", attempt))
            await failed.wait()
            assert await bystander.ask("ping") == "pong"
        assert notices[0].ref is flaky
        assert notices[0].reason == "failed"
        assert isinstance(notices[0].error, RestartLimitExceeded)
        assert str(notices[0].error) == (
            "`app/flaky` restarted more than 1 times within 60 s; last error: RuntimeError('boom 1')"
        )
        report = [d for d in letters if d.reason == "failed"]
        assert [(d.path, d.message) for d in report] == [("app/flaky", None)]
        tree = system.tree()
        json.dumps(tree)
        states = {child["name"]: child["state"] for child in tree["children"]}
        assert states == {"bystander": "running", "flaky": "failed", "watcher": "running"}


async def test_backoff_delays_the_restart(system: ActorSystem) -> None:
    slow = Backoff(initial=0.05, maximum=0.05, jitter=0.0)
    sup = await system.spawn(Supervisor, name="sup", backoff=slow)
    ref = await system.spawn(Recorder, name="r", parent=sup)
    with anyio.fail_after(5):
        with pytest.raises(RuntimeError, match="boom 0"):
            await ref.ask(("boom", 0))
        start = anyio.current_time()
        assert await ref.ask("ping") == "pong"
    assert anyio.current_time() - start >= 0.045


async def test_children_start_in_order_and_stop_in_reverse(system: ActorSystem) -> None:
    parent, (a, b, c), events = await _tree_of(system, Strategy.ONE_FOR_ONE)
    await parent.stop()
    assert events == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert [r.statistics().state for r in (a, b, c)] == ["stopped", "stopped", "stopped"]


async def test_shutdown_timeout_cancels_a_stuck_child(system: ActorSystem, letters: list[DeadLetter]) -> None:
    entered = anyio.Event()

    class Stuck(Actor):
        async def receive(self, message: object) -> None:
            entered.set()
            await anyio.sleep_forever()

    ref = await system.spawn(Stuck, name="stuck", shutdown=0.05)
    await ref.tell("hang")
    await entered.wait()
    with anyio.fail_after(5):
        await ref.stop()
    assert ref.statistics().state == "stopped"
    assert [(d.message, d.reason) for d in letters] == [("hang", "shutdown_timeout")]


async def test_supervisors_nest_into_a_tree(system: ActorSystem) -> None:
    top = await system.spawn(Supervisor, name="pipelines")
    orders = await system.spawn(Supervisor, name="orders", parent=top, strategy=Strategy.ONE_FOR_ALL)
    await system.spawn(Recorder, name="table", parent=orders)
    await system.spawn(Recorder, name="stream", parent=orders)
    tree = system.tree()
    node = tree["children"][0]
    assert node["path"] == "test/pipelines"
    assert node["kind"] == "Supervisor"
    assert [c["path"] for c in node["children"][0]["children"]] == [
        "test/pipelines/orders/table",
        "test/pipelines/orders/stream",
    ]
    assert system.lookup("test/pipelines/orders/stream") is not None


async def test_supervisor_sends_its_own_messages_to_dead_letters(
    system: ActorSystem, letters: list[DeadLetter]
) -> None:
    sup = await system.spawn(Supervisor, name="sup")
    await sup.ask("hello")
    assert [(d.message, d.reason, d.path) for d in letters] == [("hello", "unhandled", "test/sup")]


def test_supervisor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_restarts must be an int >= 0, got -1"):
        Supervisor(max_restarts=-1)
    with pytest.raises(ValueError, match="within must be > 0 seconds, got 0"):
        Supervisor(within=0)
    with pytest.raises(TypeError, match="strategy must be a Strategy"):
        Supervisor(strategy="one_for_one")  # type: ignore[arg-type]
