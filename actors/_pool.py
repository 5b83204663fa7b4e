"""``Pool``: N identical workers behind one ref, routed in the sender (no router actor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._cell import make_factory
from ._delivery import _NONE
from ._errors import ActorStopped
from ._mailbox import Mailbox
from ._ref import DEFAULT_ASK_TIMEOUT, ActorRef
from ._supervision import Backoff, Restart, Strategy
from ._supervisor import Supervisor

if TYPE_CHECKING:
    from ._cell import Cell

__all__ = ("ROUTERS", "Pool", "PoolRef", "route_key")

ROUTERS = ("round_robin", "key_hash", "least_busy")


def route_key(key: Any, size: int) -> int:
    """Worker index for ``key`` under ``key_hash``: stable for the life of the process."""
    return hash(key) % size


class Pool(Supervisor):
    """A supervisor of ``size`` workers built by ``factory``; spawn it to get a ``PoolRef``.

    ``system.spawn(Pool, name="parsers", factory=Parser, size=4, router="key_hash")``. Workers are
    children named ``"0"`` .. ``"size-1"``, supervised ``ONE_FOR_ONE`` by default: a crashed worker
    restarts with its own mailbox intact, the others never notice.

    Args:
        factory: the worker (Actor subclass or zero-argument factory).
        size: number of workers (>= 1).
        router: ``"round_robin"``, ``"key_hash"`` (one key always reaches the same worker, so
            per-key order holds) or ``"least_busy"`` (shortest mailbox, busy counting as one).
        worker_mailbox: each worker's mailbox (default ``Mailbox()``).
        worker_restart, worker_shutdown: the workers' restart type and shutdown timeout.
        strategy, max_restarts, within, backoff: supervision settings, as for ``Supervisor``.
        **worker_options: passed to ``factory`` when it is an Actor subclass.

    Raises:
        TypeError, ValueError: invalid settings (the message names the setting).
    """

    def __init__(
        self,
        *,
        factory: Any,
        size: int = 4,
        router: str = "round_robin",
        worker_mailbox: Mailbox | None = None,
        worker_restart: Restart = Restart.PERMANENT,
        worker_shutdown: float = 5.0,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 10,
        within: float = 60.0,
        backoff: Backoff | None = None,
        **worker_options: Any,
    ) -> None:
        super().__init__(strategy=strategy, max_restarts=max_restarts, within=within, backoff=backoff)
        make_factory(factory, worker_options)  # fail at spawn time, not in started()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Pool size must be an int >= 1, got {size!r}")
        if router not in ROUTERS:
            raise ValueError(f"Pool router must be one of {', '.join(ROUTERS)}; got {router!r}")
        self._factory = factory
        self._size = size
        self._router = router
        self._worker_mailbox = worker_mailbox or Mailbox()
        self._worker_restart = worker_restart
        self._worker_shutdown = worker_shutdown
        self._worker_options = worker_options

    async def started(self) -> None:
        existing = {ref.name for ref in self.children}
        for index in range(self._size):
            if str(index) not in existing:  # a restarted pool keeps its workers
                await self.spawn(
                    self._factory,
                    name=str(index),
                    restart=self._worker_restart,
                    shutdown=self._worker_shutdown,
                    mailbox=self._worker_mailbox,
                    **self._worker_options,
                )

    def _make_ref(self, cell: Cell) -> ActorRef:
        return PoolRef(cell, self._router)


class PoolRef(ActorRef):
    """Ref of a ``Pool``: ``tell``/``tell_nowait``/``ask`` pick a worker in the calling task.

    ``key`` is required by ``key_hash`` and ignored by the other routers. ``stop()`` stops the
    pool (workers drain, in reverse order).
    """

    __slots__ = ("_keyed_n", "_next", "_router", "_workers")

    def __init__(self, cell: Cell, router: str) -> None:
        super().__init__(cell)
        self._router = router
        self._next = 0
        self._workers: tuple[ActorRef, ...] = ()
        self._keyed_n = 0  # number of workers when routing by key_hash, else 0

    def _children_changed(self, children: tuple[ActorRef, ...]) -> None:
        self._workers = children
        self._keyed_n = len(children) if self._router == "key_hash" else 0

    @property
    def router(self) -> str:
        """The routing policy name."""
        return self._router

    @property
    def workers(self) -> tuple[ActorRef, ...]:
        """The worker refs, in index order."""
        return self._cell.child_refs

    def route(self, key: Any = None) -> ActorRef:
        """Return the worker the next message (with ``key``) goes to.

        Raises:
            ValueError: ``key_hash`` without a key.
            ActorStopped: the pool has no workers (stopped).
        """
        workers = self._cell.child_refs
        n = len(workers)
        if not n:
            raise ActorStopped(self._cell.path, "has no workers (stopped)")
        router = self._router
        if router == "key_hash":
            if key is None:
                raise ValueError(f"pool `{self._cell.path}` routes by key_hash; pass key=...")
            return workers[hash(key) % n]
        if router == "round_robin":
            i = self._next
            self._next = i + 1
            return workers[i % n]
        start = self._next
        self._next = start + 1
        best = workers[start % n]
        best_load = len(best._q.items) + (best._cell.inflight is not _NONE)
        for offset in range(1, n):
            w = workers[(start + offset) % n]
            load = len(w._q.items) + (w._cell.inflight is not _NONE)
            if load < best_load:
                best, best_load = w, load
        return best

    async def tell(self, message: Any, *, key: Any = None) -> None:
        """Route ``message`` to a worker and ``tell`` it (skips the checkpoint when there is room)."""
        if key is not None and (n := self._keyed_n):
            ref = self._workers[hash(key) % n]  # route() inlined: this is the hot path
        else:
            ref = self.route(key)
        if ref._q.offer(message):
            return
        await ref._cell.put_slow(message)

    def tell_nowait(self, message: Any, *, key: Any = None) -> None:
        """Route ``message`` to a worker and ``tell_nowait`` it."""
        self.route(key).tell_nowait(message)

    async def ask(
        self, message: Any, *, key: Any = None, timeout: float | None = DEFAULT_ASK_TIMEOUT  # noqa: ASYNC109  (the timeout is part of the contract)
    ) -> Any:
        """Route ``message`` to a worker and ``ask`` it."""
        return await self.route(key)._cell.ask(message, timeout)
