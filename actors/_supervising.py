"""The parent's side of supervision: react to a child's crash with the supervision spec.

Mixed into ``Cell``. A crashed child has already torn its instance down and waits halted; the
parent runs ``_supervise`` in a task of its own task group (one failure at a time, under a
lock), so a parent busy in ``receive`` or blocked on a full mailbox never delays restarts.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import anyio

from ._delivery import (
    FAILED,
    FINAL_FAIL,
    FINAL_STOP,
    RESTARTING,
    RESUME,
    RUNNING,
    STARTING,
    STOPPED,
    current_cell,
)
from ._errors import RestartLimitExceeded
from ._supervision import Restart, RestartIntensity, SupervisionSpec, plan_restart

if TYPE_CHECKING:
    from ._cell import Cell

__all__ = ("Supervising",)

_DEFAULT_SPEC = SupervisionSpec()


class Supervising:
    """Supervision state and procedures of one cell (as a parent)."""

    def __init__(self) -> None:
        self.spec = _DEFAULT_SPEC
        self._intensity = RestartIntensity(self.spec.max_restarts, self.spec.within)
        self._per_child: dict[Any, RestartIntensity] = {}
        self._rng = random.Random()
        self._lock: anyio.Lock | None = None
        self._handlers: set[anyio.CancelScope] = set()

    def configure(self, instance: Any) -> None:
        """Take the spec of a new instance (``Supervisor`` options) and reset the intensity."""
        spec = getattr(instance, "_supervision_spec", None)
        self.spec = spec if isinstance(spec, SupervisionSpec) else _DEFAULT_SPEC
        self._intensity = RestartIntensity(self.spec.max_restarts, self.spec.within)
        self._per_child = {}
        self._rng = self.spec.backoff.rng()

    def cancel_handlers(self) -> None:
        for scope in list(self._handlers):
            scope.cancel()

    def report(self: Cell, error: BaseException | None) -> None:  # type: ignore[misc]
        """Tell the parent this (halted) cell crashed (``error``) or exited normally (None)."""
        parent = self.parent
        if parent is None:  # the root restarts itself
            self.give(RESUME)
            return
        parent.child_failed(self, error, self.incarnation)

    def child_failed(self: Cell, child: Cell, error: BaseException | None, incarnation: int) -> None:  # type: ignore[misc]
        # A parent that is itself restarting or stopping halts/stops the child on its own.
        if self._tg is None or self.terminated.is_set() or self.state not in (RUNNING, STARTING):
            return
        self._tg.start_soon(self._supervise, child, error, incarnation)

    async def _supervise(self: Cell, child: Cell, error: BaseException | None, incarnation: int) -> None:  # type: ignore[misc]
        current_cell.set(self)
        if self._lock is None:
            self._lock = anyio.Lock()
        with anyio.CancelScope() as scope:
            self._handlers.add(scope)
            try:
                async with self._lock:
                    if child.incarnation != incarnation or child.state is not RESTARTING or child.directive:
                        return  # stale: restarted or stopped meanwhile
                    await self._apply(child, error)
            finally:
                self._handlers.discard(scope)

    async def _apply(self: Cell, child: Cell, error: BaseException | None) -> None:  # type: ignore[misc]
        spec = self.spec
        if child.restart is Restart.TEMPORARY or (error is None and child.restart is Restart.TRANSIENT):
            if error is None:
                child.give(FINAL_STOP)
            else:
                child.give(FINAL_FAIL, error)
            return
        if self.parent is None:
            intensity = self._per_child.setdefault(child, RestartIntensity(spec.max_restarts, spec.within))
        else:
            intensity = self._intensity
        if not intensity.record(anyio.current_time()):
            exceeded = RestartLimitExceeded(child.path, spec.max_restarts, spec.within, error)
            if self.parent is None:
                # The root never takes the system down: give this child up, keep the rest.
                child.give(FINAL_FAIL, exceeded)
                return
            for sibling in reversed(list(self.children)):
                if sibling is not child:
                    await sibling.halt()
            self.crash(exceeded)
            return
        live = [c for c in self.children if c.state not in (STOPPED, FAILED)]
        plan = plan_restart(spec.strategy, live, child)
        for sibling in reversed(plan):
            if sibling is not child:
                await sibling.halt()
        delay = spec.backoff.delay(intensity.recent - 1, self._rng)
        if delay > 0:
            await anyio.sleep(delay)
        for member in plan:
            if member.state is not RESTARTING:
                continue
            if member is not child and member.restart is Restart.TEMPORARY:
                member.give(FINAL_STOP)
                continue
            await member.resume()
