"""The cell: the runtime behind one actor name (task, mailbox, counters), kept across restarts.

One task per cell runs its whole life: start an instance, serve messages, and on a crash tear the
instance down, report to the parent and wait for the parent's directive (resume or stop). The
parent's side of supervision (``child_failed`` -> ``_supervise``) lives in ``_supervising.py``;
sending, asking, timers and watches in ``_delivery.py``.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from ._actor import Actor, TimerHandle
from ._deadletters import DeadLetter
from ._delivery import (
    _CRASH,
    _DELIVER,
    _EXIT,
    _HALT,
    _NONE,
    _PUBLIC_STATE,
    _STOP,
    BATCH,
    FAILED,
    FINAL_FAIL,
    RESTARTING,
    RESUME,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    Ask,
    Delivery,
    FutureAsk,
    answer,
    current_cell,
)
from ._errors import ActorStopped
from ._mailbox import Mailbox, MailboxQueue
from ._messages import ActorStatistics, Terminated
from ._supervising import Supervising
from ._supervision import Restart

if TYPE_CHECKING:
    from ._ref import ActorRef
    from ._system import ActorSystem

__all__ = ("Cell", "make_factory")

def make_factory(factory: Any, options: dict[str, Any]) -> Any:
    """Validate a spawn factory and return a zero-argument callable building the actor."""
    if isinstance(factory, Actor):
        raise TypeError(
            "spawn() needs an Actor subclass or zero-argument factory, got an instance of "
            f"`{type(factory).__name__}`; pass the class"
        )
    if isinstance(factory, type):
        if not issubclass(factory, Actor):
            raise TypeError(
                f"spawn() needs an Actor subclass or zero-argument factory, got class `{factory.__name__}` "
                "which does not subclass actors.Actor"
            )
        return functools.partial(factory, **options) if options else factory
    if callable(factory):
        if options:
            raise TypeError(
                f"spawn() passes options ({', '.join(sorted(options))}) only to an Actor subclass; "
                "bind them in the factory instead (functools.partial or a lambda)"
            )
        return factory
    raise TypeError(f"spawn() needs an Actor subclass or zero-argument factory, got {factory!r}")


def _check_spawn_args(name: Any, restart: Any, shutdown: Any, mailbox: Any) -> None:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"spawn() name must be a non-empty str without '/', got {name!r}")
    if not isinstance(restart, Restart):
        raise TypeError(f"spawn() restart must be a Restart (e.g. Restart.PERMANENT), got {restart!r}")
    if isinstance(shutdown, bool) or not isinstance(shutdown, int | float) or shutdown <= 0:
        raise ValueError(f"spawn() shutdown must be a timeout in seconds > 0, got {shutdown!r}")
    if not isinstance(mailbox, Mailbox):
        raise TypeError(f"spawn() mailbox must be a Mailbox(capacity=..., overflow=...), got {mailbox!r}")


class Cell(Delivery, Supervising):
    """Runtime state of one actor name; see the module docstring."""

    def __init__(
        self,
        system: ActorSystem,
        parent: Cell | None,
        name: str,
        make: Any,
        restart: Restart,
        shutdown: float,
        mailbox: Mailbox,
    ) -> None:
        super().__init__()
        self.system = system
        self.parent = parent
        self.name = name
        self.path = name if parent is None else f"{parent.path}/{name}"
        self.make = make
        self.restart = restart
        self.shutdown = float(shutdown)
        self.queue = MailboxQueue(mailbox)
        self.instance: Actor | None = None
        self.ref: ActorRef | None = None
        self.kind = ""
        self.state = STARTING
        self.children: list[Cell] = []
        self.child_refs: tuple[ActorRef, ...] = ()
        self.watchers: set[Cell] = set()
        self.watching: set[Cell] = set()
        self.timers: set[TimerHandle] = set()
        self.processed = 0
        self.failures = 0
        self.restarts = 0
        self.busy = 0.0
        self.dead: Counter[str] = Counter()
        self.ticks_skipped = 0
        self.incarnation = 0
        self.waiting_on: Cell | None = None
        self.inflight: Any = _NONE
        self.stop_requested = False
        self.start_error: BaseException | None = None
        self.fail_error: BaseException | None = None
        self.directive: str | None = None
        self._tg: Any = None
        self._scope: anyio.CancelScope | None = None
        self._work_scope: anyio.CancelScope | None = None
        self.terminated = anyio.Event()
        self.halted = anyio.Event()
        self.cycle = anyio.Event()
        self._directive_event = anyio.Event()

    def __repr__(self) -> str:
        return f"<Cell {self.path} {self.state}>"

    # -- bookkeeping ---------------------------------------------------------------------------

    def _refresh_children(self) -> None:
        self.child_refs = tuple(c.ref for c in self.children if c.ref is not None)
        if self.ref is not None:
            self.ref._children_changed(self.child_refs)

    def statistics(self) -> ActorStatistics:
        q = self.queue
        return ActorStatistics(
            name=self.name,
            path=self.path,
            kind=self.kind,
            state=_PUBLIC_STATE.get(self.state, self.state),
            mailbox_depth=len(q.items),
            mailbox_high_water=q.high_water,
            mailbox_capacity=q.capacity,
            processed=self.processed,
            failures=self.failures,
            restarts=self.restarts,
            dead_letters=dict(self.dead),
            blocked_seconds=q.blocked_seconds,
            latency_ms=(self.busy / self.processed * 1000.0) if self.processed else 0.0,
            timer_ticks_skipped=self.ticks_skipped,
        )

    def tree(self) -> dict[str, Any]:
        node = self.statistics().as_dict()
        node["children"] = [c.tree() for c in list(self.children)]
        return node

    # -- spawning ------------------------------------------------------------------------------

    async def spawn_child(
        self, factory: Any, name: str, restart: Restart, shutdown: float, mailbox: Mailbox, options: dict[str, Any]
    ) -> ActorRef:
        _check_spawn_args(name, restart, shutdown, mailbox)
        make = make_factory(factory, options)
        if self._tg is None or self.terminated.is_set() or self.state in (STOPPING, STOPPED, FAILED):
            raise ActorStopped(self.path, "is stopped; cannot spawn children")
        for existing in self.children:
            if existing.name == name:
                if existing.state is not FAILED:
                    raise ValueError(
                        f"`{existing.path}` already exists; names are unique among siblings"
                    )
                self.children.remove(existing)
        child = Cell(self.system, self, name, make, restart, shutdown, mailbox)
        self.children.append(child)
        await self._tg.start(child._run)
        if child.start_error is not None:
            with anyio.CancelScope(shield=True):
                await child.terminated.wait()
            raise child.start_error
        self._refresh_children()
        return child.ref  # type: ignore[return-value]

    # -- life cycle ----------------------------------------------------------------------------

    def _new_instance(self) -> Actor:
        inst = self.make()
        if not isinstance(inst, Actor):
            raise TypeError(
                f"the factory of `{self.path}` returned {type(inst).__name__}, not an actors.Actor instance"
            )
        inst._actor_cell = self
        if self.ref is None:
            self.ref = inst._make_ref(self)
            self.kind = getattr(inst, "_kind", None) or type(inst).__name__
        self.configure(inst)
        return inst

    async def _start_instance(self) -> None:
        self.state = STARTING
        self.instance = None
        inst = self._new_instance()
        self.instance = inst
        await inst.started()
        for child in list(self.children):
            if child.state is RESTARTING:
                await child.resume()
        self.state = RUNNING

    async def _run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        current_cell.set(self)
        final, error = STOPPED, None
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    try:
                        await self._start_instance()
                    except Exception as exc:
                        self.start_error = exc
                        task_status.started()
                        with anyio.CancelScope(shield=True):
                            await self._stop_children()
                        tg.cancel_scope.cancel()
                        return
                    task_status.started()
                    final, error = await self._lifecycle()
                    tg.cancel_scope.cancel()
        finally:
            self._finish(final, error)

    async def _lifecycle(self) -> tuple[str, BaseException | None]:
        while True:
            with anyio.CancelScope() as work:
                self._work_scope = work
                outcome = await self._serve()
            self._work_scope = None
            if work.cancelled_caught:  # a halt or stop ran out of time and cancelled the handler
                if self.inflight is not _NONE:
                    self.dead_letter(self.inflight, "shutdown_timeout")
                    self.inflight = _NONE
                outcome = (_STOP if self.stop_requested else _HALT, None, _NONE)
            kind, error, message = outcome
            if kind is _STOP:
                self.state = STOPPING
                await self._teardown(final=True)
                return STOPPED, None
            if kind is _CRASH:
                self.failures += 1
                if message is not _NONE:
                    self.dead_letter(message, "crashed", error)
            self.state = RESTARTING
            await self._teardown(final=False)
            self.halted.set()
            if self.stop_requested:
                self.give(RESUME)  # restart at once to drain what is queued, then stop
            elif kind is not _HALT:
                self.report(error)
            while True:
                await self._directive_event.wait()
                directive = self.directive
                if directive is not RESUME:
                    await self._stop_children()
                    self.cycle.set()
                    if directive is FINAL_FAIL:
                        return FAILED, self.fail_error
                    return STOPPED, None
                self.restarts += 1
                self.incarnation += 1
                self.directive = None
                self._directive_event = anyio.Event()
                cycle, self.cycle = self.cycle, anyio.Event()
                # A halt() arriving while we start waits on this fresh event (its _HALT signal
                # is queued after the pruning below and served once started).
                self.halted = anyio.Event()
                # stale halt/crash/exit signals belong to the previous incarnation
                kept = [c for c in self.queue.control if c[0] in (_DELIVER, _STOP)]
                self.queue.control.clear()
                self.queue.control.extend(kept)
                try:
                    await self._start_instance()
                except Exception as exc:
                    self.failures += 1
                    self.state = RESTARTING
                    await self._teardown(final=False)
                    self.halted.set()
                    cycle.set()
                    if self.stop_requested:  # cannot drain: give up what is queued
                        await self._stop_children()
                        return FAILED, exc
                    self.report(exc)
                    continue
                cycle.set()
                break

    async def _serve(self) -> tuple[str, BaseException | None, Any]:
        q = self.queue
        items = q.items
        control = q.control
        receive = self.instance.receive  # type: ignore[union-attr]
        perf = time.perf_counter
        ask_type, fast_ask, batch = Ask, FutureAsk, BATCH
        while True:
            if control:
                kind, payload = control.popleft()
                if kind is _DELIVER:
                    self.inflight = payload
                    start = perf()
                    try:
                        await receive(payload)
                    except Exception as exc:
                        self.inflight = _NONE
                        return _CRASH, exc, payload
                    self.inflight = _NONE
                    self.processed += 1
                    self.busy += perf() - start
                elif kind is _STOP:
                    self.stop_requested = True
                    await self._drain(receive)
                    return _STOP, None, _NONE
                elif kind is _CRASH:
                    return _CRASH, payload, _NONE
                else:  # _HALT, _EXIT
                    return kind, None, _NONE
                continue
            if not items:
                loop = q.loop
                if loop is None:
                    await q.wait_item()
                else:  # asyncio: wait_item() inlined, one bare future per idle period
                    w = q.wakeup = loop.create_future()
                    try:
                        await w
                    finally:
                        if q.wakeup is w:
                            q.wakeup = None
                continue
            n = 0
            start = perf()
            message: Any = None
            try:
                while items:
                    message = items.popleft()
                    self.inflight = message
                    if q.putters and len(items) <= q.low_water:
                        q.freed()  # hysteresis: blocked senders resume with room for a batch
                    kind = type(message)
                    if kind is fast_ask or kind is ask_type:
                        await answer(receive, message)
                    else:
                        await receive(message)
                    n += 1
                    if control or n >= batch:
                        break
            except Exception as exc:
                self.inflight = _NONE
                return _CRASH, exc, message
            finally:  # counted once per batch, also when a crash or a cancel ends it
                self.processed += n
                self.busy += perf() - start
            self.inflight = _NONE
            if n >= batch:
                await anyio.lowlevel.checkpoint()

    async def _drain(self, receive: Any) -> None:
        """Handle everything still queued, refusing new messages (``ref.stop()``)."""
        self.state = STOPPING
        q = self.queue
        q.close()
        items, control = q.items, q.control
        perf = time.perf_counter
        while items or control:
            if control:
                kind, message = control.popleft()
                if kind is not _DELIVER:
                    continue
            else:
                message = items.popleft()
            self.inflight = message
            start = perf()
            try:
                if type(message) is Ask or type(message) is FutureAsk:
                    await answer(receive, message)
                else:
                    await receive(message)
            except Exception as exc:
                self.failures += 1
                self.dead_letter(message, "crashed", exc)
            else:
                self.processed += 1
                self.busy += perf() - start
            self.inflight = _NONE

    async def _teardown(self, *, final: bool) -> None:
        """End the current incarnation: children (halted or stopped), timers, ``stopped()``."""
        self.cancel_handlers()
        if final:
            await self._stop_children()
        else:
            for child in reversed(list(self.children)):
                await child.halt()
        self._cancel_timers()
        inst = self.instance
        if inst is not None:
            try:
                await inst.stopped()
            except Exception as exc:
                self.failures += 1
                self.dead["stopped_hook_failed"] += 1
                self.system.dead_letters.publish(DeadLetter(None, self.path, "stopped_hook_failed", exc))

    async def _stop_children(self) -> None:
        for child in reversed(list(self.children)):
            await child.stop()

    def _finish(self, final: str, error: BaseException | None) -> None:
        self.state = final
        self.fail_error = error
        q = self.queue
        q.close()
        reason = FAILED if final is FAILED else STOPPED
        if self.inflight is not _NONE:
            self.dead_letter(self.inflight, "shutdown_timeout")
            self.inflight = _NONE
        while q.items:
            self.dead_letter(q.items.popleft(), reason)
        while q.control:
            kind, payload = q.control.popleft()
            if kind is _DELIVER:
                self.dead_letter(payload, reason)
        self._cancel_timers()
        for target in self.watching:
            target.watchers.discard(self)
        self.watching.clear()
        if final is FAILED:
            self.dead[FAILED] += 1
            self.system.dead_letters.publish(DeadLetter(None, self.path, FAILED, error))
        if self.ref is not None:
            notice = Terminated(self.ref, reason, error)
            for watcher in list(self.watchers):
                watcher.deliver_control(notice)
        self.watchers.clear()
        parent = self.parent
        if parent is not None and self in parent.children and (final is STOPPED or self.start_error):
            parent.children.remove(self)
        if parent is not None:
            parent._refresh_children()
        self.halted.set()
        self.cycle.set()
        self.terminated.set()

    # -- signals from others -------------------------------------------------------------------

    def give(self, directive: str, error: BaseException | None = None) -> None:
        """Tell a halted cell what to do next (the first directive of a cycle wins)."""
        if self.directive is None:
            self.directive = directive
            if error is not None:
                self.fail_error = error
            self._directive_event.set()

    def request_exit(self) -> None:
        self.queue.push_control(_EXIT)

    def crash(self, error: BaseException) -> None:
        """Make this cell fail with ``error`` at its next message boundary (escalation)."""
        self.queue.push_control(_CRASH, error)

    async def halt(self) -> None:
        """Stop the current incarnation for a restart, keeping mailbox and ref; waits for it.

        Waits up to ``shutdown`` seconds, then cancels the running handler.
        """
        if self.terminated.is_set() or self.state in (STOPPED, FAILED, STOPPING):
            return
        if self.state is not RESTARTING:
            self.queue.push_control(_HALT)
        halted = self.halted
        with anyio.move_on_after(self.shutdown):
            await halted.wait()
        if not halted.is_set() and self._work_scope is not None:
            self._work_scope.cancel()
            with anyio.move_on_after(self.shutdown):
                await halted.wait()

    async def resume(self) -> None:
        """Let a halted cell start a new incarnation; waits until it has (or failed again)."""
        if self.state is not RESTARTING or self.terminated.is_set():
            return
        cycle = self.cycle
        self.give(RESUME)
        await cycle.wait()

    async def stop(self) -> None:
        if self.terminated.is_set():
            return
        node = current_cell.get()
        while node is not None:
            if node is self:
                raise ValueError(
                    f"`{self.path}` cannot await its own stop from inside; call self.stop() in the actor"
                )
            node = node.parent
        with anyio.CancelScope(shield=True):
            self.stop_requested = True
            if self.state is RESTARTING:
                # Restart now (no backoff) so it drains what it has queued, then stops.
                self.give(RESUME)
            self.queue.push_control(_STOP)
            with anyio.move_on_after(self.shutdown):
                await self.terminated.wait()
            if not self.terminated.is_set():
                if self._scope is not None:
                    self._scope.cancel()
                await self.terminated.wait()
