"""``Actor``: the base class users subclass; hooks plus what an actor may do to itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._mailbox import DEFAULT_MAILBOX, Mailbox
from ._supervision import Restart

if TYPE_CHECKING:
    from ._cell import Cell
    from ._ref import ActorRef
    from ._system import ActorSystem

__all__ = ("Actor", "TimerHandle")


class TimerHandle:
    """A scheduled delivery from ``schedule_once``/``schedule_every``; ``cancel()`` stops it.

    Timers belong to one incarnation of the actor: they are cancelled when it stops or restarts.
    """

    __slots__ = ("_cell", "_scope", "cancelled", "interval", "message")

    def __init__(self, cell: Cell, message: Any, interval: float | None) -> None:
        self._cell = cell
        self._scope: Any = None
        self.message = message
        self.interval = interval
        self.cancelled = False

    def __repr__(self) -> str:
        every = f" every {self.interval} s" if self.interval is not None else ""
        return f"<TimerHandle {self.message!r}{every} cancelled={self.cancelled}>"

    def cancel(self) -> None:
        """Stop future deliveries (idempotent; a tick already queued stays queued)."""
        self.cancelled = True
        if self._scope is not None:
            self._scope.cancel()
        self._cell.timers.discard(self)


class Actor:
    """Base class of every actor: one task, one bounded mailbox, one message at a time.

    Override ``receive`` (its return value answers ``ask``), and optionally ``started`` and
    ``stopped``. Subclasses may define ``__init__`` without calling ``super().__init__()``: the
    runtime attaches the actor to its cell after construction, so ``ref``, ``system``, ``name``,
    ``path``, ``spawn``, ``watch`` and the timers are usable from ``started()`` on (not in
    ``__init__``).

    Children spawned with ``self.spawn`` belong to this actor: they are supervised with the
    default policy (``ONE_FOR_ONE``, 10 restarts within 60 s) unless the actor is a
    ``Supervisor``, are halted and resumed when it restarts, and are stopped (in reverse start
    order) before its ``stopped()`` runs.
    """

    _actor_cell: Cell

    async def started(self) -> None:
        """Hook: runs before the first message of each incarnation (spawn waits for it)."""

    async def receive(self, message: Any) -> Any:
        """Handle one message; the return value is the reply to ``ask``. Raising crashes the actor."""
        raise NotImplementedError(f"{type(self).__name__} must define `async def receive(self, message)`")

    async def stopped(self) -> None:
        """Hook: runs on stop and before a restart (errors are counted and reported, not raised)."""

    # -- what the runtime attached -------------------------------------------------------------

    def _cell(self) -> Cell:
        try:
            return self._actor_cell
        except AttributeError:
            raise RuntimeError(
                f"{type(self).__name__} is not attached to a system yet; use ref/spawn/timers from "
                "started() or receive(), not __init__"
            ) from None

    @property
    def ref(self) -> ActorRef:
        """This actor's own ref (the same object across restarts)."""
        return self._cell().ref  # type: ignore[return-value]  # set before started() runs

    @property
    def system(self) -> ActorSystem:
        """The ``ActorSystem`` this actor runs in."""
        return self._cell().system

    @property
    def name(self) -> str:
        """The name this actor was spawned with."""
        return self._cell().name

    @property
    def path(self) -> str:
        """``system/parent/.../name``."""
        return self._cell().path

    @property
    def children(self) -> list[ActorRef]:
        """Refs of this actor's children, in start order."""
        return list(self._cell().child_refs)

    async def spawn(
        self,
        factory: Any,
        /,
        *,
        name: str,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = 5.0,
        mailbox: Mailbox = DEFAULT_MAILBOX,
        **options: Any,
    ) -> ActorRef:
        """Spawn a child of this actor (same arguments as ``ActorSystem.spawn``, parent = self).

        Returns after the child's ``started()`` has run.
        """
        return await self._cell().spawn_child(factory, name, restart, shutdown, mailbox, options)

    def watch(self, ref: ActorRef) -> None:
        """Receive ``Terminated(ref, reason, error)`` once ``ref`` stops for good (at once if it has)."""
        self._cell().watch(ref)

    def unwatch(self, ref: ActorRef) -> None:
        """Stop watching ``ref`` (idempotent)."""
        self._cell().unwatch(ref)

    def schedule_once(self, delay: float, message: Any) -> TimerHandle:
        """Deliver ``message`` to this actor's own mailbox after ``delay`` seconds.

        A tick that finds the mailbox full (or the actor restarting) is skipped, not queued
        behind data; skips are counted in ``statistics().timer_ticks_skipped``.
        """
        return self._cell().schedule(delay, None, message)

    def schedule_every(self, interval: float, message: Any) -> TimerHandle:
        """Deliver ``message`` every ``interval`` seconds (fixed rate; full-mailbox ticks are skipped)."""
        return self._cell().schedule(interval, interval, message)

    def stop(self) -> None:
        """End this actor after the current message, as a *normal exit* (never awaits).

        Its supervisor restarts it only if it is ``PERMANENT`` (keeping its mailbox); otherwise
        it stops and whatever is still queued goes to dead letters (reason ``"stopped"``). To
        drain first, have another actor call ``await ref.stop()``.
        """
        self._cell().request_exit()

    def crash(self, error: BaseException) -> None:
        """Fail this incarnation with ``error`` at its next message boundary, as if a handler had
        raised it: for a failure seen outside any handler, such as in a thread the actor runs. Its
        supervisor then restarts it (or not) by its strategy. Never awaits; call it on the event
        loop the actor runs on."""
        self._cell().crash(error)

    def requeue(self, messages: Iterable[Any]) -> None:
        """Put ``messages`` back at the head of this actor's mailbox, in order and outside its bound.

        For work an incarnation took from its mailbox and could not finish before it crashed: call
        it from ``stopped()``, and the next incarnation handles these first, before anything sent
        later.
        """
        queue = self._cell().queue
        queue.items.extendleft(reversed(list(messages)))
        queue.notify()

    def _make_ref(self, cell: Cell) -> ActorRef:
        from ._ref import ActorRef

        return ActorRef(cell)
