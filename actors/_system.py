"""``ActorSystem``: the root supervisor, owner of every actor task, and the dead-letter office."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import anyio

from ._cell import Cell, make_factory
from ._deadletters import DeadLetters
from ._delivery import current_cell
from ._mailbox import DEFAULT_MAILBOX, Mailbox
from ._promise import Deadlines, running_loop
from ._ref import ActorRef
from ._supervision import Backoff, Restart
from ._supervisor import Supervisor

__all__ = ("ActorSystem",)


class _Root(Supervisor):
    _kind = "ActorSystem"


class ActorSystem:
    """The root of the actor tree; ``async with`` owns the task group every actor runs in.

    Leaving the block drains and stops everything: each actor handles what it has queued, then
    stops, children before parents and in reverse start order, within ``shutdown_timeout``
    seconds overall; past it the rest is cancelled. Nothing is dropped silently: tells still
    queued go to dead letters (reason ``"stopped"``), asks fail with ``ActorStopped``.

    The root supervises top-level actors ``ONE_FOR_ONE`` with ``max_restarts`` within ``within``
    seconds *per child*, and never takes the system down: a child past its intensity is stopped,
    reported (a ``"failed"`` dead letter, ``Terminated`` to its watchers, state ``"failed"`` in
    ``tree()``) and everything else keeps running.

    Args:
        name: the system name, first segment of every path.
        shutdown_timeout: seconds the graceful shutdown may take.
        max_restarts, within, backoff: the root's supervision of top-level actors.

    Raises:
        ValueError: invalid name or timeout.
    """

    def __init__(
        self,
        name: str,
        *,
        shutdown_timeout: float = 10.0,
        max_restarts: int = 10,
        within: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"ActorSystem name must be a non-empty str without '/', got {name!r}")
        if not shutdown_timeout > 0:
            raise ValueError(f"shutdown_timeout must be > 0 seconds, got {shutdown_timeout!r}")
        self.name = name
        self.shutdown_timeout = float(shutdown_timeout)
        self.dead_letters = DeadLetters()
        self._root_options: dict[str, Any] = {"max_restarts": max_restarts, "within": within, "backoff": backoff}
        _Root(**self._root_options)  # validate now
        self._root: Cell | None = None
        self._deadlines: Deadlines | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        state = self._root.state if self._root is not None else "not started"
        return f"<ActorSystem {self.name} {state}>"

    async def __aenter__(self) -> ActorSystem:
        if self._stack is not None:
            raise RuntimeError(f"ActorSystem `{self.name}` is already running; enter it once")
        stack = contextlib.AsyncExitStack()
        tg = await stack.enter_async_context(anyio.create_task_group())
        options = self._root_options
        root = Cell(
            self,
            None,
            self.name,
            make_factory(_Root, options),
            Restart.PERMANENT,
            self.shutdown_timeout,
            Mailbox(),
        )
        self._root = root
        self._stack = stack
        loop = running_loop()
        self._deadlines = Deadlines(loop) if loop is not None else None
        try:
            await tg.start(root._run)
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        try:
            with anyio.CancelScope(shield=True):
                await self._root.stop()  # type: ignore[union-attr]
        finally:
            if self._deadlines is not None:
                self._deadlines.close()
            # Every actor task has ended by now; the body's own exception (if any) propagates
            # unchanged instead of wrapped in the task group's ExceptionGroup.
            await stack.aclose()
        return None

    def _root_cell(self) -> Cell:
        if self._root is None or self._stack is None:
            raise RuntimeError(f"ActorSystem `{self.name}` is not running; use `async with ActorSystem(...)`")
        return self._root

    @property
    def root(self) -> ActorRef:
        """The root supervisor's ref (``parent=`` default)."""
        return self._root_cell().ref  # type: ignore[return-value]

    async def spawn(
        self,
        factory: Any,
        /,
        *,
        name: str,
        parent: ActorRef | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = 5.0,
        mailbox: Mailbox = DEFAULT_MAILBOX,
        **options: Any,
    ) -> ActorRef:
        """Start an actor and return its ref once its ``started()`` has run.

        Args:
            factory: an ``Actor`` subclass (called with ``**options``) or a zero-argument callable
                returning an actor. A restart calls it again, so state starts fresh.
            name: unique among its siblings; no ``/``.
            parent: the supervising actor (default: the root).
            restart: ``Restart.PERMANENT``, ``TRANSIENT`` or ``TEMPORARY``.
            shutdown: seconds its stop may take before it is cancelled.
            mailbox: capacity and overflow policy.

        Raises:
            TypeError: a bad factory (an instance instead of the class, options to a plain callable).
            ValueError: a bad or duplicate name, or bad settings.
            ActorStopped: the parent is stopped.
            Exception: whatever the actor's ``started()`` raised.
        """
        if parent is None:
            cell = self._root_cell()
        elif isinstance(parent, ActorRef):
            cell = parent._cell
        else:
            raise TypeError(f"spawn() parent must be an ActorRef or None, got {parent!r}")
        return await cell.spawn_child(factory, name, restart, shutdown, mailbox, options)

    def lookup(self, path: str) -> ActorRef | None:
        """Return the ref at ``path`` (``"app/workers/w1"``), or None if there is none."""
        root = self._root
        if root is None:
            return None
        parts = path.strip("/").split("/")
        if parts[0] != root.name:
            return None
        cell = root
        for part in parts[1:]:
            for child in cell.children:
                if child.name == part:
                    cell = child
                    break
            else:
                return None
        return cell.ref

    def tree(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of every actor: nested dicts with its counters.

        Keys: ``name``, ``path``, ``kind``, ``state``, ``mailbox_depth``, ``mailbox_high_water``,
        ``mailbox_capacity``, ``processed``, ``failures``, ``restarts``, ``dead_letters`` (by
        reason), ``blocked_seconds``, ``latency_ms``, ``children``.
        """
        return self._root_cell().tree()

    @staticmethod
    def current() -> ActorRef | None:
        """The ref of the actor whose task is running now, or None outside actors."""
        cell = current_cell.get()
        return cell.ref if cell is not None else None
