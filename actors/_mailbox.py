"""Bounded mailboxes: the settings (``Mailbox``, ``Overflow``) and the deque-based queue.

Nothing here knows about restarts or supervision: the queue holds data messages in a bounded
deque and control signals in an unbounded side lane, wakes its consumer only on the
empty -> non-empty edge, and wakes blocked senders when space frees up.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._promise import make_waiter, running_loop

__all__ = ("DEFAULT_MAILBOX", "Mailbox", "MailboxQueue", "Overflow")


class Overflow(enum.Enum):
    """What a full mailbox does with one more message.

    * ``BLOCK`` -- ``tell`` awaits space (backpressure); ``tell_nowait`` raises ``MailboxFull``.
    * ``FAIL`` -- both raise ``MailboxFull``; the sender keeps the message (not a dead letter).
    * ``DROP_NEWEST`` -- the new message goes to dead letters (reason ``"dropped_newest"``).
    * ``DROP_OLDEST`` -- the oldest queued message goes to dead letters (reason
      ``"dropped_oldest"``) and the new one is queued.
    """

    BLOCK = "block"
    FAIL = "fail"
    DROP_NEWEST = "drop_newest"
    DROP_OLDEST = "drop_oldest"


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Mailbox settings for ``spawn``: capacity in messages and the overflow policy.

    Raises:
        ValueError: capacity below 1.
        TypeError: overflow not an ``Overflow``.
    """

    capacity: int = 1000
    overflow: Overflow = Overflow.BLOCK

    def __post_init__(self) -> None:
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or self.capacity < 1:
            raise ValueError(f"Mailbox capacity must be an int >= 1, got {self.capacity!r}")
        if not isinstance(self.overflow, Overflow):
            raise TypeError(
                f"Mailbox overflow must be an Overflow member (e.g. Overflow.BLOCK), got {self.overflow!r}"
            )


DEFAULT_MAILBOX = Mailbox()  # the frozen default of ``spawn(mailbox=...)``


class MailboxQueue:
    """The runtime queue behind one actor (kept across restarts).

    ``items`` is the bounded data deque; ``control`` the unbounded lane for stop/halt/watch
    signals, which never waits behind data. Producers append directly (see ``ActorRef.tell``)
    and call ``notify()``; the consumer pops and calls ``freed()`` so blocked senders retry.
    """

    __slots__ = (
        "accepting",
        "blocked_seconds",
        "capacity",
        "control",
        "high_water",
        "items",
        "loop",
        "low_water",
        "overflow",
        "putters",
        "wakeup",
    )

    def __init__(self, settings: Mailbox) -> None:
        self.items: deque[Any] = deque()
        self.control: deque[tuple[Any, Any]] = deque()
        self.capacity = settings.capacity
        self.low_water = settings.capacity // 2  # blocked senders wake once depth falls to this
        self.overflow = settings.overflow
        self.high_water = 0
        self.blocked_seconds = 0.0
        self.accepting = True
        self.wakeup: Any = None
        self.putters: list[Any] = []
        self.loop = running_loop()  # asyncio loop for bare-future wake-ups; None on trio

    def __len__(self) -> int:
        return len(self.items)

    def notify(self) -> None:
        """Wake the consumer if it sleeps on an empty mailbox."""
        w = self.wakeup
        if w is not None:
            self.wakeup = None
            if not w.done():
                w.set_result(None)

    def offer(self, item: Any) -> bool:
        """Queue ``item`` if the mailbox is open and has room, and wake the consumer.

        Returns ``False`` (nothing queued) when it is full or closed; the caller then applies
        the overflow policy. The send fast path of ``tell``, ``tell_nowait`` and ``PoolRef.tell``:
        ``notify()`` is inlined here because this runs once per message.
        """
        items = self.items
        if self.accepting and len(items) < self.capacity:
            items.append(item)
            if len(items) > self.high_water:
                self.high_water = len(items)
            w = self.wakeup
            if w is not None:
                self.wakeup = None
                if not w.done():
                    w.set_result(None)
            return True
        return False

    def append(self, item: Any) -> None:
        """Queue ``item`` (the caller checked for room) and wake the consumer."""
        items = self.items
        items.append(item)
        if len(items) > self.high_water:
            self.high_water = len(items)
        self.notify()

    def push_control(self, kind: Any, payload: Any = None) -> None:
        """Queue a control signal outside the bound and wake the consumer."""
        self.control.append((kind, payload))
        self.notify()

    def freed(self) -> None:
        """Wake every sender blocked on a full mailbox (they re-check for room)."""
        putters = self.putters
        if putters:
            self.putters = []
            for w in putters:
                if not w.done():
                    w.set_result(None)

    async def wait_item(self) -> None:
        """Sleep until a data message or a control signal arrives (returns at once if any)."""
        if self.items or self.control:
            return
        w = make_waiter(self.loop)
        self.wakeup = w
        try:
            await w
        finally:
            if self.wakeup is w:
                self.wakeup = None

    async def wait_space(self) -> None:
        """Sleep until the consumer frees space or the mailbox closes; adds to ``blocked_seconds``."""
        w = make_waiter(self.loop)
        self.putters.append(w)
        start = time.perf_counter()
        try:
            await w
        finally:
            self.blocked_seconds += time.perf_counter() - start
            if w in self.putters:
                self.putters.remove(w)

    def close(self) -> None:
        """Refuse new messages from now on and release blocked senders."""
        self.accepting = False
        self.freed()
