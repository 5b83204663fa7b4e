"""One-shot result holder and the wake-up primitive, on every anyio backend."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio

__all__ = ("Deadlines", "EventWaiter", "Expired", "Promise", "make_waiter", "running_loop")

T = TypeVar("T")
_PENDING: Any = object()


class EventWaiter:
    """One-shot wake-up on non-asyncio backends (trio), shaped like an asyncio future.

    Supports ``done()``, ``set_result(value)`` and ``await``, so the hot paths treat it and a
    bare asyncio future alike.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, value: object) -> None:
        self._event.set()

    def __await__(self) -> Any:
        return self._event.wait().__await__()


def make_waiter(loop: asyncio.AbstractEventLoop | None) -> Any:
    """Return a one-shot waiter: a bare future on asyncio/uvloop (``loop``), else an ``EventWaiter``.

    Wake it with ``if not w.done(): w.set_result(None)``; wait with ``await w``.
    """
    if loop is not None:
        return loop.create_future()
    return EventWaiter()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None on another backend (trio)."""
    return asyncio._get_running_loop()


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class Expired(TimeoutError):
    """Set by ``Deadlines`` on an expired future: tells a deadline from a handler's TimeoutError."""


class Deadlines:
    """Expire many futures with one timer (asyncio only): a FIFO of deadlines per timeout value.

    ``ask`` uses it instead of one ``call_later`` per call: asks with the same timeout expire in
    the order they were made, so each FIFO stays sorted and answered asks are trimmed from its
    head as new ones arrive.
    """

    __slots__ = ("_at", "_handle", "_loop", "_queues")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queues: dict[float, deque[tuple[float, asyncio.Future[Any]]]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf

    def add(self, timeout: float, fut: asyncio.Future[Any]) -> None:
        """Fail ``fut`` with ``TimeoutError`` if still pending ``timeout`` seconds from now."""
        at = self._loop.time() + timeout
        fifo = self._queues.get(timeout)
        if fifo is None:
            fifo = self._queues[timeout] = deque()
        else:
            while fifo and fifo[0][1].done():
                fifo.popleft()
        fifo.append((at, fut))
        if at < self._at:
            if self._handle is not None:
                self._handle.cancel()
            self._at = at
            self._handle = self._loop.call_at(at, self._fire)

    def close(self) -> None:
        """Cancel the pending timer (the system is shutting down)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = math.inf

    def _fire(self) -> None:
        self._handle = None
        now = self._loop.time()
        upcoming = math.inf
        for fifo in self._queues.values():
            while fifo:
                at, fut = fifo[0]
                if fut.done():
                    fifo.popleft()
                elif at <= now:
                    fifo.popleft()
                    fut.set_exception(Expired())
                else:
                    upcoming = min(upcoming, at)
                    break
        self._at = upcoming
        if upcoming != math.inf:
            self._handle = self._loop.call_at(upcoming, self._fire)


class _Callback:
    """A waiter of a promise that calls a function instead of waking a task."""

    __slots__ = ("_callback", "_called", "_promise")

    def __init__(self, callback: Callable[[Any], object], promise: Any) -> None:
        self._callback = callback
        self._promise = promise
        self._called = False

    def done(self) -> bool:
        return self._called

    def set_result(self, _value: object) -> None:
        self._called = True
        self._callback(self._promise)


class Promise(Generic[T]):
    """A one-shot result, set once by one task and awaited by others, on any backend.

    Put one into a message to reply later than ``receive`` returns (for example a writer that
    completes waiting requests at each group commit). Setting never awaits, so it can be done from
    any task or from sync code running in the event loop thread.
    """

    __slots__ = ("_error", "_fut", "_result", "_waiters")

    def __init__(self) -> None:
        self._result: Any = _PENDING
        self._error: BaseException | None = None
        self._fut: Any = None  # the first waiter (the asker), kept out of the list for speed
        self._waiters: list[Any] | None = None

    def __repr__(self) -> str:
        state = "pending" if not self.done() else ("failed" if self._error is not None else "done")
        return f"<Promise {state}>"

    def done(self) -> bool:
        """Return True once a result or an exception is set."""
        return self._result is not _PENDING or self._error is not None

    def set_result(self, value: T) -> None:
        """Resolve with ``value`` and wake every waiter.

        Raises:
            RuntimeError: if the promise is already resolved.
        """
        if not self._resolve(value):
            raise RuntimeError(f"promise already resolved ({self!r}); a Promise is set once")

    def set_exception(self, error: BaseException) -> None:
        """Fail with ``error``: every waiter raises it.

        Raises:
            TypeError: if ``error`` is not an exception instance.
            RuntimeError: if the promise is already resolved.
        """
        if not isinstance(error, BaseException):
            raise TypeError(f"set_exception() needs an exception instance, got {type(error).__name__}")
        if not self._fail(error):
            raise RuntimeError(f"promise already resolved ({self!r}); a Promise is set once")

    def exception(self) -> BaseException | None:
        """The exception the promise failed with; None if it succeeded or is not resolved yet."""
        return self._error

    def add_done_callback(self, callback: Callable[[Promise[T]], object]) -> None:
        """Call ``callback(self)`` once the promise is resolved, at once if it already is.

        The callback runs synchronously in whatever sets the outcome (on the event loop), after
        the waiters have been woken, so it must be quick and must not raise; it never awaits.
        """
        if self.done():
            callback(self)
            return
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(_Callback(callback, self))

    def _resolve(self, value: Any) -> bool:
        if self._result is not _PENDING or self._error is not None:
            return False
        self._result = value
        self._wake()
        return True

    def _fail(self, error: BaseException) -> bool:
        if self._result is not _PENDING or self._error is not None:
            return False
        self._error = error
        self._wake()
        return True

    def _wake(self) -> None:
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    async def wait(self, timeout: float | None = None) -> T:  # noqa: ASYNC109  (the timeout is part of the contract)
        """Wait for the outcome and return the result (or raise the exception).

        Returns at once (without a checkpoint) when already resolved.

        Raises:
            TimeoutError: no outcome within ``timeout`` seconds (None waits forever).
        """
        if self._result is not _PENDING or self._error is not None:
            return self._outcome()
        loop = asyncio._get_running_loop()
        waiter = make_waiter(loop)
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            if loop is not None:
                handle = None
                if timeout is not None and timeout != math.inf:
                    handle = loop.call_later(max(timeout, 0.0), _expire, waiter)
                try:
                    await waiter
                finally:
                    if handle is not None:
                        handle.cancel()
            else:
                with anyio.fail_after(timeout):
                    await waiter
        finally:
            if self._waiters and waiter in self._waiters:
                self._waiters.remove(waiter)
        return self._outcome()
