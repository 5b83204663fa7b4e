"""``ActorRef``: the only handle to an actor; stable across restarts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ._deadletters import DeadLetter
from ._delivery import FutureAsk, current_cell
from ._errors import ActorStopped, AskTimeout, MailboxFull, RestartRequested
from ._messages import ActorStatistics
from ._promise import Expired

if TYPE_CHECKING:
    from ._cell import Cell

__all__ = ("ActorRef",)

DEFAULT_ASK_TIMEOUT = 5.0


class ActorRef:
    """Address of one actor. Sending never touches the actor object itself.

    A ref stays valid across restarts (same mailbox, same path). After the actor stops, ``tell``
    sends to dead letters (reason ``"stopped"``) and ``ask`` raises ``ActorStopped``.
    """

    __slots__ = ("_cell", "_q")

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        self._q = cell.queue

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._cell.path} {self._cell.state}>"

    @property
    def name(self) -> str:
        """The name the actor was spawned with."""
        return self._cell.name

    @property
    def path(self) -> str:
        """``system/parent/.../name``."""
        return self._cell.path

    async def tell(self, message: Any) -> None:
        """Send ``message`` without waiting for it to be handled.

        Skips the checkpoint: when the mailbox has room this returns without yielding to the
        scheduler (no round trip per message). It awaits only while a ``BLOCK`` mailbox is full
        (backpressure). ``FAIL`` raises ``MailboxFull``; ``DROP_*`` send the dropped message to
        dead letters. A stopped actor's messages go to dead letters (reason ``"stopped"``).
        """
        if self._q.offer(message):
            return
        await self._cell.put_slow(message)

    def tell_nowait(self, message: Any) -> None:
        """Send ``message``; never awaits.

        A full mailbox applies its overflow policy, except that ``BLOCK`` cannot wait here and
        raises ``MailboxFull`` like ``FAIL``. A stopped actor's messages go to dead letters.
        """
        if self._q.offer(message):
            return
        self._cell.put_nowait_slow(message)

    async def ask(self, message: Any, *, timeout: float | None = DEFAULT_ASK_TIMEOUT) -> Any:  # noqa: ASYNC109  (the timeout is part of the contract)
        """Send ``message`` and wait for ``receive``'s return value.

        The reply completes a one-shot promise held by the asker, so it never queues behind data.

        Raises:
            AskTimeout: no reply within ``timeout`` seconds (``.actor``, ``.timeout``).
            ActorStopped: the actor is stopped, or stopped before answering.
            AskCycle: the ask would wait on itself (ask to self, or an ask cycle).
            MailboxFull: ``FAIL`` or ``DROP_*`` mailbox full (the ask is not queued / evicted).
            Exception: whatever ``receive`` raised on this message.
        """
        q = self._q
        loop = q.loop
        if loop is None or not q.accepting or len(q.items) >= q.capacity or current_cell.get() is not None:
            # trio, a full or closed mailbox, or an ask from inside an actor (cycle checks)
            return await self._cell.ask(message, timeout)
        # asyncio fast path: the reply goes straight into one bare future; one shared deadline
        # timer for all asks (no call_later, no cancel scope per ask).
        fut = loop.create_future()
        q.append(FutureAsk(message, fut))
        if timeout is not None and timeout != math.inf:
            self._cell.system._deadlines.add(timeout, fut)  # type: ignore[union-attr]  # set on asyncio
        try:
            return await fut
        except Expired:
            raise AskTimeout(self._cell.path, timeout) from None  # type: ignore[arg-type]

    async def stop(self) -> None:
        """Stop the actor: drain what it has queued, stop its children, run ``stopped()``.

        Waits up to the actor's ``shutdown`` timeout, then cancels it. Never restarted
        afterwards. Idempotent; safe under cancellation (the stop is shielded).

        Raises:
            ValueError: called by the actor on its own ref (it would wait on itself); use
                ``self.stop()`` inside the actor.
        """
        await self._cell.stop()

    def restart(self, reason: str = "restart requested") -> None:
        """Make the actor fail with :class:`RestartRequested` at its next message boundary, so its
        supervisor restarts it by its strategy (as a crash: it counts towards ``max_restarts``,
        and a ``one_for_all`` supervisor restarts the siblings too). Mailbox and ref are kept; the
        message being handled finishes first. Never blocks.

        Raises:
            ActorStopped: the actor is stopped or stopping.
        """
        cell = self._cell
        if cell.terminated.is_set() or cell.stop_requested:
            raise ActorStopped(cell.path, "is stopped; only a running actor restarts")
        cell.crash(RestartRequested(cell.path, reason))

    def statistics(self) -> ActorStatistics:
        """Return a frozen snapshot of this actor's counters."""
        return self._cell.statistics()

    def _children_changed(self, children: tuple[ActorRef, ...]) -> None:
        """Hook: the actor's children changed (``PoolRef`` caches its workers)."""

    def _deliver_dead_letter(self, letter: DeadLetter) -> None:
        cell = self._cell
        if not cell.queue.accepting:
            raise ActorStopped(cell.path)
        if len(cell.queue.items) >= cell.queue.capacity:
            raise MailboxFull(cell.path, cell.queue.capacity, cell.queue.overflow.name)
        cell.queue.append(letter)
