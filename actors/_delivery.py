"""Getting messages into a cell: tell/ask slow paths, overflow, dead letters, timers, watches.

Mixed into ``Cell``; also holds the states and signals the cell modules share. The fast paths
(room in the mailbox) are ``MailboxQueue.offer`` called from ``ActorRef``; everything here runs when the mailbox is
full or closed, for asks from inside actors (cycle checks), and on trio.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio

from ._actor import TimerHandle
from ._deadletters import DeadLetter
from ._errors import ActorStopped, AskCycle, AskTimeout, MailboxFull
from ._mailbox import Overflow
from ._messages import Terminated
from ._promise import Promise

if TYPE_CHECKING:
    from collections import Counter

    from ._cell import Cell
    from ._mailbox import MailboxQueue
    from ._ref import ActorRef
    from ._system import ActorSystem

__all__ = ("Ask", "Delivery", "FutureAsk", "answer", "current_cell")

current_cell: ContextVar[Cell | None] = ContextVar("actors_current_cell", default=None)

STARTING = "starting"
RUNNING = "running"
RESTARTING = "restarting"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"
_PUBLIC_STATE = {STARTING: RUNNING, STOPPING: RUNNING}

# control-lane signals
_STOP = "stop"  # drain, then stop for good
_HALT = "halt"  # a supervisor restarts us (sibling of a crashed child)
_CRASH = "crash"  # fail now with the payload (a supervisor escalating)
_EXIT = "exit"  # normal exit requested by the actor itself
_DELIVER = "deliver"  # a message outside the bound (Terminated notices)

# directives from the parent while halted
RESUME = "resume"
FINAL_STOP = "final_stop"
FINAL_FAIL = "final_fail"

BATCH = 256  # messages per checkpoint when the mailbox never runs dry
_NONE: Any = object()


class Ask:
    """An ask in a mailbox: the message and the promise the asker waits on."""

    __slots__ = ("message", "promise")

    def __init__(self, message: Any, promise: Promise[Any]) -> None:
        self.message = message
        self.promise = promise

    def resolve(self, result: Any) -> None:
        self.promise._resolve(result)

    def fail(self, error: BaseException) -> None:
        self.promise._fail(error)


class FutureAsk:
    """An ask on the asyncio fast path: the reply goes straight into the asker's bare future."""

    __slots__ = ("fut", "message")

    def __init__(self, message: Any, fut: Any) -> None:
        self.message = message
        self.fut = fut

    def resolve(self, result: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(error)


async def answer(receive: Any, envelope: Ask | FutureAsk) -> None:
    """Run ``receive`` on an ask's message and settle the asker with the result.

    Raises:
        Exception: whatever ``receive`` raised, after failing the asker with it (the caller
            treats it as a crash).
    """
    try:
        result = await receive(envelope.message)
    except Exception as exc:
        envelope.fail(exc)
        raise
    envelope.resolve(result)


class Delivery:
    """Sending side of a cell (see the module docstring)."""

    # Set by Cell.__init__; declared here for the type checker.
    system: ActorSystem
    path: str
    queue: MailboxQueue
    state: str
    terminated: anyio.Event
    timers: set[TimerHandle]
    watchers: set[Cell]
    watching: set[Cell]
    waiting_on: Cell | None
    dead: Counter[str]
    ticks_skipped: int
    fail_error: BaseException | None
    _tg: Any

    def dead_letter(self, message: Any, reason: str, error: BaseException | None = None) -> None:
        """Count and publish one dead letter for this actor.

        An ask is failed instead: a dropped one with ``MailboxFull`` (and still published), one
        left over at stop with ``ActorStopped`` (not published: the asker was told).
        """
        if type(message) is Ask or type(message) is FutureAsk:
            if reason in ("dropped_newest", "dropped_oldest"):
                message.fail(MailboxFull(self.path, self.queue.capacity, self.queue.overflow.name))
            elif reason != "crashed":
                # The asker is told (ActorStopped); that is not a dead letter.
                message.fail(ActorStopped(self.path, "stopped before answering"))
                return
            message = message.message
        self.dead[reason] += 1
        self.system.dead_letters.publish(DeadLetter(message, self.path, reason, error))

    # -- sending -------------------------------------------------------------------------------

    async def put_slow(self, message: Any) -> None:
        """``tell`` when the mailbox is full or closed: block, refuse or drop per the policy."""
        q = self.queue
        while True:
            if not q.accepting:
                self.dead_letter(message, "stopped")
                return
            if len(q.items) < q.capacity:
                q.append(message)
                return
            if q.overflow is Overflow.BLOCK:
                if current_cell.get() is self:
                    # Waiting for our own consumer would never end.
                    raise MailboxFull(self.path, q.capacity, "BLOCK (tell to self)")
                await q.wait_space()
                continue
            self._overflow(message)
            return

    def put_nowait_slow(self, message: Any) -> None:
        """``tell_nowait`` when the mailbox is full or closed."""
        q = self.queue
        if not q.accepting:
            self.dead_letter(message, "stopped")
        elif len(q.items) < q.capacity:
            q.append(message)
        elif q.overflow is Overflow.BLOCK:
            raise MailboxFull(self.path, q.capacity, q.overflow.name)
        else:
            self._overflow(message)

    def _overflow(self, message: Any) -> None:
        q = self.queue
        if q.overflow is Overflow.DROP_NEWEST:
            self.dead_letter(message, "dropped_newest")
        elif q.overflow is Overflow.DROP_OLDEST:
            self.dead_letter(q.items.popleft(), "dropped_oldest")
            q.append(message)
        else:
            raise MailboxFull(self.path, q.capacity, q.overflow.name)

    async def ask(self, message: Any, timeout: float | None) -> Any:  # noqa: ASYNC109  (the timeout is part of the contract)
        asker = current_cell.get()
        if asker is not None:
            node: Cell | None = self  # type: ignore[assignment]  # always a Cell
            chain = [asker.path]
            while node is not None:
                chain.append(node.path)
                if node is asker:
                    raise AskCycle(self.path, tuple(chain))
                node = node.waiting_on
        q = self.queue
        if not q.accepting:
            raise ActorStopped(self.path)
        promise: Promise[Any] = Promise()
        envelope = Ask(message, promise)
        if len(q.items) < q.capacity:
            q.append(envelope)
        else:
            try:
                with anyio.fail_after(timeout):
                    await self.put_slow(envelope)
            except TimeoutError:
                raise AskTimeout(self.path, timeout if timeout is not None else float("inf")) from None
        if asker is not None:
            asker.waiting_on = self  # type: ignore[assignment]
        try:
            return await promise.wait(timeout)
        except TimeoutError as exc:
            if promise._error is exc:
                raise
            raise AskTimeout(self.path, timeout if timeout is not None else float("inf")) from None
        finally:
            if asker is not None:
                asker.waiting_on = None

    def deliver_control(self, message: Any) -> None:
        """Queue ``message`` for ``receive`` outside the bound (watch notices)."""
        if self.terminated.is_set() or self.state in (STOPPED, FAILED):
            self.dead_letter(message, "stopped")
            return
        self.queue.push_control(_DELIVER, message)

    # -- timers and watches --------------------------------------------------------------------

    def schedule(self, delay: float, interval: float | None, message: Any) -> TimerHandle:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError(f"timer delay must be seconds >= 0, got {delay!r}")
        if interval is not None and not interval > 0:
            raise ValueError(f"schedule_every() interval must be seconds > 0, got {interval!r}")
        if self._tg is None or self.state in (STOPPED, FAILED):
            raise ActorStopped(self.path, "is stopped; cannot schedule timers")
        handle = TimerHandle(self, message, interval)  # type: ignore[arg-type]
        self.timers.add(handle)
        self._tg.start_soon(self._timer, handle, float(delay))
        return handle

    async def _timer(self, handle: TimerHandle, delay: float) -> None:
        with anyio.CancelScope() as scope:
            handle._scope = scope
            if handle.cancelled:
                return
            due = anyio.current_time() + delay
            while True:
                await anyio.sleep_until(due)
                self._tick(handle.message)
                if handle.interval is None:
                    break
                due += handle.interval
        self.timers.discard(handle)

    def _tick(self, message: Any) -> None:
        q = self.queue
        if self.state is RUNNING and q.accepting and len(q.items) < q.capacity:
            q.append(message)
        else:
            self.ticks_skipped += 1

    def _cancel_timers(self) -> None:
        for handle in list(self.timers):
            handle.cancel()

    def watch(self, ref: ActorRef) -> None:
        from ._ref import ActorRef

        if not isinstance(ref, ActorRef):
            raise TypeError(f"watch() needs an ActorRef, got {ref!r}")
        target = ref._cell
        if target is self:
            raise ValueError(f"`{self.path}` cannot watch itself")
        if target.terminated.is_set():
            reason = FAILED if target.state is FAILED else STOPPED
            self.deliver_control(Terminated(ref, reason, target.fail_error))
            return
        target.watchers.add(self)  # type: ignore[arg-type]
        self.watching.add(target)

    def unwatch(self, ref: ActorRef) -> None:
        target = ref._cell
        target.watchers.discard(self)
        self.watching.discard(target)
